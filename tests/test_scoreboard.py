"""Tests of raml_utils.scoreboard (the claims scoreboard) and scripts/readme_scoreboard.py, on made-up outputs.

Each test writes the output folders a run would leave (metrics.json, status.json, figures) for the smoke
profile and checks the row a reader would see.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from raml_utils import scoreboard as sb
from raml_utils.params import load_profile
from raml_utils.results import SCHEMA_VERSION, load_claims, params_hash, write_metrics
from raml_utils.stats import claim_result

REPO_ROOT = Path(__file__).resolve().parent.parent
P = load_profile("smoke")


def claim(cid: str, metric: str, arms: tuple[str, str], effect: float, lo: float, hi: float, verdict: str,
          n_seeds: int | None = 3) -> dict:
    """Returns a claim entry as results.write_metrics stores it (n_seeds None: left out)."""
    entry = {"claim": cid, "metric": metric, "arms": list(arms), "effect": effect, "lo": lo, "hi": hi,
             "n_questions": 12, "direction": 1, "margin": 0.03, "verdict": verdict}
    if n_seeds is not None:
        entry["n_seeds"] = n_seeds
    return entry


def write_outputs(profile_dir: Path, name: str, claims: list[dict], *, status: str | None = "ok",
                  hash_: str | None = None, schema: int = SCHEMA_VERSION, figures: tuple[str, ...] = (),
                  measurements: dict | None = None) -> Path:
    """Writes outputs/<profile>/<name>/ as a notebook run would; returns the folder."""
    folder = profile_dir / name
    folder.mkdir(parents=True)
    metrics = {"schema": schema, "notebook": name, "profile": P.name, "params_hash": hash_ or params_hash(P),
               "code_commit": "abc1234", "claims": claims, "measurements": measurements or {}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    if status:
        (folder / "status.json").write_text(json.dumps({"status": status, "wall_s": 12.5,
                                                        "error": "ValueError: boom (cell 3)" if status == "failed"
                                                        else None}))
    for f in figures:
        (folder / f).write_bytes(b"\x89PNG\r\n\x1a\n")
    return folder


def rl_check(learning: bool = True, retention: bool = True) -> dict:
    """Returns notebook 05's ``rl_check`` measurement with the learning and retention checks passed or failed."""
    criteria = {"accuracy_gain": learning, "reward_rises": True, "truncation": True, "length_kept": True}
    return {"learning": {"learning_rate": 1e-4, "questions": 32, "enough_questions": True, "passed": learning,
                         "runs": [{"seed": 101, "criteria": criteria, "passed": learning}]},
            "retention": {"passed": retention, "reason": "", "mean_loss": 0.01 if retention else 0.2}}


@pytest.fixture
def dirs(tmp_path) -> tuple[Path, Path]:
    """(outputs/<profile>/, notebooks/) of a study with no notebook written yet."""
    (tmp_path / "notebooks").mkdir()
    return tmp_path / "outputs" / P.name, tmp_path / "notebooks"


def board_of(dirs) -> sb.Scoreboard:
    profile_dir, notebooks_dir = dirs
    profile_dir.mkdir(parents=True, exist_ok=True)
    return sb.collect(profile_dir, P, notebooks_dir)


def row(board: sb.Scoreboard, cid: str) -> sb.Row:
    return next(r for r in board.rows if r.claim == cid)


def test_rows_cover_every_claim_and_proposition_in_order(dirs):
    board = board_of(dirs)
    assert [r.claim for r in board.rows] == ["C1", "C2", "Prop 2.1", "C3", "C4", "C5", "C6", "C7", "C8", "C9", "C10"]
    plan = load_claims()["claims"]
    for r in board.rows:
        if r.claim in plan:
            assert (r.statement, r.paper) == (plan[r.claim]["statement"], plan[r.claim]["paper"])
    assert "W_q, W_k, W_v" in row(board, "Prop 2.1").statement


def test_missing_notebooks_are_not_run_never_a_pass(dirs):
    board = board_of(dirs)
    assert {r.verdict for r in board.rows} == {sb.NOT_RUN}
    assert all(r.measurement == "" and r.figure is None for r in board.rows)
    assert row(board, "C7").notebooks == ("04",) and "notebook 04 is not written yet" in row(board, "C7").note


def test_written_notebook_without_outputs_is_not_run(dirs):
    profile_dir, notebooks_dir = dirs
    (notebooks_dir / "04_reflection_tokens.ipynb").write_text("{}")
    r = row(board_of(dirs), "C8")
    assert r.verdict == sb.NOT_RUN and r.notebooks == ("04_reflection_tokens",)
    assert "not run under this profile" in r.note


