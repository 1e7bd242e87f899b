"""How every model of a profile is built, trained and evaluated: the knobs shared by all experiments.

``ModelParams`` sizes the toy transformers, ``BaseParams`` pre-trains the shared base, ``TrainParams`` is one SFT run
and ``GRPOParams`` one GRPO run (the same for every arm and seed), ``EvalParams`` the shared evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..worlds.toy import STYLES
from .checks import require


@dataclass(frozen=True)
class ModelParams:
    """Size of the toy transformers (Llama-style); ~1M parameters at d=128, 4 layers."""

    hidden_size: int = 128
    """width d: more capacity per layer; parameters and compute grow ~ d^2"""
    num_layers: int = 4
    """depth: more sequential computation per token; parameters and compute grow linearly"""
    num_heads: int = 4
    """attention heads (must divide hidden_size): more heads attend to more places at once, each narrower"""
    intermediate_size: int = 512
    """feed-forward width: more capacity per layer; its parameters and compute grow linearly"""
    max_positions: int = 512
    """longest prompt + trajectory + answer the model can read (rotary positions: no parameters)"""

    def validate(self, key: str) -> None:
        for name in ("hidden_size", "num_layers", "num_heads", "intermediate_size", "max_positions"):
            require(getattr(self, name) > 0, f"{key}.{name}", getattr(self, name), "a positive integer")
        require(self.hidden_size % self.num_heads == 0, f"{key}.num_heads", self.num_heads,
                f"a divisor of hidden_size={self.hidden_size}")


@dataclass(frozen=True)
class TrainParams:
    """One SFT run (TRL SFTTrainer, completion-only loss): the same for every arm of an experiment."""

    # How long, and how much per step
    steps: int = 300
    """optimizer steps; every arm gets the same number: more fits the data better, at proportional cost"""
    batch_size: int = 32
    """sequences per step: larger = less noisy gradients, proportionally more compute per step"""

    # The optimizer
    learning_rate: float = 1e-3
    """AdamW peak learning rate (cosine decay, linear warm-up): larger learns faster, less stably"""
    warmup_ratio: float = 0.05
    """share of steps spent warming up: longer is gentler on the first updates, leaves fewer steps near the peak"""
    weight_decay: float = 0.01
    """AdamW decoupled weight decay: larger pulls the weights towards zero (regularises), too large underfits"""

    # How a step is computed (the same update whatever the setting)
    micro_batches: int = 4
    """each step's random batch is sorted by length and cut into this many micro-batches whose gradients are summed
    (transformers' "batch_rebalance" sampler): the same update as one padded batch (loss normalised by the whole
    batch's tokens), without the padding (68% of the base mixture); more = less padding and less memory, smaller
    matrix products"""

    # What the sequences teach
    truncation_rate: float = 0.25
    """share of training trajectories cut at a random token and answered there: keeps the answer probe calibrated
    mid-trajectory (design brief section 7), at the cost of fewer complete trajectories; the same for every arm
    (params/claims.yaml, fixed)"""

    def validate(self, key: str) -> None:
        require(self.steps > 0, f"{key}.steps", self.steps, "a positive integer")
        require(self.batch_size > 0, f"{key}.batch_size", self.batch_size, "a positive integer")
        require(self.micro_batches > 0 and self.batch_size % self.micro_batches == 0, f"{key}.micro_batches",
                self.micro_batches, f"a positive divisor of batch_size={self.batch_size}")
        require(0 < self.learning_rate < 1, f"{key}.learning_rate", self.learning_rate, "a value in (0, 1)")
        require(0 <= self.warmup_ratio < 1, f"{key}.warmup_ratio", self.warmup_ratio, "a value in [0, 1)")
        require(self.weight_decay >= 0, f"{key}.weight_decay", self.weight_decay, "a non-negative value")
        require(0 <= self.truncation_rate < 1, f"{key}.truncation_rate", self.truncation_rate, "a value in [0, 1)")


@dataclass(frozen=True)
class BaseParams:
    """Pre-training of the shared base model: facts, answer-only problems, trajectories for easy ones."""

    # The two stages
    facts_train: TrainParams = TrainParams(steps=600, batch_size=64, learning_rate=2e-3)
    """stage 1: only the primitive facts and easy questions, worked digit by digit; a small transformer learns the
    digit sums after ~500 such steps, and not within 1500 steps of the full mixture: fewer leaves them unlearnt"""
    train: TrainParams = TrainParams(steps=500, batch_size=64, learning_rate=2e-3)
    """stage 2: the full mixture; more steps = a stronger base (less left for fine-tuning to teach), and every
    notebook waits for it"""

    # The mixture of stage 2
    n_questions: int = 4000
    """pre-training questions over all families and difficulties; the steps are fixed, so more = each question seen
    fewer times (less to memorise)"""
    trajectory_styles: tuple[str, ...] = ("short", "long")
    """each trajectory the base model sees is written in one of these, drawn at random: the base is not biased
    towards the style of any later SFT arm"""
    mid_trajectory_rate: float = 0.5
    """share of harder (non-easy) questions shown with a trajectory: gives the base weak but real trajectory
    ability, so on-policy RL starts from signal (its pre-registered band, claims.yaml base_correct_trajectory_rate);
    higher = a stronger base, less left for fine-tuning to teach"""
    fact_share: float = 0.2
    """share of pre-training sequences that are primitive facts: single operations worked digit by digit (the
    single-digit sums every longer question is made of); more = surer facts, fewer multi-step sequences"""
    fact_style: str = "long"
    """how facts are written: "long" shows the digit sums (learnt in ~500 steps), "answer_only" hides them (not
    learnt within the cpu budget)"""
    seed: int = 0
    """seed of the base's data and initialisation: one base serves every arm and seed of every notebook"""

    def validate(self, key: str) -> None:
        self.facts_train.validate(f"{key}.facts_train")
        self.train.validate(f"{key}.train")
        require(self.n_questions > 0, f"{key}.n_questions", self.n_questions, "a positive integer")
        for s in self.trajectory_styles:
            require(s in STYLES, f"{key}.trajectory_styles", s, f"trajectory styles {STYLES}")
        require(0 <= self.mid_trajectory_rate <= 1, f"{key}.mid_trajectory_rate", self.mid_trajectory_rate,
                "a fraction in [0, 1]")
        require(0 <= self.fact_share < 1, f"{key}.fact_share", self.fact_share, "a fraction in [0, 1)")
        require(self.fact_style in STYLES, f"{key}.fact_style", self.fact_style, f"one of {STYLES}")


@dataclass(frozen=True)
class EvalParams:
    """Evaluation on unseen questions: greedy accuracy, and Pass@k / mG-Pass@k from n samples."""

    # How many questions
    n_questions: int = 96
    """test questions per evaluation (balanced over families and difficulties): more = tighter CIs, proportionally
    longer evaluations"""

    # Sampling
    n_samples: int = 16
    """samples per question at `temperature` (n in Pass@k): more = a less noisy estimate, proportionally more
    generation"""
    k: int = 8
    """k in Pass@k and mG-Pass@k: larger credits a model that is right in fewer of its samples; at most n_samples"""
    temperature: float = 1.0
    """sampling temperature: lower = samples closer to greedy, less diverse"""
    max_new_tokens: int = 320
    """generation budget; longer completions count as malformed: a smaller budget is cheaper but must hold the
    longest correct completion"""
    batch_size: int = 512
    """sequences generated at once: larger is faster until memory runs out"""

    # Which questions
    question_seed: int = 12345
    """which unseen questions every test set draws (the ladder pilot draws others)"""

    def validate(self, key: str) -> None:
        require(self.n_questions > 0, f"{key}.n_questions", self.n_questions, "a positive integer")
        require(self.n_samples > 0, f"{key}.n_samples", self.n_samples, "a positive integer")
        require(1 <= self.k <= self.n_samples, f"{key}.k", self.k, f"an integer in 1..n_samples={self.n_samples}")
        require(self.temperature > 0, f"{key}.temperature", self.temperature, "a positive value")
        require(self.max_new_tokens > 0, f"{key}.max_new_tokens", self.max_new_tokens, "a positive integer")
        require(self.batch_size > 0, f"{key}.batch_size", self.batch_size, "a positive integer")


@dataclass(frozen=True)
class GRPOParams:
    """One GRPO run (TRL GRPOTrainer, transformers generation): the same knobs for every arm and seed."""

    # How long, and how much per step
    steps: int = 30
    """optimizer steps; each samples a fresh group per prompt and makes one update (on-policy): more = more
    learning, at proportional cost"""
    prompts_per_step: int = 4
    """questions per step; the batch holds prompts_per_step x group_size rollouts: more = less noisy updates,
    proportionally more sampling"""
    group_size: int = 8
    """G: rollouts per question; advantages are normalised over the whole group: larger = more groups with a reward
    spread (signal) and less noisy advantages, proportionally more sampling (the paper: 16)"""

    # The optimizer and the policy loss
    learning_rate: float = 2e-4
    """AdamW learning rate (constant after warm-up): larger moves faster, less stably; chosen by
    benchmarks/grpo_lr_sweep.py on training reward only (README "The GRPO repair", "The carry world")"""
    warmup_ratio: float = 0.05
    """share of steps spent warming up: longer is gentler on the first updates"""
    beta: float = 0.0
    """KL penalty to the starting model: above 0 keeps the policy near it, at the cost of the reference model's
    forward pass; 0 (TRL's default) skips it"""
    epsilon: float = 0.2
    """PPO clip range of the importance ratio: smaller = more cautious updates where it acts (it is inactive at one
    update per generation)"""

    # The rollouts
    temperature: float = 1.0
    """sampling temperature of the rollouts: lower explores less"""
    max_completion_length: int = 200
    """tokens per rollout; an unfinished rollout has no answer (bad format): a smaller budget is cheaper but
    penalises long correct trajectories"""

    # Stability
    max_grad_norm: float = 1.0
    """gradient clipping: smaller bounds each update more tightly; the norm before clipping is logged every step"""

    def validate(self, key: str) -> None:
        for name in ("steps", "prompts_per_step", "max_completion_length"):
            require(getattr(self, name) > 0, f"{key}.{name}", getattr(self, name), "a positive integer")
        require(self.group_size >= 2, f"{key}.group_size", self.group_size, "an integer >= 2 (advantages need a group)")
        require(0 < self.learning_rate < 1, f"{key}.learning_rate", self.learning_rate, "a value in (0, 1)")
        require(0 <= self.warmup_ratio < 1, f"{key}.warmup_ratio", self.warmup_ratio, "a value in [0, 1)")
        require(self.beta >= 0, f"{key}.beta", self.beta, "a non-negative value")
        require(0 < self.epsilon < 1, f"{key}.epsilon", self.epsilon, "a value in (0, 1)")
        require(self.temperature > 0, f"{key}.temperature", self.temperature, "a positive value")
        require(self.max_grad_norm > 0, f"{key}.max_grad_norm", self.max_grad_norm, "a positive value")
