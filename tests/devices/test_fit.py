"""Fitting recovers the device that generated the measurements (within Monte-Carlo error)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tinycim.devices import PCMDevice, RRAMDevice
from tinycim.devices.families import _clip_bounds, _clipped_line, _PCMFamily
from tinycim.devices.fitting import _interval_quantile, fit_device
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


PRESET_PARAMS = {
    "prog_noise_c0": 0.26348,
    "prog_noise_c1": 1.9650,
    "prog_noise_c2": -1.1731,
    "drift_mu_a": -0.0155,
    "drift_mu_b": 0.0244,
    "drift_mu_lo": 0.049,
    "drift_mu_hi": 0.1,
    "drift_sigma_a": -0.0125,
    "drift_sigma_b": -0.0059,
    "drift_sigma_lo": 0.008,
    "drift_sigma_hi": 0.045,
    "read_noise_q": 0.0088,
    "read_noise_exponent": 0.65,
    "g_max_us": 25.0,
}


def test_pcm_round_trip_every_parameter_within_monte_carlo_error(pcm_fit):
    # 400 cells per level: every one of the 14 parameters within twice its 95 % half-width of the
    # preset (about 4 bootstrap std). The 95 % interval itself covers each parameter in most but not
    # all small samples (docs/devices.md: measured coverage); the 100k-cell benchmark checks it.
    _, result = pcm_fit
    assert {p.name for p in result.params} == set(PRESET_PARAMS)
    for p in result.params:
        truth = PRESET_PARAMS[p.name]
        if p.high == float("inf"):  # one-sided: a cap the data do not reach
            assert truth >= p.low, p
            continue
        half = (p.high - p.low) / 2
        assert abs(truth - p.value) <= 2 * half + 1e-12, p


def test_unreached_drift_caps_get_one_sided_intervals(pcm_fit):
    # No usable level of the sample lies below 1.25 uS, where the preset's caps (0.1 and 0.045) act:
    # the data only bound them from below, the device holds the family's published values.
    _, result = pcm_fit
    for name, preset in (("drift_mu_hi", 0.1), ("drift_sigma_hi", 0.045)):
        est = result.param(name)
        assert est.high == float("inf") and est.low <= preset, (name, est)
        assert est.value == pytest.approx(preset)
        assert any(note.startswith(f"{name}: not reached") for note in result.notes)
    assert result.device.drift_mu_clip[1] == pytest.approx(0.1)


def test_clipped_line_needs_two_levels_on_a_clip_and_reports_unreached_ends():
    lx = np.log(np.array([0.05, 0.1, 0.2, 0.4, 0.6, 1.0]))
    w = np.full(lx.size, 1e6)
    line = lx * -0.0155 + 0.0244
    # Held at 0.049 from 0.4 g_max up (three levels): found; the low end is not on a clip.
    fit = _clipped_line(lx, np.maximum(line, 0.049), w)
    assert fit.high_reached and not fit.low_reached
    assert fit.lo == pytest.approx(0.049) and fit.a == pytest.approx(-0.0155)
    (lo, hi), unreached = _clip_bounds(fit, (0.049, 0.1))
    assert set(unreached) == {"hi"} and unreached["hi"] == pytest.approx(line[0])
    assert (lo, hi) == (pytest.approx(0.049), 0.1)  # the published cap, beyond the line's end value
    # One level off the line at the low end is noise, not a clip (a clip needs >= 2 levels).
    y = np.maximum(line, 0.049)
    y[0] += 0.002
    assert not _clipped_line(lx, y, np.full(lx.size, 1e4)).low_reached
    # A published cap inside the measured range is not used: the end value is.
    (_, hi), _ = _clip_bounds(fit, (0.049, 0.06))
    assert hi == pytest.approx(line[0])


def test_interval_uses_student_t_for_few_refits():
    assert _interval_quantile(10) == pytest.approx(2.262, abs=1e-3)
    assert _interval_quantile(1000) == pytest.approx(1.962, abs=1e-3)
