"""Typed settings: each component's config section is a dataclass beside its code (one source of defaults), built
from a plain mapping with every value checked, so a bad value fails before any work, naming its key."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Type, TypeVar

from isaac_rl.core.errors import ConfigError

T = TypeVar("T")


def need(ok: bool, key: str, value: Any, allowed: str) -> None:
    """Raise ``ConfigError("invalid config: key=value; allowed: ...")`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"invalid config: {key}={value!r}; allowed: {allowed}")


def is_int(value: Any) -> bool:
    """An int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_num(value: Any) -> bool:
    """A finite int or float (NaN and infinities are never meaningful settings here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def build(cls: Type[T], values: Mapping[str, Any], prefix: str) -> T:
    """``cls(**values)`` for a settings dataclass whose ``check(prefix)`` validates it; an unknown key is refused
    naming the keys ``cls`` has, a missing one takes its default."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    for key in values:
        need(key in names, f"{prefix}.{key}", values[key], f"one of the keys of this section: {', '.join(names)}")
    settings = cls(**dict(values))
    settings.check(prefix)  # type: ignore[attr-defined]
    return settings
