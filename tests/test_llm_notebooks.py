"""Every study notebook's LLM-world code path, on the CPU: the ``smoke_llm`` profile (a few reasoning-gym questions,
two optimizer steps) through ``run_all.sh``'s runner, with ``world.model`` naming a local model directory: a small
randomly initialised Llama with SmolLM2-135M-Instruct's own tokenizer and chat template, written by the fixture.

The local directory is the path a user takes to study another model, and keeps the suite inside its time budget
(SmolLM2 itself makes every notebook's CPU run about eight minutes: ``./run_all.sh --profile smoke_llm``);
``tests/test_llm_world.py`` loads, trains and samples SmolLM2 itself. Results mean nothing at this size; what is
checked is that each notebook runs top to bottom in the LLM world and writes its metrics and figures.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p.stem for p in (REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
pytestmark = pytest.mark.notebook


def small_chat_model(path: Path) -> Path:
    """Writes a randomly initialised 2-layer Llama with SmolLM2-135M-Instruct's tokenizer (and chat template) to
    ``path``: a local Hugging Face model directory, as a user would name one in ``world.model``."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from raml_utils.models import seed_everything
    from raml_utils.worlds import llm

    tokenizer = AutoTokenizer.from_pretrained(llm.smollm2_dir(), gguf_file=llm.SMOLLM2_GGUF)
    seed_everything(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=2048,
                         tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=None)
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def llm_run(tmp_path_factory):
    """The smoke_llm profile with a cache of its own (cold), all notebooks run once, by the GPU check's dry run
    (``scripts/gpu_check.sh --dry-run``: the driver a GPU machine runs, here on the CPU), which writes its summary."""
    pytest.importorskip("gguf")
    from raml_utils.worlds import llm

    try:
        llm.smollm2_dir()
    except RuntimeError as err:
        pytest.skip(str(err))
    tmp = tmp_path_factory.mktemp("smoke_llm")
    model_dir = small_chat_model(tmp / "small-chat-model")
    (tmp / "smoke_llm.yaml").write_text(f"inherit: smoke_llm\ncache_dir: {tmp / 'cache'}\n"
                                        f"world: {{kind: llm, model: {model_dir}, train_levels: [2], hard_levels: [3]}}\n")
    # The deadline is the check's 7 minutes, widened for a slow CI machine; test_the_dry_run_stops_at_its_deadline
    # tests the deadline itself.
    cmd = ["bash", "scripts/gpu_check.sh", "--dry-run", "--profile", str(tmp / "smoke_llm.yaml"), "--out",
           str(tmp / "summary"), "--outputs-dir", str(tmp / "outputs"), "--deadline-s", "1800"]
    result = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=2400,
                            env={**os.environ, "PYTHONHASHSEED": "0"})
    return tmp, result


def test_every_notebook_runs_in_the_llm_world(llm_run):
    tmp, result = llm_run
    failed = {}
    for name in NOTEBOOKS:
        status = json.loads((tmp / "outputs" / "smoke_llm" / name / "status.json").read_text())
        if status["status"] != "ok":
            failed[name] = status["error"]
    assert not failed and result.returncode == 0, (failed, result.stdout[-3000:], result.stderr[-3000:],
                                                   (tmp / "summary" / "runner.log").read_text()[-3000:])


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_llm_notebook_writes_metrics_and_figures(llm_run, name):
    tmp, _ = llm_run
    out = tmp / "outputs" / "smoke_llm" / name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["notebook"] == name and metrics["profile"] == "smoke_llm"
    assert list(out.glob("*.png"))


