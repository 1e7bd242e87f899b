"""Drawing the LLM world's questions: ``n`` distinct ones of a split, balanced over families and levels, each with
a worked solution that can be written as checkable steps; train and test never overlap whatever the seed."""

from __future__ import annotations

import hashlib
import json

from .. import toy
from ..llm import Problem, worked_solution
from .families import generated_entries
from .solutions import solution_steps


def split_of(key: str, test_fraction: float) -> str:
    """Returns 'train' or 'test' from a hash of the question, so splits never overlap whatever the seed."""
    h = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < test_fraction else "train"


def make_problems(n: int, split: str, seed: int, families=("gsm_symbolic", "chain_sum"), levels=(2, 3),
                  test_fraction: float = 0.2) -> list[Problem]:
    """Returns ``n`` distinct problems of ``split``, balanced over families and levels, deterministic in ``seed``.

    Raises ValueError when the generators give too few distinct questions of ``split`` (after a bounded number of
    draws, as the toy world's ``make_problems`` does, instead of looping forever).
    """
    cells = [(f, k) for f in families for k in levels]
    sources = {cell: generated_entries(*cell, seed=seed) for cell in cells}
    out, seen, draws = [], set(), 0
    while len(out) < n:
        draws += 1
        if draws > toy.MAX_DRAWS_PER_QUESTION * n + 10_000:
            raise ValueError(f"asked for {n} distinct {split} questions of families {tuple(families)} at levels "
                             f"{tuple(levels)}; found only {len(out)}: ask for fewer")
        family, level = cells[len(out) % len(cells)]
        entry = next(sources[family, level])
        solution = worked_solution(entry["metadata"]["answer_cot"]) if family == "gsm_symbolic" else ""
        p = Problem(entry["question"], str(entry["answer"]).strip(), solution, family, level,
                    json.dumps({k: entry[k] for k in ("question", "answer", "metadata")}, sort_keys=True, default=str))
        if p.key not in seen and split_of(p.key, test_fraction) == split and solution_steps(p) is not None:
            seen.add(p.key)
            out.append(p)
    return out
