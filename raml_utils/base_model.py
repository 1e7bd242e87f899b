"""The shared base model: pre-trained once per profile, then the starting point of every experiment.

In the LLM world the base is the pretrained model itself (``PretrainedBase``: SmolLM2-135M-Instruct or a local
model directory), converted once into the cache. In the toy world, like a pretrained LLM, it knows the primitive facts (single operations) and has seen every family
answered directly; it has seen trajectories for the easy questions and, rarely, for harder ones, so
that when sampled it writes a correct trajectory for a small but real share of mid-difficulty
questions (measured in notebook 00): on-policy RL from it starts from signal, not guessing.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .cache import Store
from .dispatch import build_one
from .params import Profile
from .training import BaseData, FactData, PretrainedBase, TrainJob, load_history


def base_job(profile: Profile) -> TrainJob | PretrainedBase:
    """Returns the job of the profile's base model (its cache key): the pretrained model in the LLM world; in the
    toy world, pre-training on facts first, then the mixture."""
    if profile.world.kind == "llm":
        return PretrainedBase(profile.world.model)
    base = profile.base
    facts = TrainJob(FactData(profile.world, base.n_questions, base.fact_style, base.seed), base.facts_train, profile.model, base.seed,
                     threads=profile.threads)
    return TrainJob(BaseData(profile.world, base), base.train, profile.model, base.seed, init=facts,
                    threads=profile.threads)


def base_model_path(profile: Profile) -> Path:
    """Returns the cache directory of the base model, pre-training it first if it is missing."""
    return build_one(profile, base_job(profile), desc="base model")


def base_history(profile: Profile):
    """Returns the pre-training loss of both stages of the base model (``stage``, ``step``, ``loss``), or None for
    a pretrained base (the LLM world)."""
    job, store = base_job(profile), Store(profile.cache_dir)
    if isinstance(job, PretrainedBase):
        return None  # pretrained elsewhere: no curve of ours
    facts = pd.DataFrame(load_history(store.path("model", job.init))).assign(arm="stage 1: facts")
    mixture = pd.DataFrame(load_history(store.path("model", job))).assign(arm="stage 2: mixture")
    mixture["step"] += job.init.train.steps  # one step axis across both stages
    return pd.concat([facts, mixture]).assign(seed=profile.base.seed)
