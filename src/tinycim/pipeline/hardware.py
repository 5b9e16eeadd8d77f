"""A recipe's hardware: the chip it names (`recipe_chip`) and, per hardware-aware phase, how to train
and on which chip (`phase_configs`). What a phase trains on is what it is drifted and costed on."""

from __future__ import annotations

import dataclasses

from tinycim.compat import legacy_hardware, split_legacy
from tinycim.config import AnalogConfig
from tinycim.pipeline.recipe import Phase, Recipe, deep_merge
from tinycim.train.config import HWAConfig


def recipe_chip(recipe: Recipe) -> AnalogConfig:
    """The recipe's `analog` preset with its overrides deep-merged (the plain twin's chip)."""
    cfg = AnalogConfig.preset(recipe.analog_preset)
    if recipe.analog_overrides:
        cfg = AnalogConfig.from_dict(deep_merge(cfg.to_dict(), recipe.analog_overrides))
    return cfg


def phase_configs(phase: Phase, base: AnalogConfig) -> tuple[HWAConfig, AnalogConfig]:
    """(HWAConfig, AnalogConfig) of a hardware-aware phase: its HWA preset with the phase's training
    overrides, and the recipe's chip `base` with the phase's `analog` sections deep-merged. 0.1 recipes
    wrote hardware field names into the overrides (dac_bits, unipolar, weight_bits, ...):
    tinycim.compat applies those to the chip first."""
    train, hardware = split_legacy(dict(phase.overrides or {}))
    hwa = HWAConfig.preset(phase.preset or "pcm")
    if train:
        hwa = dataclasses.replace(hwa, **train)
    analog = legacy_hardware(base, hardware)
    if phase.analog:
        analog = AnalogConfig.from_dict(deep_merge(analog.to_dict(), phase.analog))
    return hwa, analog
