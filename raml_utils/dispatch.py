"""The one way a model is built: any job (SFT, GRPO, the pretrained base), its missing parents first, cached.

    dirs = dispatch.build(profile, {("long", 1): job, ...}, desc="SFT arms x seeds")  # {key: model directory}

A job (``training.TrainJob``, ``grpo.GRPOJob``, ``training.PretrainedBase``) is a picklable description of a run;
its hash is its model's cache key, and ``job.init`` is the job whose model it starts from. ``build`` finds the
jobs and ancestors the store lacks and makes them generation by generation (a job only once its parent exists):
each generation on ``profile.workers`` spawned single-thread processes (``workers.pool``, the costliest job first),
or, with ``profile.gpus`` above 1, one job after another over that many GPUs with ``accelerate launch``, whose
every process runs this module:

    accelerate launch --config_file configs/accelerate_multi_gpu.yaml --num_processes N \
        -m raml_utils.dispatch JOB.pkl CACHE_DIR

TRL's trainers read the distributed environment that ``accelerate launch`` sets up, so a launched job runs the
code a single process runs; each process's batch is the job's batch divided by the number of processes
(``sft.per_device_batch``; GRPO: whole groups per process). It is not bit for bit the single-process update: each
process normalises its loss by its own tokens before the gradients are averaged. Every process trains; the store's
atomic rename keeps the first finished copy. Every job fixes its own thread count and seed, so a model is
bit-identical whichever process makes it.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import tempfile
from concurrent.futures import as_completed
from pathlib import Path

import torch
from tqdm import tqdm  # plain text bars: readable in the terminal, the notebook and its saved copy

from . import grpo, training
from .cache import Store
from .devices import oom_advice
from .params import Profile
from .workers import pool
from .worlds import toy

REPO_ROOT = Path(__file__).resolve().parent.parent
ACCELERATE_CONFIG = REPO_ROOT / "configs" / "accelerate_multi_gpu.yaml"

# What makes each kind of job's model in a temporary directory, from its parent's model directory (or None).
MAKERS = {training.TrainJob: training.make_sft_model, training.PretrainedBase: training.make_pretrained_model,
          grpo.GRPOJob: grpo.make_grpo_model}


def build(profile: Profile, jobs: dict, desc: str = "training") -> dict:
    """Returns ``{key: model directory}`` for ``jobs`` (``{key: job}``, any mix of kinds), making what the cache
    lacks."""
    return dict(zip(jobs, build_all(Store(profile.cache_dir), list(jobs.values()), profile.workers, profile.gpus,
                                    desc)))


def build_one(profile: Profile, job, desc: str = "model") -> Path:
    """Returns the model directory of one job (e.g. the base model), making it and its parents if missing."""
    return build(profile, {"job": job}, desc=desc)["job"]


def build_all(store: Store, jobs: list, workers: int = 1, gpus: int = 0, desc: str = "training") -> list[Path]:
    """Returns the model directories of ``jobs`` (in order), making the missing ones and their missing ancestors:
    each generation on ``workers`` processes, or over ``gpus`` GPUs (above 1) with ``accelerate launch``."""
    if gpus > 1 and torch.cuda.device_count() < gpus:
        raise RuntimeError(f"gpus={gpus} but {torch.cuda.device_count()} CUDA GPU(s) are visible: lower gpus")
    requested = list(dict.fromkeys(jobs))
    generations = missing_generations(store, requested)
    missing = [job for generation in generations for job in generation]
    total = len(requested) + len(set(missing) - set(requested))  # every model asked for, and missing ancestors
    with tqdm(total=total, initial=total - len(missing), desc=desc) as bar:  # cached ones count as done
        for generation in generations:
            bar.set_postfix_str("" if set(generation) & set(requested) else "starting points")
            if gpus > 1:
                for job in generation:
                    launch_job(job, str(store.root), gpus)
                    bar.update()
            else:
                ordered = sorted(generation, key=expected_cost, reverse=True)
                run_calls([(_make_in_worker, job, str(store.root)) for job in ordered], workers, bar)
    return [store.path("model", job) for job in jobs]


def missing_generations(store: Store, jobs: list) -> list[list]:
    """Returns the jobs (and ancestors) the store lacks, grouped so that each job comes a generation after its
    parent."""
    depth: dict = {}

    def visit(job) -> int:  # the generation of a missing job: one after its latest missing ancestor
        if job not in depth:
            parent = getattr(job, "init", None)
            above = visit(parent) if parent is not None and not store.has("model", parent) else -1
            depth[job] = above + 1
        return depth[job]

    for job in dict.fromkeys(jobs):
        if not store.has("model", job):
            visit(job)
    return [[j for j, d in depth.items() if d == g] for g in range(max(depth.values(), default=-1) + 1)]


def make_model(job, store: Store) -> Path:
    """Returns the model directory of ``job``, making it from its parent's model (which must exist) if missing."""
    parent = getattr(job, "init", None)
    if parent is not None and not store.has("model", parent):
        raise RuntimeError(f"the parent of this {type(job).__name__} is not built yet: build it first (dispatch.build)")
    if type(job) not in MAKERS:
        raise TypeError(f"{type(job).__name__} is not a job dispatch can build; allowed: "
                        f"{', '.join(kind.__name__ for kind in MAKERS)}")
    start = store.path("model", parent) if parent is not None else None
    return store.get_or_make("model", job, lambda tmp: MAKERS[type(job)](job, start, tmp))


