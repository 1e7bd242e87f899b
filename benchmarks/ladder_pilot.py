"""The difficulty ladder's pilot: places every contrast's rungs by the rule pre-registered in params/claims.yaml
(``ladder``), from each contrast's reference arm alone, at a pilot seed and on a question draw no verdict uses.

    .venv/bin/python benchmarks/ladder_pilot.py [--profile cpu] [--write]

For every contrast of ``claims.yaml``'s ``ladder.reference_arms`` (C3: short, C4: zero_rl, C5: sft, C6: sft_1 and
grpo_1, C9: the base on the fine-tuning families and on the held-out one, C10: answer_only) it trains that arm at the
pilot seed (the study's own job constructors: the same runs the notebooks make, but another seed), evaluates it on
the ladder's levels with the pilot's question seed, and prints its Pass@k per level, the rungs the rule gives (every
level whose score lies in the band; with fewer than ``min_rungs``, the ``min_rungs`` levels nearest 0.5) and the
contrast's expected 95% CI half-width on them. The other arm of a contrast is never trained or read here.

Expected half-width (questions only): 1.96 * sqrt(2 * var / (seeds * questions)), with ``var`` the variance over
the rung questions of the reference arm's per-question score, as if both arms had that spread and were independent,
the profile's seed count and the questions the verdict will read on those rungs. Seed-to-seed spread adds to it.

``--write`` replaces the ``ladder:`` block of the profile's yaml file (its levels kept) with the placed rungs and
half-widths; the notebooks then read them. Results go to ``outputs/<profile>/benchmarks/ladder_pilot.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from raml_utils import dispatch, experiment, generalisation, sft_then_rl, support_set  # noqa: E402
from raml_utils.base_model import base_job, base_model_path  # noqa: E402
from raml_utils.cache import write_json_atomic  # noqa: E402
from raml_utils.params import LADDER_CONTRASTS, load_profile, profile_path  # noqa: E402
from raml_utils.results import OUTPUTS_DIR, load_claims  # noqa: E402


def place_rungs(scores: dict[int, float], band: tuple[float, float], min_rungs: int) -> tuple[int, ...]:
    """Returns the rungs of one contrast from its reference arm's pilot score per level (the pre-registered rule):
    every level whose score lies in ``band`` (inclusive); with fewer than ``min_rungs`` of them, the ``min_rungs``
    levels whose score is nearest 0.5, ties to the lower level."""
    inside = tuple(k for k in sorted(scores) if band[0] <= scores[k] <= band[1])
    if len(inside) >= min_rungs:
        return inside
    nearest = sorted(scores, key=lambda k: (abs(scores[k] - 0.5), k))[:min_rungs]
    return tuple(sorted(nearest))


def expected_half_width(per_question: np.ndarray, seeds: int, questions: int) -> float:
    """Returns 1.96 * sqrt(2 * var / (seeds * questions)): the contrast's expected 95% CI half-width from the
    reference arm's per-question scores on the rungs (both arms alike and independent; questions only)."""
    return float(1.96 * np.sqrt(2 * np.var(per_question, ddof=1) / (seeds * questions)))


def reference_jobs(P, seed: int) -> dict:
    """Returns the job of every reference arm at the pilot seed (the base is its own: it has no seed)."""
    rl = sft_then_rl.arm_jobs(P, seed)
    return {"short": experiment.sft_job(P, "short", seed), "answer_only": experiment.sft_job(P, "answer_only", seed),
            "sft": rl["sft"], "zero_rl": rl["zero_rl"], "sft_1": support_set.sft_arm_job(P, 1, seed),
            "grpo_1": support_set.grpo_arm_job(P, 1, seed), "base": base_job(P)}


def level_scores(P, frame, arm: str) -> tuple[dict[int, float], dict[int, np.ndarray]]:
    """Returns the arm's mean Pass@k per level and its per-question scores per level."""
    rows = frame[frame.arm == arm]
    return ({int(k): float(g.pass_at_k.mean()) for k, g in rows.groupby("k")},
            {int(k): g.pass_at_k.to_numpy() for k, g in rows.groupby("k")})


def verdict_questions(P, contrast: str, rungs: tuple[int, ...]) -> tuple[int, int]:
    """Returns (seeds, questions) the contrast's verdict will read on ``rungs`` in the study."""
    if contrast.startswith("C9_held_out"):
        problems = experiment.test_set(generalisation.eval_profile(P, "held_out_family"), "held_out_family")
    elif contrast.startswith("C6"):
        problems = experiment.test_set(support_set.eval_profile(P), "in_domain")
    else:
        problems = experiment.test_set(P, "in_domain")
    seeds = len(sft_then_rl.seeds(P)) if contrast in ("C4", "C5") else len(P.seeds)
    return seeds, sum(p.k in rungs for p in problems)


