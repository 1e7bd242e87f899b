"""Sampling metrics: unbiased Pass@k, G-Pass@k_tau and mG-Pass@k from n samples per question.

Each question is answered n times; ``c`` of the answers are correct. The metrics are unbiased
estimates of what happens when ``k <= n`` of those answers are drawn without replacement:

- Pass@k (Chen et al. 2021): at least one of the k draws is correct.
- G-Pass@k_tau (Liu et al. 2024, "Are Your LLMs Capable of Stable Reasoning?"): at least
  ``ceil(tau * k)`` of the k draws are correct, i.e. a hypergeometric upper tail.
- mG-Pass@k: G-Pass@k_tau averaged over the stringent half tau in (0.5, 1], the stability metric
  reported by the RaML paper.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import hypergeom


def _check_counts(n: int, c: int, k: int) -> None:
    """Returns nothing; raises ValueError unless 0 <= c <= n and 1 <= k <= n."""
    for name, value in (("n", n), ("c", c), ("k", k)):
        if value < 0:
            raise ValueError(f"{name}={value} must be non-negative")
    if k < 1:
        raise ValueError(f"k={k} must be at least 1")
    if c > n:
        raise ValueError(f"c={c} (correct samples) must not exceed n={n} (samples)")
    if k > n:
        raise ValueError(f"k={k} (draws) must not exceed n={n} (samples)")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Returns the unbiased Pass@k, 1 - C(n-c, k) / C(n, k), for c correct out of n samples."""
    _check_counts(n, c, k)
    # Fewer than k wrong samples: every k-subset contains a correct one.
    if n - c < k:
        return 1.0
    # C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k/i); the product avoids huge binomials.
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def _required_correct(k: int, tau: float) -> int:
    """Returns ceil(tau * k), the number of correct draws G-Pass@k_tau requires."""
    # The epsilon stops rounding noise from bumping the requirement (0.28 * 25 = 7.000000000000001).
    return math.ceil(tau * k - 1e-9)


def g_pass_at_k(n: int, c: int, k: int, tau: float) -> float:
    """Returns G-Pass@k_tau: the probability that at least ceil(tau*k) of k draws are correct."""
    _check_counts(n, c, k)
    if not 0 < tau <= 1:
        raise ValueError(f"tau={tau} must lie in (0, 1]")
    m = _required_correct(k, tau)
    # Draws without replacement from n samples of which c are correct: hypergeometric,
    # and sf(m - 1) = P[X >= m].
    return float(hypergeom.sf(m - 1, n, c, k))


def mg_pass_at_k(n: int, c: int, k: int) -> float:
    """Returns mG-Pass@k = (2/k) * sum_{i=ceil(k/2)+1}^{k} G-Pass@k_{i/k}.

    This discretises 2 * integral_{0.5}^{1} G-Pass@k_tau dtau, as in the reference implementation
    of Liu et al. (2024). For odd k the sum has only floor(k/2) terms, so even c = n scores
    2 * floor(k/2) / k < 1; the study uses even k.
    """
    _check_counts(n, c, k)
    total = sum(g_pass_at_k(n, c, k, i / k) for i in range(math.ceil(k / 2) + 1, k + 1))
    return 2.0 * total / k


def _correct_counts(correct: np.ndarray) -> np.ndarray:
    """Returns the number of correct samples per question of a (Q, n) boolean array."""
    correct = np.asarray(correct)
    if correct.ndim != 2:
        raise ValueError(f"correct must be a (questions, samples) array; got shape {correct.shape}")
    # Scores or counts passed by mistake would otherwise be silently truncated to booleans.
    if correct.dtype != bool and not np.isin(correct, (0, 1)).all():
        raise ValueError("correct must hold booleans (or 0/1); got other values")
    return correct.sum(axis=1).astype(int)


def pass_at_k_per_question(correct: np.ndarray, k: int) -> np.ndarray:
    """Returns the (Q,) Pass@k of each question, given (Q, n) per-sample correctness."""
    n = np.shape(correct)[-1]
    return np.array([pass_at_k(n, c, k) for c in _correct_counts(correct)], dtype=float)


def mg_pass_at_k_per_question(correct: np.ndarray, k: int) -> np.ndarray:
    """Returns the (Q,) mG-Pass@k of each question, given (Q, n) per-sample correctness."""
    n = np.shape(correct)[-1]
    return np.array([mg_pass_at_k(n, c, k) for c in _correct_counts(correct)], dtype=float)


def summarise_samples(correct: np.ndarray, k: int) -> dict:
    """Returns sample accuracy, mean Pass@k and mean mG-Pass@k over questions, with n, k and Q.

    ``correct`` is a (Q, n) boolean array: sample j of question q was answered correctly.
    """
    correct = np.asarray(correct)
    if correct.ndim != 2 or correct.size == 0:
        raise ValueError(f"correct must be a non-empty (questions, samples) array; got shape {correct.shape}")
    n_questions, n = correct.shape
    return {
        "accuracy": float(correct.mean()),
        "pass_at_k": float(pass_at_k_per_question(correct, k).mean()),
        "mg_pass_at_k": float(mg_pass_at_k_per_question(correct, k).mean()),
        "n": int(n),
        "k": int(k),
        "n_questions": int(n_questions),
    }


def chance_score(metric: str, p: float, n: int, k: int) -> float:
    """Returns the expected score on ``metric`` of a model whose every sample is correct with probability ``p`` (one
    that answers at random: the chance level of the decidability rule), from n samples per question."""
    if metric in ("accuracy", "greedy_accuracy"):
        return p
    if metric == "pass_at_k":
        return 1 - (1 - p) ** k
    if metric == "mg_pass_at_k":
        from scipy.stats import binom

        return float(sum(binom.pmf(c, n, p) * mg_pass_at_k(n, c, k) for c in range(n + 1)))
    raise ValueError(f"metric={metric!r} has no chance level; allowed: accuracy, greedy_accuracy, pass_at_k, "
                     "mg_pass_at_k")
