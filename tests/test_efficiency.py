"""Efficient reasoning (C10): the compression and budget-forcing transforms, token accounting, the arms' settings."""

import dataclasses
import itertools
import re

import numpy as np
import pytest

from raml_utils import efficiency, experiment
from raml_utils.base_model import base_job
from raml_utils.models import ModelConfig, build_model, save_model
from raml_utils.params import EvalParams, ParamError, load_profile
from raml_utils.worlds import ToyWorld, toy

TOY = ToyWorld()


@pytest.fixture(scope="module")
def tokenizer():
    return toy.build_tokenizer()


@pytest.fixture(scope="module")
def tiny_model(tokenizer):
    config = ModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64)
    return build_model(config, tokenizer, 0).eval()


def problems(family, n=8, steps=(2, 3, 4, 5, 6)):
    return toy.make_problems(n, "test", seed=3, families=(family,), levels=steps)


# --- compression ---------------------------------------------------------------------------------


@pytest.mark.parametrize("family", toy.FAMILIES)
def test_compressed_trajectory_keeps_every_running_result_and_is_shorter(tokenizer, family):
    for p in problems(family):
        compressed, short, long = (toy.render(p, toy.TrajectorySpec(s)).trajectory
                                   for s in ("compressed", "short", "long"))
        results = [s.after for s in toy.solve(p)]
        assert efficiency.running_results(compressed) == results == efficiency.running_results(long)
        assert results[-1] == p.answer
        assert efficiency.n_tokens(tokenizer, compressed) < efficiency.n_tokens(tokenizer, short) \
            < efficiency.n_tokens(tokenizer, long)
        assert TOY.compressed_is_correct(p, compressed)


@pytest.mark.parametrize("family", ["carry_chain", "carry_list", "carry_vars"])
def test_compressed_ops_keeps_each_operation_and_result_at_under_half_the_long_tokens(tokenizer, family):
    for p in toy.make_problems(20, "test", seed=3, families=(family,), levels=(2, 3, 4)):
        ops, short, long = (toy.render(p, toy.TrajectorySpec(s)).trajectory
                            for s in ("compressed_ops", "short", "long"))
        assert efficiency.running_results(ops) == [s.after for s in toy.solve(p)] == efficiency.running_results(long)
        assert [(m[0], int(m[1])) for m in re.findall(r"([+-])(\d\d)=", ops)] == [(s.op, s.value) for s in toy.solve(p)]
        assert efficiency.n_tokens(tokenizer, ops) < efficiency.n_tokens(tokenizer, short) \
            and efficiency.n_tokens(tokenizer, ops) < 0.5 * efficiency.n_tokens(tokenizer, long)  # vars: lookups too
        assert TOY.compressed_is_correct(p, ops) and not TOY.compressed_is_correct(p, short)


def test_compressed_ops_check_accepts_every_valid_order_and_rejects_errors():
    p = toy.make_problems(1, "test", seed=3, families=("carry_chain",), levels=(3,))[0]
    for order in itertools.permutations(range(3)):
        assert TOY.compressed_is_correct(p, toy.render(p, toy.TrajectorySpec("compressed_ops", order)).trajectory)
    good = efficiency.compressed_trajectory(TOY, p, "compressed_ops")
    steps = good[:-1].split(";")
    wrong_result = ";".join([steps[0][:-2] + f"{(int(steps[0][-2:]) + 1) % 100:02d}", *steps[1:]]) + ";"
    assert not TOY.compressed_is_correct(p, wrong_result)  # a wrong carry
    assert not TOY.compressed_is_correct(p, ";".join(steps[1:]) + ";")  # a step left out
    assert not TOY.compressed_is_correct(p, good + steps[-1] + ";")  # a step too many
    v = toy.make_problems(1, "test", seed=3, families=("carry_vars",), levels=(2,))[0]
    assert TOY.compressed_is_correct(v, efficiency.compressed_trajectory(TOY, v, "compressed_ops"))
    lookup = efficiency.compressed_trajectory(TOY, v, "compressed_ops")
    wrong_lookup = re.sub(r"([a-j])=(\d\d):", lambda m: f"{m[1]}={(int(m[2]) + 1) % 100:02d}:", lookup, count=1)
    assert not TOY.compressed_is_correct(v, wrong_lookup)  # a lookup of the wrong value
    results_only = efficiency.compressed_trajectory(TOY, p, "compressed")
    assert TOY.compressed_is_correct(p, results_only) and TOY.compressed_is_correct(p, good)  # either style...
    assert not TOY.compressed_is_correct(p, results_only, "compressed_ops")  # ...or exactly the one asked for
    assert not TOY.compressed_is_correct(p, good, "compressed") and TOY.compressed_is_correct(p, good, "compressed_ops")


