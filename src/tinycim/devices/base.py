"""Shared pieces of the device models."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from tinycim.checks import check_positive  # noqa: F401  (re-exported: devices use it)
from tinycim.errors import ConfigError


@dataclass
class ProgrammedCells:
    """What an array holds after programming.

    g_prog: programmed conductances [..., ] in uS (same shape as the targets).
    nu:     per-device drift exponents (same shape), or None for a device without drift.
    """

    g_prog: torch.Tensor
    nu: torch.Tensor | None = None


def check_time(seconds: float) -> float:
    """Validate a time since programming, in seconds (>= 0, finite)."""
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(f"drift time seconds = {seconds!r} is invalid: allowed range >= 0 seconds (finite)")
    return float(seconds)


def gaussian(like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Standard normal samples shaped like `like`, drawn from an explicit generator."""
    return torch.randn(like.shape, generator=generator, dtype=like.dtype, device=like.device)
