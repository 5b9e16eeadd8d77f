"""HWAConfig / TrainConfig: defaults, presets, JSON round trip, version 1, and clear errors for bad values."""

from __future__ import annotations

import dataclasses

import pytest

from tinycim.config import AnalogConfig
from tinycim.errors import ConfigError
from tinycim.train import HWAConfig, TrainConfig
from tinycim.compat import LEGACY_HARDWARE_FIELDS, legacy_hardware, split_legacy


def test_hwa_config_restates_no_hardware():
    """The training config says how to train; the hardware is the AnalogConfig's alone."""
    fields = {f.name for f in dataclasses.fields(HWAConfig)}
    assert not fields & set(LEGACY_HARDWARE_FIELDS)
    assert not fields & {f.name for f in dataclasses.fields(AnalogConfig)} - {"version"}
    pcm = HWAConfig.preset("pcm")
    assert pcm.noise == "device" and pcm.clip == "std"
    assert HWAConfig.preset("pcm-gaussian").noise == "gaussian"


@pytest.mark.parametrize(
    "cls,value", [(HWAConfig, HWAConfig.preset("pcm")), (TrainConfig, TrainConfig(epochs=3))]
)
def test_json_round_trip(cls, value):
    assert cls.from_json(value.to_json()) == value


@pytest.mark.parametrize(
    "field,value,needle",
    [
        ("noise", "pink", "hwa.noise"),
        ("noise_eta", -0.1, "hwa.noise_eta"),
        ("noise_eta", float("nan"), "hwa.noise_eta"),
        ("clip", "max", "hwa.clip"),
        ("unipolar_init", "flip", "hwa.unipolar_init"),
        ("range_percentile", 0.0, "hwa.range_percentile"),
        ("noise_t_max_s", 0.5, "hwa.noise_t_max_s"),
        ("hamq_lambda", -1.0, "hwa.hamq_lambda"),
    ],
)
def test_hwa_invalid_values_name_field_and_range(field, value, needle):
    with pytest.raises(ConfigError, match="allowed") as err:
        HWAConfig(**{field: value})
    assert needle in str(err.value)


def test_hwa_unknown_names():
    with pytest.raises(ConfigError, match="unknown HWA preset"):
        HWAConfig.preset("nope")
    with pytest.raises(ConfigError, match="unknown field"):
        HWAConfig.from_dict({"nosie": "gaussian"})


@pytest.mark.parametrize(
    "field,value",
    [
        ("epochs", -1),
        ("lr", 0.0),
        ("batch_size", 0),
        ("optimizer", "lion"),
        ("scheduler", "step"),
        ("distill_alpha", 2.0),
        ("grad_clip", -1.0),
    ],
)
def test_train_invalid_values(field, value):
    with pytest.raises(ConfigError, match=f"train.{field} .* allowed"):
        TrainConfig(**{field: value})


def test_version_1_hwa_fields_become_the_analog_config():
    v1 = {
        "noise": "device",
        "clip": "std",
        "dac_bits": 6,
        "adc_bits": 4,
        "unipolar": "positive",
        "weight_bits": 2,
        "tile_rows": 256,
        "fold_bn": False,
        "version": 1,
    }
    train, hardware = split_legacy(v1)
    assert HWAConfig.from_dict(train) == HWAConfig(noise="device", clip="std")
    assert HWAConfig.from_dict(v1) == HWAConfig(noise="device", clip="std")  # v1 dicts read as such
    cfg = legacy_hardware(AnalogConfig.preset("pcm"), hardware)
    assert (cfg.dac.bits, cfg.adc.bits, cfg.tile.rows) == (6, 4, 256)
    assert cfg.mapping.polarity == "unipolar" and cfg.mapping.unipolar_sign == "positive"
    assert cfg.mapping.weight_bits == 2 and not cfg.fold_bn
    assert (
        legacy_hardware(
            AnalogConfig.preset("pcm"), {"unipolar": "auto", "unipolar_granularity": "layer"}
        ).mapping.unipolar_sign
        == "auto-layer"
    )
    with pytest.raises(ConfigError, match="hwa.remap_every = 3 is no longer supported"):
        split_legacy({"remap_every": 3})
