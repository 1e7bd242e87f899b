"""The GRPO checks' screening: one model's sample accuracy on the candidates, in one process vs in parts.

    .venv/bin/python benchmarks/screening_parts.py [--profile cpu] [--repeats 2]

Notebook 05 screens the ``rl_check.candidates`` training questions with one start model (the base; the SFT arm):
``rl_check.samples`` completions per question at the rollout temperature and budget. Measured in one process, one
core idled for the whole screening; ``rl_check.sample_accuracy`` now splits the questions into ``rl_check.parts``
(whole sampling batches, one part per worker, each batch drawing from the seed it has in the whole set's sampling).
Both ways, alternating, on the profile's base model (built if the cache lacks it): median wall times, their ratio,
and whether the accuracies are identical (they must be).
"""

from __future__ import annotations

import argparse
import statistics
import time

from tqdm import tqdm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    from raml_utils import dispatch, rl_check
    from raml_utils.base_model import base_job
    from raml_utils.params import load_profile

    profile = load_profile(args.profile)
    start = str(dispatch.build_one(profile, base_job(profile), desc="base model"))
    pool = rl_check.candidates(profile)
    seed, ranges = profile.rl_check.selection_seed, rl_check.parts(profile, len(pool), profile.workers)
    calls = {"one process": [(rl_check._accuracy, profile, start, pool, seed, 0)],
             f"{len(ranges)} parts": [(rl_check._accuracy, profile, start, pool[a:b], seed, a) for a, b in ranges]}
    # The workers start and import the package before the clock runs: it measures sampling alone.
    dispatch.run_calls([(rl_check.parts, profile, 1, 1)] * profile.workers, profile.workers, tqdm(disable=True))
    times, accuracies = {name: [] for name in calls}, {}
    for _ in range(args.repeats):
        for name, jobs in calls.items():
            began = time.perf_counter()
            parts = dispatch.run_calls(jobs, profile.workers if len(jobs) > 1 else 1, tqdm(disable=True))
            times[name].append(time.perf_counter() - began)
            accuracies[name] = [a for part in parts for a in part]
    print(f"{len(pool)} questions x {profile.rl_check.samples} samples, batch {profile.eval.batch_size}, "
          f"{profile.workers} workers, parts {ranges}, {args.repeats} alternating repeats")
    print(f"accuracies identical: {len({tuple(v) for v in accuracies.values()}) == 1}")
    for name, values in times.items():
        print(f"{name:<12} median {statistics.median(values):6.1f} s  runs: " + ", ".join(f"{v:.1f}" for v in values))
    whole, split = (statistics.median(v) for v in times.values())
    print(f"speed-up (one process / parts): {whole / split:.2f}x")


if __name__ == "__main__":
    main()
