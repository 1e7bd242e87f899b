"""Tests of raml_utils.runner (the CLI behind run_all.sh) on tiny throwaway notebooks.

Each kernel start costs seconds, so one module-scoped run of three notebooks backs most assertions;
only the --wait/--only test starts one more kernel.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# 00 records what the kernel saw, 01 raises, 02 must still run after it.
RECORD_CELL = """\
import json, os, sys
from pathlib import Path
import raml_utils
seen = {"profile": profile, "prefix": sys.prefix, "raml_utils": raml_utils.__file__, "cwd": os.getcwd(),
        "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED"), "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE")}
(Path(os.environ["RAML_OUTPUT_DIR"]) / "seen.json").write_text(json.dumps(seen))
print("recorded")"""
NOTEBOOKS = {"00_record": RECORD_CELL, "01_raise": 'raise ValueError("boom from 01")', "02_after": 'print("02 ran")'}


def write_notebook(path: Path, code: str) -> None:
    """Writes a notebook with a `parameters` cell (profile = "cpu") followed by one code cell."""
    params = nbformat.v4.new_code_cell('profile = "cpu"', metadata={"tags": ["parameters"]})
    nb = nbformat.v4.new_notebook(cells=[params, nbformat.v4.new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """A directory with notebooks/ (three notebooks) and params/tiny.yaml."""
    root = tmp_path_factory.mktemp("study")
    (root / "notebooks").mkdir()
    for name, code in NOTEBOOKS.items():
        write_notebook(root / "notebooks" / f"{name}.ipynb", code)
    (root / "notebooks" / "scratch.ipynb").write_text("{}")  # no NN_ prefix: not a study notebook
    (root / "params").mkdir()
    (root / "params" / "tiny.yaml").write_text("seed: 0\n")
    return root


def runner(study: Path, *args: str, outputs: Path | None = None, **popen) -> subprocess.CompletedProcess:
    """Runs the runner CLI on `study` with this interpreter (the venv's), capturing its output."""
    cmd = [sys.executable, "-m", "raml_utils.runner", "--notebooks-dir", str(study / "notebooks"),
           "--params-dir", str(study / "params"), "--outputs-dir", str(outputs or study / "outputs"), *args]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHASHSEED", "HF_HUB_OFFLINE")}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, **popen)


@pytest.fixture(scope="module")
def full_run(study) -> subprocess.CompletedProcess:
    """One run of all three notebooks under the tiny profile."""
    return runner(study, "--profile", "tiny")


def test_failing_notebook_fails_the_run_but_not_the_others(full_run, study):
    assert full_run.returncode == 1, full_run.stderr
    assert full_run.stdout.startswith("profile: tiny (--profile")
    out = study / "outputs" / "tiny"
    statuses = {name: json.loads((out / name / "status.json").read_text()) for name in NOTEBOOKS}
    assert {n: s["status"] for n, s in statuses.items()} == {"00_record": "ok", "01_raise": "failed", "02_after": "ok"}
    assert "ValueError: boom from 01" in statuses["01_raise"]["error"]
    assert statuses["00_record"]["error"] is None
    assert all(s["wall_s"] > 0 and s["started"] <= s["finished"] for s in statuses.values())
    assert "02 ran" in (out / "02_after" / "run.log").read_text()
    assert "boom from 01" in (out / "01_raise" / "run.log").read_text()
    assert not (out / "scratch").exists()


def test_executed_notebooks_get_the_profile_parameter(full_run, study):
    out = study / "outputs" / "tiny"
    for name in NOTEBOOKS:
        executed = nbformat.read(out / name / f"{name}.ipynb", as_version=4)
        injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert len(injected) == 1 and str(study / "params" / "tiny.yaml") in injected[0].source
    # A profile outside the repo's params/ reaches the notebook as an absolute path.
    assert json.loads((out / "00_record" / "seen.json").read_text())["profile"] == str(study / "params" / "tiny.yaml")


def test_kernel_is_this_venv_with_the_repo_package_and_offline_env(full_run, study):
    seen = json.loads((study / "outputs" / "tiny" / "00_record" / "seen.json").read_text())
    assert seen["prefix"] == sys.prefix
    assert Path(seen["raml_utils"]).is_relative_to(REPO_ROOT)
    assert seen["cwd"] == str(REPO_ROOT)
    assert seen["PYTHONHASHSEED"] == "0" and seen["HF_HUB_OFFLINE"] == "1"


def test_summary_table_lists_each_notebook(full_run):
    table = full_run.stdout.split("\nnotebook")[1]
    for name, status in [("00_record", "ok"), ("01_raise", "failed"), ("02_after", "ok")]:
        assert any(line.split()[:2] == [name, status] for line in table.splitlines()), table
    assert "[3/3] 02_after ... ok" in full_run.stdout


def test_list_prints_numbers_and_names(study):
    listed = runner(study, "--list")
    assert listed.returncode == 0
    assert listed.stdout.split() == ["00", "record", "01", "raise", "02", "after"]
    assert runner(study, "--list", "--only", "2", "00").stdout.split() == ["00", "record", "02", "after"]


def test_empty_notebooks_dir_is_reported(tmp_path):
    (tmp_path / "notebooks").mkdir()
    listed = runner(tmp_path, "--list")
    assert listed.returncode == 0 and "no notebooks" in listed.stdout


@pytest.mark.parametrize("args, bad, listed", [(["--profile", "nope"], "nope", "tiny"),
                                               (["--profile", "tiny", "--only", "00", "07"], "07", "00, 01, 02")])
def test_unknown_values_exit_2_naming_them(study, args, bad, listed):
    result = runner(study, *args)
    assert result.returncode == 2
    assert bad in result.stderr and listed in result.stderr
    assert not (study / "outputs" / "nope").exists()


def test_held_lock_exits_3(study, tmp_path):
    lock_path = tmp_path / "tiny" / ".run.lock"
    lock_path.parent.mkdir()
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        result = runner(study, "--profile", "tiny", outputs=tmp_path)
    assert result.returncode == 3
    assert f"another run_all.sh is running on {tmp_path / 'tiny'} (pid {os.getpid()})" in result.stderr
    assert not (tmp_path / "tiny" / "00_record").exists()


def test_wait_blocks_until_the_lock_is_free_then_runs_only_the_selected_without_a_report(study, tmp_path):
    lock_path = tmp_path / "tiny" / ".run.lock"
    lock_path.parent.mkdir()
    lock = open(lock_path, "w")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    cmd = [sys.executable, "-m", "raml_utils.runner", "--notebooks-dir", str(study / "notebooks"),
           "--params-dir", str(study / "params"), "--outputs-dir", str(tmp_path), "--profile", "tiny",
           "--only", "02", "--wait", "--no-report"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = iter(proc.stdout.readline, "")
        assert any(line.startswith("waiting for the run on") for line in lines)
        assert proc.poll() is None and not (tmp_path / "tiny" / "02_after").exists()
    finally:
        lock.close()  # releases the flock: the runner goes on
    rest, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, rest
    assert "[1/1] 02_after ... ok" in rest
    assert "no scoreboard or report (--no-report)" in rest and "writing the claims scoreboard" not in rest
    assert sorted(p.name for p in (tmp_path / "tiny").iterdir()) == [".run.lock", "02_after"]


def test_two_runs_started_at_once_one_refuses_and_nothing_is_corrupted(study, tmp_path):
    """Two run_all.sh on the same outputs folder: exactly one runs, the other exits 3 naming the holder."""
    cmd = [sys.executable, "-m", "raml_utils.runner", "--notebooks-dir", str(study / "notebooks"),
           "--params-dir", str(study / "params"), "--outputs-dir", str(tmp_path), "--profile", "tiny"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [1, 3], results  # 1: the tiny study's 01 raises on purpose; 3: refused
    refused = next(err for code, _, err in results if code == 3)
    assert f"another run_all.sh is running on {tmp_path / 'tiny'}" in refused
    for name, expected in (("00_record", "ok"), ("01_raise", "failed"), ("02_after", "ok")):
        status = json.loads((tmp_path / "tiny" / name / "status.json").read_text())
        assert status["status"] == expected, (name, status)
    assert json.loads((tmp_path / "tiny" / "00_record" / "seen.json").read_text())["profile"].endswith("tiny.yaml")


def test_a_bad_study_profile_is_the_first_line_and_nothing_is_run_or_made(tmp_path):
    bad = tmp_path / "mine.yaml"
    bad.write_text("inherit: smoke\neval: {n_questions: 100000000}\n")
    result = subprocess.run([sys.executable, "-m", "raml_utils.runner", "--profile", str(bad), "--outputs-dir",
                             str(tmp_path / "outputs")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0].startswith("run_all.sh: eval.n_questions=100000000 is not allowed: at most ")
    assert result.stdout == "" and not (tmp_path / "outputs").exists()
