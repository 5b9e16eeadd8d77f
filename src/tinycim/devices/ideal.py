"""An ideal device: conductances are exactly the targets, forever."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tinycim.devices.base import ProgrammedCells, check_positive


@dataclass(frozen=True)
class IdealDevice:
    """No programming noise, no drift, no read noise (the FP32 reference)."""

    kind: str = "ideal"
    g_max_us: float = 25.0

    def __post_init__(self) -> None:
        check_positive("device(ideal)", "g_max_us", self.g_max_us)

    @property
    def has_drift(self) -> bool:
        return False

    def program(self, g_target: torch.Tensor, generator: torch.Generator) -> ProgrammedCells:
        return ProgrammedCells(g_prog=g_target.clone(), nu=None)

    def read(self, cells: ProgrammedCells, t_inf_s: float, generator: torch.Generator) -> torch.Tensor:
        return cells.g_prog
