"""The knobs of the two notebooks that probe L-hat, the answer loss after each prefix of a trajectory.

Notebook 01 (``PseudoGradientParams``: the inner-loop probe, the landscape, the theory check) and notebook 04
(``ReflectionParams``: reflection tokens and the end-of-thinking delimiter). Each probed question costs one forward
pass per trajectory prefix, so question counts set both their precision and their run time.
"""

from __future__ import annotations

from dataclasses import dataclass

from .checks import require


@dataclass(frozen=True)
class PseudoGradientParams:
    """Notebook 01 (claims C1, C2, Proposition 2.1): the inner-loop probe, the landscape, the theory check."""

    # The inner-loop probe (C1)
    n_questions: int = 48
    """unseen in-domain questions probed per seed: more = tighter CIs, longer run"""
    n_samples: int = 4
    """the model's own trajectories sampled per question at temperature 1 (correct/incorrect arms): more = more
    trajectories per arm, more probing"""
    corrupt_max_delta: int = 99
    """a corrupted trajectory misreads one operand (not the last) by 1..this, carried forward: larger = grosser
    errors"""
    fall_threshold: float = 0.1
    """nats: a curve "falls" when L-hat(start) - L-hat(end) exceeds this; larger counts only clear falls"""
    curve_points: int = 21
    """normalised positions at which curves are averaged and drawn: more = finer curves"""

    # The random-direction landscape (C2)
    plane_grid: int = 11
    """points per axis of the random-direction plane over [-1, 1]^2 (the paper: 10): cost ~ its square"""
    plane_questions: int = 32
    """questions whose answer loss (no trajectory) defines the landscape: more = a smoother surface, slower points"""
    normalisation: str = "filter"
    """how random directions are scaled: "filter" (each output row to its weights' norm, Li et al. 2018: surfaces
    comparable across layers) or "tensor" (each weight tensor as a whole)"""
    direction_seed: int = 0
    """random directions are regenerated from this seed, never stored"""

    # The displacement path (C2)
    path_questions: int = 4
    """questions per seed whose displacement path Delta-theta_i is fitted: each costs fit_steps per prefix"""
    fit_steps: int = 60
    """Adam steps per prefix when fitting a displacement (warm-started from the previous one): more = a closer fit,
    proportionally longer"""
    fit_lr: float = 3e-3
    """Adam learning rate of the displacement fit: larger fits faster, less stably"""
    fit_norm_penalty: float = 1e-3
    """weight of ||Delta-theta||^2 against the KL of the answer distributions: larger = smaller displacements that
    match the answer distribution less closely"""
    path_plane_grid: int = 13
    """points per axis of the answer-loss surface drawn on the path's top-2 PC plane: cost ~ its square"""

    # The theory check (Proposition 2.1)
    theory_instances: int = 200
    """random (and trained) attention+FFN blocks per setting: more = tighter estimates, proportionally longer"""
    theory_dim: int = 16
    """width d of those blocks: the proposition's construction is exact for contexts n <= d"""
    theory_contexts: tuple[int, ...] = (4, 8, 16, 32, 64)
    """context lengths n: exact iff n <= d is the finding to test"""
    theory_train_steps: int = 400
    """Adam steps that train the "trained" blocks on a hint-token task: more = better trained, longer"""

    # The probe on a pretrained model (SmolLM2)
    llm_probe: bool = True
    """run the probe on SmolLM2-135M-Instruct (CPU, float32): ~15 s to load, then the problems below"""
    llm_problems: int = 6
    """gsm_symbolic problems probed (correct and corrupted solution each)"""
    llm_seed: int = 0
    """which gsm_symbolic problems"""
    llm_corrupt_max_delta: int = 9
    """the first computed result of a corrupted solution is off by 1..this"""

    def validate(self, key: str) -> None:
        for name in ("n_questions", "n_samples", "corrupt_max_delta", "plane_questions", "path_questions",
                     "fit_steps", "theory_instances", "theory_train_steps", "llm_problems", "llm_corrupt_max_delta"):
            require(getattr(self, name) > 0, f"{key}.{name}", getattr(self, name), "a positive integer")
        require(self.corrupt_max_delta < 100, f"{key}.corrupt_max_delta", self.corrupt_max_delta,
                "an integer in 1..99 (operands are two-digit)")
        require(self.fall_threshold >= 0, f"{key}.fall_threshold", self.fall_threshold, "a non-negative value")
        for name in ("curve_points", "plane_grid", "path_plane_grid"):
            require(getattr(self, name) >= 3, f"{key}.{name}", getattr(self, name), "an integer >= 3")
        require(self.normalisation in ("filter", "tensor"), f"{key}.normalisation", self.normalisation,
                "'filter' or 'tensor'")
        require(0 < self.fit_lr < 1, f"{key}.fit_lr", self.fit_lr, "a value in (0, 1)")
        require(self.fit_norm_penalty >= 0, f"{key}.fit_norm_penalty", self.fit_norm_penalty, "a non-negative value")
        require(self.theory_dim >= 2, f"{key}.theory_dim", self.theory_dim, "an integer >= 2")
        require(len(self.theory_contexts) >= 1 and all(n >= 1 for n in self.theory_contexts), f"{key}.theory_contexts",
                self.theory_contexts, "one or more positive integers")


