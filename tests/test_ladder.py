"""The difficulty ladder: the pilot's pre-registered rung rule, the expected half-width, contrasts read on their
rungs, and the plan's contrast names."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from raml_utils import experiment
from raml_utils.params import LADDER_CONTRASTS, load_profile
from raml_utils.results import load_claims

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("ladder_pilot", ROOT / "benchmarks" / "ladder_pilot.py")
ladder_pilot = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ladder_pilot)


def test_the_params_contrasts_are_the_plans():
    assert set(LADDER_CONTRASTS) == set(load_claims()["ladder"]["reference_arms"])


def test_rungs_are_every_level_in_the_band_or_the_levels_nearest_one_half():
    rule = load_claims()["ladder"]
    band, n = tuple(rule["band"]), rule["min_rungs"]
    assert ladder_pilot.place_rungs({1: 1.0, 2: 0.8, 3: 0.5, 4: 0.2, 5: 0.05}, band, n) == (2, 3, 4)  # inclusive
    assert ladder_pilot.place_rungs({1: 1.0, 2: 0.95, 3: 0.6, 4: 0.1, 5: 0.05}, band, n) == (3, 4)  # one in band
    assert ladder_pilot.place_rungs({1: 1.0, 2: 1.0, 3: 0.99, 4: 0.9, 5: 0.1}, band, n) == (4, 5)  # none in band
    assert ladder_pilot.place_rungs({1: 0.9, 2: 0.1, 3: 0.9}, band, n) == (1, 2)  # ties go to the lower level


def test_expected_half_width_shrinks_with_seeds_and_questions():
    scores = np.array([0.0, 1.0] * 20)
    one = ladder_pilot.expected_half_width(scores, 1, 40)
    assert one == pytest.approx(1.96 * np.sqrt(2 * np.var(scores, ddof=1) / 40))
    assert ladder_pilot.expected_half_width(scores, 4, 40) == pytest.approx(one / 2)


def test_the_pilot_writes_the_ladder_block_into_a_profile(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("inherit: smoke\nladder:\n  levels: [1, 2, 3, 4, 5]\nseeds: [1, 2]\n")
    block = ladder_pilot.ladder_block((1, 2, 3, 4, 5), {"C3": (3, 4), "C10": (1, 2)}, {"C3": 0.081, "C10": 0.1})
    ladder_pilot.write_block(path, block)
    P = load_profile(path)
    assert P.ladder.rungs == {"C3": (3, 4), "C10": (1, 2)} and P.ladder.expected_half_width["C3"] == 0.081
    assert P.seeds == (1, 2) and P.ladder.levels == (1, 2, 3, 4, 5)


def _frame(levels=(1, 2, 3, 4, 5), per_level=4) -> pd.DataFrame:
    rows = []
    for seed in (1, 2):
        for q in range(len(levels) * per_level):
            k = levels[q % len(levels)]
            rows += [{"arm": "long", "seed": seed, "question": q, "k": k, "pass_at_k": 1.0},
                     {"arm": "short", "seed": seed, "question": q, "k": k, "pass_at_k": 1.0 if k in (1, 2) else 0.0}]
    return pd.DataFrame(rows)


def test_a_contrast_reads_only_its_rungs_and_says_which():
    placed = load_profile("smoke", ladder={"levels": [1, 2, 3, 4, 5], "rungs": {"C3": [3, 4]},
                                           "expected_half_width": {"C3": 0.2}})
    result = experiment.ladder_contrast(placed, _frame(), "C3", ("long", "short"))
    assert result.effect == 1.0 and result.n_questions == 8 and result.rungs == (3, 4)
    assert result.ladder == "rungs k = 3, 4" and result.expected_half_width == 0.2
    assert result.b_mean == 0.0  # the headroom rule reads the arms' means on the rungs, not on the whole ladder
    unplaced = load_profile("smoke", ladder={"levels": [1, 2, 3, 4, 5], "rungs": {}})
    result = experiment.ladder_contrast(unplaced, _frame(), "C3", ("long", "short"))
    assert result.rungs == (2, 3, 4) and "rungs not placed" in result.ladder and result.n_questions == 12


def test_the_in_domain_test_set_runs_the_ladder_and_a_profile_without_one_its_training_levels():
    ladder = experiment.test_set(load_profile("smoke"), "in_domain")
    assert {p.k for p in ladder} == {1, 2, 3, 4, 5}
    flat = experiment.test_set(load_profile("smoke", ladder={"levels": []}), "in_domain")
    assert {p.k for p in flat} == {2, 3, 4}


def test_an_evaluation_is_keyed_by_its_questions():
    P = load_profile("smoke")
    other = load_profile("smoke", ladder={"levels": [1, 2, 3, 4]})
    keys = [experiment.eval_config(p, Path("m"), "in_domain", True)["questions"] for p in (P, other)]
    assert keys[0] != keys[1]
