"""GRPO step time on this machine: seconds per step of the project's GRPO path, by rollouts in the loss (n).

    .venv/bin/python benchmarks/grpo_step.py [--profile cpu] [--steps 4] [--length 100] [--threads 1]

A freshly initialised model of the profile's size rarely emits <eos>, so every rollout runs to ``--length``
tokens: an upper bound on generation time at that length. Prints the median step time per n, and how
much of it is generation (the same for every n) versus the update (which grows with n).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch
    from transformers import TrainerCallback

    from raml_utils import grpo
    from raml_utils.models import ModelConfig, build_model
    from raml_utils.params import load_profile
    from raml_utils.worlds import toy

    torch.set_num_threads(args.threads)
    profile = load_profile(args.profile)
    params = dataclasses.replace(profile.grpo, steps=args.steps, max_completion_length=args.length)
    problems = toy.make_problems(64, "train", 0, profile.world.train_families, profile.support_set.levels)
    tok = toy.build_tokenizer()

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times, self.start = [], None

        def on_step_begin(self, *a, **k):
            self.start = time.perf_counter()

        def on_step_end(self, *a, **k):
            self.times.append(time.perf_counter() - self.start)

    print(f"profile {profile.name}: G={params.group_size}, {params.prompts_per_step} prompts/step, "
          f"{args.length} tokens per rollout, {args.threads} thread(s)")
    for n in sorted({1, params.group_size // 2, params.group_size}):
        model = build_model(ModelConfig(**dataclasses.asdict(profile.model)), tok, 0)
        timer = StepTimer()
        with tempfile.TemporaryDirectory() as tmp:
            trainer = grpo.make_trainer(model.train(), tok, problems, params, seed=0, support_n=n, output_dir=tmp)
            trainer.add_callback(timer)
            trainer.train()
        print(f"n={n:3d}: median step {statistics.median(timer.times[1:] or timer.times):.2f} s")


if __name__ == "__main__":
    main()
