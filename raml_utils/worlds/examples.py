"""Training sets of either world: the study's one construction of SFT sequences from questions.

``training_examples(world, problems, style, seed, ...)`` writes each question in ``style`` through the world's own
transforms (``render``, ``distinct_orders``, ``cut_anywhere``), so the toy and LLM worlds share the support-set
fill, the truncation and the reflection draws, and differ only in how a trajectory is written and cut.
"""

from __future__ import annotations

import random

from .toy import TrajectorySpec


def training_examples(world, problems: list, style: str, seed: int, truncation_rate: float = 0.0, delimiter: bool = True,
                      orders_per_question: int = 1, reflection_rate: float = 1.0,
                      sequences_per_question: int | None = None) -> list:
    """Returns one rendered training sequence per (problem, order), in ``style``, deterministic in ``seed``.

    ``orders_per_question`` > 1 writes several distinct valid trajectories of each question (the support
    set); ``truncation_rate`` cuts that share of trajectories at a random position (``world.cut_anywhere``: a token
    of the toy world, a word of the LLM world) and forces the answer there; in the ``reflection`` style,
    ``reflection_rate`` of trajectories get a wrong step (off by 1..``world.max_step_error``), the reflection,
    the fix. ``sequences_per_question`` (support-set experiment, C6) repeats each question's own orders round-robin
    up to that many sequences, so arms with different support sets see every question equally often (the paper's
    equal-frequency construction); truncation is still drawn per sequence. None keeps one per order.
    """
    rng = random.Random(f"examples:{seed}:{style}")
    out = []
    for p in problems:
        orders = world.distinct_orders(p, orders_per_question, rng)
        if sequences_per_question is not None:
            orders = [orders[i % len(orders)] for i in range(sequences_per_question)]
        for order in orders:
            spec_style = style
            reflection = None
            if style == "reflection":
                if rng.random() < reflection_rate:
                    reflection = (rng.randrange(p.k), rng.randint(1, world.max_step_error))
                else:
                    spec_style = "long"
            r = world.render(p, TrajectorySpec(spec_style, order, delimiter, reflection=reflection))
            if r.steps and rng.random() < truncation_rate:
                r = world.cut_anywhere(r, rng.randrange(world.cut_positions(r)))
            out.append(r)
    return out
