"""Artifact store keyed by a hash of everything that determines an artifact; writes are atomic.

An artifact (a trained model, a set of samples, a metrics table) lives in ``<root>/<kind>/<hash>/``.
It is built in a temporary sibling directory and renamed into place only when complete, so a run
killed mid-write leaves no directory that a rerun would trust.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, Callable

# Bump a kind's version when the code that builds it changes meaning: old artifacts stop matching.
RECIPE_VERSIONS = {"model": 1, "samples": 2, "probe": 1}  # samples 2: evaluations store sample_answer_correct


def library_versions() -> dict[str, str]:
    """Returns the versions of the libraries whose behaviour an artifact depends on."""
    import torch
    import transformers
    import trl

    return {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__}


def plain_data(obj: Any) -> Any:
    """Returns ``obj`` as JSON-able plain data (dataclasses, tuples and paths included).

    A dataclass whose class lists ``CACHE_NAMES`` ({field: name in keys}) is written with those names: a renamed
    field keeps the cache keys (and params hashes) it had under its old name.
    """
    if is_dataclass(obj) and not isinstance(obj, type):
        names = getattr(type(obj), "CACHE_NAMES", {})
        return plain_data({names.get(f.name, f.name): getattr(obj, f.name) for f in fields(obj)})
    if isinstance(obj, dict):
        return {str(k): plain_data(v) for k, v in sorted(obj.items())}
    if isinstance(obj, (list, tuple)):
        return [plain_data(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def config_hash(kind: str, config: Any) -> str:
    """Returns a short hash of the recipe version, library versions and ``config`` of an artifact."""
    if kind not in RECIPE_VERSIONS:
        raise ValueError(f"kind={kind!r} is not an artifact kind; allowed: {', '.join(RECIPE_VERSIONS)}")
    payload = {"kind": kind, "recipe": RECIPE_VERSIONS[kind], "libs": library_versions(), "config": plain_data(config)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@contextmanager
def atomic_dir(final: Path):
    """Yields a temporary directory that becomes ``final`` only if the block completes."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        yield tmp
        try:
            os.replace(tmp, final)
        except OSError:  # another process finished the same artifact first: keep theirs
            if not final.exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


NULL_REASON = "not a finite number (NaN or infinity): undefined for this input, e.g. a mean over no values"


def strict_json(obj: Any) -> Any:
    """Returns plain data ``obj`` with every NaN or infinity replaced by None (strict JSON has neither); in a
    mapping, the key ``<name>_null_reason`` beside such a value says why it is null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out[k] = strict_json(v)
            if isinstance(v, float) and not math.isfinite(v):
                out[f"{k}_null_reason"] = NULL_REASON
        return out
    if isinstance(obj, list):
        return [strict_json(v) for v in obj]
    return obj


def write_json_atomic(path: Path, data: Any) -> None:
    """Writes ``data`` as strict JSON (``strict_json``: no NaN) to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(strict_json(plain_data(data)), f, indent=2, sort_keys=True, allow_nan=False)
    os.replace(tmp, path)


class Store:
    """The artifact store: ``store.get_or_make(kind, config, make)`` returns the artifact's directory."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def path(self, kind: str, config: Any) -> Path:
        return self.root / kind / config_hash(kind, config)

    def has(self, kind: str, config: Any) -> bool:
        return self.path(kind, config).is_dir()

    def get_or_make(self, kind: str, config: Any, make: Callable[[Path], None]) -> Path:
        """Returns the artifact directory, calling ``make(tmp_dir)`` to build it when it is missing."""
        final = self.path(kind, config)
        if final.is_dir():
            return final
        with atomic_dir(final) as tmp:
            make(tmp)
            # Not config.json: a saved transformers model has its own.
            (tmp / "artifact.json").write_text(json.dumps(plain_data({"kind": kind, "config": config}), indent=2))
        return final