@dataclass(frozen=True)
class ReflectionParams:
    """Notebook 04 (claims C7, C8): reflection tokens and the end-of-thinking delimiter.

    The SFT arms (long, reflection, long without delimiter) use ``sft`` and ``seeds`` as every arm does; the
    long arm is notebook 02's model. These knobs set what is probed and how the relative change is read.
    """

    # The reflection arm's training data
    reflection_rate: float = 1.0
    """share of the reflection arm's training trajectories with a wrong step, <wait> and the corrected step (the
    rest are plain long trajectories): lower = fewer reflections to learn from"""

    # Reflection tokens (C7)
    n_questions: int = 48
    """unseen questions per seed whose reflection trajectory is probed token by token: more = tighter CIs, longer
    run"""
    min_lhat: float = 1e-4
    """nats: |L_i - L_{i-1}| / L_{i-1} is left undefined (and counted) where L_{i-1} is below this: float32 rounding
    (~1e-7 nats) would dominate the ratio; larger drops more tokens"""

    # The end-of-thinking delimiter (C8)
    c8_questions: int = 48
    """unseen questions per model whose own sampled trajectories are probed: more = tighter CIs, longer run"""
    c8_samples: int = 4
    """trajectories sampled per question at eval.temperature: more = more trajectories per question, more probing"""

    # Reading the curves
    fall_threshold: float = 0.1
    """nats: a curve has a half-drop point only if it falls by more than this; larger counts only clear falls"""
    curve_points: int = 21
    """normalised positions at which curves are averaged and drawn: more = finer curves"""

    # Reflection words in a pretrained model (SmolLM2)
    llm_probe: bool = True
    """probe SmolLM2-135M-Instruct on worked solutions with a reflection sentence (CPU, float32: ~15 s to load, then
    ~4-8 s per solution of ~120 tokens on 2 threads)"""
    llm_problems: int = 8
    """gsm_symbolic problems, each probed once, with the next word of llm_words in turn: more = more solutions per
    word, ~4-8 s each"""
    llm_seed: int = 0
    """which gsm_symbolic problems"""
    llm_words: tuple[str, ...] = ("Wait", "Alternatively", "However", "Hold on")
    """reflection words (the paper's three, and "However")"""
    llm_sentence: str = "{word}, let me check this step again."
    """inserted on its own line after the first line"""

    def validate(self, key: str) -> None:
        require(0 < self.reflection_rate <= 1, f"{key}.reflection_rate", self.reflection_rate, "a fraction in (0, 1]")
        for name in ("n_questions", "c8_questions", "c8_samples", "llm_problems"):
            require(getattr(self, name) > 0, f"{key}.{name}", getattr(self, name), "a positive integer")
        require(self.min_lhat > 0, f"{key}.min_lhat", self.min_lhat, "a positive value (nats)")
        require(self.fall_threshold >= 0, f"{key}.fall_threshold", self.fall_threshold, "a non-negative value")
        require(self.curve_points >= 3, f"{key}.curve_points", self.curve_points, "an integer >= 3")
        require(len(self.llm_words) >= 1 and all(w.strip() for w in self.llm_words), f"{key}.llm_words",
                self.llm_words, "one or more non-empty words")
        require(self.llm_sentence.startswith("{word}") and self.llm_sentence.count("{word}") == 1,
                f"{key}.llm_sentence", self.llm_sentence, "a sentence that starts with {word} and names it once")
