"""What notebook 00 shows of a world: its families, styles and orders, its tokenizer, and what the base model can do.

The same calls serve both worlds; only the base-model measurements differ in what they compare against: the toy
world's pre-registered correct-trajectory target, the LLM world's signal band for training (issue: pass@n of the
base between about 10% and 60%, or GRPO's groups all get the same reward).
"""

from __future__ import annotations

import random

import pandas as pd
from transformers import AutoTokenizer

from .base_model import base_model_path
from .metrics import pass_at_k_per_question
from .params import Profile
from .results import load_claims
from .worlds import make_problems, toy, world_for, world_of


def signal_band() -> tuple[float, float]:
    """Returns the pre-registered band (params/claims.yaml) of the base's pass@n in which a (family, level) gives
    on-policy RL signal in the LLM world: the share of questions with a right answer among n samples, in any format
    (GRPO's reward tells a right answer in a bad format, -0.5, from a wrong one, -1; strict pass@n is beside it)."""
    band = load_claims()["fixed"]["llm_signal_band"]
    return band["min"], band["max"]


def tokenizer_of(profile: Profile):
    """Returns the world's tokenizer: the toy world's character tokenizer, or the pretrained base model's."""
    if profile.world.kind == "toy":
        return toy.build_tokenizer()

    return AutoTokenizer.from_pretrained(base_model_path(profile))


