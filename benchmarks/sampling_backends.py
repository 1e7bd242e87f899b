"""Sampling throughput of the LLM world's two backends on the same prompts: transformers (``sampling.generate``)
and vLLM (``sampling.VLLMSampler``, where ``.venv-vllm`` exists and a GPU is visible), side by side.

    .venv/bin/python benchmarks/sampling_backends.py [--profile gpu] [--questions 64] [--samples 16] [--repeats 2]
        [--dtypes bfloat16 float32] [--json results.json]

Prints, per backend, the median wall time over ``--repeats`` runs, generated tokens per second, and Pass@k and
sample accuracy on the same questions (the two must agree within sampling noise: the printed 95% interval of
their difference). A backend that cannot run here is reported as not measured, with the reason.

``--dtypes`` runs the transformers backend once per dtype (the model loaded in each; default: the profile's
inference dtype, bfloat16 on a GPU under ``world.dtype: auto``); vLLM runs once, in its own precision. ``--json``
also writes every row to a file (strict JSON: a value that could not be measured is null, with a reason).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="gpu")
    parser.add_argument("--questions", type=int, default=64)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dtypes", nargs="+", choices=["auto", "bfloat16", "float32"], default=["auto"],
                        help="precisions of the transformers backend (auto: the profile's inference dtype)")
    parser.add_argument("--json", help="also write the rows to this file")
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
    problems = experiment.test_set(P, "in_domain")
    dtypes = list(dict.fromkeys(inference_dtype(P.world, device) if d == "auto" else getattr(torch, d)
                                for d in args.dtypes))
    runs = [("transformers", dtype, sampling.generate) for dtype in dtypes]
    skipped = {}
    try:
        vllm_world = dataclasses.replace(P.world, sampler="vllm")
        sampling.backend_name(vllm_world)
        runs.append(("vllm", inference_dtype(P.world, device), sampling.sampler_for(vllm_world, base_dir)))
    except RuntimeError as err:
        skipped["vllm"] = str(err)

    print(f"profile {P.name}: {P.world.model} on {device}, {len(problems)} questions x ({P.eval.n_samples} samples + "
          f"1 greedy), up to {P.eval.max_new_tokens} new tokens, dtypes {[str(d).removeprefix('torch.') for d in dtypes]}")
    rows, correct, models = [], {}, {}
    for name, dtype, sampler in runs:
        if dtype not in models:
            models[dtype] = load_model(base_dir, device, dtype)
        model, tokenizer = models[dtype]
        times = []
        for _ in range(args.repeats):
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            result = evaluate(model, tokenizer, problems, P.eval, sampler=sampler)
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        tokens = int(result.sample_trajectory_tokens.sum())  # trajectory tokens of the samples (answers not counted)
        label = f"{name} {str(dtype).removeprefix('torch.')}"
        correct[label] = result.sample_correct
        median = statistics.median(times)
        pass_k = float(pass_at_k_per_question(result.sample_correct, P.eval.k).mean())
        rows.append({"backend": name, "dtype": str(dtype).removeprefix("torch."), "measured": True,
                     "median_s": round(median, 3), "runs_s": [round(t, 3) for t in times],
                     "sampled_trajectory_tokens": tokens,
                     "tokens_per_s": round(tokens / median, 1) if median > 0 else None,
                     **({} if median > 0 else {"tokens_per_s_reason": "no measurable wall time"}),
                     f"pass_at_{P.eval.k}": round(pass_k, 4),
                     "sample_accuracy": round(float(result.sample_correct.mean()), 4)})
        print(f"{label:>21}: median {median:7.1f} s over {args.repeats} runs, {tokens / max(median, 1e-9):8.0f} "
              f"sampled trajectory tokens/s; Pass@{P.eval.k} {pass_k:.3f}, sample accuracy "
              f"{result.sample_correct.mean():.3f}")
    for name, why in skipped.items():
        rows.append({"backend": name, "dtype": None, "dtype_reason": "not run", "measured": False, "reason": why})
        print(f"{name:>21}: not measured: {why}")
    comparisons = []
    labels = list(correct)
    for other in labels[1:]:
        a, b = (pass_at_k_per_question(correct[label], P.eval.k)[None] for label in (other, labels[0]))
        d = bootstrap_paired_diff(a, b)
        row = {"a": other, "b": labels[0], "metric": f"pass_at_{P.eval.k}",
               **{key: (round(float(d[key]), 4) if math.isfinite(float(d[key])) else None) for key in ("effect", "lo", "hi")}}
        if None in row.values():
            row["reason"] = "the bootstrap gave no finite interval (too few questions)"
        comparisons.append(row)
        print(f"Pass@{P.eval.k} {other} - {labels[0]}: {d['effect']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}] "
              f"(questions resampled; 0 inside the interval = the same within sampling noise)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"profile": P.name, "model": P.world.model, "device": device, "questions": len(problems),
                       "samples": P.eval.n_samples, "k": P.eval.k, "max_new_tokens": P.eval.max_new_tokens,
                       "batch_size": P.eval.batch_size, "repeats": args.repeats, "rows": rows,
                       "comparisons": comparisons}, f, indent=1, allow_nan=False)


if __name__ == "__main__":
    main()
