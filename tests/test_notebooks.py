"""Every study notebook, executed top to bottom by ``run_all.sh``'s runner under the ``smoke`` profile.

One cold run of all notebooks (fresh cache) backs the assertions; a second run of one notebook on the
warm cache must reproduce its metrics.json exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from raml_utils.results import SCHEMA_VERSION

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p.stem for p in (REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
pytestmark = pytest.mark.notebook


def run_all(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "raml_utils.runner", "--profile", str(tmp / "smoke.yaml"),
           "--outputs-dir", str(tmp / "outputs"), *args]
    return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "PYTHONHASHSEED": "0"})


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """The smoke profile with a cache of its own (cold), all notebooks run once."""
    tmp = tmp_path_factory.mktemp("smoke")
    (tmp / "smoke.yaml").write_text(f"inherit: smoke\ncache_dir: {tmp / 'cache'}\n")
    return tmp, run_all(tmp)


def test_every_notebook_runs_under_smoke(smoke_run):
    tmp, result = smoke_run
    assert result.returncode == 0, result.stdout + result.stderr
    for name in NOTEBOOKS:
        status = json.loads((tmp / "outputs" / "smoke" / name / "status.json").read_text())
        assert status["status"] == "ok", (name, status["error"])


def strict_json(text: str):
    """Returns the parsed JSON, refusing NaN and Infinity (which Python's json accepts by default)."""
    def refuse(constant):
        raise ValueError(f"metrics.json holds {constant}: not strict JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_writes_metrics_figures_and_timings(smoke_run, name):
    tmp, _ = smoke_run
    out = tmp / "outputs" / "smoke" / name
    metrics = strict_json((out / "metrics.json").read_text())
    assert metrics["schema"] == SCHEMA_VERSION and metrics["notebook"] == name and metrics["profile"] == "smoke"
    assert len(metrics["params_hash"]) == 16 and metrics["code_commit"]
    for claim in metrics["claims"]:
        assert claim["verdict"] in ("reproduced", "not reproduced", "mixed")
        assert claim["lo"] <= claim["effect"] <= claim["hi"] or claim["lo"] <= claim["hi"]
    figures = list(out.glob("*.png"))
    assert figures and all(f.stat().st_size > 5000 for f in figures)
    timings = json.loads((out / "timings.json").read_text())
    assert "total_s" in timings and "wall" not in json.dumps(metrics)


def test_rerun_on_warm_cache_reproduces_metrics_exactly(smoke_run):
    tmp, _ = smoke_run
    name = "02_trajectory_length"
    before = (tmp / "outputs" / "smoke" / name / "metrics.json").read_text()
    models = sorted((tmp / "cache" / "model").iterdir())
    result = run_all(tmp, "--only", "02")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp / "outputs" / "smoke" / name / "metrics.json").read_text() == before
    assert sorted((tmp / "cache" / "model").iterdir()) == models  # nothing retrained