def test_compressed_check_accepts_every_valid_order_and_rejects_errors():
    p = problems("chain", steps=(3,))[0]
    for order in itertools.permutations(range(3)):
        assert TOY.compressed_is_correct(p, toy.render(p, toy.TrajectorySpec("compressed", order)).trajectory)
    good = efficiency.compressed_trajectory(TOY, p, "compressed")
    wrong_first = f"{(int(good[:2]) + 1) % 100:02d}" + good[2:]
    assert not TOY.compressed_is_correct(p, wrong_first)  # a wrong intermediate result
    assert not TOY.compressed_is_correct(p, good[3:])  # a step left out
    assert not TOY.compressed_is_correct(p, good + good[-3:])  # a step too many
    assert not TOY.compressed_is_correct(p, toy.render(p).trajectory)  # not compressed
    v = problems("vars", steps=(2,))[0]
    compressed_v = efficiency.compressed_trajectory(TOY, v, "compressed")
    assert TOY.compressed_is_correct(v, compressed_v)
    assert not TOY.compressed_is_correct(v, compressed_v[len(toy.start_step(v)[0]):])


# --- budget forcing ------------------------------------------------------------------------------


@pytest.mark.parametrize("family", toy.FAMILIES)
def test_forcing_the_answer_after_b_tokens_gives_a_suffix_parse_completion_reads(tokenizer, family):
    p = problems(family, n=1, steps=(3,))[0]
    own = toy.render(p).completion  # what a model that writes the reference trajectory would generate
    trajectory = toy.trajectory_of(own)
    length = efficiency.n_tokens(tokenizer, trajectory)
    for budget in range(1, length + 4):
        cut, stopped = efficiency.budget_cut(TOY, tokenizer, own, budget)
        assert stopped == (budget >= length)
        assert trajectory.startswith(cut) and efficiency.n_tokens(tokenizer, cut) == min(budget, length)
        context = efficiency.forced_context(TOY, p, cut)
        assert context == p.question() + toy.THINK + cut + toy.END_THINK + toy.ANSWER
        for answer in (p.answer, (p.answer + 7) % 100):
            completion = efficiency.forced_completion(TOY, p, cut, f"{answer:02d}{toy.EOS}")
            assert toy.parse_completion(completion) == answer
            assert toy.trajectory_of(completion) == cut
    # What the model writes after the forced suffix is judged strictly: a malformed answer is never credited.
    assert toy.parse_completion(efficiency.forced_completion(TOY, p, "", f"7{toy.EOS}")) is None
    assert toy.parse_completion(efficiency.forced_completion(TOY, p, "", f"{toy.ANSWER}12")) is None


def test_a_model_that_stops_thinking_within_the_budget_keeps_its_own_answer(tokenizer):
    p = problems("chain", n=1, steps=(2,))[0]
    early_end = "12;" + toy.EOS  # ended without an answer: stands as written (malformed), never forced
    assert efficiency.budget_cut(TOY, tokenizer, early_end, 8) == ("12;", True)
    unfinished = toy.render(p).trajectory  # no delimiter, no <eos>: cut at the budget even if it fits
    assert efficiency.budget_cut(TOY, tokenizer, unfinished, 500) == (unfinished, False)


# --- token accounting ----------------------------------------------------------------------------


def test_forced_arms_count_only_the_trajectory_tokens_the_model_generated(tokenizer, tiny_model):
    qs = toy.make_problems(5, "test", seed=0, families=("chain", "list"))
    params = EvalParams(n_questions=5, n_samples=3, k=2, max_new_tokens=100, batch_size=64)
    budgets = (4, 20)
    results = efficiency.evaluate_forced(tiny_model, tokenizer, qs, params, budgets, "compressed")
    assert tuple(results) == efficiency.forced_arms(budgets)
    for r in results.values():
        assert r.sample_correct.shape == r.sample_trajectory_tokens.shape == (5, 3)
    # Given trajectories are read, not generated: 0 tokens, although the compressed one is in the text.
    read = efficiency.teacher_forced_tokens(TOY, tokenizer, qs, "compressed")
    assert (read > 0).all()
    for arm, given in (("long_no_trajectory", ["" for _ in qs]),
                       ("long_reads_compressed", [efficiency.compressed_trajectory(TOY, p, "compressed") for p in qs])):
        assert (results[arm].sample_trajectory_tokens == 0).all()
        for completion, trajectory in zip(results[arm].greedy_completions, given):
            assert completion.startswith(trajectory + toy.END_THINK + toy.ANSWER)
            assert efficiency.n_tokens(tokenizer, completion) \
                <= efficiency.n_tokens(tokenizer, trajectory) + 2 + efficiency.ANSWER_TEXT_TOKENS["toy"]
    # Under a budget: at most B tokens, exactly the trajectory before the (forced or own) suffix; the forced
    # suffix and the answer are not counted.
    for budget in budgets:
        r = results[f"long_budget_{budget}"]
        assert r.sample_trajectory_tokens.max() <= budget
        for completion in r.greedy_completions:
            assert efficiency.n_tokens(tokenizer, toy.trajectory_of(completion)) <= budget
    # Budgets are nested cuts of the same generation: a larger budget never generates fewer tokens.
    small, large = (results[f"long_budget_{b}"].sample_trajectory_tokens for b in budgets)
    assert (small <= large).all() and small.sum() < large.sum()


# --- the arms share their settings ---------------------------------------------------------------


