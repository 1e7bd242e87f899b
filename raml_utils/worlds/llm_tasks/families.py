"""The LLM world's task families: the reasoning-gym generators it draws questions from, the levels (difficulties)
each one has, and the stream of generated entries of one family at one level."""

from __future__ import annotations

import itertools

from ..llm import solution_lines, worked_solution

FAMILIES = ("gsm_symbolic", "chain_sum", "leg_counting", "letter_counting")
LEVELS = {"gsm_symbolic": (2, 3, 4, 5), "chain_sum": tuple(range(1, 9)), "leg_counting": tuple(range(1, 9)),
          "letter_counting": tuple(range(1, 9))}  # gsm_symbolic: its worked solutions have 2-5 checkable lines


def levels_of(families) -> tuple[int, ...]:
    """Returns the levels every one of ``families`` has."""
    return tuple(sorted(set.intersection(*(set(LEVELS[f]) for f in families)))) if families else ()


def _config(family: str, level: int) -> dict:
    """Returns the reasoning-gym config of ``family`` at ``level``."""
    if family == "chain_sum":
        return dict(min_terms=level + 1, max_terms=level + 1, min_digits=2, max_digits=2)
    if family == "leg_counting":
        return dict(min_animals=level, max_animals=level, min_instances=1, max_instances=6)
    if family == "letter_counting":
        return dict(min_words=level, max_words=level)
    if family == "gsm_symbolic":
        return {}
    raise ValueError(f"family={family!r} is not an LLM-world family; allowed: {', '.join(FAMILIES)}")


def _gsm_lines(entry: dict) -> list[str]:
    return solution_lines(worked_solution(entry["metadata"]["answer_cot"]))


def generated_entries(family: str, level: int, seed: int):
    """Yields reasoning-gym entries of ``family`` at ``level`` (gsm_symbolic: filtered by solution length)."""
    import reasoning_gym

    found = 0
    for chunk in itertools.count():
        dataset = reasoning_gym.create_dataset(family, size=500, seed=seed * 1000 + chunk, **_config(family, level))
        for entry in dataset:
            if family != "gsm_symbolic" or len(_gsm_lines(entry)) == level:
                found += 1
                yield entry
        if chunk >= 20 and found < chunk:
            raise ValueError(f"{family} has too few questions at level {level} ({found} in {500 * (chunk + 1)} "
                             "generated); gsm_symbolic's worked solutions have 2-5 checkable lines")
