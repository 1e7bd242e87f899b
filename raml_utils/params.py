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

import yaml

from .worlds.toy import FAMILIES, STYLES

PARAMS_DIR = Path(__file__).resolve().parent.parent / "params"


class ParamError(ValueError):
    """A bad parameter: the message names the key, the value and what is allowed."""


def _check(ok: bool, key: str, value, allowed: str) -> None:
    if not ok:
        raise ParamError(f"{key}={value!r} is not allowed: {allowed}")


@dataclass(frozen=True)
class WorldParams:
    """The toy world: which questions exist and which are used for what."""

    families: tuple[str, ...] = FAMILIES  # every task family in the world
    held_out_family: str = "vars"  # never used in fine-tuning: the cross-domain test set
    train_steps: tuple[int, ...] = (2, 3, 4)  # difficulties (operations per question) used in training
    easy_steps: tuple[int, ...] = (1, 2)  # difficulties whose trajectories the base model sees in pre-training
    hard_steps: tuple[int, ...] = (5, 6)  # longer than any training question: length extrapolation
    test_fraction: float = 0.2  # share of the question space reserved for test (by hash of the question)

    def validate(self, key: str) -> None:
        for f in self.families:
            _check(f in FAMILIES, f"{key}.families", f, f"one of {FAMILIES}")
        _check(self.held_out_family in self.families, f"{key}.held_out_family", self.held_out_family,
               f"one of families {self.families}")
        _check(len(self.families) >= 2, f"{key}.families", self.families, "at least two families")
        for name in ("train_steps", "easy_steps", "hard_steps"):
            for k in getattr(self, name):
                _check(1 <= k <= 9, f"{key}.{name}", k, "operation counts between 1 and 9")
        _check(0 < self.test_fraction < 1, f"{key}.test_fraction", self.test_fraction, "a fraction in (0, 1)")

    @property
    def train_families(self) -> tuple[str, ...]:
        return tuple(f for f in self.families if f != self.held_out_family)


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
    truncation_rate: float = 0.25  # share of training trajectories cut at a random step and answered
    # there: keeps the answer probe calibrated mid-trajectory (design brief section 7); same for every arm

    def validate(self, key: str) -> None:
        _check(self.steps > 0, f"{key}.steps", self.steps, "a positive integer")
        _check(self.batch_size > 0, f"{key}.batch_size", self.batch_size, "a positive integer")
        _check(0 < self.learning_rate < 1, f"{key}.learning_rate", self.learning_rate, "a value in (0, 1)")
        _check(0 <= self.warmup_ratio < 1, f"{key}.warmup_ratio", self.warmup_ratio, "a value in [0, 1)")
        _check(self.weight_decay >= 0, f"{key}.weight_decay", self.weight_decay, "a non-negative value")
        _check(0 <= self.truncation_rate < 1, f"{key}.truncation_rate", self.truncation_rate, "a value in [0, 1)")


@dataclass(frozen=True)
class BaseParams:
    """Pre-training of the shared base model: facts, answer-only problems, trajectories for easy ones."""

    train: TrainParams = TrainParams(steps=1500, batch_size=64, learning_rate=2e-3)
    n_questions: int = 4000  # pre-training questions over all families and difficulties
    trajectory_styles: tuple[str, ...] = ("short", "long")  # each trajectory the base model sees is written in
    # one of these, drawn at random: the base is not biased towards the style of any later SFT arm
    mid_trajectory_rate: float = 0.1  # share of harder (non-easy) questions shown with a trajectory:
    # gives the base weak but real trajectory ability, so on-policy RL starts from signal
    fact_share: float = 0.3  # share of pre-training sequences that are primitive facts (single operations,
    # written with a trajectory: the digit-level sums every longer question is made of)
    seed: int = 0

    def validate(self, key: str) -> None:
        self.train.validate(f"{key}.train")
        _check(self.n_questions > 0, f"{key}.n_questions", self.n_questions, "a positive integer")
        for s in self.trajectory_styles:
            _check(s in STYLES, f"{key}.trajectory_styles", s, f"trajectory styles {STYLES}")
        _check(0 <= self.mid_trajectory_rate <= 1, f"{key}.mid_trajectory_rate", self.mid_trajectory_rate,
               "a fraction in [0, 1]")
        _check(0 <= self.fact_share < 1, f"{key}.fact_share", self.fact_share, "a fraction in [0, 1)")


@dataclass(frozen=True)
class EvalParams:
    """Evaluation on unseen questions: greedy accuracy, and Pass@k / mG-Pass@k from n samples."""

    n_questions: int = 96  # test questions per evaluation (balanced over families and difficulties)
    n_samples: int = 16  # samples per question at `temperature` (n in Pass@k)
    k: int = 8  # k in Pass@k and mG-Pass@k
    temperature: float = 1.0
    max_new_tokens: int = 320  # generation budget; longer completions count as malformed
    batch_size: int = 512  # sequences generated at once

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

    styles: tuple[str, ...] = ("answer_only", "short", "padded", "long")  # padded = short + filler to long length

    def validate(self, key: str) -> None:
        for s in self.styles:
            _check(s in STYLES, f"{key}.styles", s, f"trajectory styles {STYLES}")
        _check(len(self.styles) >= 2, f"{key}.styles", self.styles, "at least two arms")


@dataclass(frozen=True)
class Profile:
    """Everything a profile sets: scale, world, and each experiment's knobs."""

    name: str = "cpu"
    threads: int = 1  # torch threads per training process (one is steadier than two on 2 cores)
    workers: int = 2  # parallel training processes for independent runs (seeds x arms)
    world: WorldParams = WorldParams()
    model: ModelParams = ModelParams()
    base: BaseParams = BaseParams()
    sft: TrainParams = TrainParams()  # every SFT arm of every notebook
    sft_questions: int = 2000  # training questions shared by every SFT arm (from the fine-tuning families)
    seeds: tuple[int, ...] = (1, 2, 3)  # seeds of every multi-seed experiment (the same runs are shared)
    eval: EvalParams = EvalParams()
    trajectory_length: TrajectoryLengthParams = TrajectoryLengthParams()
    cache_dir: str = "outputs/cache"  # artifact store, shared by all notebooks and profiles

    def validate(self, key: str = "") -> None:
        _check(self.threads >= 1, "threads", self.threads, "a positive integer")
        _check(self.workers >= 1, "workers", self.workers, "a positive integer")
        _check(self.sft_questions > 0, "sft_questions", self.sft_questions, "a positive integer")
        _check(len(self.seeds) >= 1 and len(set(self.seeds)) == len(self.seeds), "seeds", self.seeds,
               "one or more distinct integers")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if hasattr(value, "validate"):
                value.validate(f.name)


# --- yaml -> dataclasses, with type checks ----------------------------------------------------------


def _coerce(tp, value, key: str):
    """Returns ``value`` converted to the annotated type ``tp``, or raises ParamError naming ``key``."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        _check(isinstance(value, dict), key, value, f"a mapping of {tp.__name__} fields")
        return _build_nested(tp, tp(), value, key)
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
    raise ParamError(f"{key}={value!r} is not allowed: unknown key; allowed keys here: {fields}")


def _build_nested(cls, default, data: dict, prefix: str):
    """Returns ``default`` (a ``cls``) with the keys of ``data`` overridden, recursively."""
    hints = typing.get_type_hints(cls)
    changes = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in hints:
            _reject(cls, name, value, prefix)
        current = getattr(default, name)
        if dataclasses.is_dataclass(hints[name]):
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
