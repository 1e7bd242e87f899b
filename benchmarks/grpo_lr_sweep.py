"""Chooses GRPO's learning rate by training reward only: the learning check on question set A with a pilot seed.

The rule, fixed before the sweep ran: **the largest learning rate whose pilot run passes every criterion of the
pre-registered learning check** (params/claims.yaml, grpo_checks.learning). Set A and the pilot seed are used by
no verdict and not by the study's own check (set B, the check seeds); no test-set contrast is read. Every other
GRPO setting is the profile's, unchanged.

    .venv/bin/python benchmarks/grpo_lr_sweep.py --profile cpu [--rates 5e-4 3e-4 2e-4 1e-4 5e-5]

Prints one row per rate and the choice; writes outputs/<profile>/benchmarks/grpo_lr_sweep.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from raml_utils import dispatch, rl_check  # noqa: E402
from raml_utils.base_model import base_job  # noqa: E402
from raml_utils.cache import write_json_atomic  # noqa: E402
from raml_utils.params import load_profile  # noqa: E402
from raml_utils.results import OUTPUTS_DIR  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--rates", type=float, nargs="+", default=[5e-4, 3e-4, 2e-4, 1e-4, 5e-5])
    args = parser.parse_args()
    profile = load_profile(args.profile)
    rates = sorted(set(args.rates), reverse=True)
    base = base_job(profile)
    band = tuple(rl_check.rules()["start_accuracy_band"])
    set_a, _ = rl_check.banded_sets(profile, dispatch.build_one(profile, base), band, "screening")
    print(f"set A: {len(set_a)} training questions with base sample accuracy in {band} (selection seed "
          f"{profile.rl_check.selection_seed}); pilot seed {profile.rl_check.pilot_seed}; rates {rates}")
    results = rl_check.run_learning(profile, set_a, {lr: [profile.rl_check.pilot_seed] for lr in rates}, base,
                                   "sweep")
    print(f"{'lr':>8} {'before':>7} {'after':>7} {'gain':>7} {'reward 1st→last 5':>18} {'trunc max':>9} "
          f"{'len ratio':>9} {'weights moved':>13}  passed (failed criteria)")
    for r in results:
        run = r["runs"][0]
        failed = [name for name, ok in run["criteria"].items() if not ok]
        print(f"{r['learning_rate']:>8.0e} {run['accuracy_before']:>7.3f} {run['accuracy_after']:>7.3f} "
              f"{run['accuracy_gain']:>+7.3f} {run['reward_first']:>+8.3f} → {run['reward_last']:>+7.3f} "
              f"{run['truncated_share_max']:>9.3f} {run['length_ratio_min']:>9.2f} {run['weight_change_end']:>12.2%}  "
              f"{r['passed']} {failed or ''}")
    passing = [r["learning_rate"] for r in results if r["passed"]]
    choice = max(passing) if passing else None
    print(f"rule: the largest rate whose pilot run passes -> {choice if choice is not None else 'none passes'}")
    out = OUTPUTS_DIR / profile.name / "benchmarks" / "grpo_lr_sweep.json"
    write_json_atomic(out, {"rule": "largest learning rate whose pilot run passes the learning check",
                            "choice": choice, "set_a_questions": len(set_a),
                            "results": [rl_check.summary(r) for r in results]})
    print(f"written: {out}")


if __name__ == "__main__":
    main()
