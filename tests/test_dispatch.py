"""The one dispatcher: parents a generation before their children, only what the cache lacks, keys kept in order."""

import dataclasses

import pytest

from raml_utils import dispatch, experiment, sft_then_rl
from raml_utils.base_model import base_job
from raml_utils.cache import Store
from raml_utils.params import load_profile
from raml_utils.training import TrainJob


def test_generations_put_every_missing_parent_before_its_children(tmp_path):
    P = load_profile("smoke")
    jobs = sft_then_rl.all_jobs(P)  # SFT arms, zero-RL (from the base), SFT -> RL (from the SFT arm)
    store = Store(tmp_path)
    generations = dispatch.missing_generations(store, list(jobs.values()))
    where = {job: g for g, generation in enumerate(generations) for job in generation}
    assert where[base_job(P).init] == 0  # the base's fact stage first, then the base, ...
    for job in where:
        if getattr(job, "init", None) is not None:
            assert where[job] == where[job.init] + 1
    assert set(jobs.values()) <= set(where)


def test_build_makes_only_what_is_missing_and_returns_directories_in_key_order(tmp_path, monkeypatch):
    P = load_profile("smoke")
    jobs = sft_then_rl.all_jobs(P)
    made = []

    def fake_maker(job, start, tmp):
        assert start is None or start.is_dir()  # a parent is always made first
        made.append(job)
        (tmp / "history.json").write_text("[]")

    monkeypatch.setattr(dispatch, "MAKERS", {kind: fake_maker for kind in dispatch.MAKERS})
    P = dataclasses.replace(P, cache_dir=str(tmp_path), workers=1)
    dirs = dispatch.build(P, jobs, desc="fake")
    assert list(dirs) == list(jobs) and all(d.is_dir() for d in dirs.values())
    assert len(made) == len(set(made))  # each job once, parents included
    before = len(made)
    assert dispatch.build(P, jobs) == dirs and len(made) == before  # warm: nothing made


def test_a_job_dispatch_does_not_know_is_rejected_by_name(tmp_path):
    with pytest.raises(TypeError, match="str is not a job dispatch can build"):
        dispatch.make_model("not a job", Store(tmp_path))


def test_a_parent_that_is_not_built_is_an_error_not_a_silent_retrain(tmp_path):
    P = load_profile("smoke")
    job = experiment.sft_job(P, "long", 1)
    assert isinstance(job, TrainJob) and job.init is not None
    with pytest.raises(RuntimeError, match="parent .* is not built"):
        dispatch.make_model(job, Store(tmp_path))
