"""How a profile's bad value is rejected: ``ParamError``, whose message names the key, the value and what is allowed.

Every ``validate`` method and the yaml loader reject through ``require``, so every message has one shape,
``key=value is not allowed: what is allowed``, which the runner prints as the first line of a failed run.
"""

from __future__ import annotations


class ParamError(ValueError):
    """A bad parameter: the message names the key, the value and what is allowed."""


def require(ok: bool, key: str, value, allowed: str) -> None:
    """Raises ``ParamError`` naming ``key``, ``value`` and what is ``allowed`` unless ``ok``."""
    if not ok:
        raise ParamError(f"{key}={value!r} is not allowed: {allowed}")
