"""The GRPO learning check: its decisions on recorded histories, and its code path on a tiny model (smoke)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from raml_utils import grpo, rl_check
from raml_utils.params import load_profile
from raml_utils.worlds import toy

RULE = rl_check.rules()["learning"]


def history(rewards, lengths, truncated):
    return [{"step": i + 1, "reward": r, "completion_length": n, "truncated_share": t, "weight_change": 0.001 * i}
            for i, (r, n, t) in enumerate(zip(rewards, lengths, truncated))]


# Shapes of the audit of 2026-12-02 (issue 16): at lr 5e-4 rewards rose for a few steps, rollouts grew until they
# were truncated, then collapsed to answering with no trajectory; at 1e-4 rewards rose and lengths held.
COLLAPSE = history(rewards=[-0.1] * 5 + [0.2] * 8 + [-0.7] * 5 + [-0.3] * 12,
                   lengths=[60] * 10 + [150] * 8 + [5.4] * 12,
                   truncated=[0.0] * 10 + [0.6] * 8 + [0.0] * 12)
LEARNING = history(rewards=[-0.1 + 0.02 * i for i in range(30)], lengths=[60 + (i % 3) for i in range(30)],
                   truncated=[0.0] * 28 + [0.03, 0.0])


def test_a_learning_run_passes_every_criterion():
    decision = rl_check.learning_decision(LEARNING, before=0.40, after=0.85, rule=RULE)
    assert decision["passed"] and all(decision["criteria"].values())
    assert decision["accuracy_gain"] == pytest.approx(0.45) and decision["reward_last"] > decision["reward_first"]


def test_a_collapsing_run_fails_on_every_criterion():
    decision = rl_check.learning_decision(COLLAPSE, before=0.45, after=0.02, rule=RULE)
    assert not decision["passed"] and not any(decision["criteria"].values())
    assert decision["truncated_share_max"] == pytest.approx(0.6) and decision["length_ratio_min"] < 0.5


def test_one_short_spike_of_truncation_is_smoothed_by_the_window():
    spiky = history(rewards=[0.1 * i for i in range(20)], lengths=[60] * 20, truncated=[0.0] * 10 + [0.25] + [0.0] * 9)
    decision = rl_check.learning_decision(spiky, before=0.3, after=0.6, rule=RULE)
    assert decision["truncated_share_max"] == pytest.approx(0.05) and decision["passed"]


def test_a_gain_below_the_threshold_fails_even_when_everything_else_holds():
    decision = rl_check.learning_decision(LEARNING, before=0.40, after=0.50, rule=RULE)
    assert not decision["passed"] and decision["criteria"] == {"accuracy_gain": False, "reward_rises": True,
                                                               "truncation": True, "length_kept": True}


def test_retention_applies_only_inside_its_start_band():
    rule = rl_check.rules()["retention"]
    assert rl_check.retention_decision(0.95, [0.96, 0.94, 0.95], rule)["passed"]
    lost = rl_check.retention_decision(0.95, [0.85, 0.90, 0.92], rule)
    assert lost["applicable"] and not lost["passed"] and lost["mean_loss"] == pytest.approx(0.06)
    perfect = rl_check.retention_decision(1.0, [1.0, 1.0, 1.0], rule)
    assert not perfect["applicable"] and not perfect["passed"] and "cannot decide" in perfect["reason"]


def test_arm_signal_reads_the_groups_with_reward_spread_in_the_first_steps():
    frame = pd.DataFrame([{"arm": arm, "seed": s, "step": step, "frac_reward_zero_std": zero}
                          for arm, zero in (("grpo_1", 0.9), ("grpo_8", 0.25)) for s in (1, 2) for step in range(1, 11)])
    signal = rl_check.arm_signal(frame)
    assert signal["grpo_1"] == {"spread_share": pytest.approx(0.1), "signal": False}
    assert signal["grpo_8"]["signal"] and signal["grpo_8"]["spread_share"] == pytest.approx(0.75)


def test_the_check_runs_and_caches_on_a_tiny_model(tmp_path, monkeypatch):
    """The code path under smoke: screening, GRPO runs on the check seeds, accuracies, decisions; a second call
    trains nothing. The band is widened so that the tiny model's questions qualify (its numbers mean nothing)."""
    profile = load_profile("smoke", cache_dir=str(tmp_path / "cache"), workers=1)
    profile = dataclasses.replace(profile, grpo=dataclasses.replace(profile.grpo, learning_rate=1e-4))
    rules = rl_check.rules()
    monkeypatch.setattr(rl_check, "rules", lambda: {**rules, "start_accuracy_band": [0.0, 1.0]})
    check = rl_check.learning_check(profile)
    checked, lesson = check["profile_lr"], check["lesson_lr"]
    assert checked["learning_rate"] == profile.grpo.learning_rate
    assert lesson["learning_rate"] == profile.rl_check.lesson_learning_rate
    assert checked["questions"] == profile.rl_check.questions and checked["enough_questions"]
    assert [r["seed"] for r in checked["runs"]] == list(profile.rl_check.check_seeds)
    assert [r["seed"] for r in lesson["runs"]] == list(profile.rl_check.check_seeds[:profile.rl_check.lesson_runs])
    run = checked["runs"][0]
    assert set(run["criteria"]) == {"accuracy_gain", "reward_rises", "truncation", "length_kept"}
    assert isinstance(checked["passed"], bool) and 0 <= run["accuracy_before"] <= 1
    assert len(run["history"]) == profile.grpo.steps
    assert all(h["weight_change"] >= 0 and 0 <= h["truncated_share"] <= 1 and h["entropy"] > 0
               for h in run["history"])
    assert "history" not in rl_check.summary(checked)["runs"][0]
    monkeypatch.setattr(grpo, "train_grpo", lambda *a, **k: pytest.fail("trained again"))
    assert rl_check.learning_check(profile)["profile_lr"]["runs"][0]["accuracy_after"] == run["accuracy_after"]


