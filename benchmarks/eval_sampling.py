"""Evaluation sampling: transformers' ``generate`` vs ``sampling.decode`` (finished rows leave the batch).

    .venv/bin/python benchmarks/eval_sampling.py --model-dir outputs/cache/model/<key> [--profile cpu] [--repeats 3]
        [--set in_domain]

Samples the profile's evaluation (``eval.n_questions`` test questions of ``--set`` x ``eval.n_samples`` at
``eval.temperature``, ``eval.max_new_tokens``, ``eval.batch_size``) from one trained model both ways, in one
thread, alternating, and prints the median times, their ratio, and the generated tokens per second.
Greedy completions are compared too: they must be identical. A third arm is ``sampling.decode`` with the row
selection transformers' cache layer does (the kept rows gathered into new tensors, which the next update copies
into a new buffer), as the project did before 2026-12-01: its samples must equal ``sampling.decode``'s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path


def hf_generate(model, tokenizer, prompts, params, greedy: bool, seed: int = 0) -> list[list[int]]:
    """Returns the new tokens (cut after EOS) of transformers' ``generate`` with the in-place cache."""
    import torch

    from raml_utils.sampling import GrowingCache

    out = []
    for start in range(0, len(prompts), params.batch_size):
        enc = tokenizer(prompts[start:start + params.batch_size], return_tensors="pt", padding=True,
                        padding_side="left", add_special_tokens=False)
        torch.manual_seed(seed + start)
        ids = model.generate(**enc, do_sample=not greedy, temperature=None if greedy else params.temperature,
                             top_k=None, top_p=None, max_new_tokens=params.max_new_tokens,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                             past_key_values=GrowingCache())[:, enc["input_ids"].shape[1]:].tolist()
        eos = tokenizer.eos_token_id
        out += [row[: row.index(eos) + 1] if eos in row else row for row in ids]
    return out


def shrinking_decode(model, tokenizer, prompts, params, greedy: bool, seed: int = 0) -> list[list[int]]:
    """Returns the new tokens of ``sampling.decode`` (the project's path)."""
    import torch

    from raml_utils.sampling import decode

    out = []
    for start in range(0, len(prompts), params.batch_size):
        enc = tokenizer(prompts[start:start + params.batch_size], return_tensors="pt", padding=True,
                        padding_side="left", add_special_tokens=False)
        out += decode(model, enc["input_ids"], enc["attention_mask"], tokenizer.eos_token_id,
                      params.max_new_tokens, None if greedy else params.temperature,
                      torch.Generator().manual_seed(seed + start))
    return out


def regathering_decode(model, tokenizer, prompts, params, greedy: bool, seed: int = 0) -> list[list[int]]:
    """Returns ``shrinking_decode``'s tokens, its cache dropping finished rows as ``DynamicLayer`` does."""
    from unittest import mock

    from transformers.cache_utils import Cache, DynamicLayer

    from raml_utils import sampling

    class RegatheringLayer(sampling.GrowingLayer):
        batch_select_indices = DynamicLayer.batch_select_indices

    class RegatheringCache(sampling.GrowingCache):
        def __init__(self):
            Cache.__init__(self, layer_class_to_replicate=RegatheringLayer)

    with mock.patch.object(sampling, "GrowingCache", RegatheringCache):  # the cache ``decode`` builds
        return shrinking_decode(model, tokenizer, prompts, params, greedy, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--set", default="in_domain", help="test set (experiment.test_set), e.g. held_out_family")
    args = parser.parse_args()

    import torch

    from raml_utils.experiment import test_set
    from raml_utils.models import load_model
    from raml_utils.params import load_profile
    from raml_utils.worlds import toy

    torch.set_num_threads(1)
    profile = load_profile(args.profile)
    model, tokenizer = load_model(Path(args.model_dir))
    questions = [toy.render(p, toy.TrajectorySpec("answer_only")).prompt for p in test_set(profile, args.set)]
    prompts = [q for q in questions for _ in range(profile.eval.n_samples)]
    with torch.inference_mode():
        same = hf_generate(model, tokenizer, questions, profile.eval, True) == \
            shrinking_decode(model, tokenizer, questions, profile.eval, True)
        arms = {"transformers generate": hf_generate, "sampling.decode": shrinking_decode,
                "decode, rows regathered": regathering_decode}
        times, tokens, samples = {name: [] for name in arms}, {}, {}
        for _ in range(args.repeats):
            for name, fn in arms.items():
                start = time.perf_counter()
                samples[name] = fn(model, tokenizer, prompts, profile.eval, False)
                times[name].append(time.perf_counter() - start)
                tokens[name] = sum(map(len, samples[name]))
    print(f"{len(prompts)} samples ({len(questions)} questions x {profile.eval.n_samples}), batch "
          f"{profile.eval.batch_size}, max {profile.eval.max_new_tokens} new tokens, 1 thread, {args.repeats} repeats")
    print(f"greedy completions identical: {same}; samples of the two decode arms identical: "
          f"{samples['sampling.decode'] == samples['decode, rows regathered']}")
    for name, values in times.items():
        print(f"{name:<24} median {statistics.median(values):7.1f} s  ({tokens[name] / statistics.median(values):7.0f} "
              f"generated tokens/s)  runs: " + ", ".join(f"{v:.1f}" for v in values))
    hf, new, regathered = (statistics.median(v) for v in times.values())
    print(f"speed-up (generate / decode): {hf / new:.2f}x; (rows regathered / decode): {regathered / new:.2f}x")


if __name__ == "__main__":
    main()
