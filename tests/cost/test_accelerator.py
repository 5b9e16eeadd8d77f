"""Accelerator presets: JSON round trips and validation messages."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinycim.cost as cost
from tinycim.errors import ConfigError


@pytest.mark.parametrize("name", sorted(cost.ACCELERATORS))
def test_presets_round_trip_through_json(name: str) -> None:
    acc = cost.get_accelerator(name)
    assert cost.Accelerator.from_json(acc.to_json()) == acc


@settings(max_examples=30, deadline=None)
@given(
    rows=st.integers(1, 4096),
    cols=st.integers(1, 4096),
    cores=st.integers(1, 256),
    energy=st.floats(0, 1e-9),
    step=st.floats(1e-12, 1e-6),
    kind=st.sampled_from(["ramp", "sar"]),
    execution=st.sampled_from(["layer-serial", "tiled"]),
)
def test_any_valid_accelerator_round_trips(rows, cols, cores, energy, step, kind, execution) -> None:
    acc = cost.Accelerator(
        name="x",
        execution=execution,
        array=cost.ArraySpec(rows, cols, cores),
        dac=cost.DACSpec(step_time_s=step, drive_energy_j=energy),
        adc=cost.ADCSpec(kind=kind, fixed_energy_j=energy, step_time_s=step),
    )
    assert cost.Accelerator.from_json(acc.to_json()) == acc


@pytest.mark.parametrize(
    "make, field, allowed",
    [
        (lambda: cost.ArraySpec(rows=0), "array.rows", "1..65536"),
        (lambda: cost.ArraySpec(read_voltage_v=0.0), "array.read_voltage_v", "> 0"),
        (lambda: cost.ArraySpec(col_bias_power_w=-1e-6), "array.col_bias_power_w", ">= 0"),
        (lambda: cost.DACSpec(step_time_s=float("nan")), "dac.step_time_s", "> 0"),
        (lambda: cost.ADCSpec(kind="flash"), "adc.kind", "ramp, sar"),
        (lambda: cost.ADCSpec(cols_per_adc=0), "adc.cols_per_adc", "1..65536"),
        (lambda: cost.DigitalSpec(sram_energy_per_bit_j=-1.0), "digital.sram_energy_per_bit_j", ">= 0"),
        (lambda: cost.Accelerator(execution="systolic"), "accelerator.execution", "layer-serial, tiled"),
    ],
)
def test_invalid_parameters_name_field_and_range(make, field: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as err:
        make()
    assert field in str(err.value) and allowed in str(err.value)


def test_from_json_rejects_unknown_fields_and_bad_json() -> None:
    data = cost.get_accelerator("aon-cim").to_dict()
    data["array"]["colour"] = 1
    with pytest.raises(ConfigError, match="array has unknown field"):
        cost.Accelerator.from_dict(data)
    with pytest.raises(ConfigError, match="not valid JSON"):
        cost.Accelerator.from_json("{")
    with pytest.raises(ConfigError, match="unknown accelerator 'tpu'"):
        cost.get_accelerator("tpu")


def test_replace_is_validated() -> None:
    acc = cost.get_accelerator("hermes")
    with pytest.raises(ConfigError, match="array.cores"):
        dataclasses.replace(acc, array=dataclasses.replace(acc.array, cores=0))


def test_claim_scope_names_match_the_components_the_model_counts() -> None:
    from tinycim.cost.accelerator import ENERGY_COMPONENTS
    from tinycim.cost.events import COMPONENTS

    assert ENERGY_COMPONENTS == COMPONENTS


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"energy_scope": ("array", "ssd")}, "accelerator.energy_scope"),
        ({"energy_scope": "array"}, "accelerator.energy_scope"),
        ({"area_scope": ("array", "array")}, "accelerator.area_scope"),
        ({"area_scope": ("adc",)}, "accelerator.area_scope"),
        ({"scope_note": 3}, "accelerator.scope_note"),
    ],
)
def test_invalid_claim_scope_names_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        cost.Accelerator(**kwargs)


def test_scoped_figures_sum_the_named_parts_and_default_to_the_whole_chip(cnn) -> None:
    acc = cost.get_accelerator("unipolar-ijcnn")
    rep = cost.estimate(cnn, acc, act_bits=8)
    parts = rep.energy_by_component_j
    assert acc.scoped_energy_j(parts) == pytest.approx(sum(parts[k] for k in acc.energy_scope))
    assert acc.scoped_area_mm2(rep.area_breakdown_mm2) == pytest.approx(
        rep.area_breakdown_mm2["array"] + rep.area_breakdown_mm2["periphery"]
    )
    whole = dataclasses.replace(acc, energy_scope=(), area_scope=())
    assert whole.scoped_energy_j(parts) == pytest.approx(rep.energy_per_inference_j)
    assert whole.scoped_area_mm2(rep.area_breakdown_mm2) == pytest.approx(rep.area_mm2)
    # a scope read back from JSON (lists) is the same tuple
    assert cost.Accelerator.from_dict(json.loads(acc.to_json())).energy_scope == acc.energy_scope


def test_hamq_bitcell_counts_the_bit_line_current_once_and_claims_it() -> None:
    acc = cost.get_accelerator("hamq-bitcell")
    assert acc.adc.column_current_w_per_s == 0.0  # the cell-read energy is the bit-line current
    assert acc.energy_scope == ("array",)
    assert "reconstruction" in acc.description and acc.scope_note
