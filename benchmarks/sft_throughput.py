"""SFT throughput: the project's TRL path vs a bare PyTorch loop on the same model, batch and sequences.

    .venv/bin/python benchmarks/sft_throughput.py [--steps 60] [--repeats 3] [--threads 1] [--profile cpu]

Both train the same freshly initialised toy model on the same long-style training sequences (the longest
SFT arm), batch size from the profile, completion-only loss. Throughput is trained (non-padding) tokens per
second; runs alternate between the two and the medians are printed with their ratio (the issue's target:
the project's path at >= 70% of the bare loop).
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import time


def bare_loop(model, examples, tokenizer, batch_size: int, steps: int, lr: float, seed: int) -> float:
    """Returns trained tokens/s of a plain AdamW loop over random, right-padded batches."""
    import torch

    from raml_utils.sft import encode_example

    rows = [encode_example(r, tokenizer) for r in examples]
    random.Random(seed).shuffle(rows)  # random batches, as the project's default sampler draws them
    batches = [rows[i:i + batch_size] for i in range(0, len(rows) - batch_size + 1, batch_size)]
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    tokens, start = 0, time.perf_counter()
    for step in range(steps):
        batch = batches[step % len(batches)]
        width = max(len(r["input_ids"]) for r in batch)
        ids = torch.full((len(batch), width), tokenizer.pad_token_id)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        labels = torch.full((len(batch), width), -100)
        for i, r in enumerate(batch):
            n = len(r["input_ids"])
            ids[i, :n] = torch.tensor(r["input_ids"])
            mask[i, :n] = 1
            labels[i, :n] = torch.where(torch.tensor(r["completion_mask"]) == 1, ids[i, :n], -100)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        tokens += int(mask.sum())
    return tokens / (time.perf_counter() - start)


def project_path(model, examples, tokenizer, train, seed: int) -> float:
    """Returns trained tokens/s of ``raml_utils.sft.train_sft`` (TRL SFTTrainer), as TRL counts them."""
    from raml_utils.sft import train_sft

    start = time.perf_counter()
    _, history = train_sft(model, tokenizer, examples, train, seed)
    elapsed = time.perf_counter() - start
    assert history[-1]["step"] == train.steps, "--steps must be a multiple of the logging interval (10)"
    return history[-1]["num_tokens"] / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    from raml_utils.models import build_model
    from raml_utils.params import load_profile
    from raml_utils.training import SFTData
    from raml_utils.worlds import toy

    torch.set_num_threads(args.threads)
    P = load_profile(args.profile)
    tokenizer = toy.build_tokenizer()
    world = P.world
    examples = SFTData("long", P.sft_questions, world.train_families, world.train_levels, P.sft.truncation_rate,
                       world.test_fraction).examples()
    train = dataclasses.replace(P.sft, steps=args.steps)
    results = {"bare PyTorch loop": [], "raml_utils.sft (TRL SFTTrainer)": []}
    for rep in range(args.repeats):
        model = build_model(P.model, tokenizer, seed=rep).train()
        results["bare PyTorch loop"].append(bare_loop(model, examples, tokenizer, train.batch_size, args.steps,
                                                      train.learning_rate, rep))
        model = build_model(P.model, tokenizer, seed=rep).train()
        results["raml_utils.sft (TRL SFTTrainer)"].append(project_path(model, examples, tokenizer, train, rep))
    print(f"profile {P.name}: model d={P.model.hidden_size} x {P.model.num_layers} layers, batch {train.batch_size}, "
          f"{args.steps} steps, {args.threads} thread(s), {args.repeats} alternating repeats")
    for name, values in results.items():
        print(f"{name:<34} median {statistics.median(values):8.0f} tokens/s   runs: "
              + ", ".join(f"{v:.0f}" for v in values))
    bare, ours = (statistics.median(v) for v in results.values())
    print(f"ratio (project / bare): {ours / bare:.2f}")


if __name__ == "__main__":
    main()
