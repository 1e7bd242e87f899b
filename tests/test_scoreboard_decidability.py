"""Tests of the decidability rule (raml_utils.decidability) as the scoreboard applies it, on made-up outputs.

A contrast without headroom, or one whose arms depend on a component that failed its pre-registered check, is
inconclusive with its reason; the other contrasts of the claim still decide. The made-up output folders come
from tests/test_scoreboard.py's helpers.
"""

from __future__ import annotations

import json
import math

from test_scoreboard import P, board_of, claim, dirs, rl_check, row, write_outputs  # noqa: F401 (dirs: a fixture)

from raml_utils import scoreboard as sb
from raml_utils.decidability import Check, gated_verdict
from raml_utils.params import load_profile
from raml_utils.results import SCHEMA_VERSION, params_hash


def test_a_failed_check_beats_the_ci_and_no_headroom_does_not_beat_an_opposite_ci():
    rule = {"direction": 1, "margin": 0.03}
    assert gated_verdict(0.1, 0.2, rule, [], []) == (sb.REPRODUCED, ())
    assert gated_verdict(-0.2, -0.1, rule, ["no headroom: ..."], []) == (sb.NOT_REPRODUCED, ())
    assert gated_verdict(-0.2, -0.1, rule, ["no headroom: h"], ["RL check failed: f"]) == (
        sb.INCONCLUSIVE, ("RL check failed: f", "no headroom: h"))
    assert gated_verdict(-0.01, 0.01, rule, ["no headroom: h"], []) == (sb.INCONCLUSIVE, ("no headroom: h",))
    assert gated_verdict(math.nan, math.nan, rule, [], ["RL check failed: f"]) == (sb.MIXED, ())


def test_a_check_gates_the_arms_it_names_and_only_in_its_notebook_if_it_has_one():
    everywhere = Check("grpo_learning", False, "why", ("zero_rl", "grpo_"))
    assert everywhere.gates("05_sft_then_rl", ("sft", "zero_rl")) and everywhere.gates("03_x", ("grpo_8", "grpo_1"))
    assert not everywhere.gates("03_x", ("sft_8", "sft_1"))
    own = Check("arm_signal", False, "why", ("grpo_1",), "03_support_set_size")
    assert own.gates("03_support_set_size", ("grpo_8", "grpo_1")) and not own.gates("05_x", ("grpo_8", "grpo_1"))


def test_llm_world_without_base_signal_makes_the_rl_from_base_arms_inconclusive(tmp_path):
    """No (family, level) with the base's pass@n in the band: C4 (zero-RL) is inconclusive, with the measured rates;
    C6 takes the verdict of its SFT contrast; SFT -> RL (not RL from the base) is untouched."""
    llm = load_profile("smoke_llm")
    profile_dir = tmp_path / "outputs" / llm.name
    (tmp_path / "notebooks").mkdir()
    signal = [{"family": "gsm_symbolic", "k": 2, "pass_at_n": 0.0, "pass_at_n_any_format": 0.0, "questions": 4},
              {"family": "chain_sum", "k": 2, "pass_at_n": 0.0, "pass_at_n_any_format": 0.03, "questions": 4},
              {"family": "chain_sum", "k": 3, "pass_at_n": 0.0, "pass_at_n_any_format": 0.5, "questions": 4}]

    def write(name, claims, measurements=None):
        folder = profile_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        folder.joinpath("metrics.json").write_text(json.dumps(
            {"schema": SCHEMA_VERSION, "notebook": name, "profile": llm.name, "params_hash": params_hash(llm),
             "code_commit": "x", "claims": claims, "measurements": measurements or {}}))
        folder.joinpath("status.json").write_text(json.dumps({"status": "ok", "wall_s": 1.0, "error": None}))

    write("00_world", [], {"trainable_cells": [], "signal_band": [0.1, 0.6], "signal": signal})
    write("05_sft_then_rl", [claim("C4", "mg_pass_at_k", ("sft", "zero_rl"), 0.5, 0.4, 0.6, "reproduced"),
                             claim("C5", "pass_at_k", ("sft_then_rl", "sft"), 0.0, -0.01, 0.01, "not reproduced")],
          {"rl_check": rl_check()})
    write("03_support_set_size", [claim("C6", "pass_at_k", ("sft_8", "sft_1"), 0.2, 0.1, 0.3, "reproduced"),
                                  claim("C6", "pass_at_k", ("grpo_8", "grpo_1"), -0.2, -0.3, -0.1, "not reproduced")])
    board = sb.collect(profile_dir, llm, tmp_path / "notebooks")
    c4, c5, c6 = (row(board, c) for c in ("C4", "C5", "C6"))
    assert c4.verdict == sb.INCONCLUSIVE and "chain_sum k=2: 0.03 (4 questions)" in c4.note
    assert "k=3" not in c4.note  # only the fine-tuning levels (smoke_llm: k = 2) count
    assert c6.verdict == "reproduced" and "grpo_8 − grpo_1 inconclusive" in c6.note
    assert c5.verdict == "not reproduced"
    # With signal somewhere, nothing is gated.
    write("00_world", [], {"trainable_cells": [{"family": "chain_sum", "k": 2}], "signal_band": [0.1, 0.6],
                           "signal": signal})
    board = sb.collect(profile_dir, llm, tmp_path / "notebooks")
    assert row(board, "C4").verdict == "reproduced" and row(board, "C6").verdict == sb.MIXED


