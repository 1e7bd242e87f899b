"""Probe speed: the shared-prefix probe (one pass + packed answer blocks) vs re-encoding every prefix.

    .venv/bin/python benchmarks/probe_speed.py [--threads 2] [--tokens 256] [--repeats 3] [--skip-llm]

Two models: the toy world's model at the cpu profile's size (random weights: speed does not depend on
them) on a ``--tokens``-long trajectory of random toy tokens, and SmolLM2-135M-Instruct on the longest
of a few ``gsm_symbolic`` worked solutions. For each it prints the best-of-``repeats`` time of both
probes, their ratio (the issue's targets: >= 10x on the toy model, >= 5x on SmolLM2) and the largest
difference between their L-hat values (target <= 1e-4 in float32).
"""

from __future__ import annotations

import argparse
import random
import time


def best_time(fn, repeats: int):
    """Returns (best wall time in seconds, last result) of ``repeats`` calls of ``fn``."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def compare(name: str, model, item, repeats: int) -> dict:
    from raml_utils.probe import inner_loop_curve, naive_curve

    t_naive, naive = best_time(lambda: naive_curve(model, item), repeats)
    t_fast, fast = best_time(lambda: inner_loop_curve(model, item), repeats)
    diff = float(abs(naive - fast).max())
    print(f"{name}: trajectory {len(item.trajectory)} tokens, prompt {len(item.prompt)}, answer block "
          f"{len(item.suffix) + len(item.answer)}: naive {t_naive:.3f} s, shared-prefix {t_fast:.3f} s, "
          f"speed-up {t_naive / t_fast:.1f}x, max |diff| {diff:.2e}", flush=True)
    return {"naive_s": t_naive, "fast_s": t_fast, "ratio": t_naive / t_fast, "max_abs_diff": diff}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=256, help="toy trajectory length")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-llm", action="store_true", help="only the toy model")
    args = parser.parse_args()

    import torch

    from raml_utils.models import ModelConfig, build_model
    from raml_utils.params import load_profile
    from raml_utils.probe import ProbeInput, rendered_probe_input, solution_probe_input
    from raml_utils.worlds import llm, toy

    torch.set_num_threads(args.threads)
    m = load_profile("cpu").model
    tokenizer = toy.build_tokenizer()
    config = ModelConfig(m.hidden_size, m.num_layers, m.num_heads, m.intermediate_size,
                         max(m.max_positions, 2 * args.tokens))
    model = build_model(config, tokenizer, seed=0).eval()
    problem = toy.make_problems(1, "test", seed=0, families=("chain",), levels=(4,))[0]
    base = rendered_probe_input(tokenizer, toy.render(problem))
    rng = random.Random(0)
    trajectory = tuple(rng.choice(base.trajectory) for _ in range(args.tokens))
    item = ProbeInput(base.prompt, trajectory, base.suffix, base.answer, (len(trajectory),))
    compare(f"toy model ({sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params, {args.threads} threads)",
            model, item, args.repeats)

    if not args.skip_llm:
        model, tokenizer = llm.load_llm()
        problem = max(llm.gsm_problems(8, seed=0), key=lambda p: len(p.solution))
        compare(f"SmolLM2-135M-Instruct ({args.threads} threads)", model, solution_probe_input(tokenizer, problem, problem.solution),
                max(1, args.repeats - 2))


if __name__ == "__main__":
    main()
