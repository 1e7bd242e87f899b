"""Generalisation of trajectory-trained models (claim C9): the base and every trained model on unseen questions.

Splits (``experiment.test_set``; every question unseen in training, by a hash of the question):

- ``in_domain`` (a): the fine-tuning families on the difficulty ladder (C9 reads the rungs where the base had room);
- ``longer`` (b): more operations than any training question (length extrapolation);
- ``unseen_operands`` (b): the longest training difficulty, every operand in ``toy.UNSEEN_OPERANDS``,
  a combination no fine-tuning question has;
- ``held_out_family`` (c): the family held out of all fine-tuning (the base saw it in pre-training), on the
  ladder's levels (C9 reads its own rungs there).

Models: the base; notebook 02's SFT arms (answer-only, short, long); notebook 04's reflection arm; notebook
05's zero-RL and SFT-then-RL arms. Each comes from the job constructor its own notebook uses, so it is the
same cache entry, trained here only if missing.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from . import experiment, reflection, sft_then_rl
from .base_model import base_job
from .params import Profile
from .results import headroom_verdict, pre_registered
from .worlds import toy

SPLITS = {
    "in_domain": "(a) within domain: unseen questions of the training families on the difficulty ladder",
    "longer": "(b) harder: more operations than any training question",
    "unseen_operands": "(b) harder: the longest training length, every operand in {lo}..{hi}",
    "held_out_family": "(c) across domains: the family held out of all fine-tuning",
}
TOY_ONLY = ("unseen_operands",)  # reasoning-gym questions have no operand band of ours
SFT_STYLES = ("answer_only", "short", "long")  # notebook 02's arms evaluated here (its padded arm is a control)


def model_jobs(profile: Profile, seed: int) -> dict:
    """Returns ``{model name: training job}`` of every trained model at ``seed`` (the base is not a job here).

    Names: ``answer_only``, ``short``, ``long`` (notebook 02), ``reflection`` (notebook 04), ``zero_rl``,
    ``sft_then_rl`` (notebook 05), and ``sft`` only if notebook 05's SFT arm is not already one of them.
    """
    jobs = {style: experiment.sft_job(profile, style, seed) for style in SFT_STYLES}
    jobs["reflection"] = reflection.arm_jobs(profile)[("reflection", seed)]
    rl = sft_then_rl.arm_jobs(profile, seed)
    if rl["sft"] not in jobs.values():
        jobs["sft"] = rl["sft"]
    jobs["zero_rl"], jobs["sft_then_rl"] = rl["zero_rl"], rl["sft_then_rl"]
    return jobs


def all_jobs(profile: Profile) -> dict:
    """Returns the job of every (model, seed), seeds from ``profile.seeds``."""
    return {(name, seed): job for seed in profile.seeds for name, job in model_jobs(profile, seed).items()}


VERDICT_CONTRASTS = {"in_domain": "C9_in_domain", "held_out_family": "C9_held_out_family"}  # split -> its ladder
# contrast (claims.yaml): C9's two readings, each on its own rungs; the other splits are read whole


def eval_profile(profile: Profile, split: str) -> Profile:
    """Returns the profile that evaluates ``split``: the shared one for ``in_domain`` (its samples are cached by
    notebooks 02 and 05), otherwise ``eval`` with ``generalisation.n_questions`` (``held_out_questions`` for the
    held-out family) and ``max_new_tokens``."""
    if split == "in_domain":
        return profile
    g = profile.generalisation
    n = g.held_out_questions if split == "held_out_family" else g.n_questions
    return dataclasses.replace(profile, eval=dataclasses.replace(profile.eval, n_questions=n,
                                                                 max_new_tokens=g.max_new_tokens))


def on_rungs(profile: Profile, frame) -> "pd.DataFrame":
    """Returns the rows of ``frame`` (with a ``split`` column) that C9 reads: each verdict split's questions on its
    contrast's rungs, every question of the other splits."""
    return pd.concat([sub[sub.k.isin(experiment.rungs(profile, VERDICT_CONTRASTS[split]))]
                      if split in VERDICT_CONTRASTS else sub for split, sub in frame.groupby("split", sort=False)])


def splits_of(profile: Profile) -> list[str]:
    """Returns the splits of the profile's world (every split in the toy world; the LLM world has no operand band)."""
    return [s for s in SPLITS if profile.world.kind == "toy" or s not in TOY_ONLY]


def split_description(split: str) -> str:
    """Returns the one-line description of a split."""
    lo, hi = toy.UNSEEN_OPERANDS
    return SPLITS[split].format(lo=lo, hi=hi)


# --- what each split holds, against what fine-tuning saw ------------------------------------------

def fine_tuning_questions(profile: Profile) -> list:
    """Returns every distinct question any model of ``model_jobs`` is fine-tuned on, at any stage after the base."""
    base = base_job(profile)
    recipes = {}
    for job in model_jobs(profile, profile.seeds[0]).values():  # questions never depend on the run's seed
        while job is not None and job != base:
            recipes[job.data] = None
            job = job.init
    return list({p.key: p for data in recipes for p in data.problems()}.values())