def test_sft_arms_share_questions_steps_and_seeds_and_reuse_notebook_02s_jobs():
    P = load_profile("smoke")
    jobs = efficiency.sft_jobs(P)
    assert set(jobs) == {(arm, s) for arm in ("long", "compressed", "answer_only") for s in P.seeds}
    for seed in P.seeds:
        long = jobs[("long", seed)]
        assert long == experiment.sft_job(P, "long", seed)  # notebook 02's job: the same cache entry
        assert jobs[("answer_only", seed)] == experiment.sft_job(P, "answer_only", seed)
        assert jobs[("compressed", seed)].data.style == P.efficiency.compressed_style == "compressed_ops"
        for arm in ("compressed", "answer_only"):
            job = jobs[(arm, seed)]
            assert dataclasses.replace(job.data, style="long") == long.data  # only the style differs
            assert (job.train, job.model, job.seed, job.init, job.threads) == \
                (long.train, long.model, long.seed, long.init, long.threads)
        assert long.init == base_job(P) and long.train == P.sft
    prompts = {arm: sorted(r.prompt for r in jobs[(arm, P.seeds[0])].data.examples()) for arm in efficiency.SFT_ARMS}
    assert prompts["compressed"] == prompts["long"] == prompts["answer_only"]  # the same training questions


def test_forced_arms_are_evaluated_on_the_sft_arms_questions_and_cached(tmp_path, tokenizer, tiny_model):
    P = load_profile("smoke", cache_dir=str(tmp_path / "cache"))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    save_model(tiny_model, tokenizer, model_dir)
    (first,) = efficiency.evaluate_forced_models(P, [model_dir])
    questions = len(experiment.test_set(P, "in_domain"))
    assert tuple(first) == efficiency.forced_arms(P.efficiency.budgets)
    assert all(r.sample_correct.shape == (questions, P.eval.n_samples) for r in first.values())
    config = efficiency._forced_config(P, model_dir, "in_domain")
    ordinary = experiment.eval_config(P, model_dir, "in_domain", True)  # the SFT arms' evaluation key
    assert {k: config[k] for k in ordinary} == ordinary and config["budgets"] == sorted(P.efficiency.budgets)
    assert config["compressed_style"] == "compressed_ops"  # what long_reads_compressed reads is in the key...
    first_style = dataclasses.replace(P, efficiency=dataclasses.replace(P.efficiency, compressed_style="compressed"))
    assert "compressed_style" not in efficiency._forced_config(first_style, model_dir, "in_domain")  # ...as added
    for p, completion in zip(experiment.test_set(P, "in_domain"), first["long_reads_compressed"].greedy_completions):
        assert completion.startswith(efficiency.compressed_trajectory(TOY, p, "compressed_ops") + toy.END_THINK)
    (again,) = efficiency.evaluate_forced_models(P, [model_dir])  # from the cache: identical
    for arm in first:
        assert np.array_equal(first[arm].sample_correct, again[arm].sample_correct)
        assert first[arm].greedy_completions == again[arm].greedy_completions
    assert len(list((tmp_path / "cache" / "samples").iterdir())) == 1


@pytest.mark.parametrize("text, message", [
    ("efficiency: {budgets: [0, 8]}", r"efficiency\.budgets=\(0, 8\) is not allowed: one or more distinct positive"),
    ("efficiency: {budgets: [8, 8]}", r"efficiency\.budgets=\(8, 8\) is not allowed: one or more distinct positive"),
    ("efficiency: {budgets: [500]}",
     r"efficiency\.budgets=\(500,\) is not allowed: budgets below eval\.max_new_tokens"),
    ("efficiency: {compressed_style: summary}",
     r"efficiency\.compressed_style='summary' is not allowed: compressed or compressed_ops"),
])
def test_bad_budgets_fail_before_any_compute(tmp_path, text, message):
    path = tmp_path / "mine.yaml"
    path.write_text("inherit: smoke\n" + text + "\n")
    with pytest.raises(ParamError, match=message):
        load_profile(path)


def test_gain_kept_states_the_share_of_the_ceilings_gain_and_of_its_generated_tokens():
    import pandas as pd

    rows = [{"arm": arm, "seed": seed, "question": q, "pass_at_k": score + 0.01 * seed,
             "mean_trajectory_tokens": tokens}
            for arm, score, tokens in (("floor", 0.1, 0), ("arm", 0.3, 10), ("ceiling", 0.5, 40))
            for seed in (1, 2, 3) for q in range(4)]
    kept = efficiency.gain_kept(pd.DataFrame(rows), [("arm", "floor", "ceiling")]).loc["arm"]
    assert kept.gain == pytest.approx(0.2) and kept.ceiling_gain == pytest.approx(0.4)
    assert kept.gain_lo == pytest.approx(0.2) and kept.ceiling_gain_hi == pytest.approx(0.4)  # no spread in the diffs
    assert kept.share_of_gain == pytest.approx(0.5) and kept.share_of_tokens == pytest.approx(0.25)
    assert "keeps 50% of the gain with 25% of ceiling's generated tokens" in efficiency.gain_sentence(kept)