def with_means(entry: dict, a_mean: float, b_mean: float) -> dict:
    return {**entry, "a_mean": a_mean, "b_mean": b_mean}


def test_two_arms_at_the_ceiling_are_inconclusive_not_unreproduced(dirs):
    profile_dir, _ = dirs
    write_outputs(profile_dir, "02_trajectory_length", [
        with_means(claim("C3", "pass_at_k", ("long", "short"), 0.0, 0.0, 0.0, "not reproduced"), 1.0, 0.99)])
    r = row(board_of(dirs), "C3")
    assert r.verdict == sb.INCONCLUSIVE and "no headroom" in r.note and "ceiling" in r.note


def test_a_ci_the_other_way_stays_not_reproduced_without_headroom(dirs):
    profile_dir, _ = dirs
    write_outputs(profile_dir, "02_trajectory_length", [
        with_means(claim("C3", "pass_at_k", ("long", "short"), -0.02, -0.03, -0.01, "not reproduced"), 0.975, 0.995)])
    assert row(board_of(dirs), "C3").verdict == sb.NOT_REPRODUCED


def test_the_higher_arm_at_chance_is_inconclusive(dirs):
    profile_dir, _ = dirs
    chance = 1 - (1 - 0.01) ** P.eval.k  # the toy world's Pass@k of guessing
    write_outputs(profile_dir, "07_efficient_reasoning", [
        with_means(claim("C10", "pass_at_k", ("compressed", "answer_only"), 0.0, -0.01, 0.01, "not reproduced"),
                   chance + 0.01, chance)])
    r = row(board_of(dirs), "C10")
    assert r.verdict == sb.INCONCLUSIVE and "chance" in r.note


def test_unbounded_metrics_have_no_headroom_rule(dirs):
    profile_dir, _ = dirs
    write_outputs(profile_dir, "01_pseudo_gradient", [
        with_means(claim("C1", "lhat_drop", ("correct", "corrupted"), 5.0, 4.0, 6.0, "reproduced"), 5.0, 0.0)])
    assert row(board_of(dirs), "C1").verdict == sb.REPRODUCED


def test_a_failed_rl_check_makes_every_rl_contrast_inconclusive_whatever_its_ci(dirs):
    profile_dir, _ = dirs
    write_outputs(profile_dir, "05_sft_then_rl", [
        claim("C4", "mg_pass_at_k", ("sft", "zero_rl"), 0.8, 0.7, 0.9, "reproduced"),
        claim("C5", "pass_at_k", ("sft_then_rl", "sft"), -0.5, -0.8, -0.2, "not reproduced")],
        measurements={"rl_check": rl_check(learning=False)})
    write_outputs(profile_dir, "03_support_set_size", [
        claim("C6", "pass_at_k", ("sft_8", "sft_1"), 0.2, 0.1, 0.3, "reproduced"),
        claim("C6", "pass_at_k", ("grpo_8", "grpo_1"), -0.2, -0.3, -0.1, "not reproduced")])
    board = board_of(dirs)
    c4, c5, c6 = (row(board, c) for c in ("C4", "C5", "C6"))
    assert c4.verdict == c5.verdict == sb.INCONCLUSIVE
    assert "RL check failed" in c4.note and "accuracy_gain" in c4.note
    assert c6.verdict == sb.REPRODUCED and "grpo_8 − grpo_1 inconclusive: RL check failed" in c6.note
    assert {c.name: c.passed for c in board.checks}["grpo_learning"] is False