def middle(levels: tuple[int, ...]) -> int:
    return levels[len(levels) // 2]


def families_table(profile: Profile) -> "pd.DataFrame":
    """Returns one question of every family at a middle training difficulty: question, answer, difficulty."""
    k = middle(profile.world.train_levels)
    rows = []
    for family in profile.world.families:
        p = make_problems(1, "train", seed=7, families=(family,), levels=(k,))[0]
        question = p.question() if profile.world.kind == "toy" else p.question
        answer = f"{p.answer:02d}" if profile.world.kind == "toy" else p.answer
        rows.append({"family": family, "question": question, "answer": answer, "k": p.k,
                     "fine-tuned on": family in profile.world.train_families})
    return pd.DataFrame(rows)


def style_examples(profile: Profile, tokenizer) -> "pd.DataFrame":
    """Returns one question of the first fine-tuning family written in every trajectory style."""
    return styles_of_one_question(profile.world.train_families[0], middle(profile.world.train_levels), tokenizer)


def order_examples(profile: Profile, tokenizer, n: int = 3) -> list[str]:
    """Returns one question written with ``n`` of its distinct valid trajectories (step orders), short style."""
    world = world_of(profile.world, tokenizer)
    family = next((f for f in profile.world.train_families if f != "gsm_symbolic"), profile.world.train_families[0])
    k = max(profile.world.train_levels) if profile.world.kind == "llm" else 4
    q = make_problems(1, "train", seed=3, families=(family,), levels=(k,))[0]
    return [world.render(q, toy.TrajectorySpec("short", order)).completion
            for order in world.distinct_orders(q, n, random.Random(0))]


def signal_table(frame, result, problems, n: int) -> "pd.DataFrame":
    """Returns, per (family, difficulty): greedy accuracy, sample accuracy, pass@n (n = all samples: at least one of
    them right and well formed), the same in any format, and whether the any-format pass@n lies in ``signal_band()``."""
    table = frame.assign(pass_at_n=pass_at_k_per_question(result.sample_correct, n),
                         pass_at_n_any_format=pass_at_k_per_question(result.sample_answer_correct, n)
                         ).groupby(["family", "k"])
    out = table[["greedy_accuracy", "accuracy", "any_format_accuracy", "pass_at_n", "pass_at_n_any_format",
                 "correct_trajectory_rate"]].mean()
    out["questions"] = table.size()
    out["in_signal_band"] = out.pass_at_n_any_format.between(*signal_band())
    return out


def base_measurements(profile: Profile, frame, signal, n_parameters: int, target: dict) -> dict:
    """Returns notebook 00's measurements of the base model (what later notebooks' RL starts from)."""
    world = profile.world
    out = {"base_parameters": n_parameters, "base_greedy_accuracy": float(frame.greedy_accuracy.mean()),
           "base_accuracy_by_family_k": frame.groupby(["family", "k"]).greedy_accuracy.mean().unstack().round(4).to_dict(),
           "signal": signal.reset_index().round(4).to_dict(orient="records")}
    if world.kind == "llm":
        cells = signal.index.to_frame()
        train = signal[(cells.family.isin(world.train_families) & cells.k.isin(world.train_levels)).to_numpy()]
        usable = train[train.in_signal_band].reset_index()[["family", "k"]].to_dict(orient="records")
        return out | {"signal_band": signal_band(), "trainable_cells": usable,
                      "train_pass_at_n": float(train.pass_at_n.mean()),
                      "train_pass_at_n_any_format": float(train.pass_at_n_any_format.mean())}
    mid = frame[frame.k.isin(world.train_levels) & (frame.k > max(world.easy_levels))]
    rate = float(mid.correct_trajectory_rate.mean())
    return out | {
        "mid_difficulty_steps": sorted(mid.k.unique().tolist()),
        "mid_correct_trajectory_rate": rate,
        "mid_sample_accuracy": float(mid.accuracy.mean()),
        "mid_pass_at_k": float(mid.pass_at_k.mean()),
        "chance_accuracy": 1 / toy.MOD,
        "chance_pass_at_k": 1 - (1 - 1 / toy.MOD) ** profile.eval.k,
        "trajectory_rate_target": target,
        "trajectory_rate_in_target": bool(target["min"] <= rate <= target["max"]),
    }


def base_sentence(profile: Profile, m: dict) -> str:
    """Returns the one-line reading of ``base_measurements``."""
    if profile.world.kind == "llm":
        cells = ", ".join(f"{c['family']} k={c['k']}" for c in m["trainable_cells"]) or "none"
        return (f"fine-tuning families: mean pass@n {m['train_pass_at_n']:.3f} well formed, "
                f"{m['train_pass_at_n_any_format']:.3f} in any format; (family, level) cells with any-format pass@n in "
                f"{m['signal_band'][0]:.0%}-{m['signal_band'][1]:.0%} (real signal for RL and rejection sampling): "
                f"{cells}")
    inside = "inside" if m["trajectory_rate_in_target"] else "OUTSIDE"
    t = m["trajectory_rate_target"]
    return (f"mid difficulty (k in {m['mid_difficulty_steps']}): correct-trajectory rate "
            f"{m['mid_correct_trajectory_rate']:.3f} (pre-registered target {t['min']}-{t['max']}: {inside}); sample "
            f"accuracy {m['mid_sample_accuracy']:.3f}, Pass@{profile.eval.k} {m['mid_pass_at_k']:.3f} vs chance "
            f"{m['chance_pass_at_k']:.3f}")


def styles_of_one_question(family: str = "chain", k: int = 3, tokenizer=None) -> pd.DataFrame:
    """Returns a table of one training question written in every trajectory style (with and without delimiter);
    the LLM world writes it in ``tokenizer``'s chat template."""
    world = world_for((family,), tokenizer)
    problem = make_problems(1, "train", seed=11, families=(family,), levels=(k,))[0]
    rows = [{"style": s, "text": world.render(problem, toy.TrajectorySpec(s, reflection=(1, 7))).text}
            for s in world.styles_of(family)]
    long = world.render(problem)
    no_delimiter = world.render(problem, toy.TrajectorySpec("long", delimiter=False)).text
    rows.append({"style": "long, no delimiter", "text": no_delimiter})
    rows.append({"style": "long, cut after 1 step", "text": world.force_answer(long, long.steps[0]).text})
    return pd.DataFrame(rows).set_index("style")


def style_lengths(profile: Profile, tokenizer, n: int = 60) -> pd.DataFrame:
    """Returns tokens per training sequence for each style and family (``n`` questions per family)."""
    rows = []
    for family in profile.world.families:
        world = world_for((family,), tokenizer)
        for p in make_problems(n, "train", seed=0, families=(family,), levels=profile.world.train_levels):
            for style in world.styles_of(family):
                text = world.render(p, toy.TrajectorySpec(style)).text
                rows.append({"family": family, "style": style,
                             "tokens": len(tokenizer(text, add_special_tokens=False)["input_ids"])})
    return pd.DataFrame(rows)