def ladder_block(levels, rungs: dict, widths: dict) -> str:
    """Returns the profile's ``ladder:`` block (yaml) with the placed rungs and expected half-widths."""
    lines = ["ladder:", f"  levels: [{', '.join(map(str, levels))}]",
             "  rungs:  # placed by benchmarks/ladder_pilot.py (params/claims.yaml, ladder); never drop one"]
    lines += [f"    {c}: [{', '.join(map(str, rungs[c]))}]" for c in LADDER_CONTRASTS if c in rungs]
    lines += ["  expected_half_width:  # the pilot's expected 95% CI half-width on those rungs (questions only)"]
    lines += [f"    {c}: {widths[c]:.3f}" for c in LADDER_CONTRASTS if c in widths]
    return "\n".join(lines) + "\n"


def write_block(path: Path, block: str) -> None:
    """Replaces the ``ladder:`` block of a profile yaml (up to the next top-level key or the end) with ``block``."""
    text = path.read_text()
    pattern = re.compile(r"^ladder:.*?(?=^\S|\Z)", re.S | re.M)
    if not pattern.search(text):
        raise SystemExit(f"{path} has no top-level 'ladder:' block to replace")
    path.write_text(pattern.sub(lambda _: block, text, count=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--write", action="store_true", help="write the rungs into the profile's yaml file")
    args = parser.parse_args()
    rule = load_claims()["ladder"]
    P = load_profile(args.profile)
    if not P.ladder.levels:
        raise SystemExit(f"profile {P.name} has no ladder (ladder.levels): nothing to place")
    pilot = dataclasses.replace(P, eval=dataclasses.replace(P.eval, question_seed=rule["pilot_question_seed"]))
    jobs = reference_jobs(P, rule["pilot_seed"])
    print(f"profile {P.name}: ladder k in {P.ladder.levels}; pilot seed {rule['pilot_seed']}, question seed "
          f"{rule['pilot_question_seed']}; band {rule['band']}, at least {rule['min_rungs']} rungs", flush=True)
    dirs = dispatch.build(P, {arm: job for arm, job in jobs.items() if arm != "base"}, desc="reference arms")
    dirs["base"] = base_model_path(P)

    def frame_of(profile, set_name, arms):
        results = experiment.evaluate_models(profile, [dirs[a] for a in arms], set_name, desc=f"pilot: {set_name}")
        problems = experiment.test_set(profile, set_name)
        return experiment.per_question_frame(problems, {(a, rule["pilot_seed"]): r for a, r in zip(arms, results)},
                                             P.eval.k)

    frames = {"in_domain": frame_of(pilot, "in_domain", ["short", "answer_only", "sft", "zero_rl", "base"]),
              "support": frame_of(support_set.eval_profile(pilot), "in_domain", ["sft_1", "grpo_1"]),
              "held_out": frame_of(generalisation.eval_profile(pilot, "held_out_family"), "held_out_family", ["base"])}
    source = {"C6_sft": "support", "C6_grpo": "support", "C9_held_out_family": "held_out"}
    out, rungs, widths = {}, {}, {}
    for contrast in LADDER_CONTRASTS:
        arm = rule["reference_arms"][contrast]
        by_level, per_question = level_scores(P, frames[source.get(contrast, "in_domain")], arm)
        rungs[contrast] = place_rungs(by_level, tuple(rule["band"]), rule["min_rungs"])
        seeds, questions = verdict_questions(P, contrast, rungs[contrast])
        on = np.concatenate([per_question[k] for k in rungs[contrast]])
        widths[contrast] = expected_half_width(on, seeds, questions)
        out[contrast] = {"reference_arm": arm, "pass_at_k_by_level": by_level, "rungs": rungs[contrast],
                         "in_band": [k for k in rungs[contrast] if rule["band"][0] <= by_level[k] <= rule["band"][1]],
                         "verdict_seeds": seeds, "verdict_questions": questions,
                         "expected_half_width": widths[contrast]}
        scores = "  ".join(f"k={k}: {v:.2f}" for k, v in by_level.items())
        print(f"{contrast:<20} {arm:<12} {scores}  -> rungs {list(rungs[contrast])}, expected half-width "
              f"±{widths[contrast]:.3f} ({seeds} seeds x {questions} questions)")
    block = ladder_block(P.ladder.levels, rungs, widths)
    print("\n" + block)
    path = OUTPUTS_DIR / P.name / "benchmarks" / "ladder_pilot.json"
    write_json_atomic(path, {"profile": P.name, "rule": rule, "contrasts": out})
    print(f"wrote {path}")
    if args.write:
        write_block(profile_path(args.profile), block)
        print(f"wrote the ladder block into {profile_path(args.profile)}")


if __name__ == "__main__":
    main()
