"""Notebook 03 (claim C6): the support-set experiment's arms, training sets and test set.

SFT arms see ``size`` distinct valid trajectories per question (every arm the same number of sequences); GRPO arms
take ``support_n`` rollouts of each group into the policy loss (``grpo.support_indices``), the advantages always
normalised over the whole group.
"""

from __future__ import annotations

import dataclasses

from . import experiment
from .grpo import GRPOJob
from .params import Profile
from .training import SupportSetData, TrainJob
from .worlds import world_for


def arms(profile: Profile) -> dict[str, tuple[str, int]]:
    """Returns the arms of the support-set experiment: name -> (method, support-set size)."""
    sizes = profile.support_set
    return {**{f"sft_{s}": ("SFT", s) for s in sizes.sft_sizes}, **{f"grpo_{n}": ("GRPO", n) for n in sizes.grpo_sizes}}


def families(profile: Profile) -> tuple[str, ...]:
    """Returns the fine-tuning families whose questions have several valid trajectories: every toy family; in the
    LLM world, all but gsm_symbolic (its worked solutions come in one order)."""
    return tuple(f for f in profile.world.train_families if f != "gsm_symbolic")


def sft_arm_job(profile: Profile, size: int, seed: int) -> TrainJob:
    """Returns the SFT arm with ``size`` distinct trajectories per question, filled to max(sft_sizes) per question."""
    spec = profile.support_set
    job = experiment.sft_job(profile, spec.style, seed, levels=spec.levels, n_questions=spec.n_questions,
                             orders_per_question=size, families=families(profile))
    fields = {f.name: getattr(job.data, f.name) for f in dataclasses.fields(job.data)}
    return dataclasses.replace(job, data=SupportSetData(**fields, sequences_per_question=max(spec.sft_sizes)),
                               train=dataclasses.replace(job.train, steps=spec.sft_steps))


def training_example(profile: Profile, tokenizer, seed: int) -> dict[str, list[str]]:
    """Returns, per SFT arm (``sft_1``, ...), the trajectories its training set writes for the experiment's first
    question, in training order: every arm the same number of sequences, each its own number of distinct ones."""
    out = {}
    for size in profile.support_set.sft_sizes:
        data = sft_arm_job(profile, size, seed).data
        prompt = world_for(data.families, tokenizer).prompt(data.problems()[0])
        out[f"sft_{size}"] = [e.trajectory for e in data.examples(tokenizer) if e.prompt == prompt]
    return out


def grpo_arm_job(profile: Profile, support_n: int, seed: int, init: "TrainJob | GRPOJob | None" = None) -> GRPOJob:
    """Returns the GRPO arm whose loss takes ``support_n`` rollouts per group, on questions of the fine-tuning families
    at ``support_set.grpo_levels`` (default: the training levels)."""
    spec = profile.support_set
    return experiment.grpo_job(profile, support_n, seed, init=init, n_questions=spec.n_questions,
                               levels=spec.grpo_levels or profile.world.train_levels, families=families(profile))


def eval_profile(profile: Profile) -> Profile:
    """Returns the profile whose ``in_domain`` test set is the experiment's: the profile's difficulty ladder (without
    one, the SFT arms' levels, as the first study had) over the families with several valid trajectories (toy: every
    fine-tuning family; LLM: all but gsm_symbolic)."""
    world = profile.world
    if not profile.ladder.levels:
        world = dataclasses.replace(world, train_levels=profile.support_set.levels)
    if world.kind == "llm":
        world = dataclasses.replace(world, families=families(profile) + world.held_out_families)
    return dataclasses.replace(profile, world=world)