def test_no_question_in_the_band_fails_the_check_without_training(tmp_path, monkeypatch):
    profile = load_profile("smoke", cache_dir=str(tmp_path / "cache"), workers=1)
    monkeypatch.setattr(grpo, "train_grpo", lambda *a, **k: pytest.fail("nothing to train on"))
    (result,) = rl_check.run_learning(profile, [], {1e-4: [101]}, None, "empty")
    assert result == {"learning_rate": 1e-4, "questions": 0, "enough_questions": False, "runs": [], "passed": False}


def test_check_seeds_must_differ_from_every_verdict_seed():
    from raml_utils.params import ParamError

    profile = load_profile("smoke")
    with pytest.raises(ParamError, match="rl_check.check_seeds"):
        dataclasses.replace(profile, rl_check=dataclasses.replace(profile.rl_check, check_seeds=(1,))).validate()


def test_the_reading_says_when_the_retention_check_could_not_decide():
    learning = {"learning_rate": 3e-4, "passed": True, "questions": 32, "runs": [{"accuracy_gain": 0.4}]}
    undecided = {"passed": False, "applicable": False, "accuracy_before": 0.984, "mean_loss": 0.149, "learning_rate": 1e-4,
                 "reason": "start accuracy 0.984 outside 0.9-0.98: the check cannot decide"}
    text = rl_check.sentence(learning, undecided)
    assert "learning check at lr 0.0003: PASSED" in text and "retention from the SFT model at lr 0.0001: COULD NOT DECIDE" in text
    failed = {**undecided, "applicable": True, "accuracy_before": 0.95, "reason": ""}
    assert "retention from the SFT model at lr 0.0001: FAILED (start 0.950, mean loss 0.149)" \
        in rl_check.sentence(learning, failed)


def test_retention_questions_pass_every_screening_in_turn(monkeypatch):
    P = load_profile("smoke", rl_check={"candidates": 6, "questions": 2, "samples": 4})
    pool = rl_check.candidates(P)
    by_seed = {7001: [0.8, 1.0, 0.9, 0.5, 0.85, 0.9], 7003: [0.95, 0.99, 0.85, 0.91]}  # the second: the first's keepers
    calls = []

    def fake(profile, dirs, problems, seed, desc, samples=None):
        calls.append((seed, samples, len(problems)))
        return [pd.Series(by_seed[seed][:len(problems)]).to_numpy()]

    monkeypatch.setattr(rl_check, "sample_accuracy", fake)
    stages = rl_check.load_claims()["retention_screening"]
    chosen = rl_check.screened(P, "model", stages, "screening")
    assert calls == [(7001, 16, 6), (7003, 32, 4)]
    # stage 1 keeps questions 0, 2, 4, 5 (0.75-0.94); stage 2 keeps the first and the fourth of those (0.90-0.97)
    assert chosen == [pool[0], pool[5]]


def test_the_lesson_runs_on_the_first_lesson_runs_check_seeds(monkeypatch):
    profile = load_profile("cpu")  # check seeds 101-103, lesson on one of them
    asked = {}
    monkeypatch.setattr(rl_check, "banded_sets", lambda *a, **k: ([], []))
    monkeypatch.setattr(rl_check.dispatch, "build_one", lambda *a, **k: None)
    monkeypatch.setattr(rl_check, "run_learning", lambda p, q, seeds_by_rate, *a: asked.update(seeds_by_rate) or
                        [{"rate": lr} for lr in seeds_by_rate])
    rl_check.learning_check(profile)
    assert asked == {profile.grpo.learning_rate: (101, 102, 103), profile.rl_check.lesson_learning_rate: (101,)}


