"""Base-model pre-training speed: seconds per step of each stage, extrapolated to the profile's step counts.

    .venv/bin/python benchmarks/base_speed.py [--profile cpu] [--steps 60] [--micro-batches N]

Trains both stages for ``--steps`` steps each (profile's batch, data, threads) in a throwaway cache and prints
s/step and the full-length estimate; run it on an idle machine (it measures what the machine gives).
"""
import argparse
import dataclasses
import tempfile
import time

import torch

from raml_utils import dispatch
from raml_utils.base_model import base_job
from raml_utils.cache import Store
from raml_utils.params import load_profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--micro-batches", type=int, default=None, help="override TrainParams.micro_batches")
    args = parser.parse_args()
    P = load_profile(args.profile)
    torch.set_num_threads(P.threads)
    override = {"steps": args.steps} | ({"micro_batches": args.micro_batches} if args.micro_batches else {})
    short = {name: dataclasses.replace(getattr(P.base, name), **override) for name in ("facts_train", "train")}
    job = base_job(dataclasses.replace(P, base=dataclasses.replace(P.base, **short)))
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(tmp)
        for label, stage, full in (("stage 1 (facts)", job.init, P.base.facts_train.steps),
                                   ("stage 2 (mixture)", job, P.base.train.steps)):
            start = time.perf_counter()
            dispatch.make_model(stage, store)  # this stage only: stage 1 is made first
            per_step = (time.perf_counter() - start) / args.steps
            print(f"{label}: {per_step:.3f} s/step ({P.threads} threads, {stage.train.micro_batches} micro-batches) "
                  f"-> {full} steps ≈ {per_step * full:.0f} s")


if __name__ == "__main__":
    main()
