"""RRAM: lognormal programming spread, no drift.

Reconstruction for a second technology preset: filamentary RRAM conductance after
write-verify is well described as lognormal around the target (e.g. Wan et al., "A
compute-in-memory chip based on resistive random-access memory", Nature 2022, NeuRRAM,
conductances 1-40 uS); retention drift is neglected on the time scales simulated here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tinycim.devices.base import ProgrammedCells, check_positive, gaussian


@dataclass(frozen=True)
class RRAMDevice:
    """g_prog = g_target * exp(sigma_log * N(0,1)); optional Gaussian read noise relative to g."""

    kind: str = "rram"
    g_max_us: float = 40.0
    prog_sigma_log: float = 0.1  # lognormal spread (natural-log units) after write-verify
    read_noise_rel: float = 0.0  # relative std of one read, drawn at each `read`

    def __post_init__(self) -> None:
        check_positive("device(rram)", "g_max_us", self.g_max_us)
        check_positive("device(rram)", "prog_sigma_log", self.prog_sigma_log, allow_zero=True)
        check_positive("device(rram)", "read_noise_rel", self.read_noise_rel, allow_zero=True)

    @property
    def has_drift(self) -> bool:
        return False

    def program(self, g_target: torch.Tensor, generator: torch.Generator) -> ProgrammedCells:
        spread = torch.exp(self.prog_sigma_log * gaussian(g_target, generator))
        return ProgrammedCells(g_prog=g_target * spread, nu=None)

    def read(self, cells: ProgrammedCells, t_inf_s: float, generator: torch.Generator) -> torch.Tensor:
        g = cells.g_prog
        if self.read_noise_rel > 0:
            g = (g + g * self.read_noise_rel * gaussian(g, generator)).clamp(min=0.0)
        return g
