"""Fitting recovers the device that generated the measurements (within Monte-Carlo error)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tinycim.devices import PCMDevice, RRAMDevice
from tinycim.devices.fitting import _PCMFamily, fit_device
from tinycim.devices.measurements import sample_measurements
from tinycim.errors import DataError

LEVELS = [0.0, 1.25, 2.5, 5.0, 10.0, 15.0, 25.0]
TIMES = [0.0, 60.0, 3600.0, 86400.0, 2.592e6]


@pytest.fixture(scope="module")
def pcm_fit(one_thread_module):
    m = sample_measurements(PCMDevice(), LEVELS, TIMES, 400, seed=11)
    return m, fit_device(m, "pcm", bootstrap=12, seed=1)


def test_pcm_round_trip_per_level_statistics_within_monte_carlo_error(pcm_fit):
    m, result = pcm_fit
    family = _PCMFamily(m)
    true = PCMDevice()
    theta = {
        k: getattr(true, k)
        for k in (
            "prog_noise_coeffs_us",
            "drift_mu_coeffs",
            "drift_mu_clip",
            "drift_sigma_coeffs",
            "drift_sigma_clip",
            "read_noise_q",
            "read_noise_exponent",
        )
    }
    expected = family.curves(theta)  # [L, 4] the preset's sigma_prog, mu_nu, sigma_nu, Q_s at each level
    checked = 0
    for i, row in enumerate(result.levels):
        for k, name in enumerate(family.names):
            if row[name] is None or row[f"{name}_se"] is None:
                continue
            model, se = row[f"{name}_model"], row[f"{name}_se"]
            # The fitted curve at this level against the preset: 4 bootstrap std (+2 % for the curve's shape).
            assert abs(model - expected[i, k]) <= 4 * se + 0.02 * abs(expected[i, k]), (row["level_us"], name)
            checked += 1
    assert checked >= 4 * 4  # drift and read noise estimated on >= 4 levels, programming noise on all


def test_pcm_fit_parameters_and_intervals(pcm_fit):
    _, result = pcm_fit
    for name, value in (("read_noise_q", 0.0088), ("read_noise_exponent", 0.65)):
        est = result.param(name)
        # Within 4 bootstrap std (the 95 % interval is +- 1.96 std).
        assert abs(est.value - value) <= est.high - est.low, (name, est)
    assert result.param("read_noise_q").high - result.param("read_noise_q").low < 0.002
    assert result.param("drift_mu_lo").value == pytest.approx(0.049, abs=0.002)
    assert result.param("drift_sigma_lo").value == pytest.approx(0.008, abs=0.002)
    assert result.param("g_max_us").value == 25.0
    device = result.device
    # Programming noise polynomial over the measured range, against the preset's.
    g = torch.tensor(LEVELS)
    np.testing.assert_allclose(device.prog_noise_std(g), PCMDevice().prog_noise_std(g), atol=0.08)
    assert result.max_ks < 0.15


def test_rram_round_trip():
    true = RRAMDevice(prog_sigma_log=0.12, read_noise_rel=0.03)
    m = sample_measurements(true, [5.0, 10.0, 20.0, 40.0], [0.0, 1.0, 10.0], 400, seed=2)
    result = fit_device(m, "rram", bootstrap=10)
    for name, value in (("prog_sigma_log", 0.12), ("read_noise_rel", 0.03)):
        est = result.param(name)
        assert abs(est.value - value) <= (est.high - est.low) + 1e-4, (name, est)  # 4 bootstrap std
    assert result.device.g_max_us == 40.0


def test_empirical_device_reproduces_measured_quantiles():
    m = sample_measurements(PCMDevice(), [0.0, 5.0, 25.0], [0.0, 3600.0, 86400.0], 2000, seed=4)
    result = fit_device(m, "empirical")
    assert result.max_ks < 0.05  # resampled vs measured, per level and time
    assert result.device.levels_us == (0.0, 5.0, 25.0) and result.device.g_max_us == 25.0


def test_pcm_fit_needs_three_read_times():
    m = sample_measurements(PCMDevice(), [5.0, 25.0], [0.0, 60.0], 50, seed=0)
    with pytest.raises(
        DataError, match="column t_s: the pcm fit needs each cell read at >= 3 distinct times"
    ):
        fit_device(m, "pcm")
    with pytest.raises(DataError, match="unknown device model 'foo'"):
        fit_device(m, "foo")
