"""Seed-level confidence intervals, a paired two-level bootstrap, and the pre-registered verdict rule.

Every claim compares two arms trained with the same seeds and evaluated on the same questions, so
scores come as (seeds, questions) arrays. Both sources of variation are resampled: training
randomness (seeds) and the finite question set (questions).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as scipy_stats

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
MIXED = "mixed"
INCONCLUSIVE = "inconclusive"  # the experiment could not have decided: no headroom, or a component failed its check


def _check_confidence(confidence: float) -> None:
    """Returns nothing; raises ValueError unless confidence lies in (0, 1)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence} must lie in (0, 1)")


def mean_ci(values, confidence: float = 0.95) -> tuple[float, float, float]:
    """Returns (mean, lo, hi): the mean of ``values`` and its Student-t confidence interval.

    Meant for one number per seed. A single value has no spread, so its interval is (nan, nan).
    """
    _check_confidence(confidence)
    values = np.asarray(values, dtype=float).ravel()
    if values.size == 0:
        raise ValueError("values must not be empty")
    mean = float(values.mean())
    if values.size == 1:
        return mean, float("nan"), float("nan")
    sem = values.std(ddof=1) / np.sqrt(values.size)
    half_width = scipy_stats.t.ppf((1 + confidence) / 2, df=values.size - 1) * sem
    return mean, float(mean - half_width), float(mean + half_width)


def bootstrap_paired_diff(a, b, n_boot: int = 2000, seed: int = 0, confidence: float = 0.95) -> dict:
    """Returns dict(effect, lo, hi, n_seeds, n_questions): mean(a) - mean(b) and its bootstrap CI.

    ``a`` and ``b`` are (seeds, questions) scores of two arms sharing seeds and questions. Each
    replicate resamples seeds and questions with replacement, using the same indices for both arms
    (paired); the interval is the percentile interval of the replicated differences.
    """
    _check_confidence(confidence)
    if n_boot < 1:
        raise ValueError(f"n_boot={n_boot} must be at least 1")
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same (seeds, questions) shape; got a {a.shape} and b {b.shape}")
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"a and b must be non-empty (seeds, questions) arrays; got shape {a.shape}")
    n_seeds, n_questions = a.shape
    diff = a - b

    # A resample is fully described by how often it picks each seed and each question, and
    # the mean over the resampled grid is then (seed_counts @ diff @ question_counts) / (S * Q).
    # Drawing the counts directly vectorises all replicates at once.
    rng = np.random.default_rng(seed)
    seed_counts = rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=n_boot)
    question_counts = rng.multinomial(n_questions, np.full(n_questions, 1 / n_questions), size=n_boot)
    replicates = ((seed_counts @ diff) * question_counts).sum(axis=1) / (n_seeds * n_questions)

    alpha = 1 - confidence
    lo, hi = np.quantile(replicates, [alpha / 2, 1 - alpha / 2])
    return {
        "effect": float(diff.mean()),
        "lo": float(lo),
        "hi": float(hi),
        "n_seeds": int(n_seeds),
        "n_questions": int(n_questions),
    }


def bootstrap_mean(a, n_boot: int = 2000, seed: int = 0, confidence: float = 0.95) -> tuple[float, float, float]:
    """Returns (mean, lo, hi): the mean of the (seeds, questions) scores ``a`` and its percentile bootstrap CI.

    The per-arm interval of the contrasts' bootstrap (seeds and questions resampled alike), so it never leaves the
    range of the scores (a Pass@k interval stays inside [0, 1]) and a single seed still gets the questions' spread.
    """
    a = np.asarray(a, dtype=float)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"a must be a non-empty (seeds, questions) array; got shape {a.shape}")
    boot = bootstrap_paired_diff(a, np.zeros_like(a), n_boot=n_boot, seed=seed, confidence=confidence)
    return boot["effect"], boot["lo"], boot["hi"]


def _check_rule(direction: int, margin: float) -> None:
    """Returns nothing; raises ValueError unless direction is +1 or -1 and margin is positive."""
    if direction not in (1, -1):
        raise ValueError(f"direction={direction} must be +1 (paper expects a > b) or -1 (a < b)")
    if not margin > 0:
        raise ValueError(f"margin={margin} must be positive")