def test_the_base_is_the_named_model_and_the_signal_is_measured(llm_run):
    tmp, _ = llm_run
    metrics = json.loads((tmp / "outputs" / "smoke_llm" / "00_world" / "metrics.json").read_text())
    m = metrics["measurements"]
    assert m["base_parameters"] == sum(p.numel() for p in __import__("transformers").AutoModelForCausalLM
                                       .from_pretrained(tmp / "small-chat-model").parameters())
    families = {"gsm_symbolic", "chain_sum", "leg_counting", "letter_counting"}
    assert m["signal"] and {row["family"] for row in m["signal"]} <= families  # smoke: 2 questions, 2 of the cells
    assert all(0 <= row["pass_at_n"] <= row["pass_at_n_any_format"] <= 1 for row in m["signal"])
    assert "trainable_cells" in m and m["signal_band"] == [0.1, 0.6]


def _finite_or_explained(record: dict, key: str, lo: float = 0.0, hi: float = math.inf) -> None:
    """A summary field is a finite number in [lo, hi], or null with a ``<key>_reason``."""
    value = record[key]
    if value is None:
        assert record.get(f"{key}_reason"), (key, record)
    else:
        assert isinstance(value, (int, float)) and math.isfinite(value) and lo <= value <= hi, (key, value)


def test_the_gpu_check_dry_run_writes_its_summary(llm_run):
    tmp, _ = llm_run
    summary = json.loads((tmp / "summary" / "summary.json").read_text(), parse_constant=_no_constant)
    assert summary["mode"] == "dry run on the CPU" and summary["profile"] == "smoke_llm"
    assert summary["dependency_check"]["ok"], summary["dependency_check"]["problems"]
    assert summary["machine"]["gpu"] is None and summary["machine"]["gpu_reason"]  # no GPU here, and it says so
    assert [row["notebook"] for row in summary["notebooks"]] == NOTEBOOKS
    for row in summary["notebooks"]:
        assert row["status"] == "ok"
        _finite_or_explained(row, "wall_s", 0.1, summary["deadline_s"])
        _finite_or_explained(row, "peak_gpu_memory_mib", 0)
        _finite_or_explained(row, "projected_s", 0)
    assert 0 < summary["total_s"] <= summary["deadline_s"]
    _finite_or_explained(summary["projection"], "total_s", 0)
    assert summary["projection"]["notebooks_projected"] == len(NOTEBOOKS)
    assert summary["base_signal"] and all(0 <= row["pass_at_n"] <= row["pass_at_n_any_format"] <= 1 and row["level"] >= 1
                                          for row in summary["base_signal"])
    note = summary["scoreboard"]["note"]  # the scoreboard says a check profile's rows are not verdicts
    assert "mean nothing" in note and note in " ".join(summary["scoreboard"]["text"].split())
    bench = summary["sampling_backends"]
    assert bench, summary.get("sampling_backends_reason")
    (transformers,) = [row for row in bench["rows"] if row["backend"] == "transformers"]
    _finite_or_explained(transformers, "tokens_per_s", 0)
    assert 0 <= transformers["sample_accuracy"] <= 1 and "vLLM" in summary["vllm"]
    assert "smoke_llm" in (tmp / "summary" / "summary.txt").read_text()


def test_the_dry_run_stops_at_its_deadline(llm_run):
    """A deadline shorter than notebook 00: the driver stops the runner and its kernel, and says so per notebook."""
    tmp, _ = llm_run
    out = tmp / "deadline"
    cmd = [sys.executable, "scripts/gpu_check.py", "--dry-run", "--profile", str(tmp / "smoke_llm.yaml"), "--out",
           str(out), "--outputs-dir", str(out / "outputs"), "--deadline-s", "50"]  # notebooks get 50 - 45 = 5 s
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and time.perf_counter() - start < 120, result.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text(), parse_constant=_no_constant)
    assert all(row["status"] == "not finished" and row["wall_s"] is None and row["wall_s_reason"]
               for row in summary["notebooks"])
    assert summary["notebooks"][0]["wall_s_reason"] in ("stopped at the deadline while it ran",
                                                        "not started before the deadline")
    assert summary["projection"]["total_s"] is None and summary["projection"]["total_s_reason"]


def _no_constant(name):
    raise AssertionError(f"{name} in strict JSON")