def test_rl_arms_are_inconclusive_until_the_learning_check_has_run(dirs):
    profile_dir, _ = dirs
    write_outputs(profile_dir, "05_sft_then_rl", [
        claim("C4", "mg_pass_at_k", ("sft", "zero_rl"), 0.8, 0.7, 0.9, "reproduced")])
    r = row(board_of(dirs), "C4")
    assert r.verdict == sb.INCONCLUSIVE and "no usable result" in r.note


def test_a_failed_retention_check_gates_sft_then_rl_only(dirs):
    profile_dir, _ = dirs
    write_outputs(profile_dir, "05_sft_then_rl", [
        claim("C4", "mg_pass_at_k", ("sft", "zero_rl"), 0.8, 0.7, 0.9, "reproduced"),
        claim("C5", "pass_at_k", ("sft_then_rl", "sft"), -0.5, -0.8, -0.2, "not reproduced")],
        measurements={"rl_check": rl_check(retention=False)})
    board = board_of(dirs)
    assert row(board, "C4").verdict == sb.REPRODUCED
    assert row(board, "C5").verdict == sb.INCONCLUSIVE and "retention check failed" in row(board, "C5").note


def test_a_retention_check_that_could_not_apply_gates_sft_then_rl_and_says_so(dirs):
    profile_dir, _ = dirs
    check = rl_check(retention=False)
    check["retention"] |= {"applicable": False, "reason": "start accuracy 0.984 outside 0.9-0.98: the check cannot decide"}
    write_outputs(profile_dir, "05_sft_then_rl", [
        claim("C5", "pass_at_k", ("sft_then_rl", "sft"), -0.5, -0.8, -0.2, "not reproduced")],
        measurements={"rl_check": check})
    note = row(board_of(dirs), "C5").note
    assert "RL retention check could not decide: start accuracy 0.984" in note and "check failed" not in note


def test_an_rl_arm_without_reward_spread_is_inconclusive_in_its_notebook(dirs):
    profile_dir, _ = dirs
    write_outputs(profile_dir, "05_sft_then_rl", [
        claim("C4", "mg_pass_at_k", ("sft", "zero_rl"), 0.8, 0.7, 0.9, "reproduced")],
        measurements={"rl_check": rl_check()})
    write_outputs(profile_dir, "03_support_set_size", [
        claim("C6", "pass_at_k", ("grpo_8", "grpo_1"), 0.2, 0.1, 0.3, "reproduced")],
        measurements={"rl_arm_signal": {"grpo_1": {"spread_share": 0.1, "signal": False},
                                        "grpo_8": {"spread_share": 0.5, "signal": True}}})
    board = board_of(dirs)
    assert row(board, "C4").verdict == sb.REPRODUCED
    c6 = row(board, "C6")
    assert c6.verdict == sb.INCONCLUSIVE and "no signal: grpo_1" in c6.note and "10%" in c6.note


def test_a_base_outside_its_signal_band_gates_rl_from_the_base_only(dirs):
    profile_dir, _ = dirs
    write_outputs(profile_dir, "00_world", [], measurements={
        "trajectory_rate_in_target": False, "mid_correct_trajectory_rate": 0.001,
        "trajectory_rate_target": {"min": 0.02, "max": 0.5}})
    write_outputs(profile_dir, "05_sft_then_rl", [
        claim("C4", "mg_pass_at_k", ("sft", "zero_rl"), 0.8, 0.7, 0.9, "reproduced"),
        claim("C5", "pass_at_k", ("sft_then_rl", "sft"), 0.1, 0.05, 0.15, "reproduced")],
        measurements={"rl_check": rl_check()})
    board = board_of(dirs)
    assert row(board, "C4").verdict == sb.INCONCLUSIVE and "0.001" in row(board, "C4").note
    assert row(board, "C5").verdict == sb.REPRODUCED
