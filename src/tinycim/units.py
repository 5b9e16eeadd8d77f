"""Parsing and printing the times users type: "1s", "1h", "1d", "30d", "1y" (seconds since programming)."""

from __future__ import annotations

import math
import re

from tinycim.errors import ConfigError

SECONDS_PER = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0, "y": 365 * 86400.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d*)?(?:e[+-]?\d+)?)\s*([smhdwy]?)\s*$", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """'1d' -> 86400.0; a bare number is seconds. Raises ConfigError on anything else."""
    match = _PATTERN.match(str(text))
    if not match:
        raise ConfigError(
            f"time {text!r} is invalid: use a number with unit s, m, h, d, w or y (e.g. 1s, 1h, 1d, 30d, 1y)"
        )
    value = float(match.group(1)) * SECONDS_PER[(match.group(2) or "s").lower()]
    if not math.isfinite(value):
        raise ConfigError(f"time {text!r} is invalid: must be finite")
    return value


def parse_durations(text: str) -> list[float]:
    """'1s,1h,1d' -> [1.0, 3600.0, 86400.0]."""
    parts = [p for p in str(text).split(",") if p.strip()]
    if not parts:
        raise ConfigError("times list is empty: give e.g. 1s,1h,1d,30d,1y")
    return [parse_duration(p) for p in parts]


def format_duration(seconds: float) -> str:
    """86400.0 -> '1d'; picks the largest unit that divides evenly, else seconds."""
    for unit in ("y", "d", "h", "m"):
        n = seconds / SECONDS_PER[unit]
        if n >= 1 and abs(n - round(n)) < 1e-9:
            return f"{round(n)}{unit}"
    return f"{seconds:g}s"
