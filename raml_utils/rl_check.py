"""The GRPO learning check: do the profile's GRPO settings raise a model's own training reward?

Every RL verdict (C4, C5, C6's GRPO arms, C9's RL rows) reads an RL arm; an arm whose settings cannot raise its
own training reward says nothing about the paper. The check is pre-registered in ``params/claims.yaml``
(``grpo_checks``, thresholds fixed before any sweep or verdict) and runs on seeds no verdict uses:

- **learning**: on a fixed set of training questions where the base model's sample accuracy lies in a band
  (0.2-0.6, by a selection seed), GRPO with the profile's settings, from the base, on every check seed, must raise
  the sample accuracy on those questions (measured with another sampling seed) by a minimum gain, end with a higher
  mean reward than it started, keep truncated rollouts rare and rollouts from collapsing to no trajectory;
- **retention**: from a model that already solves most check questions (the SFT arm), GRPO at the SFT -> RL arm's
  learning rate (``sft_then_rl.learning_rate``: its own where the profile gives one) must not lose more than a
  small amount of accuracy on average over the check seeds.

The settings are gated, not each verdict seed's run: instability across seeds is what C4 and C6 measure.
``arm_signal`` adds the per-arm rule: an arm whose groups show reward spread in too few of its first steps had no
signal to learn from. ``benchmarks/grpo_lr_sweep.py`` runs the learning check on a second question set with a
pilot seed to choose the learning rate, outside the study.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from . import dispatch, experiment, grpo
from .base_model import base_job
from .evaluation import world_of_problems
from .params import Profile
from .results import load_claims
from .sampling import generate


@dataclass(frozen=True)
class ListedQuestions:
    """A GRPO run's questions given one by one (a check set), in the interface of ``grpo.GRPOData``."""

    families: tuple[str, ...]
    questions: tuple  # problems of the world
    delimiter: bool = True

    def problems(self) -> list:
        return list(self.questions)


def rules() -> dict:
    """Returns the pre-registered thresholds of the checks (``params/claims.yaml``, ``grpo_checks``)."""
    return load_claims()["grpo_checks"]


# --- sample accuracy on a question set (cached) -------------------------------------------------------------

def _accuracy_config(profile: Profile, model_dir, problems: list, seed: int) -> dict:
    return {"what": "rl_check_accuracy", "model": Path(model_dir).name, "questions": [p.key for p in problems],
            "n": profile.rl_check.samples, "seed": seed, "temperature": profile.grpo.temperature,
            "max_new_tokens": profile.grpo.max_completion_length, "sampler": experiment.SAMPLER_VERSION}


def _accuracy(profile: Profile, model_dir: str, problems: list, seed: int, first: int = 0) -> list[float]:
    """Returns each question's share of ``profile.rl_check.samples`` completions answered correctly in the right
    format, sampled as GRPO's rollouts are drawn (the rollout temperature and budget). ``problems`` are the questions
    from index ``first`` of a measured set, starting a sampling batch: each batch draws from the seed it has when the
    whole set is sampled at once, so a set measured in parts gets the same samples."""
    model, tokenizer = experiment.load_run_model(profile, model_dir, "sample")
    world = world_of_problems(problems, tokenizer)
    n = profile.rl_check.samples
    samples = generate(model, tokenizer, [world.prompt(p) for p in problems], n_samples=n,
                       temperature=profile.grpo.temperature, max_new_tokens=profile.grpo.max_completion_length,
                       batch_size=profile.eval.batch_size, seed=seed + first * n)
    return [float(np.mean([world.is_correct(p, world.parse_completion(c, True)) for c in row]))
            for row, p in zip(samples, problems)]


