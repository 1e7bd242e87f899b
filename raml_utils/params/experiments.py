"""The knobs of one experiment each: its arms, its question sets and what it reads.

One dataclass per notebook (or per check), named for what the experiment varies: the trajectory length (02), the
support set (03), SFT then RL (05), generalisation (06), efficiency (07) and the GRPO learning check. The probes of
notebooks 01 and 04 are in ``probes.py``; training and evaluation knobs shared by every arm are in ``training.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from ..worlds.toy import STYLES
from .checks import require


@dataclass(frozen=True)
class TrajectoryLengthParams:
    """Notebook 02 (claim C3): SFT arms that differ only in the trajectory style of the same questions."""

    styles: tuple[str, ...] = ("answer_only", "coarse", "short", "padded", "long")
    """the arms, from no trajectory to the finest steps (coarse: one result per two operations; padded = short +
    neutral filler to the long one's length); each arm costs one SFT run and one evaluation per seed"""

    def validate(self, key: str) -> None:
        for s in self.styles:
            require(s in STYLES, f"{key}.styles", s, f"trajectory styles {STYLES}")
        require(len(self.styles) >= 2, f"{key}.styles", self.styles, "at least two arms")


@dataclass(frozen=True)
class SupportSetParams:
    """Notebook 03 (claim C6): arms that differ only in how many trajectories per question inform training."""

    CACHE_NAMES: ClassVar[dict] = {"levels": "steps", "grpo_levels": "grpo_steps"}

    # The arms
    sft_sizes: tuple[int, ...] = (1, 2, 4, 8)
    """distinct trajectories per question in the SFT arms; each arm repeats its own trajectories up to
    max(sft_sizes) sequences per question, so every arm sees each question equally often"""
    grpo_sizes: tuple[int, ...] = (1, 2, 4, 8)
    """n: rollouts of each GRPO group that enter the policy loss (advantages always use the whole group of
    grpo.group_size); each size is one GRPO run per seed"""

    # The questions
    levels: tuple[int, ...] = (4,)
    """difficulties of the SFT arms' questions: k operations have k! distinct orders, which must cover
    max(sft_sizes)"""
    grpo_levels: tuple[int, ...] = ()
    """difficulties of the GRPO arms' questions (a group's n rollouts need no distinct orders); () = the world's
    training levels"""
    n_questions: int = 200
    """training questions shared by every arm (fine-tuning families, difficulties `levels`)"""

    # The SFT arms' training
    style: str = "long"
    """trajectory style of the SFT arms"""
    sft_steps: int = 50
    """optimizer steps of every SFT arm here (batch size and the rest from `sft`); an arm has n_questions x
    max(sft_sizes) sequences, so steps x batch / that = passes over it (one at the defaults): more passes fit each
    arm's trajectories better, at proportional cost"""

    def validate(self, key: str) -> None:
        for name in ("sft_sizes", "grpo_sizes"):
            sizes = getattr(self, name)
            require(len(sizes) >= 2 and len(set(sizes)) == len(sizes) and all(s >= 1 for s in sizes),
                    f"{key}.{name}", sizes, "two or more distinct positive integers")
        for k in self.levels:
            require(1 <= k <= 9 and math.factorial(k) >= max(self.sft_sizes), f"{key}.levels", k,
                    f"operation counts k in 1..9 with k! >= max(sft_sizes)={max(self.sft_sizes)} distinct orders")
        require(self.n_questions > 0, f"{key}.n_questions", self.n_questions, "a positive integer")
        require(self.sft_steps > 0, f"{key}.sft_steps", self.sft_steps, "a positive integer")
        require(self.style in STYLES and self.style != "answer_only", f"{key}.style", self.style,
                f"a trajectory style other than answer_only: {STYLES[1:]}")


@dataclass(frozen=True)
class EfficiencyParams:
    """Notebook 07 (claim C10): how many trajectory tokens the long-trajectory model may write before its answer
    is forced (budget forcing). Its other arms (compressed and answer-only SFT) use ``sft`` and ``eval`` as is."""

    budgets: tuple[int, ...] = (8, 16, 32, 64)
    """token budgets; the long model's own trajectories are ~40-85 tokens (k = 2-4), so the largest budget cuts only
    the longest ones. One generation at the largest budget serves all; each budget adds one forced answer"""
    compressed_style: str = "compressed"
    """the compressed arm's trajectory style (and what ``long_reads_compressed`` reads): "compressed", the running
    results only (the digit-wise and LLM worlds); "compressed_ops", each step's operation and result (the carry world,
    params/claims.yaml's fourth amendment: with no favoured order, a step that names no operation is ill-posed)"""

    def validate(self, key: str) -> None:
        require(len(self.budgets) >= 1 and len(set(self.budgets)) == len(self.budgets)
                and all(b >= 1 for b in self.budgets), f"{key}.budgets", self.budgets, "one or more distinct positive integers")
        require(self.compressed_style in ("compressed", "compressed_ops"), f"{key}.compressed_style",
                self.compressed_style, "compressed or compressed_ops (the carry world)")


@dataclass(frozen=True)
class SFTThenRLParams:
    """Notebook 05 (claims C4, C5): SFT, zero-RL and SFT -> GRPO from the base. The SFT arm uses ``sft``, the RL arms
    ``grpo`` (plain GRPO: the loss on the whole group), as every notebook does; all arms share ``sft_questions``."""

    sft_style: str = "long"
    """oracle trajectories of the SFT arm (and the start of SFT -> RL); "long" makes it notebook 02's long arm,
    shared through the cache"""
    seeds: tuple[int, ...] = ()
    """seeds of the three arms (the paired contrasts need the same ones); () = the profile's seeds. Stability across
    seeds is what C4 measures: more seeds read it better, each costs an SFT run, two GRPO runs and three
    evaluations"""
    learning_rate: float | None = None
    """GRPO learning rate of the SFT -> RL arm and of the retention check that gates it; None = ``grpo``'s (every
    other GRPO setting is ``grpo``'s). Chosen by benchmarks/sft_then_rl_lr_pilot.py on the retention check's training
    signal (params/claims.yaml, ``sft_then_rl_learning_rate``): a model that already solves most of its questions
    may need smaller steps than GRPO from the base"""

    def validate(self, key: str) -> None:
        require(self.sft_style in STYLES and self.sft_style != "answer_only", f"{key}.sft_style", self.sft_style,
                f"a trajectory style other than answer_only: {STYLES[1:]}")
        require(len(set(self.seeds)) == len(self.seeds), f"{key}.seeds", self.seeds, "distinct integers, or [] for "
                "the profile's seeds")
        require(self.learning_rate is None or 0 < self.learning_rate < 1, f"{key}.learning_rate", self.learning_rate,
                "a value in (0, 1), or null for grpo.learning_rate")


@dataclass(frozen=True)
class RLCheckParams:
    """The GRPO learning check (``raml_utils/rl_check.py``; thresholds pre-registered in params/claims.yaml,
    ``grpo_checks``): the question sets it screens for and the seeds it runs on, none of which any verdict uses."""

    # The check sets
    candidates: int = 512
    """training questions screened; those whose start-model sample accuracy lies in the band form the check sets:
    more candidates fill the sets more surely, at a longer screening"""
    questions: int = 32
    """questions per check set (set A: the learning-rate sweep; set B: the check): more = a less noisy check,
    longer runs"""
    samples: int = 16
    """samples per question when measuring sample accuracy: noise ~ 1/sqrt(questions x samples), cost ~ the
    product"""

    # Seeds, none of which a verdict uses
    selection_seed: int = 7001
    """sampling seed that screens the candidates"""
    measurement_seed: int = 7002
    """another sampling seed, for the accuracies the check reads (no selection bias)"""
    pilot_seed: int = 100
    """the sweep's GRPO seed (benchmarks/grpo_lr_sweep.py, on set A)"""
    check_seeds: tuple[int, ...] = (101, 102, 103)
    """the check's GRPO seeds (on set B): every one must pass; each costs one GRPO run"""

    # The lesson
    lesson_learning_rate: float = 5e-4
    """notebook 05 also runs the check at this rate, one that collapsed every RL run of the first study (README
    "The GRPO repair"): the Adam step-size lesson; 0 skips it (one GRPO run per check seed less)"""
    lesson_runs: int = 3
    """how many of the check seeds (the first ones; all where there are fewer) the lesson runs on; it decides nothing,
    and every run of the first study collapsed alike, so one shows it: each costs one GRPO run"""

    def validate(self, key: str) -> None:
        for name in ("candidates", "questions", "samples"):
            require(getattr(self, name) > 0, f"{key}.{name}", getattr(self, name), "a positive integer")
        require(len(self.check_seeds) >= 1 and len(set(self.check_seeds)) == len(self.check_seeds),
                f"{key}.check_seeds", self.check_seeds, "one or more distinct integers")
        require(self.pilot_seed not in self.check_seeds, f"{key}.pilot_seed", self.pilot_seed,
                f"a seed other than the check seeds {self.check_seeds}")
        require(self.selection_seed != self.measurement_seed, f"{key}.measurement_seed", self.measurement_seed,
                "a sampling seed other than selection_seed")
        require(0 <= self.lesson_learning_rate < 1, f"{key}.lesson_learning_rate", self.lesson_learning_rate,
                "a value in [0, 1)")
        require(self.lesson_runs >= 1, f"{key}.lesson_runs", self.lesson_runs, "a positive integer")


@dataclass(frozen=True)
class GeneralisationParams:
    """Notebook 06 (claim C9): the base and every trained model on unseen, harder and held-out-family questions.

    The in-domain split reuses the shared evaluation (``eval``; notebooks 02 and 05 cache its samples); the other
    splits take n and k from ``eval`` and these two knobs (evaluation is almost all of the notebook's cost)."""

    n_questions: int = 32
    """questions of the longer and unseen-operand splits (balanced over families and k): more = tighter CIs, longer
    evaluations"""
    held_out_questions: int = 60
    """questions of the held-out family, over the ladder's levels (C9 reads its rungs): more = tighter CIs, longer
    evaluations"""
    max_new_tokens: int = 240
    """generation budget on those splits: it must hold the longest correct completion there, 219 tokens in the carry
    world (k=6 with a reflection; checked against world.hard_levels); eval's 320 would mostly pay for models that
    never stop"""

    def validate(self, key: str) -> None:
        for name in ("n_questions", "held_out_questions", "max_new_tokens"):
            require(getattr(self, name) > 0, f"{key}.{name}", getattr(self, name), "a positive integer")
