"""HWAConfig / TrainConfig: defaults, presets, JSON round trip, and clear errors for bad values."""
from __future__ import annotations

import dataclasses

import pytest

from tinycim.config import AnalogConfig
from tinycim.errors import ConfigError
from tinycim.train import HWAConfig, TrainConfig


def test_default_is_plain_and_preset_is_hardware_aware():
    assert not HWAConfig().enabled
    pcm = HWAConfig.preset("pcm")
    assert pcm.enabled and pcm.dac_bits == 8 and pcm.adc_bits == 8 and pcm.fold_bn and pcm.noise == "device"
    assert HWAConfig.preset("pcm-gaussian").noise == "gaussian"


@pytest.mark.parametrize("cls,value", [(HWAConfig, HWAConfig.preset("pcm")), (TrainConfig, TrainConfig(epochs=3))])
def test_json_round_trip(cls, value):
    assert cls.from_json(value.to_json()) == value


@pytest.mark.parametrize("field,value,needle", [
    ("noise", "pink", "hwa.noise"), ("noise_eta", -0.1, "hwa.noise_eta"), ("noise_eta", float("nan"), "hwa.noise_eta"),
    ("dac_bits", 1, "hwa.dac_bits"), ("adc_bits", 17, "hwa.adc_bits"), ("clip", "max", "hwa.clip"),
    ("unipolar", "both", "hwa.unipolar"), ("remap_every", 0, "hwa.remap_every"), ("tile_rows", 0, "hwa.tile_rows"),
    ("range_percentile", 0.0, "hwa.range_percentile"), ("noise_t_max_s", 0.5, "hwa.noise_t_max_s"),
])
def test_hwa_invalid_values_name_field_and_range(field, value, needle):
    with pytest.raises(ConfigError, match="allowed") as err:
        HWAConfig(**{field: value})
    assert needle in str(err.value)


def test_hwa_cross_field_checks():
    with pytest.raises(ConfigError, match="hamq_lambda"):
        HWAConfig(hamq_lambda=0.1)
    with pytest.raises(ConfigError, match="device_bits"):
        HWAConfig(device_bits=2)
    with pytest.raises(ConfigError, match="weight_range"):
        HWAConfig(uniform=True, weight_range="column")
    with pytest.raises(ConfigError, match="unknown HWA preset"):
        HWAConfig.preset("nope")
    with pytest.raises(ConfigError, match="unknown field"):
        HWAConfig.from_dict({"nosie": "gaussian"})


@pytest.mark.parametrize("field,value", [("epochs", -1), ("lr", 0.0), ("batch_size", 0), ("optimizer", "lion"),
                                         ("scheduler", "step"), ("distill_alpha", 2.0), ("grad_clip", -1.0)])
def test_train_invalid_values(field, value):
    with pytest.raises(ConfigError, match=f"train.{field} .* allowed"):
        TrainConfig(**{field: value})


def test_analog_config_follows_recipe():
    hwa = dataclasses.replace(HWAConfig.preset("pcm"), dac_bits=6, adc_bits=4, unipolar="positive", weight_bits=2,
                              tile_rows=256)
    cfg = hwa.analog_config("pcm")
    assert (cfg.dac.bits, cfg.adc.bits, cfg.tile.rows) == (6, 4, 256)
    assert cfg.mapping.polarity == "unipolar" and cfg.mapping.unipolar_sign == "positive"
    assert cfg.mapping.weight_bits == 2 and not cfg.fold_bn
    plain = HWAConfig().analog_config("pcm")  # a plain run keeps the preset's converters
    assert plain.dac.bits == AnalogConfig.preset("pcm").dac.bits
