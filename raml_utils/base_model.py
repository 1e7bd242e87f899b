"""The shared base model: pre-trained once per profile, then the starting point of every experiment.

Like a pretrained LLM, it knows the primitive facts (single operations) and has seen every family
answered directly; it has seen trajectories for the easy questions and, rarely, for harder ones, so
that when sampled it writes a correct trajectory for a small but real share of mid-difficulty
questions (measured in notebook 00): on-policy RL from it starts from signal, not guessing.
"""

from __future__ import annotations

from pathlib import Path

from .cache import Store
from .params import Profile
from .training import BaseData, TrainJob, run_job


def base_job(profile: Profile) -> TrainJob:
    """Returns the training job of the profile's base model (its cache key)."""
    return TrainJob(BaseData(profile.world, profile.base), profile.base.train, profile.model, profile.base.seed)


def base_model_path(profile: Profile) -> Path:
    """Returns the cache directory of the base model, pre-training it first if it is missing."""
    return run_job(base_job(profile), Store(profile.cache_dir), profile.threads)