def _make_in_worker(job, root: str) -> str:
    return str(make_model(job, Store(root)))


def in_pool(calls: list[tuple], workers: int, desc: str, done_already: int = 0, on_done=None) -> list:
    """Runs ``calls`` (``(function, *args)``, module-level functions) under a progress bar that counts
    ``done_already`` more (e.g. results already cached) and returns their results: see ``run_calls``."""
    with tqdm(total=len(calls) + done_already, desc=desc, initial=done_already) as bar:
        return run_calls(calls, workers, bar, on_done)


def run_calls(calls: list[tuple], workers: int, bar: tqdm, on_done=None) -> list:
    """Runs ``calls`` on ``workers`` spawned processes (the pool every sweep shares) when there are several, else in
    this process, in order; ``bar`` advances and ``on_done(index, result)`` (if given) is called as each one
    finishes, so a caller can keep what is done before the others end. Returns the results in the order of
    ``calls``."""
    results = [None] * len(calls)

    def finished(i: int, result) -> None:
        results[i] = result
        if on_done is not None:
            on_done(i, result)
        bar.update()

    if workers > 1 and len(calls) > 1:
        with pool(workers) as processes:
            futures = {processes.submit(*call): i for i, call in enumerate(calls)}
            for done in as_completed(futures):
                finished(futures[done], done.result())
    else:
        for i, (function, *args) in enumerate(calls):
            finished(i, function(*args))
    return results


def expected_cost(job) -> float:
    """Returns a job's rough cost (tokens it trains on or samples): only to start the longest jobs first, so that the
    pool's workers finish together (the order changes no result: every job is seeded and runs alone)."""
    if isinstance(job, training.TrainJob):
        per_sequence = 64.0  # a guess where the sequences need a tokenizer to be written (the LLM world)
        data = job.data
        if isinstance(data, training.SFTData) and data.families and all(f in toy.FAMILIES for f in data.families):
            sample = data.examples()[:200]
            per_sequence = sum(len(toy.trajectory_tokens(r.text)) for r in sample) / max(1, len(sample))
        return job.train.steps * job.train.batch_size * per_sequence
    if isinstance(job, grpo.GRPOJob):
        g = job.grpo
        return g.steps * g.prompts_per_step * g.group_size * g.max_completion_length
    return 0.0


def launch_job(job, cache_dir: str, processes: int, cpu: bool = False) -> None:
    """Makes ``job``'s model with ``processes`` accelerate processes (its parent must be built: ``build_all`` does).

    ``cpu=True`` launches CPU processes (gloo), which is how the test suite checks this path without a GPU.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "job.pkl"
        path.write_bytes(pickle.dumps(job))
        command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(processes)]
        command += ["--cpu"] if cpu else ["--config_file", str(ACCELERATE_CONFIG)]
        command += ["-m", "raml_utils.dispatch", str(path), str(cache_dir)]
        done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"accelerate launch of {type(job).__name__} failed (exit {done.returncode}):\n"
                           f"{done.stderr[-4000:]}\n{oom_advice(done.stderr)}")


if __name__ == "__main__":  # one process of ``launch_job``
    make_model(pickle.loads(Path(sys.argv[1]).read_bytes()), Store(sys.argv[2]))
