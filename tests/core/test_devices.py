"""Device physics against the formulas of the calibrated PCM model (Monte-Carlo tolerances)."""

from __future__ import annotations

import math

import pytest
import torch

from tinycim.devices import IdealDevice, PCMDevice, RRAMDevice
from tinycim.devices.base import ProgrammedCells

N = 200_000  # devices per statistic: standard error of a mean ~ std / 450


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def folded_normal_mean(mu: float, sigma: float) -> float:
    phi = 0.5 * (1 + math.erf(-mu / (sigma * math.sqrt(2))))
    return sigma * math.sqrt(2 / math.pi) * math.exp(-(mu**2) / (2 * sigma**2)) + mu * (1 - 2 * phi)


@pytest.mark.parametrize("g_max", [25.0, 10.0])
@pytest.mark.parametrize("rel", [0.25, 0.5, 0.75, 1.0])
def test_programming_noise_mean_and_std_match_polynomial(g_max: float, rel: float) -> None:
    dev = PCMDevice(g_max_us=g_max)
    target = torch.full((N,), rel * g_max)
    cells = dev.program(target, gen())
    sigma = (0.26348 + 1.9650 * rel - 1.1731 * rel**2) * g_max / 25
    assert abs(cells.g_prog.mean().item() - rel * g_max) < 5 * sigma / math.sqrt(N)
    assert cells.g_prog.std().item() == pytest.approx(sigma, rel=0.02)


def test_programming_a_zero_target_gives_a_half_normal() -> None:
    dev = PCMDevice()
    g = dev.program(torch.zeros(N), gen()).g_prog
    sigma = 0.26348
    assert (g >= 0).all()
    assert g.mean().item() == pytest.approx(sigma / math.sqrt(2 * math.pi), rel=0.02)


@pytest.mark.parametrize("rel", [0.01, 0.1, 0.5, 1.0])
def test_drift_exponent_is_a_folded_normal_with_the_published_mean_and_std(rel: float) -> None:
    dev = PCMDevice()
    nu = dev.program(torch.full((N,), rel * 25.0), gen(1)).nu
    mu = min(max(-0.0155 * math.log(rel) + 0.0244, 0.049), 0.1)
    sigma = min(max(-0.0125 * math.log(rel) - 0.0059, 0.008), 0.045)
    assert nu.mean().item() == pytest.approx(folded_normal_mean(mu, sigma), rel=0.01)
    assert nu.std().item() == pytest.approx(sigma, rel=0.05)


@pytest.mark.parametrize("t_inf", [1.0, 3600.0, 86400.0, 3.15e7])
def test_drift_follows_the_power_law(t_inf: float) -> None:
    dev = PCMDevice(prog_noise_scale=0.0, read_noise_scale=0.0)
    target = torch.full((N,), 20.0)
    cells = dev.program(target, gen(2))
    g = dev.read(cells, t_inf, gen(3))
    expected = target * ((t_inf + 20.0) / 20.0) ** (-cells.nu)
    torch.testing.assert_close(g, expected)
    assert g.mean().item() < 20.0


@pytest.mark.parametrize("t_inf", [1.0, 86400.0, 3.15e7])
@pytest.mark.parametrize("rel", [0.2, 1.0])
def test_read_noise_std_matches_accumulated_1_over_f_formula(t_inf: float, rel: float) -> None:
    dev = PCMDevice(prog_noise_scale=0.0, drift_scale=0.0)
    target = torch.full((N,), rel * 25.0)
    g = dev.read(dev.program(target, gen(4)), t_inf, gen(5))
    q_s = min(0.2, 0.0088 / max(rel**0.65, 1e-3))
    t = t_inf + 20.0
    sigma_r = q_s * math.sqrt(math.log((t + 250e-9) / (2 * 250e-9)))
    assert (g / target).std().item() == pytest.approx(sigma_r, rel=0.03)
    assert (g / target).mean().item() == pytest.approx(1.0, abs=5 * sigma_r / math.sqrt(N))


def test_rram_spread_is_lognormal_and_does_not_drift() -> None:
    dev = RRAMDevice(prog_sigma_log=0.1)
    target = torch.full((N,), 10.0)
    cells = dev.program(target, gen(6))
    log_ratio = torch.log(cells.g_prog / target)
    assert log_ratio.mean().item() == pytest.approx(0.0, abs=5 * 0.1 / math.sqrt(N))
    assert log_ratio.std().item() == pytest.approx(0.1, rel=0.02)
    torch.testing.assert_close(dev.read(cells, 3.15e7, gen(7)), cells.g_prog)


def test_ideal_device_is_exact_forever() -> None:
    target = torch.rand(100) * 25
    dev = IdealDevice()
    cells = dev.program(target, gen())
    torch.testing.assert_close(dev.read(cells, 1e9, gen()), target)


def test_same_generator_seed_same_draws() -> None:
    dev = PCMDevice()
    target = torch.rand(1000) * 25
    a, b = dev.program(target, gen(9)), dev.program(target, gen(9))
    assert torch.equal(a.g_prog, b.g_prog) and torch.equal(a.nu, b.nu)
    c = dev.program(target, gen(10))
    assert not torch.equal(a.g_prog, c.g_prog)


def test_read_never_returns_negative_conductance() -> None:
    dev = PCMDevice()
    cells = ProgrammedCells(g_prog=torch.full((N,), 0.01), nu=torch.full((N,), 0.05))
    assert (dev.read(cells, 3.15e7, gen()) >= 0).all()
