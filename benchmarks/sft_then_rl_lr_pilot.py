"""Chooses the SFT -> RL arm's GRPO learning rate on training signal alone: the retention check at a pilot seed.

The rule (params/claims.yaml, ``sft_then_rl_learning_rate``, committed before this pilot ran): from the long SFT
model at the ladder's pilot seed, on training questions screened as the retention check's, GRPO with the profile's
other settings at each rate on the pilot GRPO seeds; **the largest rate whose mean loss of sample accuracy over those
seeds is at most ``grpo_checks.retention.max_loss``** (where the check applies: its start accuracy in the band).
No verdict seed, no check seed and no test question is used; no contrast is read. The study's own retention check
then reruns at the chosen rate on the check seeds.

    .venv/bin/python benchmarks/sft_then_rl_lr_pilot.py --profile cpu

Prints one row per rate and the choice (to be written into the profile as ``sft_then_rl.learning_rate``); writes
outputs/<profile>/benchmarks/sft_then_rl_lr_pilot.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from raml_utils import experiment, rl_check  # noqa: E402
from raml_utils.cache import write_json_atomic  # noqa: E402
from raml_utils.params import load_profile  # noqa: E402
from raml_utils.results import OUTPUTS_DIR, load_claims  # noqa: E402


def choose(results: list[dict]) -> float | None:
    """Returns the largest rate whose run passes the retention check as the check reads it: the start accuracy in its
    band, enough questions, a mean loss of at most ``grpo_checks.retention.max_loss`` (None when none passes; at a
    start outside the band nothing could be lost, so no rate is chosen)."""
    passing = [r["learning_rate"] for r in results if r["passed"]]
    return max(passing) if passing else None


def reward_trend(history: list[dict], width: int) -> tuple[float, float]:
    """Returns the mean training reward of a run's first and last ``width`` steps."""
    rewards = [h["reward"] for h in history]
    return float(np.mean(rewards[:width])), float(np.mean(rewards[-width:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="cpu")
    args = parser.parse_args()
    profile, plan = load_profile(args.profile), load_claims()["sft_then_rl_learning_rate"]
    max_loss, width = rl_check.rules()["retention"]["max_loss"], rl_check.rules()["learning"]["window"]
    start = experiment.sft_job(profile, profile.sft_then_rl.sft_style, plan["sft_seed"])
    print(f"pilot: the {profile.sft_then_rl.sft_style!r} SFT model at seed {plan['sft_seed']}, GRPO seeds "
          f"{plan['grpo_seeds']}, rates {plan['rates']}; rule: the largest rate losing at most {max_loss}")
    results = [rl_check.retention_check(profile, start, float(rate), plan["grpo_seeds"]) for rate in plan["rates"]]
    print(f"{'lr':>8} {'questions':>9} {'before':>7} {'after per seed':>16} {'mean loss':>9} {'applies':>7} "
          f"{'reward first→last ' + str(width):>24}")
    for r in results:
        trends = [reward_trend(h, width) for h in r["histories"]]
        after = " ".join(f"{a:.3f}" for a in r["accuracy_after"])
        loss = "–" if r["mean_loss"] is None else f"{r['mean_loss']:+.3f}"
        before = "–" if r["accuracy_before"] is None else f"{r['accuracy_before']:.3f}"
        trend = " ".join(f"{a:+.2f}→{b:+.2f}" for a, b in trends)
        print(f"{r['learning_rate']:>8.0e} {r['questions']:>9} {before:>7} {after:>16} {loss:>9} "
              f"{str(r['applicable']):>7} {trend:>24}")
    choice = choose(results)
    print(f"rule: the largest rate that passes (applies, mean loss <= {max_loss}) -> "
          f"{choice if choice is not None else 'none passes'}")
    out = OUTPUTS_DIR / profile.name / "benchmarks" / "sft_then_rl_lr_pilot.json"
    write_json_atomic(out, {"rule": f"largest rate passing the retention check (mean loss <= {max_loss})",
                            "choice": choice,
                            "plan": plan, "results": [rl_check.summary(r) for r in results]})
    print(f"written: {out}")


if __name__ == "__main__":
    main()