def has_split_property(profile: Profile, split: str, problem) -> bool:
    """Returns True if ``problem`` has what defines ``split`` (family, difficulty, operand band), seen or not."""
    world = profile.world
    if split == "in_domain":
        return problem.family in world.train_families and problem.k in experiment.ladder_levels(profile)
    if split == "longer":
        return problem.family in world.train_families and problem.k > max(world.train_levels)
    if split == "unseen_operands":
        lo, hi = toy.UNSEEN_OPERANDS
        return (problem.family in world.train_families and problem.k == max(world.train_levels)
                and all(lo <= v <= hi for v in problem.values))
    if split == "held_out_family":
        return problem.family in world.held_out_families
    raise ValueError(f"split {split!r} is unknown; allowed: {', '.join(SPLITS)}")


def split_table(profile: Profile) -> "pd.DataFrame":
    """Returns one row per split: its questions, families, difficulties and operand range, how many of its
    questions fine-tuning saw, and how many fine-tuning questions share the property that defines it."""
    train = fine_tuning_questions(profile)
    seen = {p.key for p in train}
    rows = []
    for split in splits_of(profile):
        problems = experiment.test_set(eval_profile(profile, split), split)
        values = [v for p in problems for v in getattr(p, "values", ())]  # toy operands; none in the LLM world
        rows.append({"split": split, "what": split_description(split), "questions": len(problems),
                     "families": ", ".join(sorted({p.family for p in problems})),
                     "operations k": ", ".join(str(k) for k in sorted({p.k for p in problems})),
                     "operands": f"{min(values):02d}..{max(values):02d}" if values else "-",
                     "questions seen in fine-tuning": sum(p.key in seen for p in problems),
                     "fine-tuning questions with its property": sum(has_split_property(profile, split, q)
                                                                   for q in train)})
    return pd.DataFrame(rows).set_index("split")


# --- evaluation and contrasts with the base -------------------------------------------------------

def evaluate(profile: Profile, model_dirs: dict, splits=None) -> "pd.DataFrame":
    """Returns the per-question frame (``experiment.per_question_frame``, plus a ``split`` column) of every
    (model, seed) in ``model_dirs`` on every split, sampling only what the cache lacks."""
    frames = []
    for split in splits or splits_of(profile):
        P = eval_profile(profile, split)
        results = experiment.evaluate_models(P, list(model_dirs.values()), split, desc=f"evaluating: {split}")
        problems = experiment.test_set(P, split)
        frames.append(experiment.per_question_frame(problems, dict(zip(model_dirs, results)), P.eval.k)
                      .assign(split=split))
    return pd.concat(frames, ignore_index=True)


def paired_with_base(frame, model: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Returns (model scores, base scores), both (seeds, questions), from one split's frame.

    The base is one model (no training seed): its row is repeated for every seed of ``model``, so the
    bootstrap resamples the model's seeds and the questions, pairing each question with the base's score.
    """
    a = experiment.scores(frame, model, metric)
    b = experiment.scores(frame, "base", metric)
    if b.shape[0] != 1:
        raise ValueError(f"expected one base model, got {b.shape[0]} base runs")
    return a, np.repeat(b, a.shape[0], axis=0)


def contrasts_with_base(profile: Profile, frame, models, metric: str = "pass_at_k") -> "pd.DataFrame":
    """Returns one row per (split, model): ``model - base`` on ``metric`` with its bootstrap CI, the verdict of C9's
    pre-registered CI rule (``CI rule``) and with the rule's headroom part (``verdict``: ``reproduced`` = beats the
    base; ``inconclusive`` where the model sits at chance or the base at the ceiling), and the ``ClaimResult`` in
    column ``result``; the verdict splits are read on their rungs (``on_rungs``)."""
    rows = []
    for split, sub in on_rungs(profile, frame).groupby("split", sort=False):
        for model in models:
            result = pre_registered("C9", *paired_with_base(sub, model, metric), arms=(model, "base"), metric=metric)
            if split in VERDICT_CONTRASTS:
                contrast = VERDICT_CONTRASTS[split]
                result = dataclasses.replace(result, rungs=experiment.rungs(profile, contrast),
                                             ladder=experiment.rung_text(profile, contrast),
                                             expected_half_width=profile.ladder.expected_half_width.get(contrast))
            rows.append({"split": split, "model": model, "effect": result.effect, "lo": result.lo, "hi": result.hi,
                         "CI rule": result.verdict, "verdict": headroom_verdict(result, profile)[0], "result": result})
    return pd.DataFrame(rows)


def split_summary(frame, metrics, order) -> "pd.DataFrame":
    """Returns ``experiment.arm_summary`` per split (mean over seeds, 95% t-interval), with a ``split`` column."""
    return pd.concat([experiment.arm_summary(sub, metrics, order=order).reset_index().assign(split=split)
                      for split, sub in frame.groupby("split", sort=False)], ignore_index=True)
