"""Loading a profile: ``params/NAME.yaml`` -> a validated ``Profile``, with type checks on every value.

``load_profile("cpu")`` reads ``params/cpu.yaml`` (the repository's top-level ``params/`` folder, ``PARAMS_DIR``); a
profile may name another as ``inherit: smoke`` and override some keys. Every key must be a field of the dataclass it
lands in, of the annotated type, or a ``ParamError`` names the key, the bad value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path

import yaml

from .checks import ParamError, require
from .profile import Profile
from .world import WORLD_KINDS, WorldParams

PARAMS_DIR = Path(__file__).resolve().parent.parent.parent / "params"


def _coerce(tp, value, key: str):
    """Returns ``value`` converted to the annotated type ``tp``, or raises ParamError naming ``key``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp):  # ``X | None``
        (inner,) = [t for t in typing.get_args(tp) if t is not type(None)]
        return None if value is None else _coerce(inner, value, key)
    if dataclasses.is_dataclass(tp):
        require(isinstance(value, dict), key, value, f"a mapping of {tp.__name__} fields")
        return _build_nested(tp, tp(), value, key)
    if origin is dict:
        require(isinstance(value, dict), key, value, "a mapping")
        key_tp, value_tp = typing.get_args(tp)
        return {_coerce(key_tp, k, key): _coerce(value_tp, v, f"{key}.{k}") for k, v in value.items()}
    if origin is tuple:
        require(isinstance(value, (list, tuple)), key, value, "a list")
        (item_tp, _) = typing.get_args(tp)
        return tuple(_coerce(item_tp, v, f"{key}[{i}]") for i, v in enumerate(value))
    if tp is float:
        require(isinstance(value, (int, float)) and not isinstance(value, bool), key, value, "a number")
        return float(value)
    if tp is int:
        require(isinstance(value, int) and not isinstance(value, bool), key, value, "an integer")
        return value
    if tp is bool:
        require(isinstance(value, bool), key, value, "true or false")
        return value
    if tp is str:
        require(isinstance(value, str), key, value, "a string")
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
            require(isinstance(value, dict), key, value, "a mapping of world fields")
            kind = value.get("kind", current.kind)
            require(kind in WORLD_KINDS, f"{key}.kind", kind, f"one of {sorted(WORLD_KINDS)}")
            world_cls = WORLD_KINDS[kind]
            given = {k: v for k, v in value.items() if not (k == "kind" and world_cls is WorldParams)}
            start = current if isinstance(current, world_cls) else world_cls()
            changes[name] = _build_nested(world_cls, start, given, key)
        elif dataclasses.is_dataclass(hints[name]):
            require(isinstance(value, dict), key, value, f"a mapping of {hints[name].__name__} fields")
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
    require(isinstance(data, dict), str(path), data, "a mapping of profile keys")
    parent = data.pop("inherit", None)
    base = load_profile(parent) if parent else Profile()
    data.setdefault("name", path.stem)
    profile_obj = _build_nested(Profile, base, {**data, **overrides}, "")
    profile_obj.validate()
    return profile_obj