def verdict(effect: float, lo: float, hi: float, direction: int, margin: float) -> str:
    """Returns "reproduced", "not reproduced" or "mixed" for the CI [lo, hi] of a - b.

    The pre-registered rule, checked in this order:
    - "reproduced": the CI excludes 0 in the paper's direction;
    - "not reproduced": the CI lies within [-margin, margin], or excludes 0 in the opposite direction;
    - "mixed": anything else.
    ``effect`` is not used by the rule; it is taken so that a bootstrap result can be passed whole.
    """
    _check_rule(direction, margin)
    if not lo <= hi:
        raise ValueError(f"lo={lo} and hi={hi} must satisfy lo <= hi")
    # Flip the interval so that "the paper's direction" is always positive.
    toward_lo, toward_hi = (lo, hi) if direction == 1 else (-hi, -lo)
    if toward_lo > 0:
        return REPRODUCED
    if (-margin <= lo and hi <= margin) or toward_hi < 0:
        return NOT_REPRODUCED
    return MIXED


def headroom_reason(a_mean: float, b_mean: float, direction: int, margin: float, chance: float | None,
                    ceiling: float | None) -> str | None:
    """Returns why a contrast has no headroom, or None where it has some (the pre-registered decidability rule).

    The arm the paper predicts lower (b for direction +1) must sit more than ``margin`` below the metric's
    ``ceiling``, and the arm it predicts higher more than ``margin`` above ``chance``: two arms at the ceiling (or
    at chance) cannot be told apart whatever the truth. A metric without a ceiling or chance level passes.
    """
    _check_rule(direction, margin)
    lower, higher = (("b", b_mean), ("a", a_mean)) if direction == 1 else (("a", a_mean), ("b", b_mean))
    if ceiling is not None and lower[1] >= ceiling - margin:
        return (f"no headroom: the arm predicted lower ({lower[0]}, mean {lower[1]:.3f}) is within {margin} of the "
                f"ceiling {ceiling:g}")
    if chance is not None and higher[1] <= chance + margin:
        return (f"no headroom: the arm predicted higher ({higher[0]}, mean {higher[1]:.3f}) is within {margin} of "
                f"chance {chance:.3f}")
    return None


def decide(lo: float, hi: float, direction: int, margin: float, reasons=(), opposite_stays: bool = True) -> str:
    """Returns the verdict of a contrast with CI [lo, hi] given the reasons it may be undecidable.

    No reason: the frozen rule (``verdict``). With reasons: "inconclusive", except that a CI excluding 0 opposite
    to the paper's direction stays "not reproduced" where ``opposite_stays`` (headroom reasons; a failed component
    check makes the contrast inconclusive whatever its CI).
    """
    rule = verdict(0.0, lo, hi, direction, margin)
    if not reasons:
        return rule
    toward_hi = hi if direction == 1 else -lo
    if opposite_stays and toward_hi < 0:
        return NOT_REPRODUCED
    return INCONCLUSIVE


@dataclass(frozen=True)
class ClaimResult:
    """One tested claim: the effect of arm a over arm b on a metric, its CI and the verdict."""

    claim: str
    metric: str
    arms: tuple[str, str]
    effect: float
    lo: float
    hi: float
    n_seeds: int
    n_questions: int
    direction: int
    margin: float
    verdict: str
    role: str = "primary"  # "primary": the claim's pre-registered contrast, which the scoreboard's verdict rests on;
    # "secondary": reported beside it by the same rule (another arm pair, world or split), never deciding it
    a_mean: float | None = None  # each arm's mean score: where the arms sit (the decidability rule's headroom)
    b_mean: float | None = None
    rungs: tuple[int, ...] | None = None  # the ladder levels the scores were read on (None: no ladder)
    ladder: str = ""  # those levels in words: placed rungs, or the training levels while none are placed
    expected_half_width: float | None = None  # the ladder pilot's expected 95% CI half-width (questions only)

    def to_dict(self) -> dict:
        """Returns the fields as a plain dict (arms as a tuple)."""
        return asdict(self)


def claim_result(claim: str, metric: str, arms: tuple[str, str], a, b, direction: int, margin: float,
                 n_boot: int = 2000, seed: int = 0) -> ClaimResult:
    """Returns the ClaimResult of comparing (seeds, questions) scores ``a`` of arms[0] and ``b`` of arms[1]."""
    # Fail before the bootstrap rather than after it.
    _check_rule(direction, margin)
    if len(arms) != 2:
        raise ValueError(f"arms={arms!r} must name exactly two arms (a, b)")
    boot = bootstrap_paired_diff(a, b, n_boot=n_boot, seed=seed)
    return ClaimResult(
        claim=claim,
        metric=metric,
        arms=tuple(arms),
        effect=boot["effect"],
        lo=boot["lo"],
        hi=boot["hi"],
        n_seeds=boot["n_seeds"],
        n_questions=boot["n_questions"],
        direction=direction,
        margin=margin,
        verdict=verdict(boot["effect"], boot["lo"], boot["hi"], direction, margin),
        a_mean=float(np.mean(a)),
        b_mean=float(np.mean(b)),
    )
