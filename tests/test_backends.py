"""Sampling backends (transformers here; vLLM where installed), devices and the several-process training path."""

from __future__ import annotations

import dataclasses
import os

import pytest
import torch

from raml_utils import devices, sampling
from raml_utils.cache import Store
from raml_utils.params import LLMWorldParams, ModelParams, TrainParams, WorldParams, load_profile


def test_the_toy_world_samples_with_transformers_on_the_cpu():
    assert sampling.backend_name(WorldParams()) == "transformers"
    assert sampling.sampler_for(WorldParams(), "unused") is sampling.generate
    assert devices.device_for(("chain", "list")) == "cpu"
    assert devices.inference_dtype(WorldParams(), "cpu") == torch.float32


def test_auto_backend_and_dtype_follow_what_the_machine_has():
    world = LLMWorldParams()
    usable = torch.cuda.is_available() and sampling.vllm_python() is not None
    assert sampling.backend_name(world) == ("vllm" if usable else "transformers")
    device = devices.device_for(world.families)
    assert device == ("cuda" if torch.cuda.is_available() else "cpu")
    assert devices.inference_dtype(world, device) == (torch.bfloat16 if device == "cuda" else torch.float32)
    line = sampling.backend_line(world)
    assert line.startswith("sampling backend: vLLM") if usable else ("vLLM not used: " in line)


def test_asking_for_vllm_where_it_cannot_run_fails_saying_why():
    if torch.cuda.is_available() and sampling.vllm_python() is not None:
        pytest.skip("vLLM can run here")
    with pytest.raises(RuntimeError, match="world.sampler='vllm' cannot run here"):
        sampling.backend_name(dataclasses.replace(LLMWorldParams(), sampler="vllm"))


def test_out_of_memory_names_the_knobs_to_lower():
    with pytest.raises(RuntimeError, match="eval.batch_size.*grpo.max_completion_length.*vllm_memory_fraction"):
        with devices.explain_oom():
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    assert devices.oom_advice("some other error") == ""


@pytest.mark.skipif(not torch.cuda.is_available() or sampling.vllm_python() is None,
                    reason="vLLM runs only where a CUDA GPU is visible and .venv-vllm/ has vllm (GPU machines)")
def test_vllm_and_transformers_agree_within_sampling_noise():
    import numpy as np

    from raml_utils import experiment
    from raml_utils.base_model import base_model_path
    from raml_utils.evaluation import evaluate
    from raml_utils.models import load_model

    P = load_profile("gpu")
    P = dataclasses.replace(P, eval=dataclasses.replace(P.eval, n_questions=32, n_samples=16))
    base_dir = base_model_path(P)
    model, tokenizer = load_model(base_dir, "cuda", torch.bfloat16)
    problems = experiment.test_set(P, "in_domain")
    # The base never writes the strict format (README): compare the right answers in any format, which it does find.
    ours = evaluate(model, tokenizer, problems, P.eval).sample_answer_correct.mean()
    vllm = evaluate(model, tokenizer, problems, P.eval,
                    sampler=sampling.VLLMSampler(base_dir, P.world.vllm_memory_fraction)).sample_answer_correct.mean()
    n = len(problems) * P.eval.n_samples
    assert ours + vllm > 0  # something to compare
    assert abs(ours - vllm) <= 4 * np.sqrt(max(ours * (1 - ours), 0.01) * 2 / n)


def test_per_device_batch_divides_the_step_between_processes(monkeypatch):
    from raml_utils import sft

    monkeypatch.setenv("WORLD_SIZE", "2")
    assert sft.per_device_batch(32, 4) == 4
    with pytest.raises(ValueError, match="make the batch size a multiple of 8"):
        sft.per_device_batch(12, 4)
    monkeypatch.delenv("WORLD_SIZE")
    assert sft.per_device_batch(32, 4) == 8


def test_a_toy_sft_job_trains_through_accelerate_launch_on_two_cpu_processes(tmp_path):
    """The several-GPU path (``dispatch.launch_job``) on two CPU processes (gloo): the job trains, is cached under
    its own key, and loads like any other model."""
    from raml_utils.dispatch import launch_job
    from raml_utils.models import load_model
    from raml_utils.training import SFTData, TrainJob

    data = SFTData("short", 16, ("chain",), (2,), 0.0, 0.2)
    job = TrainJob(data, TrainParams(steps=2, batch_size=8, micro_batches=1), ModelParams(32, 1, 2, 64), seed=0)
    store = Store(tmp_path)
    env_before = dict(os.environ)
    launch_job(job, str(tmp_path), processes=2, cpu=True)
    assert dict(os.environ) == env_before
    assert store.has("model", job)
    model, _ = load_model(store.path("model", job))
    assert sum(p.numel() for p in model.parameters()) > 0
