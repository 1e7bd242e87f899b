"""Tests for raml_utils.stats: t-intervals, the paired bootstrap and the verdict rule."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from raml_utils.stats import ClaimResult, bootstrap_paired_diff, claim_result, mean_ci, verdict


# --- mean_ci --------------------------------------------------------------------------------------

def test_mean_ci_hand_computed():
    # Sample standard deviation of [1, 2, 3] is 1, so the half-width is t_{0.975, 2} / sqrt(3).
    mean, lo, hi = mean_ci([1, 2, 3])
    half_width = scipy_stats.t.ppf(0.975, 2) / math.sqrt(3)
    assert mean == 2
    assert lo == pytest.approx(2 - half_width)
    assert hi == pytest.approx(2 + half_width)
    assert half_width == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)


def test_mean_ci_single_value_has_no_interval():
    mean, lo, hi = mean_ci([0.7])
    assert mean == 0.7 and math.isnan(lo) and math.isnan(hi)


def test_mean_ci_validates_inputs():
    with pytest.raises(ValueError, match="must not be empty"):
        mean_ci([])
    with pytest.raises(ValueError, match=r"confidence=1.5 must lie in \(0, 1\)"):
        mean_ci([1, 2], confidence=1.5)


# --- bootstrap_paired_diff ------------------------------------------------------------------------

def make_arms(shift, n_seeds=4, n_questions=50, seed=0):
    """Returns per-(seed, question) 0/1 scores of two arms, the first `shift` more accurate."""
    rng = np.random.default_rng(seed)
    b = (rng.random((n_seeds, n_questions)) < 0.4).astype(float)
    a = (rng.random((n_seeds, n_questions)) < 0.4 + shift).astype(float)
    return a, b


def test_bootstrap_is_deterministic_given_seed():
    a, b = make_arms(0.1)
    assert bootstrap_paired_diff(a, b, seed=3) == bootstrap_paired_diff(a, b, seed=3)
    assert bootstrap_paired_diff(a, b, seed=3) != bootstrap_paired_diff(a, b, seed=4)


def test_bootstrap_separated_arms_exclude_zero():
    a, b = make_arms(0.5)
    result = bootstrap_paired_diff(a, b)
    assert result["effect"] == pytest.approx(a.mean() - b.mean())
    assert 0 < result["lo"] < result["effect"] < result["hi"]
    assert (result["n_seeds"], result["n_questions"]) == (4, 50)


def test_bootstrap_identical_arms_give_zero_effect():
    a, _ = make_arms(0.0)
    result = bootstrap_paired_diff(a, a.copy())
    assert result["effect"] == 0
    assert result["lo"] <= 0 <= result["hi"]


def test_bootstrap_matches_explicit_index_resampling_in_distribution():
    # The count-based vectorisation must behave like resampling seed and question indices.
    a, b = make_arms(0.1, n_seeds=3, n_questions=20)
    diff = a - b
    rng = np.random.default_rng(1)
    explicit = [diff[np.ix_(rng.integers(0, 3, 3), rng.integers(0, 20, 20))].mean() for _ in range(4000)]
    ours = bootstrap_paired_diff(a, b, n_boot=4000)
    lo, hi = np.quantile(explicit, [0.025, 0.975])
    assert ours["lo"] == pytest.approx(lo, abs=0.02)
    assert ours["hi"] == pytest.approx(hi, abs=0.02)


def test_bootstrap_validates_shapes():
    with pytest.raises(ValueError, match=r"same \(seeds, questions\) shape; got a \(3, 10\) and b \(3, 9\)"):
        bootstrap_paired_diff(np.zeros((3, 10)), np.zeros((3, 9)))
    with pytest.raises(ValueError, match=r"non-empty \(seeds, questions\) arrays; got shape \(10,\)"):
        bootstrap_paired_diff(np.zeros(10), np.zeros(10))
    with pytest.raises(ValueError, match="n_boot=0 must be at least 1"):
        bootstrap_paired_diff(np.zeros((3, 10)), np.zeros((3, 10)), n_boot=0)


# --- verdict --------------------------------------------------------------------------------------

@pytest.mark.parametrize("lo, hi, direction, expected", [
    # CI excludes 0 in the paper's direction.
    (0.02, 0.10, +1, "reproduced"),
    (-0.10, -0.02, -1, "reproduced"),
    # A significant effect smaller than the margin still counts as reproduced (checked first).
    (0.001, 0.004, +1, "reproduced"),
    # CI inside [-margin, margin].
    (-0.01, 0.02, +1, "not reproduced"),
    (-0.03, 0.03, -1, "not reproduced"),
    # CI excludes 0 in the opposite direction.
    (-0.10, -0.02, +1, "not reproduced"),
    (0.02, 0.10, -1, "not reproduced"),
    # CI straddles 0 and reaches beyond the margin.
    (-0.02, 0.10, +1, "mixed"),
    (-0.10, 0.01, -1, "mixed"),
])
def test_verdict_branches(lo, hi, direction, expected):
    assert verdict((lo + hi) / 2, lo, hi, direction, margin=0.03) == expected


def test_verdict_validates_rule():
    with pytest.raises(ValueError, match="direction=0 must be"):
        verdict(0.0, -0.1, 0.1, 0, 0.03)
    with pytest.raises(ValueError, match="margin=0 must be positive"):
        verdict(0.0, -0.1, 0.1, 1, 0)
    with pytest.raises(ValueError, match="lo=0.1 and hi=-0.1 must satisfy lo <= hi"):
        verdict(0.0, 0.1, -0.1, 1, 0.03)


# --- claim_result ---------------------------------------------------------------------------------

def test_claim_result_runs_bootstrap_and_verdict():
    a, b = make_arms(0.5)
    result = claim_result("longer trajectories help", "accuracy", ("long", "short"), a, b,
                          direction=+1, margin=0.02, n_boot=500, seed=7)
    boot = bootstrap_paired_diff(a, b, n_boot=500, seed=7)
    assert isinstance(result, ClaimResult)
    assert (result.effect, result.lo, result.hi) == (boot["effect"], boot["lo"], boot["hi"])
    assert result.verdict == "reproduced"
    as_dict = result.to_dict()
    assert as_dict["arms"] == ("long", "short")
    assert as_dict["n_seeds"] == 4 and as_dict["margin"] == 0.02


def test_claim_result_validates_before_bootstrapping():
    a, b = make_arms(0.1)
    with pytest.raises(ValueError, match="direction=2"):
        claim_result("c", "m", ("x", "y"), a, b, direction=2, margin=0.02)
    with pytest.raises(ValueError, match="margin=-0.1 must be positive"):
        claim_result("c", "m", ("x", "y"), a, b, direction=1, margin=-0.1)
    with pytest.raises(ValueError, match="must name exactly two arms"):
        claim_result("c", "m", ("x",), a, b, direction=1, margin=0.02)
    with pytest.raises(ValueError, match=r"got a \(4, 50\) and b \(4, 49\)"):
        claim_result("c", "m", ("x", "y"), a, b[:, :49], direction=1, margin=0.02)


# --- per-arm intervals and the decidability rule ------------------------------------------------------------

def test_per_arm_interval_stays_inside_the_scores_range():
    from raml_utils.stats import bootstrap_mean

    # Three seeds of a Pass@k that is 1 on most questions and 0 on a few: a t-interval over seeds leaves [0, 1].
    scores = np.ones((3, 40))
    scores[0, :30] = 0.0
    mean, lo, hi = bootstrap_mean(scores)
    assert mean == pytest.approx(scores.mean()) and 0 <= lo <= mean <= hi <= 1
    one_seed = bootstrap_mean(scores[:1])
    assert one_seed[1] < one_seed[0] < one_seed[2]  # one seed still has the questions' spread (no NaN)


def test_headroom_reason_names_the_arm_at_the_ceiling_or_at_chance():
    from raml_utils.stats import headroom_reason

    assert "ceiling" in headroom_reason(1.0, 0.98, direction=1, margin=0.03, chance=0.08, ceiling=1.0)
    assert headroom_reason(1.0, 0.90, direction=1, margin=0.03, chance=0.08, ceiling=1.0) is None
    assert "chance" in headroom_reason(0.09, 0.08, direction=1, margin=0.03, chance=0.08, ceiling=1.0)
    # direction -1: a is the arm predicted lower
    assert "ceiling" in headroom_reason(0.99, 0.5, direction=-1, margin=0.03, chance=0.0, ceiling=1.0)
    assert headroom_reason(5.0, 0.0, direction=1, margin=0.1, chance=None, ceiling=None) is None


def test_decide_keeps_an_opposite_ci_as_not_reproduced_only_for_headroom():
    from raml_utils.stats import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, decide

    assert decide(0.1, 0.2, 1, 0.03) == REPRODUCED
    assert decide(-0.01, 0.01, 1, 0.03, ["no headroom"]) == INCONCLUSIVE
    assert decide(-0.2, -0.1, 1, 0.03, ["no headroom"]) == NOT_REPRODUCED
    assert decide(-0.2, -0.1, 1, 0.03, ["RL check failed"], opposite_stays=False) == INCONCLUSIVE
    assert decide(0.1, 0.2, 1, 0.03, ["RL check failed"], opposite_stays=False) == INCONCLUSIVE


def test_claim_result_records_where_the_arms_sit():
    a, b = np.full((2, 5), 0.9), np.full((2, 5), 0.4)
    result = claim_result("C3", "pass_at_k", ("long", "short"), a, b, direction=1, margin=0.03)
    assert result.a_mean == pytest.approx(0.9) and result.b_mean == pytest.approx(0.4)
