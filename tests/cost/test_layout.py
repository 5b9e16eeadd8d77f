"""Hardware layouts of a weight: differential columns/arrays, slice columns, bit-serial inputs, the ADC
column-current term, idle-column gating and per-layer vs shared periphery (issue 17)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import tinycim as tc
import tinycim.cost as cost
from tinycim.errors import ConfigError

SHAPE = (32, 8, 8)


def _layer(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Conv2d(32, 16, 3, padding=1)


def _acc(name: str = "aon-cim", **layout) -> cost.Accelerator:
    acc = cost.get_accelerator(name)
    return dataclasses.replace(acc, layout=dataclasses.replace(acc.layout, **layout))


def _convert(
    model: nn.Module,
    acc: cost.Accelerator,
    *,
    polarity: str = "differential",
    weight_bits=None,
    device_bits=None,
    bits: int = 8,
) -> nn.Module:
    cfg = cost.analog_config_for(acc, bits, polarity)
    cfg = dataclasses.replace(
        cfg, mapping=dataclasses.replace(cfg.mapping, weight_bits=weight_bits, device_bits=device_bits)
    )
    return tc.convert(model, cfg)


def _inputs(seed: int = 0) -> torch.Tensor:
    return torch.rand(2, *SHAPE, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("layout", ["columns", "arrays"])
def test_two_column_or_two_array_differential_doubles_columns_and_conversions(layout: str) -> None:
    acc = _acc(differential=layout)
    acc = dataclasses.replace(
        acc, adc=dataclasses.replace(acc.adc, ramp_energy_j=0.0)
    )  # the ramp is shared by columns
    diff = cost.estimate(_convert(_layer(), acc), acc, input_shape=SHAPE)
    uni = cost.estimate(_convert(_layer(), acc, polarity="unipolar"), acc, input_shape=SHAPE)
    assert diff.extra["columns"] == 2 * uni.extra["columns"] == 2 * 16
    assert diff.extra["conversions"] == 2 * uni.extra["conversions"]
    assert diff.energy_by_component_j["adc"] == pytest.approx(2 * uni.energy_by_component_j["adc"])
    if layout == "arrays":  # the second array: twice the cells and the whole converter periphery
        assert diff.area_breakdown_mm2["array"] == pytest.approx(2 * uni.area_breakdown_mm2["array"])
        assert diff.area_breakdown_mm2["periphery"] == pytest.approx(2 * uni.area_breakdown_mm2["periphery"])


def test_in_cell_differential_keeps_one_column_and_pays_the_subtractor() -> None:
    acc = _acc(differential="cell")
    diff = cost.estimate(_convert(_layer(), acc), acc, input_shape=SHAPE)
    uni = cost.estimate(_convert(_layer(), acc, polarity="unipolar"), acc, input_shape=SHAPE)
    assert (
        diff.extra["columns"] == uni.extra["columns"]
        and diff.extra["conversions"] == uni.extra["conversions"]
    )
    extra = diff.energy_by_component_j["adc"] - uni.energy_by_component_j["adc"]
    assert extra == pytest.approx(diff.extra["conversions"] * acc.adc.subtract_energy_j)


@pytest.mark.parametrize("weight_bits, device_bits, slices", [(4, 4, 1), (4, 2, 2), (4, 1, 4), (6, 1, 6)])
def test_slice_count_scales_columns_and_conversions(weight_bits: int, device_bits: int, slices: int) -> None:
    acc = _acc()
    one = cost.estimate(_convert(_layer(), acc, weight_bits=4, device_bits=4), acc, input_shape=SHAPE)
    rep = cost.estimate(
        _convert(_layer(), acc, weight_bits=weight_bits, device_bits=device_bits), acc, input_shape=SHAPE
    )
    assert rep.extra["columns"] == slices * one.extra["columns"]
    assert rep.extra["conversions"] == slices * one.extra["conversions"]
    # each extra conversion is one digital shift-and-add
    extra_adds = rep.extra["conversions"] - one.extra["conversions"]
    assert rep.energy_by_component_j["digital"] - one.energy_by_component_j["digital"] == pytest.approx(
        extra_adds * acc.digital.add_energy_j
    )


def test_analog_slice_weighting_converts_once_per_weight_column() -> None:
    acc = _acc(slicing="analog", analog_weight_energy_j=1e-15)
    digital = _acc(slicing="digital")
    m = _convert(_layer(), acc, weight_bits=4, device_bits=1)
    a = cost.estimate(m, acc, input_shape=SHAPE)
    d = cost.estimate(m, digital, input_shape=SHAPE)
    assert a.extra["columns"] == d.extra["columns"] == 4 * 16
    assert 4 * a.extra["conversions"] == d.extra["conversions"]


def test_bit_serial_inputs_convert_every_bit_and_pulse_once_per_one_bit() -> None:
    pw = _acc()
    bs = _acc(input_encoding="bit-serial")
    m = _convert(_layer(), pw)
    x = _inputs()
    a = cost.estimate(m, pw, inputs=x, act_bits=4)
    b = cost.estimate(m, bs, inputs=x, act_bits=4)
    assert b.extra["conversions"] == 4 * a.extra["conversions"]
    # every non-zero code has 1..4 one bits, so bit-serial pulses at least as often, at most 4x
    drives_pw = a.energy_by_component_j["dac"] / pw.dac.drive_energy_j
    drives_bs = b.energy_by_component_j["dac"] / bs.dac.drive_energy_j
    assert drives_pw <= drives_bs <= 4 * drives_pw
    # 4 cycles of (t_fixed + 1 step + 2^4 ramp steps) against one of (t_fixed + 15 + 16 steps)
    step, fixed = pw.dac.step_time_s, pw.mvm_fixed_time_s
    assert b.latency_s / a.latency_s == pytest.approx(4 * (fixed + 17 * step) / (fixed + 31 * step))


def test_popcount() -> None:
    from tinycim.cost.activity import popcount

    codes = torch.arange(16.0)
    assert popcount(codes, 4).tolist() == [bin(i).count("1") for i in range(16)]


def _with_current(acc: cost.Accelerator, k: float) -> cost.Accelerator:
    return dataclasses.replace(acc, adc=dataclasses.replace(acc.adc, column_current_w_per_s=k))


def test_column_current_term_follows_the_on_cells_and_vanishes_when_off() -> None:
    from tinycim.cost.presets import NEUROSIM_ADC_CURRENT_W_PER_S

    acc = _with_current(cost.get_accelerator("hamq-bitcell"), NEUROSIM_ADC_CURRENT_W_PER_S)
    dense, sparse = _layer(), _layer()
    with torch.no_grad():  # same max|w|; most weights to small codes -> fewer ON bit-cells
        w = sparse.weight
        w.copy_(w.sign() * w.abs() ** 4 / w.abs().max() ** 3)
    x = _inputs()
    md, ms = (_convert(m, acc, weight_bits=6, device_bits=1) for m in (dense, sparse))
    on = [float((mm.get_submodule("").conductances(0) > 0).sum()) for mm in (md, ms)]
    assert on[1] < 0.7 * on[0]
    rd, rs = (cost.estimate(m, acc, inputs=x, act_bits=6) for m in (md, ms))
    assert rs.energy_by_component_j["adc"] < rd.energy_by_component_j["adc"]
    # the term is k * G_read * t_conv with G_read the input-weighted conductance that also sets the cell energy
    off = _with_current(acc, 0.0)
    rd0, rs0 = (cost.estimate(m, off, inputs=x, act_bits=6) for m in (md, ms))
    assert rd0.energy_by_component_j["adc"] == pytest.approx(rs0.energy_by_component_j["adc"])
    t_conv = acc.adc.conversion_cycle_s(6)
    for on_rep, off_rep in ((rd, rd0), (rs, rs0)):
        g_read_s = on_rep.energy_by_component_j["array"] / (acc.array.read_voltage_v**2 * acc.dac.step_time_s)
        current = on_rep.energy_by_component_j["adc"] - off_rep.energy_by_component_j["adc"]
        assert current == pytest.approx(acc.adc.column_current_w_per_s * g_read_s * t_conv, rel=1e-6)


def test_gating_removes_idle_column_bias() -> None:
    ungated = cost.get_accelerator("aon-cim")
    gated = dataclasses.replace(ungated, array=dataclasses.replace(ungated.array, gate_unused_columns=True))
    m = _convert(_layer(), ungated)
    a = cost.estimate(m, ungated, input_shape=SHAPE)
    b = cost.estimate(m, gated, input_shape=SHAPE)
    assert a.layers[0].utilization < 0.01
    ratio = b.energy_by_component_j["readout_bias"] / a.energy_by_component_j["readout_bias"]
    assert ratio == pytest.approx(16 / ungated.array.cols)
    for comp in ("dac", "array", "adc", "digital", "sram"):
        assert b.energy_by_component_j[comp] == pytest.approx(a.energy_by_component_j[comp])


def test_custom_per_layer_periphery_sums_blocks_and_uniform_shares_the_largest() -> None:
    acc = cost.get_accelerator("unipolar-ijcnn")
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv1d(4, 8, 3), nn.ReLU(), nn.Conv1d(8, 16, 3), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 6, 5)
    )
    m = _convert(net, acc, polarity="unipolar", weight_bits=2, device_bits=2)
    per = cost.estimate(m, acc, input_shape=(4, 10), periphery="per-layer")
    uni = cost.estimate(m, acc, input_shape=(4, 10), periphery="uniform")
    blocks = [(12, 8), (24, 16), (96, 5)]  # rows x columns of each layer
    adc, dac = acc.adc.area_um2, acc.dac.area_um2
    assert per.area_breakdown_mm2["periphery"] == pytest.approx(
        sum(r * dac + c * adc for r, c in blocks) / 1e6
    )
    assert uni.area_breakdown_mm2["periphery"] == pytest.approx((96 * dac + 16 * adc) / 1e6)
    assert per.area_breakdown_mm2["array"] == pytest.approx(
        sum(r * c for r, c in blocks) * acc.array.device_area_um2 / 1e6
    )
    assert uni.energy_per_inference_j < per.energy_per_inference_j


def test_hermes_chip_area_per_core() -> None:
    """64 fully used cores: 0.62 mm^2 each with their digital units -> about 1.59 TOPS/mm^2 (Le Gallo 2023)."""
    torch.manual_seed(0)
    chip = nn.Linear(2048, 2048)  # 8 x 8 = 64 tiles of 256 x 256
    rep = cost.estimate(chip, "hermes", input_shape=(2048,), act_bits=8)
    assert rep.cores_used == 64
    assert rep.area_mm2 / 64 == pytest.approx(0.62, rel=0.02)
    assert rep.tops_per_mm2 == pytest.approx(1.59, rel=0.05)


def test_dac_drive_energy_is_isaacs_scaled_to_14nm() -> None:
    from tinycim.cost import presets

    assert presets.ISAAC_DAC_DRIVE_32NM_J == pytest.approx(0.33e-12, rel=0.02)
    assert cost.get_accelerator("aon-cim").dac.drive_energy_j == pytest.approx(0.33e-12 * 0.21, rel=0.02)


@pytest.mark.parametrize(
    "make, field, allowed",
    [
        (lambda: cost.LayoutSpec(differential="pair"), "layout.differential", "'cell', 'columns', 'arrays'"),
        (lambda: cost.LayoutSpec(slicing="none"), "layout.slicing", "'digital', 'analog'"),
        (
            lambda: cost.LayoutSpec(input_encoding="pwm"),
            "layout.input_encoding",
            "'pulse-width', 'bit-serial'",
        ),
        (lambda: cost.LayoutSpec(analog_weight_energy_j=-1.0), "layout.analog_weight_energy_j", ">= 0"),
        (lambda: cost.ArraySpec(area_mode="chip"), "array.area_mode", "'array', 'used'"),
        (lambda: cost.ADCSpec(column_current_w_per_s=float("inf")), "adc.column_current_w_per_s", ">= 0"),
        (
            lambda: cost.Accelerator(per_layer_periphery="shared"),
            "accelerator.per_layer_periphery",
            "'gain', 'custom'",
        ),
        (lambda: cost.Accelerator(weight_bits=0), "accelerator.weight_bits", "1..16"),
        (lambda: cost.DigitalSpec(per_core="yes"), "digital.per_core", "true/false"),
    ],
)
def test_new_fields_are_validated(make, field: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as err:
        make()
    assert field in str(err.value) and allowed in str(err.value)


@pytest.mark.parametrize(
    "joules, text", [(1.2e-7, "120 nJ"), (3.4e-12, "3.4 pJ"), (0.0, "0 J"), (2.5e-6, "2.5 uJ")]
)
def test_format_energy(joules: float, text: str) -> None:
    assert cost.format_energy(joules) == text