def test_stale_metrics_are_reported_and_not_used(dirs):
    profile_dir, _ = dirs
    write_outputs(profile_dir, "02_trajectory_length",
                  [claim("C3", "pass_at_k", ("long", "short"), 0.2, 0.1, 0.3, "reproduced")], hash_="0123456789abcdef",
                  figures=("pass_at_k_by_difficulty.png",))
    board = board_of(dirs)
    r = row(board, "C3")
    assert r.verdict == sb.STALE
    assert r.measurement == "" and r.contrasts == () and r.figure is None and r.seeds == "–"
    assert "0123456789abcdef" in r.note and params_hash(P) in r.note
    assert board.record("02_trajectory_length").state == "stale"
    assert sb.contrast_records(board) == []


def test_other_schema_is_stale(dirs):
    profile_dir, _ = dirs
    write_outputs(profile_dir, "02_trajectory_length",
                  [claim("C3", "pass_at_k", ("long", "short"), 0.2, 0.1, 0.3, "reproduced")], schema=1)
    r = row(board_of(dirs), "C3")
    assert r.verdict == sb.STALE and "schema 1" in r.note


def test_failed_last_run_is_not_run_even_with_metrics_left_from_before(dirs):
    profile_dir, _ = dirs
    write_outputs(profile_dir, "02_trajectory_length",
                  [claim("C3", "pass_at_k", ("long", "short"), 0.2, 0.1, 0.3, "reproduced")], status="failed")
    r = row(board_of(dirs), "C3")
    assert r.verdict == sb.NOT_RUN and "ValueError: boom" in r.note and r.measurement == ""


def test_primary_contrast_decides_and_controls_do_not(dirs):
    profile_dir, _ = dirs
    write_outputs(profile_dir, "02_trajectory_length", [
        claim("C3", "pass_at_k", ("long", "short"), -0.15, -0.27, -0.03, "not reproduced"),
        claim("C3", "pass_at_k", ("short", "answer_only"), 0.5, 0.35, 0.67, "reproduced"),  # a control
        claim("C3", "mg_pass_at_k", ("long", "short"), 0.2, 0.1, 0.3, "reproduced"),  # a secondary metric
    ], figures=("pass_at_k_by_difficulty.png", "training_loss.png"))
    board = board_of(dirs)
    r = row(board, "C3")
    assert r.verdict == sb.NOT_REPRODUCED
    assert r.measurement == "long − short pass_at_k = -0.150 [-0.270, -0.030]"
    assert r.seeds == "3" and r.notebooks == ("02_trajectory_length",)
    assert r.figure == "02_trajectory_length/pass_at_k_by_difficulty.png"
    roles = [(c["arms"], c["metric"], c["role"]) for c in sb.contrast_records(board)]
    assert roles == [("long − short", "pass_at_k", "primary"), ("short − answer_only", "pass_at_k", "control/secondary"),
                     ("long − short", "mg_pass_at_k", "control/secondary")]


def test_disagreeing_primary_contrasts_make_the_claim_mixed(dirs):
    profile_dir, _ = dirs
    write_outputs(profile_dir, "03_support_set_size", [
        claim("C6", "pass_at_k", ("sft_8", "sft_1"), 0.0, -0.01, 0.01, "not reproduced"),
        claim("C6", "pass_at_k", ("grpo_8", "grpo_1"), 0.05, 0.01, 0.09, "reproduced"),
    ], measurements={"rl_check": rl_check()})
    r = row(board_of(dirs), "C6")
    assert r.verdict == sb.MIXED
    assert "sft_8 − sft_1" in r.measurement and "grpo_8 − grpo_1" in r.measurement
    assert "disagree" in r.note


def test_a_secondary_contrast_on_the_primary_metric_never_decides(dirs):
    profile_dir, _ = dirs
    secondary = {**claim("C5", "pass_at_k", ("sft_then_rl", "zero_rl"), -0.2, -0.3, -0.1, "not reproduced"),
                 "role": "secondary"}
    write_outputs(profile_dir, "05_sft_then_rl", [
        claim("C5", "pass_at_k", ("sft_then_rl", "sft"), 0.1, 0.05, 0.15, "reproduced"), secondary],
        measurements={"rl_check": rl_check()})
    r = row(board_of(dirs), "C5")
    assert r.verdict == sb.REPRODUCED and "zero_rl" not in r.measurement


def test_pre_registered_marks_the_role_it_is_given():
    from raml_utils.results import pre_registered

    a, b = np.ones((2, 5)), np.zeros((2, 5))
    assert pre_registered("C5", a, b).role == "primary"
    result = pre_registered("C5", a, b, arms=("sft_then_rl", "zero_rl"), role="secondary")
    assert result.role == "secondary" and result.to_dict()["role"] == "secondary"
    with pytest.raises(ValueError, match="role='main'"):
        pre_registered("C5", a, b, role="main")


