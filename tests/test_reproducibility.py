"""A cold retrain at a fixed thread count gives bit-identical models and evaluations, not only a cache hit."""

import dataclasses

import numpy as np

from raml_utils import dispatch, experiment
from raml_utils.params import load_profile


def test_cold_retrain_and_evaluation_are_identical(tmp_path):
    results = []
    for run in ("a", "b"):
        P = dataclasses.replace(load_profile("smoke"), cache_dir=str(tmp_path / run), workers=1)
        job = experiment.sft_job(P, "long", seed=1)
        (model_dir,) = dispatch.build_all(experiment.store_of(P), [job], workers=1)
        (result,) = experiment.evaluate_models(P, [model_dir], "in_domain")
        results.append((model_dir, result))
    (dir_a, a), (dir_b, b) = results
    assert dir_a.name == dir_b.name  # same job, same key
    assert (dir_a / "model.safetensors").read_bytes() == (dir_b / "model.safetensors").read_bytes()
    for field in ("greedy_correct", "sample_correct", "sample_trajectory_tokens", "sample_trajectory_correct"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.greedy_completions == b.greedy_completions


def test_parallel_workers_train_the_same_model_as_in_process(tmp_path):
    P = dataclasses.replace(load_profile("smoke"), cache_dir=str(tmp_path / "serial"))
    jobs = [experiment.sft_job(P, style, seed=1) for style in ("short", "answer_only")]
    serial = dispatch.build_all(experiment.store_of(P), jobs, workers=1)
    P2 = dataclasses.replace(P, cache_dir=str(tmp_path / "parallel"))
    parallel = dispatch.build_all(experiment.store_of(P2), jobs, workers=2)
    for s, p in zip(serial, parallel):
        assert (s / "model.safetensors").read_bytes() == (p / "model.safetensors").read_bytes()
