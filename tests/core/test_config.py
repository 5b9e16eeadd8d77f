"""AnalogConfig: presets, validation messages, JSON round trips."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinycim as tc
from tinycim.config import PRESETS


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_round_trips_through_json(name: str) -> None:
    cfg = tc.AnalogConfig.preset(name)
    assert tc.AnalogConfig.from_json(cfg.to_json()) == cfg


def test_required_presets_exist() -> None:
    assert {"ideal", "pcm", "hermes", "rram", "aon-cim"} <= set(PRESETS)
    pcm = tc.AnalogConfig.preset("pcm")
    assert (pcm.dac.bits, pcm.adc.bits, pcm.tile.rows, pcm.tile.cols, pcm.gdc) == (8, 8, 512, 512, "layer")
    assert pcm.mapping.polarity == "differential"
    assert tc.AnalogConfig.preset("hermes").tile.rows == 256


@given(
    dac_bits=st.one_of(st.none(), st.integers(1, 16)),
    adc_bits=st.one_of(st.none(), st.integers(1, 16)),
    rows=st.integers(1, 4096),
    cols=st.integers(1, 4096),
    g_max=st.floats(0.1, 100.0),
    polarity=st.sampled_from(["differential", "unipolar"]),
)
def test_any_valid_config_round_trips(dac_bits, adc_bits, rows, cols, g_max, polarity) -> None:
    cfg = tc.AnalogConfig(
        device=tc.PCMDevice(g_max_us=g_max),
        tile=tc.TileConfig(rows, cols),
        mapping=tc.MappingConfig(polarity=polarity),
        dac=tc.DACConfig(bits=dac_bits),
        adc=tc.ADCConfig(bits=adc_bits),
    )
    assert tc.AnalogConfig.from_json(cfg.to_json()) == cfg


@pytest.mark.parametrize(
    "make, field, allowed",
    [
        (lambda: tc.DACConfig(bits=0), "dac.bits", "1..16"),
        (lambda: tc.ADCConfig(bits=-3), "adc.bits", "1..16"),
        (lambda: tc.TileConfig(rows=0), "tile.rows", "1.."),
        (lambda: tc.TileConfig(cols=0), "tile.cols", "1.."),
        (lambda: tc.PCMDevice(g_max_us=-1.0), "g_max_us", "> 0"),
        (lambda: tc.RRAMDevice(g_max_us=0.0), "g_max_us", "> 0"),
        (lambda: tc.MappingConfig(polarity="tripolar"), "mapping.polarity", "differential"),
        (lambda: tc.ADCConfig(noise=2.0), "adc.noise", "0..1"),
        (lambda: tc.AnalogConfig.preset("flash"), "unknown preset", "pcm"),
    ],
)
def test_invalid_values_name_the_field_and_allowed_range(make, field, allowed) -> None:
    with pytest.raises(ValueError) as err:
        make()
    assert field in str(err.value) and allowed in str(err.value)


def test_replace_revalidates() -> None:
    cfg = tc.AnalogConfig.preset("pcm")
    with pytest.raises(tc.ConfigError, match="dac.bits"):
        dataclasses.replace(cfg, dac=dataclasses.replace(cfg.dac, bits=0))


def test_from_json_rejects_unknown_fields_and_kinds() -> None:
    with pytest.raises(tc.ConfigError, match="unknown field"):
        tc.AnalogConfig.from_dict({"tiles": {}})
    with pytest.raises(tc.ConfigError, match="device.kind"):
        tc.AnalogConfig.from_dict({"device": {"kind": "flash"}})
    with pytest.raises(tc.ConfigError, match="not valid JSON"):
        tc.AnalogConfig.from_json("{")
