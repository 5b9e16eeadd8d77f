"""Empirical and faulty devices: statistics against their definitions, JSON round trips, errors."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

import tinycim as tc
from tinycim.config import AnalogConfig
from tinycim.devices import EmpiricalDevice, FaultyDevice, PCMDevice, RRAMDevice, from_file, save_device
from tinycim.devices.faults import STUCK_ON
from tinycim.devices.measurements import sample_measurements, write_measurements
from tinycim.errors import ConfigError, DataError


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _empirical() -> EmpiricalDevice:
    # Level 0: uniform on [0, 1] uS; level 10: uniform on [9, 11] uS; at t = 100 s everything halves.
    q = [(k + 0.5) / 4 for k in range(4)]
    first = [[v for v in q], [9 + 2 * v for v in q]]
    return EmpiricalDevice(
        levels_us=(0.0, 10.0),
        times_s=(0.0, 100.0),
        quantiles_us=tuple(tuple((tuple(a), tuple(x / 2 for x in a))) for a in first),
        rank_corr=((1.0, 1.0), (1.0, 0.5)),
        g_max_us=10.0,
    )


def test_empirical_samples_follow_the_measured_quantiles_and_interpolate_levels():
    dev = _empirical()
    targets = torch.tensor([10.0, 5.0, 20.0]).repeat_interleave(20000)
    cells = dev.program(targets, _gen())
    g = cells.g_prog.view(3, -1)
    assert float(g[0].min()) >= 9.25 - 1e-6 and float(g[0].max()) <= 10.75 + 1e-6  # outermost quantiles
    assert float(g[0].mean()) == pytest.approx(10.0, abs=0.02)
    assert float(g[1].mean()) == pytest.approx(5.25, abs=0.02)  # halfway between level means 0.5 and 10
    assert float(g[2].mean()) == pytest.approx(20.0, abs=0.05)  # above the top level: scaled by 20/10
    later = dev.read(cells, 100.0, _gen(1)).view(3, -1)
    assert float(later[0].mean()) == pytest.approx(5.0, abs=0.02)
    # rank correlation 0.5 at level 10, t = 100 s: reads decorrelate from the first read.
    r = torch.corrcoef(torch.stack([g[0], later[0]]))[0, 1]
    assert 0.35 < float(r) < 0.6
    # At t = 0 the read gives the programmed value back (rank recovered from g_prog).
    torch.testing.assert_close(dev.read(cells, 0.0, _gen(2))[:20000], cells.g_prog[:20000], atol=1e-4, rtol=0)


def test_empirical_json_round_trip_and_validation():
    dev = _empirical()
    cfg = dataclasses.replace(AnalogConfig.preset("pcm"), device=dev)
    assert AnalogConfig.from_json(cfg.to_json()) == cfg
    data = json.loads(cfg.to_json())["device"]
    data["quantiles_us"][0][0] = [1.0, 0.5, 0.7, 0.9]
    with pytest.raises(ConfigError, match=r"quantiles_us\[0\]\[0\] is not non-decreasing"):
        AnalogConfig.from_dict({"device": data})
    data = json.loads(cfg.to_json())["device"]
    data["times_s"] = [0.0]
    with pytest.raises(ConfigError, match=r"quantiles_us\[0\] has 2 times"):
        AnalogConfig.from_dict({"device": data})


def test_faulty_with_zero_rates_is_bit_identical_to_its_base():
    base = PCMDevice()
    targets = torch.rand(2, 1, 2, 8, 16) * 25
    a, b = base.program(targets, _gen(3)), FaultyDevice(base=base).program(targets, _gen(3))
    assert torch.equal(a.g_prog, b.g_prog) and torch.equal(a.nu, b.nu)
    assert torch.equal(base.read(a, 3600.0, _gen(4)), FaultyDevice(base=base).read(b, 3600.0, _gen(4)))


def test_stuck_cells_at_their_rates_and_values_at_every_time():
    dev = FaultyDevice(base=PCMDevice(), stuck_on_rate=0.02, stuck_off_rate=0.05)
    targets = torch.full((4, 1, 2, 64, 256), 12.5)
    cells = dev.program(targets, _gen())
    n = targets.numel()
    on = cells.nu == STUCK_ON
    # Binomial counts within 5 sigma of n * rate.
    for mask, rate in ((on, 0.02), (cells.g_prog == 0.0, 0.05)):
        assert abs(int(mask.sum()) - n * rate) < 5 * (n * rate * (1 - rate)) ** 0.5
    g = dev.read(cells, 86400.0, _gen(1))
    assert bool((g[on] == 25.0).all())  # stuck-on reads g_max, no drift, no read noise
    healthy = cells.nu < 1e6
    assert float(g[healthy].mean()) < 12.5 * 0.9  # the others drifted


def test_dead_columns_kill_whole_tile_columns_of_both_devices():
    dev = FaultyDevice(base=RRAMDevice(), dead_column_rate=0.1, tile_rows=4)
    targets = torch.full((8, 1, 2, 50, 8), 20.0)  # 8 input channels, 4 per row tile -> 2 row tiles
    g = dev.read(dev.program(targets, _gen()), 0.0, _gen(1))
    dead = g == 0.0
    tiles = dead.view(8, 1, 2, 50, 2, 4)
    assert bool((tiles.all(dim=-1) | ~tiles.any(dim=-1)).all())  # a tile column is all dead or all alive
    assert bool((dead[:, :, 0] == dead[:, :, 1]).all())  # both devices of the pair
    frac = float(tiles.all(dim=-1).float().mean())
    assert abs(frac - 0.1) < 5 * (0.1 * 0.9 / (8 * 50 * 2)) ** 0.5


def test_drift_variation_adds_spread_to_the_drift_exponent():
    base = PCMDevice(prog_noise_scale=0.0, read_noise_scale=0.0)
    targets = torch.full((40000,), 25.0)
    t = 86400.0 * 30
    spread = []
    for sigma in (0.0, 0.02):
        dev = FaultyDevice(base=base, nu_d2d_sigma=sigma)
        g = dev.read(dev.program(targets, _gen()), t, _gen(1))
        nu = -torch.log(g / 25.0) / torch.log(torch.tensor((t + 20.0) / 20.0))
        spread.append(float(nu.std()))
    # sigma_nu at g_max is 0.008 (clip); adding 0.02 in quadrature gives ~0.0215 (folding at 0 lowers it a bit).
    assert spread[0] == pytest.approx(0.008, rel=0.05)
    assert spread[1] == pytest.approx((0.008**2 + 0.02**2) ** 0.5, rel=0.1)


def test_faulty_json_round_trip_and_errors():
    dev = FaultyDevice(base=RRAMDevice(), stuck_on_rate=0.01, dead_column_rate=0.001, nu_d2d_sigma=0.01)
    cfg = dataclasses.replace(AnalogConfig.preset("rram"), device=dev)
    assert AnalogConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ConfigError, match=r"stuck_on_rate = 1.5 is invalid: allowed range 0..1"):
        FaultyDevice(stuck_on_rate=1.5)
    with pytest.raises(ConfigError, match="base must be a device object"):
        AnalogConfig.from_dict({"device": {"kind": "faulty", "base": {"kind": "faulty"}}})


def test_programmed_model_on_fitted_and_faulty_devices(tmp_path, one_thread):
    m = sample_measurements(PCMDevice(), [0.0, 5.0, 25.0], [0.0, 3600.0], 200, seed=0)
    csv = write_measurements(tmp_path / "m.csv", m)
    emp = from_file(csv)  # fitted on the spot (empirical)
    assert isinstance(emp, EmpiricalDevice)
    save_device(emp, tmp_path / "d.json")
    assert from_file(tmp_path / "d.json") == emp
    model = torch.nn.Sequential(torch.nn.Linear(12, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    x = torch.randn(5, 12, generator=_gen())
    for device in (emp, FaultyDevice(base=emp, stuck_off_rate=0.05)):
        cfg = dataclasses.replace(AnalogConfig.preset("pcm"), device=device)
        am = tc.convert(model, cfg)
        tc.program(am, seed=1, instances=2)
        tc.drift(am, 1800.0)
        with torch.no_grad():
            y = am(x)
        assert y.shape == (10, 3) and bool(torch.isfinite(y).all())


def test_from_file_errors(tmp_path):
    with pytest.raises(DataError, match="device file not found"):
        from_file(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text(
        '{"format": "tinycim-device", "version": 1, "device": {"kind": "pcm", "g_max_us": -1}}'
    )
    with pytest.raises(ConfigError, match=r"bad.json: device\(pcm\).g_max_us = -1 is invalid"):
        from_file(tmp_path / "bad.json")


def test_device_file_meta_is_strict_json(tmp_path):
    # A one-sided interval's bound is inf in the fit summary: written as null, not Infinity.
    meta = {"params": [{"name": "drift_mu_hi", "ci95": [0.066, float("inf")]}], "x": float("nan")}
    path = save_device(PCMDevice(), tmp_path / "d.json", meta=meta)

    def refuse(name):
        raise ValueError(name)

    doc = json.loads(path.read_text(), parse_constant=refuse)
    assert doc["meta"]["params"][0]["ci95"] == [0.066, None] and doc["meta"]["x"] is None
    assert from_file(path) == PCMDevice()