def parts(profile: Profile, n_questions: int, pieces: int) -> list[tuple[int, int]]:
    """Returns the (start, end) question ranges one model's measurement is sampled in: up to ``pieces``, each a whole
    number of sampling batches, so every batch holds the questions it holds in one go (the whole set when a batch
    does not hold a whole number of questions' samples, or there is one piece or one batch)."""
    per_batch, rest = divmod(profile.eval.batch_size, profile.rl_check.samples)
    batches = -(-n_questions // per_batch) if per_batch and not rest else 1
    count = min(pieces, batches)
    bounds = [min(round(i * batches / count) * per_batch, n_questions) for i in range(count)] + [n_questions]
    return list(zip(bounds, bounds[1:])) if count > 1 else [(0, n_questions)]


def pieces_per_model(profile: Profile, models: int) -> int:
    """Returns how many parts each of ``models`` missing measurements is split into: enough to give every CPU worker
    work while there are fewer models than workers; one where each worker has a model already, or on a GPU, where
    every sweep starts fresh processes that would each load the model to share one device (not measured)."""
    if torch.cuda.is_available() or models == 0:
        return 1
    return max(1, profile.workers // models)


def sample_accuracy(profile: Profile, model_dirs: list, problems: list, seed: int, desc: str,
                    samples: int | None = None) -> list[np.ndarray]:
    """Returns, per model, the (questions,) sample accuracy on ``problems`` with sampling seed ``seed`` from
    ``samples`` completions per question (default ``rl_check.samples``), measuring only what the cache lacks, in the
    worker pool: with fewer models than workers, each model's questions in ``parts`` (the same samples as in one go:
    ``_accuracy``), so that one model's screening uses every worker. Each model is cached as soon as its parts are
    in."""
    if samples is not None:
        profile = dataclasses.replace(profile, rl_check=dataclasses.replace(profile.rl_check, samples=samples))
    store = experiment.store_of(profile)
    configs = [_accuracy_config(profile, d, problems, seed) for d in model_dirs]
    missing = {str(d): c for d, c in zip(model_dirs, configs) if not store.has("samples", c)}
    ranges = parts(profile, len(problems), pieces_per_model(profile, len(missing)))
    calls = [(_accuracy, profile, d, problems[a:b], seed, a) for d in missing for a, b in ranges]
    missing_configs = list(missing.values())
    pending = [{} for _ in missing]  # per missing model: {part index: accuracies}

    def keep(i: int, accuracies: list[float]) -> None:  # cache a model once all its parts are in
        model, part = divmod(i, len(ranges))
        pending[model][part] = accuracies
        if len(pending[model]) == len(ranges):
            whole = [a for j in range(len(ranges)) for a in pending[model][j]]
            store.get_or_make("samples", missing_configs[model], functools.partial(_write_accuracy, whole))

    cached = len(set(map(str, model_dirs))) - len(missing)
    dispatch.in_pool(calls, profile.workers, desc, done_already=cached * len(ranges), on_done=keep)
    return [np.array(json.loads((store.path("samples", c) / "accuracy.json").read_text())) for c in configs]


def _write_accuracy(accuracy: list[float], tmp: Path) -> None:
    (tmp / "accuracy.json").write_text(json.dumps(accuracy))


# --- the question sets ---------------------------------------------------------------------------------------

def candidates(profile: Profile) -> list:
    """Returns the training questions screened for the check sets: a fixed sample of the RL arms' own questions."""
    pool = experiment.grpo_job(profile, profile.grpo.group_size, seed=0).data.problems()
    return random.Random("rl_check").sample(pool, min(profile.rl_check.candidates, len(pool)))


def banded_sets(profile: Profile, start_dir, band: tuple[float, float], desc: str) -> tuple[list, list]:
    """Returns two disjoint question sets (A for the learning-rate sweep, B for the check), each of up to
    ``rl_check.questions`` candidates whose sample accuracy under ``start_dir`` lies in ``band`` (inclusive) at the
    selection seed; shorter where too few candidates lie in the band (the check then says so)."""
    pool = candidates(profile)
    (accuracy,) = sample_accuracy(profile, [start_dir], pool, profile.rl_check.selection_seed, desc)
    inside = [p for p, a in zip(pool, accuracy) if band[0] <= a <= band[1]]
    n = profile.rl_check.questions
    return inside[:n], inside[n:2 * n]


def screened(profile: Profile, start_dir, stages: list[dict], desc: str) -> list:
    """Returns up to ``rl_check.questions`` candidates that pass every screening stage in turn: each stage samples
    ``samples`` completions per remaining question with its own ``seed`` and keeps those whose accuracy lies in its
    ``band`` (inclusive); a question's accuracy is placed more finely than one screening can (params/claims.yaml,
    ``retention_screening``)."""
    pool = candidates(profile)
    for i, stage in enumerate(stages):
        if not pool:
            break
        (accuracy,) = sample_accuracy(profile, [start_dir], pool, stage["seed"], f"{desc} ({i + 1}/{len(stages)})",
                                      samples=stage["samples"])
        pool = [p for p, a in zip(pool, accuracy) if stage["band"][0] <= a <= stage["band"][1]]
    return pool[:profile.rl_check.questions]


# --- the decisions (pure: tested on recorded histories) --------------------------------------------------------

def _windows(values: list[float], width: int) -> list[float]:
    """Returns the means of every ``width`` consecutive values (one window if there are fewer)."""
    values = [v for v in values if v is not None]
    if len(values) <= width:
        return [float(np.mean(values))] if values else []
    return [float(np.mean(values[i:i + width])) for i in range(len(values) - width + 1)]


def learning_decision(history: list[dict], before: float, after: float, rule: dict) -> dict:
    """Returns the learning check of one run: its numbers, each criterion's outcome and ``passed`` (all of them).

    ``history`` is the run's GRPO log (``grpo.train_grpo``); ``before`` / ``after`` the sample accuracy on the check
    questions of the start model and of the trained one (same sampling seed). ``rule`` is ``grpo_checks.learning``.
    """
    width = rule["window"]
    rewards = [h["reward"] for h in history]
    truncated = _windows([h.get("truncated_share") for h in history], width)
    lengths = _windows([h.get("completion_length") for h in history], width)
    out = {"accuracy_before": before, "accuracy_after": after, "accuracy_gain": after - before,
           "reward_first": float(np.mean(rewards[:width])), "reward_last": float(np.mean(rewards[-width:])),
           "truncated_share_max": max(truncated) if truncated else None,
           "length_ratio_min": (min(lengths) / lengths[0]) if lengths and lengths[0] > 0 else None,
           "weight_change_end": history[-1].get("weight_change") if history else None}
    criteria = {
        "accuracy_gain": out["accuracy_gain"] >= rule["accuracy_gain_min"],
        "reward_rises": out["reward_last"] > out["reward_first"],
        "truncation": out["truncated_share_max"] is not None and out["truncated_share_max"] <= rule["truncated_share_max"],
        "length_kept": out["length_ratio_min"] is not None and out["length_ratio_min"] >= rule["length_ratio_min"],
    }
    return {**out, "criteria": criteria, "passed": all(criteria.values())}


def retention_decision(before: float, after: list[float], rule: dict) -> dict:
    """Returns the retention check: the start model's accuracy on the check questions must lie in the band (else
    the check could not fail, or has nothing to retain), and its mean loss over the check seeds be small."""
    lo, hi = rule["start_accuracy_band"]
    loss = before - float(np.mean(after))
    applicable = lo <= before <= hi
    return {"accuracy_before": before, "accuracy_after": [float(a) for a in after], "mean_loss": loss,
            "applicable": applicable, "passed": applicable and loss <= rule["max_loss"],
            "reason": "" if applicable else f"start accuracy {before:.3f} outside {lo}-{hi}: the check cannot decide"}


def arm_signal(history, rule: dict | None = None) -> dict:
    """Returns, per RL arm of a history frame (``arm``, ``seed``, ``step``, ``frac_reward_zero_std``), the share of
    groups with reward spread over its first ``window`` steps (mean over seeds) and whether it reaches the
    pre-registered minimum (``grpo_checks.arm_signal``): below it, the arm had no signal to learn from."""
    rule = rule or rules()["arm_signal"]
    out = {}
    for arm, runs in history.groupby("arm"):
        first = runs[runs.step <= rule["steps"]]
        share = float(1 - first.frac_reward_zero_std.mean())
        out[arm] = {"spread_share": share, "signal": share >= rule["min_spread_share"]}
    return out


# --- the checks ----------------------------------------------------------------------------------------------

def check_jobs(profile: Profile, questions: list, init, learning_rate: float, seeds) -> list:
    """Returns the GRPO jobs of a check: the profile's settings (its learning rate replaced by ``learning_rate``),
    plain GRPO (loss on the whole group), on ``questions``, from ``init``, one per seed."""
    settings = dataclasses.replace(profile.grpo, learning_rate=learning_rate)
    data = ListedQuestions(profile.world.train_families, tuple(questions))
    return [grpo.GRPOJob(data, settings, profile.grpo.group_size, seed, init=init, threads=1) for seed in seeds]


def run_learning(profile: Profile, questions: list, seeds_by_rate: dict, start_job, desc: str) -> list[dict]:
    """Returns the learning check of each learning rate of ``seeds_by_rate`` ({rate: seeds}) on ``questions`` (a
    banded set): per seed the decision and history, and ``passed`` (every seed). All runs train in one sweep."""
    rule, enough = rules()["learning"], len(questions) >= profile.rl_check.questions
    if not questions:  # nothing in the band: no run could pass
        return [{"learning_rate": lr, "questions": 0, "enough_questions": False, "runs": [], "passed": False}
                for lr in seeds_by_rate]
    start_dir = dispatch.build_one(profile, start_job, desc=f"{desc}: start model")
    jobs = {(lr, seed): job for lr, seeds in seeds_by_rate.items()
            for seed, job in zip(seeds, check_jobs(profile, questions, start_job, lr, seeds))}
    dirs = dispatch.build(profile, jobs, desc=f"{desc}: GRPO")
    before, *after = sample_accuracy(profile, [start_dir, *dirs.values()], questions,
                                     profile.rl_check.measurement_seed, f"{desc}: accuracy")
    after = dict(zip(dirs, after))
    out = []
    for lr, seeds in seeds_by_rate.items():
        runs = []
        for seed in seeds:
            history = json.loads((Path(dirs[lr, seed]) / "history.json").read_text())
            runs.append({"seed": seed, **learning_decision(history, float(before.mean()),
                                                           float(after[lr, seed].mean()), rule), "history": history})
        out.append({"learning_rate": lr, "questions": len(questions), "enough_questions": enough, "runs": runs,
                    "passed": enough and all(r["passed"] for r in runs)})
    return out


def learning_check(profile: Profile) -> dict:
    """Returns the pre-registered learning check of the profile's GRPO settings (set B, the check seeds), and the
    same check at ``rl_check.lesson_learning_rate`` on the first ``lesson_runs`` check seeds (notebook 05's Adam
    step-size lesson), both cached."""
    spec, band = profile.rl_check, tuple(rules()["start_accuracy_band"])
    base = base_job(profile)
    _, check_set = banded_sets(profile, dispatch.build_one(profile, base, desc="base model"), band, "screening the base")
    seeds_by_rate = {profile.grpo.learning_rate: spec.check_seeds}
    if spec.lesson_learning_rate and spec.lesson_learning_rate != profile.grpo.learning_rate:
        seeds_by_rate[spec.lesson_learning_rate] = spec.check_seeds[:spec.lesson_runs]
    checked, *lesson = run_learning(profile, check_set, seeds_by_rate, base, "learning check")
    return {"profile_lr": checked, **({"lesson_lr": lesson[0]} if lesson else {})}


def retention_check(profile: Profile, start_job, learning_rate: float, seeds=None) -> dict:
    """Returns the retention check: GRPO with the profile's settings at ``learning_rate`` (the SFT -> RL arm's) from
    ``start_job`` (a model that already solves most questions) on ``seeds`` (default: the check seeds), on training
    questions it gets partly wrong at the selection seed."""
    spec, rule = profile.rl_check, rules()["retention"]
    seeds = spec.check_seeds if seeds is None else seeds
    start_dir = dispatch.build_one(profile, start_job, desc="retention check: start model")
    plan = load_claims()
    if "retention_screening" in plan:  # the second amendment of 2026-12-03: two screenings
        questions = screened(profile, start_dir, plan["retention_screening"], "screening the SFT model")
    else:
        band = tuple(plan.get("retention_selection_band", rule["selection_band"]))
        questions, _ = banded_sets(profile, start_dir, band, "screening the SFT model")
    if not questions:
        return {"passed": False, "applicable": False, "reason": "no training question in the selection band",
                "questions": 0, "learning_rate": learning_rate, "seeds": list(seeds), "accuracy_before": None,
                "accuracy_after": [], "mean_loss": None, "histories": []}
    jobs = check_jobs(profile, questions, start_job, learning_rate, seeds)
    desc = f"retention check: GRPO at lr {learning_rate:g}"
    dirs = list(dispatch.build(profile, dict(enumerate(jobs)), desc=desc).values())
    before, *after = sample_accuracy(profile, [start_dir, *dirs], questions, spec.measurement_seed,
                                     "retention check: accuracy")
    out = retention_decision(float(before.mean()), [float(a.mean()) for a in after], rule)
    enough = len(questions) >= spec.questions
    if not enough:
        out |= {"passed": False, "applicable": False,
                "reason": f"only {len(questions)} of {spec.questions} questions in the selection band"}
    return {**out, "questions": len(questions), "learning_rate": learning_rate, "seeds": list(seeds),
            "histories": [json.loads((Path(d) / "history.json").read_text()) for d in dirs]}


def _word(check: dict) -> str:
    """PASSED, FAILED, or COULD NOT DECIDE (a check whose start lies outside its pre-registered band)."""
    if check.get("applicable") is False:
        return "COULD NOT DECIDE"
    return "PASSED" if check["passed"] else "FAILED"


def sentence(learning: dict, retention: dict) -> str:
    """Returns the one-line reading of the learning check (``learning_check``'s ``profile_lr``) and the retention
    check."""
    def fmt(x):
        return "–" if x is None else f"{x:.3f}"

    gains = ", ".join(f"{r['accuracy_gain']:+.3f}" for r in learning["runs"]) or "no run"
    return (f"learning check at lr {learning['learning_rate']:g}: {'PASSED' if learning['passed'] else 'FAILED'} "
            f"({learning['questions']} questions; accuracy gain per check seed {gains}); retention from the SFT "
            f"model at lr {retention['learning_rate']:g}: {_word(retention)} "
            f"(start {fmt(retention['accuracy_before'])}, "
            f"mean loss {fmt(retention['mean_loss'])}{'; ' + retention['reason'] if retention['reason'] else ''})")


def summary(check: dict) -> dict:
    """Returns a check result without its histories (for metrics.json and tables)."""
    if "runs" in check:
        return {**{k: v for k, v in check.items() if k != "runs"},
                "runs": [{k: v for k, v in r.items() if k != "history"} for r in check["runs"]]}
    return {k: v for k, v in check.items() if k != "histories"}


def history_frame(check: dict, label: str) -> "pd.DataFrame":
    """Returns the histories of a learning check's runs as one frame (``arm`` = ``label``, ``seed``, ``step``, ...)."""
    frames = [pd.DataFrame(r["history"]).assign(arm=label, seed=r["seed"]) for r in check["runs"]]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["arm", "seed", "step"])
