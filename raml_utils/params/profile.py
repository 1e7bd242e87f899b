"""The ``Profile``: everything a profile sets, and the rules that tie one part of it to another.

Each part validates itself (``validate`` on every dataclass field); the rules here need two parts at once (a
support-set size against the GRPO group, a budget against the evaluation's, every question count against what the
toy world holds), so a profile that could not run fails when it is loaded, before any compute.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..worlds import llm_tasks
from ..worlds.toy import STYLES, UNSEEN_OPERANDS, longest_completion_tokens, split_capacity
from .checks import require
from .experiments import (EfficiencyParams, GeneralisationParams, RLCheckParams, SFTThenRLParams, SupportSetParams,
                          TrajectoryLengthParams)
from .ladder import LadderParams
from .probes import PseudoGradientParams, ReflectionParams
from .training import BaseParams, EvalParams, GRPOParams, ModelParams, TrainParams
from .world import LLMWorldParams, WorldParams


@dataclass(frozen=True)
class Profile:
    """Everything a profile sets: scale, world, and each experiment's knobs."""

    # The profile, and how it uses the machine
    name: str = "cpu"
    """the profile's name (its yaml file's stem unless set): names its output folder, outputs/<name>/"""
    threads: int = 2
    """torch threads for work done in the notebook's own process (the base model, probes)"""
    workers: int = 2
    """parallel single-thread processes for independent runs (seeds x arms, evaluations): more finish a sweep sooner
    while cores (or GPU memory) last"""
    gpus: int = 1
    """GPUs per training run: above 1, every SFT and GRPO run is one `accelerate launch` over this many GPUs (data
    parallel, the same global batch), one run after another"""

    # What every experiment shares: the world, the models, the runs of every arm
    world: WorldParams | LLMWorldParams = WorldParams()
    """the toy world (``WorldParams``); `kind: llm` selects the LLM world (``LLMWorldParams``)"""
    model: ModelParams = ModelParams()
    """size of the toy transformers (the LLM world's model is world.model)"""
    base: BaseParams = BaseParams()
    """pre-training of the toy world's shared base model"""
    sft: TrainParams = TrainParams()
    """every SFT arm of every notebook"""
    sft_questions: int = 2000
    """training questions shared by every SFT arm (from the fine-tuning families); the steps are fixed, so more =
    each question seen fewer times (less to memorise)"""
    seeds: tuple[int, ...] = (1, 2, 3)
    """seeds of every multi-seed experiment (the same runs are shared): more = tighter CIs over seeds, each one
    more run of every arm"""
    eval: EvalParams = EvalParams()
    """the shared evaluation of every trained model"""

    # One experiment each
    trajectory_length: TrajectoryLengthParams = TrajectoryLengthParams()
    """notebook 02 (C3)"""
    grpo: GRPOParams = GRPOParams()
    """every GRPO run of every notebook"""
    support_set: SupportSetParams = SupportSetParams()
    """notebook 03 (C6)"""
    pseudo_gradient: PseudoGradientParams = PseudoGradientParams()
    """notebook 01 (C1, C2, Proposition 2.1)"""
    reflection: ReflectionParams = ReflectionParams()
    """notebook 04 (C7, C8)"""
    efficiency: EfficiencyParams = EfficiencyParams()
    """notebook 07 (C10)"""
    sft_then_rl: SFTThenRLParams = SFTThenRLParams()
    """notebook 05 (C4, C5)"""
    rl_check: RLCheckParams = RLCheckParams()
    """the GRPO learning check (notebook 05, benchmarks/grpo_lr_sweep.py)"""
    generalisation: GeneralisationParams = GeneralisationParams()
    """notebook 06 (C9)"""
    ladder: LadderParams = LadderParams()
    """the difficulty ladder every bounded contrast is read on"""

    # Where artifacts live
    cache_dir: str = "outputs/cache"
    """artifact store, shared by all notebooks and profiles (keys hold the full config, so profiles never clash)"""

    def validate(self, key: str = "") -> None:
        require(self.threads >= 1, "threads", self.threads, "a positive integer")
        require(self.workers >= 1, "workers", self.workers, "a positive integer")
        require(self.gpus >= 1, "gpus", self.gpus, "a positive integer")
        require(self.gpus == 1 or self.world.kind == "llm", "gpus", self.gpus,
                "1 in the toy world (its models train on the CPU)")
        require(self.sft_questions > 0, "sft_questions", self.sft_questions, "a positive integer")
        require(len(self.seeds) >= 1 and len(set(self.seeds)) == len(self.seeds), "seeds", self.seeds,
                "one or more distinct integers")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if hasattr(value, "validate"):
                value.validate(f.name)
        require(max(self.support_set.grpo_sizes) <= self.grpo.group_size, "support_set.grpo_sizes",
                self.support_set.grpo_sizes, f"sizes at most grpo.group_size={self.grpo.group_size}")
        require(max(self.efficiency.budgets) < self.eval.max_new_tokens, "efficiency.budgets", self.efficiency.budgets,
                f"budgets below eval.max_new_tokens={self.eval.max_new_tokens} (the full trajectory's limit)")
        if self.ladder.levels:
            require(set(self.world.train_levels) <= set(self.ladder.levels), "ladder.levels", self.ladder.levels,
                    f"levels that include every training level world.train_levels={self.world.train_levels}")
        world_styles = STYLES if self.world.kind == "toy" else llm_tasks.STYLES
        for s in self.trajectory_length.styles:
            require(s in world_styles, "trajectory_length.styles", s, f"the {self.world.kind} world's styles {world_styles}")
        require(self.efficiency.compressed_style in world_styles, "efficiency.compressed_style",
                self.efficiency.compressed_style, f"one of the {self.world.kind} world's styles {world_styles}")
        if self.world.kind == "toy":
            self._validate_toy_budgets()
            self._validate_toy_counts()
        used = {*self.seeds, *self.sft_then_rl.seeds}
        for seed in (*self.rl_check.check_seeds, self.rl_check.pilot_seed):
            require(seed not in used, "rl_check.check_seeds", self.rl_check.check_seeds,
                    f"seeds no verdict uses (verdict seeds: {sorted(used)}; pilot_seed {self.rl_check.pilot_seed})")
        for name in ("n_questions", "c8_questions"):
            require(getattr(self.reflection, name) <= self.eval.n_questions, f"reflection.{name}",
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
            require(n <= largest, key, n, f"at most {largest}: the distinct {split} questions of families "
                    f"{tuple(families)} at k in {tuple(levels_)} (operands {band[0]:02d}..{band[1]:02d}), spread over "
                    f"{len(cells)} cells")

    def _validate_toy_budgets(self) -> None:
        longest = longest_completion_tokens(max(self.world.hard_levels), self.world.families)
        require(self.generalisation.max_new_tokens >= longest, "generalisation.max_new_tokens",
                self.generalisation.max_new_tokens, f"at least {longest} tokens: the longest correct completion at "
                f"world.hard_levels={self.world.hard_levels} (a shorter budget would mark correct answers malformed)")
