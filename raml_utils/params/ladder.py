"""The difficulty ladder: the levels every contrast on a bounded score is evaluated at, and the rungs it is read on.

Which rungs a contrast reads is placed by a pilot before any verdict (``benchmarks/ladder_pilot.py``), never chosen
after seeing one; a profile without a ladder reads every contrast at the training levels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .checks import require

# The contrasts read on the difficulty ladder, with the arm whose pilot places their rungs (params/claims.yaml,
# ``ladder.reference_arms``; a test keeps the two lists equal).
LADDER_CONTRASTS = ("C3", "C4", "C5", "C6_sft", "C6_grpo", "C9_in_domain", "C9_held_out_family", "C10")


@dataclass(frozen=True)
class LadderParams:
    """The difficulty ladder (params/claims.yaml, amendment of 2026-12-03): every contrast on a bounded score is
    evaluated on unseen in-domain questions at each of ``levels`` and read on its rungs, the levels where the arm the
    paper predicts lower had room to move in a pilot (``benchmarks/ladder_pilot.py`` places them by the
    pre-registered rule and prints what to write here)."""

    levels: tuple[int, ...] = ()
    """levels (operations per question) of the in-domain test set, from easy to beyond the training levels;
    () = the training levels only (the LLM world, and a profile without a ladder). eval.n_questions spreads over
    them: more levels, fewer questions per level"""
    rungs: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """contrast (one of LADDER_CONTRASTS) -> the levels its primary metric averages; a contrast not listed reads the
    training levels (not placed: said so)"""
    expected_half_width: dict[str, float] = field(default_factory=dict)
    """contrast -> the pilot's expected 95% CI half-width on its rungs (questions only), shown beside the measured
    interval"""

    def validate(self, key: str) -> None:
        for k in self.levels:
            require(1 <= k <= 9, f"{key}.levels", k, "operation counts between 1 and 9")
        require(len(set(self.levels)) == len(self.levels), f"{key}.levels", self.levels, "distinct levels")
        for name, table in (("rungs", self.rungs), ("expected_half_width", self.expected_half_width)):
            for contrast in table:
                require(contrast in LADDER_CONTRASTS, f"{key}.{name}", contrast, f"one of {LADDER_CONTRASTS}")
        for contrast, rungs in self.rungs.items():
            require(len(rungs) >= 1 and all(r in self.levels for r in rungs), f"{key}.rungs.{contrast}", rungs,
                    f"one or more levels of {key}.levels={self.levels}")
        for contrast, width in self.expected_half_width.items():
            require(width > 0, f"{key}.expected_half_width.{contrast}", width, "a positive number")
