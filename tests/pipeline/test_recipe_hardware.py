"""A recipe's hardware-aware phase: training fields in `overrides`, its chip in `analog` (one
hardware description); 0.1's hardware names in `overrides` still load to the same configs."""

from __future__ import annotations

import copy

from tinycim.pipeline.recipe import recipe_from_dict
from tinycim.pipeline.hardware import phase_configs, recipe_chip

BASE = {
    "name": "tiny",
    "model": "digits_cnn",
    "dataset": "digits",
    "phases": {"fp": {"epochs": 1, "lr": 0.01}},
    "analog": {"preset": "pcm"},
}


def _configs(hwa_phase: dict):
    data = copy.deepcopy(BASE)
    data["phases"]["hwa"] = {"epochs": 1, "lr": 0.01, "preset": "pcm", **hwa_phase}
    recipe = recipe_from_dict(data, source="r.yaml")
    assert recipe.hwa is not None
    return phase_configs(recipe.hwa, recipe_chip(recipe))


def test_phase_analog_sections_and_legacy_names_give_the_same_configs():
    new_hwa, new_chip = _configs(
        {
            "overrides": {"unipolar_init": "magnitude", "hamq_lambda": 0.5},
            "analog": {
                "mapping": {"polarity": "unipolar", "unipolar_sign": "positive", "weight_bits": 2},
                "dac": {"bits": 6},
                "tile": {"rows": 256},
                "fold_bn": False,
            },
        }
    )
    old_hwa, old_chip = _configs(
        {
            "overrides": {
                "unipolar_init": "magnitude",
                "hamq_lambda": 0.5,
                "unipolar": "positive",
                "weight_bits": 2,
                "dac_bits": 6,
                "tile_rows": 256,
                "fold_bn": False,
            }
        }
    )
    assert new_hwa == old_hwa and new_chip == old_chip
    assert new_chip.mapping.polarity == "unipolar" and new_chip.mapping.weight_bits == 2
    assert new_chip.dac.bits == 6 and new_chip.tile.rows == 256 and new_chip.fold_bn is False
    assert new_chip.adc.bits == 8  # untouched sections stay the recipe's chip


def test_phase_analog_keeps_the_recipes_chip_and_its_per_layer_overrides():
    data = copy.deepcopy(BASE)
    data["analog"] = {"preset": "pcm", "overrides": {"adc": {"bits": 6}, "layers": {"head.2": "digital"}}}
    data["phases"]["hwa"] = {"epochs": 1, "lr": 0.01, "analog": {"mapping": {"weight_bits": 4}}}
    recipe = recipe_from_dict(data, source="r.yaml")
    assert recipe.hwa is not None
    _, chip = phase_configs(recipe.hwa, recipe_chip(recipe))
    assert chip.adc.bits == 6 and chip.mapping.weight_bits == 4
    assert chip.layers == {"head.2": "digital"}
