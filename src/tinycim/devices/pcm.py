"""Phase-change memory: the calibrated statistical model of Nandakumar et al.

Source: S. R. Nandakumar et al., "Phase-change memory models for deep learning training and
inference", ICECS 2019 (the model used across IBM's PCM work and aihwkit's PCMLikeNoiseModel).
Conductances in microsiemens (uS); a weight w maps linearly onto [0, g_max].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from tinycim.devices.base import ProgrammedCells, check_positive, gaussian

# Smallest g/g_max used inside logarithms and powers (the note clamps g/g_max to >= 1e-7).
_MIN_RELATIVE_G = 1e-7


@dataclass(frozen=True)
class PCMDevice:
    """Calibrated PCM: programming noise, conductance-dependent drift, accumulated 1/f read noise.

    All defaults are the published fit (Nandakumar et al., ICECS 2019) for g_max = 25 uS; the
    programming noise scales with g_max / 25 uS as in the note. The *_scale fields multiply each
    effect (1 = calibrated, 0 = off) for ablations.
    """

    kind: str = "pcm"
    g_max_us: float = 25.0
    # sigma_prog(g) = (c0 + c1 * g/g_max + c2 * (g/g_max)^2) * g_max / 25 uS       [uS]
    prog_noise_coeffs_us: tuple[float, float, float] = (0.26348, 1.9650, -1.1731)
    prog_noise_reference_g_max_us: float = 25.0
    # mu_nu = clip(a * ln(g/g_max) + b, lo, hi); sigma_nu likewise.
    drift_mu_coeffs: tuple[float, float] = (-0.0155, 0.0244)
    drift_mu_clip: tuple[float, float] = (0.049, 0.1)
    drift_sigma_coeffs: tuple[float, float] = (-0.0125, -0.0059)
    drift_sigma_clip: tuple[float, float] = (0.008, 0.045)
    t0_s: float = 20.0  # time of the reference read after programming
    # Q_s = min(q_max, q / max((g/g_max)^exp, q_floor));  sigma_r(t) = Q_s sqrt(ln((t + t_read)/(2 t_read)))
    read_noise_q: float = 0.0088
    read_noise_exponent: float = 0.65
    read_noise_q_max: float = 0.2
    read_noise_floor: float = 1e-3
    t_read_s: float = 250e-9
    prog_noise_scale: float = 1.0
    drift_scale: float = 1.0
    read_noise_scale: float = 1.0

    def __post_init__(self) -> None:
        owner = "device(pcm)"
        check_positive(owner, "g_max_us", self.g_max_us)
        check_positive(owner, "t0_s", self.t0_s)
        check_positive(owner, "t_read_s", self.t_read_s)
        for name in ("prog_noise_scale", "drift_scale", "read_noise_scale"):
            check_positive(owner, name, getattr(self, name), allow_zero=True)

    @property
    def has_drift(self) -> bool:
        return self.drift_scale > 0

    def prog_noise_std(self, g_target: torch.Tensor) -> torch.Tensor:
        """sigma_prog(g) in uS for target conductances g (uS)."""
        c0, c1, c2 = self.prog_noise_coeffs_us
        x = g_target / self.g_max_us
        return (c0 + c1 * x + c2 * x * x) * (self.g_max_us / self.prog_noise_reference_g_max_us)

    def drift_stats(self, g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu_nu, sigma_nu) of the drift exponent for conductances g (uS)."""
        log_rel = torch.log((g / self.g_max_us).clamp(min=_MIN_RELATIVE_G))
        a, b = self.drift_mu_coeffs
        mu = (a * log_rel + b).clamp(*self.drift_mu_clip)
        a, b = self.drift_sigma_coeffs
        sigma = (a * log_rel + b).clamp(*self.drift_sigma_clip)
        return mu, sigma

    def program(self, g_target: torch.Tensor, generator: torch.Generator) -> ProgrammedCells:
        """Write target conductances (uS, >= 0): programming noise, then draw each device's nu."""
        noise = self.prog_noise_std(g_target) * gaussian(g_target, generator)
        g_prog = (g_target + self.prog_noise_scale * noise).clamp(min=0.0)
        # The drift exponent depends on the *target* state (the note's mu/sigma are functions of g).
        mu, sigma = self.drift_stats(g_target)
        nu = (mu + sigma * gaussian(g_target, generator)).abs() * self.drift_scale
        return ProgrammedCells(g_prog=g_prog, nu=nu)

    def read_noise_std(self, g_prog: torch.Tensor, t_inf_s: float) -> torch.Tensor:
        """Relative std sigma_r of the accumulated 1/f read noise at t_inf seconds after programming."""
        t = t_inf_s + self.t0_s
        rel = (g_prog.abs() / self.g_max_us).pow(self.read_noise_exponent).clamp(min=self.read_noise_floor)
        q_s = (self.read_noise_q / rel).clamp(max=self.read_noise_q_max)
        return q_s * math.sqrt(math.log((t + self.t_read_s) / (2 * self.t_read_s)))

    def read(self, cells: ProgrammedCells, t_inf_s: float, generator: torch.Generator) -> torch.Tensor:
        """Conductances (uS) read t_inf seconds after programming: drift, then read noise."""
        t = t_inf_s + self.t0_s
        g = cells.g_prog
        if cells.nu is not None and self.drift_scale > 0:
            g = g * torch.pow(t / self.t0_s, -cells.nu)
        if self.read_noise_scale > 0:
            sigma = self.read_noise_std(cells.g_prog, t_inf_s) * self.read_noise_scale
            g = (g + g.abs() * sigma * gaussian(g, generator)).clamp(min=0.0)
        return g
