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
import os
import subprocess
import sys
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
    """The smoke_llm profile with a cache of its own (cold), all notebooks run once."""
    pytest.importorskip("gguf")
    from raml_utils.worlds import llm

    try:
        llm.smollm2_dir()
    except RuntimeError as err:
        pytest.skip(str(err))
    tmp = tmp_path_factory.mktemp("smoke_llm")
    model_dir = small_chat_model(tmp / "small-chat-model")
    (tmp / "smoke_llm.yaml").write_text(f"inherit: smoke_llm\ncache_dir: {tmp / 'cache'}\n"
                                        f"world: {{kind: llm, model: {model_dir}, train_steps: [2], hard_steps: [3]}}\n")
    cmd = [sys.executable, "-m", "raml_utils.runner", "--profile", str(tmp / "smoke_llm.yaml"),
           "--outputs-dir", str(tmp / "outputs")]
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
    assert not failed and result.returncode == 0, (failed, result.stdout[-3000:], result.stderr[-3000:])


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