def test_stored_verdict_is_rederived_by_the_frozen_rule(dirs):
    profile_dir, _ = dirs
    # A CI that straddles 0 and leaves the margin 0.03: the frozen rule says mixed, whatever was stored.
    write_outputs(profile_dir, "02_trajectory_length",
                  [claim("C3", "pass_at_k", ("long", "short"), 0.02, -0.05, 0.1, "reproduced")])
    r = row(board_of(dirs), "C3")
    assert r.verdict == sb.MIXED
    assert "stored 'reproduced'" in r.note and "gives 'mixed'" in r.note


def test_seed_count_comes_from_the_metrics_or_the_profile_said_so(dirs):
    profile_dir, _ = dirs
    write_outputs(profile_dir, "02_trajectory_length",
                  [claim("C3", "pass_at_k", ("long", "short"), 0.2, 0.1, 0.3, "reproduced", n_seeds=5)])
    write_outputs(profile_dir, "03_support_set_size",
                  [claim("C6", "pass_at_k", ("sft_8", "sft_1"), 0.2, 0.1, 0.3, "reproduced", n_seeds=None)])
    board = board_of(dirs)
    assert row(board, "C3").seeds == "5" and row(board, "C3").note == ""
    assert row(board, "C6").seeds == str(len(P.seeds)) and "the profile's seeds" in row(board, "C6").note


def test_claim_reported_by_an_unplanned_notebook_is_found(dirs):
    profile_dir, _ = dirs
    write_outputs(profile_dir, "06_generalisation",
                  [claim("C3", "pass_at_k", ("long", "short"), 0.2, 0.1, 0.3, "reproduced")], figures=("c3_extra.png",))
    r = row(board_of(dirs), "C3")
    assert r.verdict == sb.REPRODUCED and r.notebooks == ("06_generalisation",)
    assert r.figure == "06_generalisation/c3_extra.png"  # named after the claim


def test_planned_notebook_that_reports_no_such_claim(dirs):
    profile_dir, _ = dirs
    write_outputs(profile_dir, "04_reflection_tokens",
                  [claim("C7", "relative_lhat_change", ("reflection_token", "all_tokens"), 1.0, 0.5, 1.5, "reproduced")])
    board = board_of(dirs)
    assert row(board, "C7").verdict == sb.REPRODUCED
    assert row(board, "C8").verdict == sb.NOT_RUN and "reports no C8" in row(board, "C8").note


def test_proposition_row_reports_notebook_01_without_a_verdict(dirs):
    profile_dir, _ = dirs
    d = P.pseudo_gradient.theory_dim
    prop = [{"setting": "random", "n": n, "value_rel_error_max": 1e-15 if n <= d else 1.2,
             "value_rel_error_median": 1e-16 if n <= d else 0.4} for n in (4, d, 2 * d)]
    write_outputs(profile_dir, "01_pseudo_gradient", [], measurements={"prop21": prop}, figures=("prop21_errors.png",))
    r = row(board_of(dirs), "Prop 2.1")
    assert r.verdict == sb.NOT_PRE_REGISTERED
    assert r.measurement == f"random blocks: W_v construction max rel. error 1.0e-15 for n ≤ d = {d}, median 0.4 for n > d"
    assert r.figure == "01_pseudo_gradient/prop21_errors.png" and "not in params/claims.yaml" in r.note


def test_labels_tell_apart_contrasts_with_the_same_arms_and_metric(dirs, tmp_path):
    profile_dir, _ = dirs
    folder = profile_dir / "06_generalisation"
    claims = [claim_result("C9", "pass_at_k", ("long", "base"), np.full((3, 4), 0.5), np.zeros((3, 4)), 1, 0.03)
              for _ in range(2)]
    written = write_metrics(folder, "06_generalisation", P, claims, {}, labels=["in_domain", "held_out_family"])
    assert [c["label"] for c in written["claims"]] == ["in_domain", "held_out_family"]
    r = row(board_of(dirs), "C9")
    assert r.measurement == ("long − base pass_at_k (in_domain) = +0.500 [+0.500, +0.500]; "
                             "long − base pass_at_k (held_out_family) = +0.500 [+0.500, +0.500]")
    with pytest.raises(ValueError, match="one per claim"):
        write_metrics(tmp_path, "06_generalisation", P, claims, {}, labels=["only one"])
    # Without labels, entries that would read alike are numbered, with their question counts.
    write_metrics(folder, "06_generalisation", P, claims, {})
    assert "(entry 1 of 2, 4 questions)" in row(board_of(dirs), "C9").measurement


