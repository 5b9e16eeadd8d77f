"""One set of field checks for every config of tinycim (AnalogConfig and its sections, HWAConfig,
TrainConfig, accelerator presets, devices): each raises `ConfigError` naming ``owner.name``, the
value (shortened) and what is allowed. No dependencies besides tinycim.errors, so any module can
use it.
"""

from __future__ import annotations

import math
import reprlib
from typing import Any

from tinycim.errors import ConfigError


def fail(owner: str, name: str, value: Any, allowed: str) -> None:
    """Raise ConfigError: `owner.name = value is invalid: allowed <allowed>`."""
    raise ConfigError(f"{owner}.{name} = {reprlib.repr(value)} is invalid: allowed {allowed}")


def check_choice(owner: str, name: str, value: Any, choices: tuple) -> None:
    """`value` must be one of `choices`."""
    if value not in choices:
        fail(owner, name, value, f"values {', '.join(map(repr, choices))}")


def _real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_number(owner: str, name: str, value: Any, lo: float, hi: float, *, lo_open: bool = False) -> None:
    """`value` must be a finite real number in [lo, hi] ((lo, hi] with lo_open)."""
    if not (_real(value) and (value > lo if lo_open else value >= lo) and value <= hi):
        fail(owner, name, value, f"range {'(' if lo_open else '['}{lo}, {hi}]")


def check_positive(owner: str, name: str, value: Any, *, allow_zero: bool = False) -> None:
    """`value` must be a finite number > 0 (>= 0 with allow_zero)."""
    if not (_real(value) and (value >= 0 if allow_zero else value > 0)):
        fail(owner, name, value, f"range {'>= 0' if allow_zero else '> 0'} (a finite number)")


def check_integer(owner: str, name: str, value: Any, lo: int, hi: int, *, optional: bool = False) -> None:
    """`value` must be an integer in lo..hi (or None when optional)."""
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        fail(owner, name, value, f"range {lo}..{hi}" + (" (or null for off)" if optional else ""))
