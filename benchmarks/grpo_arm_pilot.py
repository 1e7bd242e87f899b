"""The second GRPO repair (2026-12-03): chooses the learning rate by the zero-RL arm's own training signal.

Why a second repair: at the rate the first sweep chose (3e-4, ``benchmarks/grpo_lr_sweep.py``: the largest rate
passing the learning check on 32 fixed questions), the study's zero-RL arm did not raise its own training reward
(first fifth -> last fifth +0.40 -> +0.36 over 5 seeds, cold run of 2026-12-03): fitting 32 questions seen again
and again is not learning the arm's task. The project's rule is that an RL arm must be shown to raise its own
training reward before it is judged.

The rule, fixed before this script ran: **the largest learning rate whose zero-RL pilot run (the arm's own job:
the profile's GRPO settings, its training questions, from the base; pilot seed ``rl_check.pilot_seed``, which no
verdict uses) (a) raises sample accuracy on the 512 screening questions (training questions, never the test set;
16 samples each, measurement seed ``rl_check.measurement_seed``) by at least 0.05 over the base, and (b) ends with a
higher mean training reward over its last fifth of steps than over its first fifth**, and that also passes the
pre-registered learning check on set A (the first sweep's rows). No test-set contrast is read. Every other GRPO
setting is the profile's.

    .venv/bin/python benchmarks/grpo_arm_pilot.py --profile cpu [--rates 3e-4 2e-4 1e-4 5e-5]

Prints one row per rate and the choice; writes outputs/<profile>/benchmarks/grpo_arm_pilot.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from raml_utils import dispatch, experiment, rl_check  # noqa: E402
from raml_utils.base_model import base_job  # noqa: E402
from raml_utils.cache import write_json_atomic  # noqa: E402
from raml_utils.params import load_profile  # noqa: E402
from raml_utils.results import OUTPUTS_DIR  # noqa: E402
from raml_utils.training import load_history  # noqa: E402

MIN_GAIN = 0.05  # sample accuracy on the screening questions, over the base (rule (a))


def fifths(history: list[dict]) -> tuple[float, float]:
    """Returns the mean training reward over the first and the last fifth of the steps."""
    rewards = [h["reward"] for h in history if h.get("reward") is not None]
    width = max(1, len(rewards) // 5)
    return float(np.mean(rewards[:width])), float(np.mean(rewards[-width:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--rates", type=float, nargs="+", default=[3e-4, 2e-4, 1e-4, 5e-5])
    args = parser.parse_args()
    profile = load_profile(args.profile)
    rates = sorted(set(args.rates), reverse=True)
    seed = profile.rl_check.pilot_seed
    jobs = [experiment.grpo_job(dataclasses.replace(profile, grpo=dataclasses.replace(profile.grpo, learning_rate=r)),
                                profile.grpo.group_size, seed) for r in rates]
    dirs = list(dispatch.build(profile, dict(enumerate(jobs)), desc="zero-RL pilots").values())
    base_dir = dispatch.build_one(profile, base_job(profile))
    questions = rl_check.candidates(profile)
    base_acc, *accs = rl_check.sample_accuracy(profile, [base_dir, *dirs], questions,
                                               profile.rl_check.measurement_seed, "pilot accuracy")
    print(f"zero-RL pilot, seed {seed}: {len(questions)} screening questions (training questions), base sample "
          f"accuracy {base_acc.mean():.3f}")
    print(f"{'lr':>8} {'accuracy':>9} {'gain':>7} {'reward 1st→last fifth':>22} {'weights moved':>13}  meets (a), (b)")
    rows = []
    for rate, model_dir, acc in zip(rates, dirs, accs):
        history = load_history(model_dir)
        first, last = fifths(history)
        gain = float(acc.mean() - base_acc.mean())
        moved = history[-1].get("weight_change")
        ok = gain >= MIN_GAIN and last > first
        rows.append({"learning_rate": rate, "accuracy": float(acc.mean()), "gain": gain, "reward_first_fifth": first,
                     "reward_last_fifth": last, "weight_change_end": moved, "meets_rule": ok})
        print(f"{rate:>8.0e} {acc.mean():>9.3f} {gain:>+7.3f} {first:>+10.3f} → {last:>+8.3f} "
              f"{moved:>12.2%}  {gain >= MIN_GAIN}, {last > first}")
    passing = [r["learning_rate"] for r in rows if r["meets_rule"]]
    choice = max(passing) if passing else None
    print(f"rule: the largest rate meeting (a) and (b) -> {choice if choice is not None else 'none'} "
          "(check it against the learning check's rows of grpo_lr_sweep.py)")
    out = OUTPUTS_DIR / profile.name / "benchmarks" / "grpo_arm_pilot.json"
    write_json_atomic(out, {"rule": "largest rate whose zero-RL pilot gains >= 0.05 sample accuracy on the screening "
                                    "questions and ends with a higher training reward than it starts",
                            "pilot_seed": seed, "base_accuracy": float(base_acc.mean()), "choice": choice,
                            "rows": rows})
    print(f"written: {out}")


if __name__ == "__main__":
    main()
