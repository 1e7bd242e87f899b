"""Sampling throughput of the LLM world's two backends on the same prompts: transformers (``sampling.generate``)
and vLLM (``sampling.VLLMSampler``, where ``.venv-vllm`` exists and a GPU is visible), side by side.

    .venv/bin/python benchmarks/sampling_backends.py [--profile gpu] [--questions 64] [--samples 16] [--repeats 2]

Prints, per backend, the median wall time over ``--repeats`` runs, generated tokens per second, and Pass@k and
sample accuracy on the same questions (the two must agree within sampling noise: the printed 95% interval of
their difference). A backend that cannot run here is reported as not measured, with the reason.
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="gpu")
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import dataclasses

    import torch

    from raml_utils import experiment, sampling
    from raml_utils.base_model import base_model_path
    from raml_utils.devices import device_for, inference_dtype
    from raml_utils.evaluation import evaluate
    from raml_utils.metrics import pass_at_k_per_question
    from raml_utils.models import load_model
    from raml_utils.params import load_profile
    from raml_utils.stats import bootstrap_paired_diff

    P = load_profile(args.profile)
    if P.world.kind != "llm":
        raise SystemExit(f"profile {P.name} is a toy-world profile; this benchmark compares the LLM world's backends")
    torch.set_num_threads(P.threads)
    # Pass@k needs k <= n: fewer --samples than the profile's k lower k to match (a quick CPU run).
    P = dataclasses.replace(P, eval=dataclasses.replace(P.eval, n_questions=args.questions, n_samples=args.samples,
                                                        k=min(P.eval.k, args.samples)))
    base_dir = base_model_path(P)
    device = device_for(P.world.families)
    model, tokenizer = load_model(base_dir, device, inference_dtype(P.world, device))
    problems = experiment.test_set(P, "in_domain")
    backends = {"transformers": sampling.generate}
    skipped = {}
    try:
        vllm_world = dataclasses.replace(P.world, sampler="vllm")
        sampling.backend_name(vllm_world)
        backends["vllm"] = sampling.sampler_for(vllm_world, base_dir)
    except RuntimeError as err:
        skipped["vllm"] = str(err)

    print(f"profile {P.name}: {P.world.model} on {device} ({inference_dtype(P.world, device)}), {len(problems)} "
          f"questions x ({P.eval.n_samples} samples + 1 greedy), up to {P.eval.max_new_tokens} new tokens")
    correct = {}
    for name, sampler in backends.items():
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            result = evaluate(model, tokenizer, problems, P.eval, sampler=sampler)
            times.append(time.perf_counter() - start)
        tokens = int(result.sample_trajectory_tokens.sum())  # trajectory tokens of the samples (answers not counted)
        correct[name] = result.sample_correct
        print(f"{name:>12}: median {statistics.median(times):7.1f} s over {args.repeats} runs, "
              f"{tokens / statistics.median(times):8.0f} sampled trajectory tokens/s; Pass@{P.eval.k} "
              f"{pass_at_k_per_question(result.sample_correct, P.eval.k).mean():.3f}, sample accuracy "
              f"{result.sample_correct.mean():.3f}")
    for name, why in skipped.items():
        print(f"{name:>12}: not measured: {why}")
    if len(correct) == 2:
        a, b = (pass_at_k_per_question(correct[name], P.eval.k)[None] for name in ("vllm", "transformers"))
        d = bootstrap_paired_diff(a, b)
        print(f"Pass@{P.eval.k} vllm - transformers: {d['effect']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}] "
              f"(questions resampled; 0 inside the interval = the same within sampling noise)")


if __name__ == "__main__":
    main()