def test_the_retention_check_runs_grpo_at_the_rate_and_on_the_seeds_it_is_given(monkeypatch, tmp_path):
    profile = load_profile("cpu")
    built = {}
    monkeypatch.setattr(rl_check.dispatch, "build_one", lambda *a, **k: "start")
    monkeypatch.setattr(rl_check, "screened", lambda *a, **k: ["q"] * profile.rl_check.questions)

    def build(p, jobs, desc):
        built.update(jobs)
        for i in jobs:
            (tmp_path / str(i)).mkdir(exist_ok=True)
            (tmp_path / str(i) / "history.json").write_text("[]")
        return {i: tmp_path / str(i) for i in jobs}

    monkeypatch.setattr(rl_check.dispatch, "build", build)
    monkeypatch.setattr(rl_check, "sample_accuracy", lambda p, dirs, *a, **k: [np.full(3, 0.94)] + [np.full(3, 0.93)]
                        * (len(dirs) - 1))
    monkeypatch.setattr(rl_check, "check_jobs", lambda p, q, init, lr, seeds: [(lr, s) for s in seeds])
    check = rl_check.retention_check(profile, "sft job", 5e-5)  # the check seeds by default
    assert list(built.values()) == [(5e-5, s) for s in profile.rl_check.check_seeds]
    assert check["learning_rate"] == 5e-5 and check["seeds"] == list(profile.rl_check.check_seeds)
    assert check["passed"] and abs(check["mean_loss"] - 0.01) < 1e-9
    built.clear()
    assert rl_check.retention_check(profile, "sft job", 2e-5, [100, 104])["seeds"] == [100, 104]  # the pilot's
    assert list(built.values()) == [(2e-5, 100), (2e-5, 104)]


def test_one_models_measurement_is_split_into_whole_batches_one_part_per_worker():
    profile = load_profile("smoke", workers=2)
    with_batch = lambda batch: dataclasses.replace(  # noqa: E731
        profile, eval=dataclasses.replace(profile.eval, batch_size=batch),
        rl_check=dataclasses.replace(profile.rl_check, samples=4))
    assert rl_check.parts(with_batch(8), 7, 2) == [(0, 4), (4, 7)]  # 4 batches of 2 questions
    assert rl_check.parts(with_batch(8), 7, 3) == [(0, 2), (2, 6), (6, 7)]
    assert rl_check.parts(with_batch(512), 7, 2) == [(0, 7)]  # one batch
    assert rl_check.parts(with_batch(10), 7, 2) == [(0, 7)]  # a batch splits a question's samples: one part
    assert rl_check.parts(with_batch(8), 7, 1) == [(0, 7)]
    for pieces in (2, 3, 5):
        ranges = rl_check.parts(with_batch(8), 13, pieces)
        assert ranges[0][0] == 0 and ranges[-1][1] == 13 and all(a < b for a, b in ranges)
        assert all(b == c and b % 2 == 0 for (_, b), (c, _) in zip(ranges, ranges[1:]))
    four = dataclasses.replace(profile, workers=4)
    assert [rl_check.pieces_per_model(four, m) for m in (1, 2, 3, 4, 6)] == [4, 2, 1, 1, 1]


def test_parts_are_put_back_in_order_and_each_model_cached_once(tmp_path, monkeypatch):
    """Two models on two workers take one part each; one model takes two, reassembled in question order. The pool
    is replaced by an in-process run that finishes the calls in reverse, as a pool may."""
    profile = load_profile("smoke", cache_dir=str(tmp_path / "cache"), workers=2)
    profile = dataclasses.replace(profile, eval=dataclasses.replace(profile.eval, batch_size=8),
                                  rl_check=dataclasses.replace(profile.rl_check, samples=4))
    problems = toy.make_problems(7, "train", seed=0)
    sampled = []

    def fake_accuracy(profile, model_dir, part, seed, first):
        sampled.append((model_dir, first, len(part)))
        return [float(f"{len(model_dir)}.{first + i}") for i in range(len(part))]  # model and question in the value

    def reversed_pool(calls, workers, desc, done_already=0, on_done=None):
        results = [None] * len(calls)
        for i in reversed(range(len(calls))):
            results[i] = calls[i][0](*calls[i][1:])
            on_done(i, results[i])
        return results

    monkeypatch.setattr(rl_check, "_accuracy", fake_accuracy)
    monkeypatch.setattr(rl_check.dispatch, "in_pool", reversed_pool)
    (one,) = rl_check.sample_accuracy(profile, ["m1"], problems, seed=3, desc="one model")
    assert sorted(sampled) == [("m1", 0, 4), ("m1", 4, 3)]  # two parts of whole batches
    assert list(one) == [float(f"2.{q}") for q in range(7)]
    sampled.clear()
    a, b, again = rl_check.sample_accuracy(profile, ["m22", "m333", "m1"], problems, seed=3, desc="two more")
    assert sorted(sampled) == [("m22", 0, 7), ("m333", 0, 7)]  # a part each; m1 read from the cache
    assert list(a) == [float(f"3.{q}") for q in range(7)] and list(b) == [float(f"4.{q}") for q in range(7)]
    assert list(again) == list(one)