def test_text_and_markdown_show_every_row(dirs):
    profile_dir, _ = dirs
    write_outputs(profile_dir, "02_trajectory_length",
                  [claim("C3", "pass_at_k", ("long", "short"), 0.2, 0.1, 0.3, "reproduced")])
    board = board_of(dirs)
    text = sb.to_text(board, width=100)
    lines = text.splitlines()
    assert lines[1].startswith("NOTE: the smoke profile") and "mean nothing" in lines[2]  # a check profile says so
    body = lines[next(i for i, line in enumerate(lines) if line.startswith("---")) + 1:-1]
    assert [line.split()[0] for line in body if line[:1].strip()] == [r.claim.split()[0] for r in board.rows]
    assert all(len(line) <= 100 for line in text.splitlines())
    assert "C3        reproduced" in text and text.endswith("totals: 1 reproduced, 10 not run")
    md = sb.to_markdown(board)
    assert sum(line.startswith("| **") for line in md.splitlines()) == len(board.rows)
    assert "[`02_trajectory_length`](notebooks/02_trajectory_length.ipynb)" in md
    assert all(f"- **{v}**:" in md for v in sb.VERDICTS)


# --- scripts/readme_scoreboard.py --------------------------------------------------------------------------


def readme_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "readme_scoreboard.py"), *args],
                          capture_output=True, text=True, timeout=120)


def test_readme_block_is_regenerated_between_the_markers_only(dirs, tmp_path):
    profile_dir, _ = dirs
    write_outputs(profile_dir, "02_trajectory_length",
                  [claim("C3", "pass_at_k", ("long", "short"), 0.2, 0.1, 0.3, "reproduced")])
    readme = tmp_path / "README.md"
    before, after = "# Title\n\nintro\n\n", "\n\n## Next section\ntext\n"
    readme.write_text(f"{before}<!-- scoreboard:start -->\nold block\n<!-- scoreboard:end -->{after}")
    args = ("--profile", "smoke", "--outputs-dir", str(profile_dir.parent), "--readme", str(readme))
    result = readme_script(*args)
    assert result.returncode == 0, result.stderr
    text = readme.read_text()
    assert text.startswith(before + "<!-- scoreboard:start -->\n") and text.endswith("<!-- scoreboard:end -->" + after)
    assert "old block" not in text and "| **C3** |" in text and "**reproduced**" in text
    assert "`outputs/smoke/`" in text and params_hash(P) in text
    again = readme_script(*args)
    assert again.returncode == 0 and "already up to date" in again.stdout and readme.read_text() == text


def test_readme_without_markers_is_refused_unchanged(dirs, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n")
    result = readme_script("--profile", "smoke", "--outputs-dir", str(dirs[0].parent), "--readme", str(readme))
    assert result.returncode == 2
    assert "<!-- scoreboard:start -->" in result.stderr and "found 0 and 0" in result.stderr
    assert readme.read_text() == "# Title\n"


def test_an_amended_primary_contrast_decides_beside_the_frozen_one_by_its_own_margin(dirs):
    profile_dir, _ = dirs
    shape = claim("C1", "pre_write_share", ("column", "op_by_op"), 0.04, -0.02, 0.08, "mixed")
    write_outputs(profile_dir, "01_pseudo_gradient", [
        claim("C1", "lhat_drop", ("correct", "corrupted"), 9.0, 8.5, 9.5, "reproduced"), shape])
    r = row(board_of(dirs), "C1")
    # The shape contrast is primary (claims.yaml, extra_primary) and judged by its own margin 0.05: its CI lies
    # within [-0.05, 0.08], so it is mixed (the drop's margin 0.1 would have made it "not reproduced")
    assert r.verdict == sb.MIXED and "column − op_by_op pre_write_share" in r.measurement
    assert "lhat_drop: reproduced" not in r.note and "column − op_by_op: mixed" in r.note
    interval = [i for i in sb.interval_records(board_of(dirs)) if "column" in i["label"]]
    assert interval and interval[0]["margin"] == 0.05


def test_a_ladder_contrast_shows_its_rungs_and_the_pilots_expected_half_width(dirs):
    profile_dir, _ = dirs
    entry = claim("C3", "pass_at_k", ("long", "short"), 0.4, 0.3, 0.5, "reproduced")
    entry |= {"ladder": "rungs k = 3, 4", "rungs": [3, 4], "expected_half_width": 0.081, "a_mean": 0.9, "b_mean": 0.5}
    write_outputs(profile_dir, "02_trajectory_length", [entry])
    r = row(board_of(dirs), "C3")
    assert r.measurement == "long − short pass_at_k = +0.400 [+0.300, +0.500] on rungs k = 3, 4 (pilot: ±0.081)"
    assert r.verdict == sb.REPRODUCED
