"""Tests for raml_utils.metrics against hand-computed values and direct binomial sums."""

import math

import numpy as np
import pytest

from raml_utils.metrics import (
    g_pass_at_k,
    mg_pass_at_k,
    mg_pass_at_k_per_question,
    pass_at_k,
    pass_at_k_per_question,
    summarise_samples,
)


def tail_by_comb(n, c, k, m):
    """P[at least m of k draws without replacement are correct], summed with math.comb."""
    return sum(math.comb(c, j) * math.comb(n - c, k - j) for j in range(m, min(c, k) + 1)) / math.comb(n, k)


# --- Pass@k ---------------------------------------------------------------------------------------

def test_pass_at_k_hand_computed():
    # Two draws from {right, right, wrong, wrong}: only 1 of the 6 pairs is all wrong.
    assert pass_at_k(4, 2, 2) == pytest.approx(5 / 6)


def test_pass_at_k_with_one_draw_is_accuracy():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)


def test_pass_at_k_is_exactly_one_when_too_few_wrong_samples():
    assert pass_at_k(8, 5, 4) == 1.0
    assert pass_at_k(8, 8, 8) == 1.0


def test_pass_at_k_is_zero_without_correct_samples():
    assert pass_at_k(8, 0, 4) == 0.0


@pytest.mark.parametrize("n, c, k", [(16, 3, 8), (20, 7, 5), (100, 1, 10), (200, 50, 100)])
def test_pass_at_k_matches_binomial_ratio(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(1 - math.comb(n - c, k) / math.comb(n, k), rel=1e-12)


@pytest.mark.parametrize("n, c, k, message", [
    (4, 2, 5, r"k=5 .* must not exceed n=4"),
    (4, 5, 2, r"c=5 .* must not exceed n=4"),
    (-1, 0, 1, r"n=-1 must be non-negative"),
    (4, -1, 2, r"c=-1 must be non-negative"),
    (4, 2, -2, r"k=-2 must be non-negative"),
    (4, 2, 0, r"k=0 must be at least 1"),
])
def test_counts_are_validated(n, c, k, message):
    for metric in (pass_at_k, mg_pass_at_k, lambda n, c, k: g_pass_at_k(n, c, k, 0.5)):
        with pytest.raises(ValueError, match=message):
            metric(n, c, k)


# --- G-Pass@k_tau ---------------------------------------------------------------------------------

def test_g_pass_with_tau_one_needs_all_draws_correct():
    assert g_pass_at_k(10, 6, 4, 1.0) == pytest.approx(math.comb(6, 4) / math.comb(10, 4))


def test_g_pass_hand_computed_hypergeometric_tail():
    # n=10, c=4, k=5, tau=0.6 -> at least 3 correct: (C(4,3)C(6,2) + C(4,4)C(6,1)) / C(10,5) = 66/252.
    assert g_pass_at_k(10, 4, 5, 0.6) == pytest.approx(66 / 252)
    assert g_pass_at_k(10, 4, 5, 0.6) == pytest.approx(tail_by_comb(10, 4, 5, 3))


def test_g_pass_with_smallest_tau_is_pass_at_k():
    assert g_pass_at_k(16, 3, 8, 1 / 8) == pytest.approx(pass_at_k(16, 3, 8))


def test_g_pass_rounds_tau_k_up_without_floating_point_noise():
    # 0.28 * 25 == 7.000000000000001 in floating point; the requirement must still be 7, not 8.
    assert g_pass_at_k(50, 20, 25, 0.28) == pytest.approx(tail_by_comb(50, 20, 25, 7))
    assert g_pass_at_k(50, 20, 25, 7 / 25) == pytest.approx(tail_by_comb(50, 20, 25, 7))
    # A genuinely fractional tau * k is rounded up: 0.65 * 10 = 6.5 -> 7.
    assert g_pass_at_k(20, 10, 10, 0.65) == pytest.approx(tail_by_comb(20, 10, 10, 7))


@pytest.mark.parametrize("tau", [0.0, -0.5, 1.01])
def test_g_pass_rejects_tau_outside_unit_interval(tau):
    with pytest.raises(ValueError, match=rf"tau={tau} must lie in \(0, 1\]"):
        g_pass_at_k(10, 5, 4, tau)


# --- mG-Pass@k ------------------------------------------------------------------------------------

def test_mg_pass_extremes():
    assert mg_pass_at_k(16, 16, 8) == pytest.approx(1.0)
    assert mg_pass_at_k(16, 0, 8) == 0.0


def test_mg_pass_when_all_samples_are_drawn():
    # k = n draws the full set, so exactly c=4 of 8 are correct and every tau > 1/2 fails.
    assert mg_pass_at_k(8, 4, 8) == 0.0
    # With c=6, tau = 5/8 and 6/8 succeed, 7/8 and 8/8 fail: (2/8) * 2 = 1/2.
    assert mg_pass_at_k(8, 6, 8) == pytest.approx(0.5)


def test_mg_pass_hand_computed():
    # k=4: tau in {3/4, 4/4}, weight 2/4. n=10, c=6: G_{3/4} = 95/210, G_1 = 15/210 -> 11/42.
    by_comb = (2 / 4) * (tail_by_comb(10, 6, 4, 3) + tail_by_comb(10, 6, 4, 4))
    assert mg_pass_at_k(10, 6, 4) == pytest.approx(11 / 42)
    assert mg_pass_at_k(10, 6, 4) == pytest.approx(by_comb)


# --- per-question helpers and summary -------------------------------------------------------------

CORRECT = np.array([
    [1, 1, 1, 1, 1, 1, 1, 1],
    [1, 0, 1, 0, 1, 0, 1, 0],
    [0, 0, 0, 0, 0, 0, 0, 0],
    [1, 1, 1, 1, 1, 1, 0, 0],
], dtype=bool)


def test_per_question_helpers_match_scalar_metrics():
    counts = CORRECT.sum(axis=1)
    np.testing.assert_allclose(pass_at_k_per_question(CORRECT, 4), [pass_at_k(8, c, 4) for c in counts])
    np.testing.assert_allclose(mg_pass_at_k_per_question(CORRECT, 4), [mg_pass_at_k(8, c, 4) for c in counts])
    assert pass_at_k_per_question(CORRECT, 4).shape == (4,)


def test_summarise_samples():
    summary = summarise_samples(CORRECT, 8)
    assert summary["accuracy"] == pytest.approx(18 / 32)
    # k = n: Pass@8 is 1 for any question with a correct sample.
    assert summary["pass_at_k"] == pytest.approx(3 / 4)
    # mG-Pass@8 with all samples drawn: 1 for c=8, 0 for c=4 and c=0, 1/2 for c=6.
    assert summary["mg_pass_at_k"] == pytest.approx(1.5 / 4)
    assert (summary["n"], summary["k"], summary["n_questions"]) == (8, 8, 4)


def test_per_question_helpers_reject_bad_arrays():
    with pytest.raises(ValueError, match=r"\(questions, samples\) array; got shape \(8,\)"):
        pass_at_k_per_question(CORRECT[0], 4)
    with pytest.raises(ValueError, match="booleans"):
        mg_pass_at_k_per_question(CORRECT * 0.5, 4)
    with pytest.raises(ValueError, match=r"non-empty .* got shape \(0, 8\)"):
        summarise_samples(np.zeros((0, 8), dtype=bool), 4)


def test_chance_scores_of_a_model_that_guesses():
    from raml_utils.metrics import chance_score

    assert chance_score("pass_at_k", 0.01, 16, 8) == pytest.approx(1 - 0.99 ** 8)
    assert chance_score("accuracy", 0.01, 16, 8) == 0.01
    # mG-Pass@8 needs at least 5 of 8 draws right: about C(8,5) 0.01^5 for a guesser
    assert 0 < chance_score("mg_pass_at_k", 0.01, 16, 8) < 1e-7
    assert chance_score("mg_pass_at_k", 1.0, 16, 8) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no chance level"):
        chance_score("lhat_drop", 0.01, 16, 8)
