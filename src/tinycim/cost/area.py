"""Chip area (mm^2) of a placed model: arrays, converter periphery and the digital block.

array      "array" area mode: every array of the chip (rows x cols cells x devices per cell),
           x2 arrays when some differential layer keeps G+ and G- in two arrays;
           "used" area mode: every block is a crossbar sized to it (sum of rows x cols cells).
periphery  a converter set = a driver per row + an ADC per `cols_per_adc` columns + per column a
           subtractor (in-cell differential), an analog slice-weighting stage (analog slicing)
           and a gain stage ("gain" per-layer periphery):
           - per-layer "custom" periphery: one full-custom set per layer block (summed);
           - otherwise one shared design: a set per array ("array" mode; tiled "used" mode: per
             block, each on its own core), or ONE set sized to the largest block (layer-serial
             "used" mode: the layers take turns on it).
digital    SRAM + logic, once per chip, or once per core used (`digital.per_core`).
"""

from __future__ import annotations

import math

from tinycim.cost.accelerator import Accelerator
from tinycim.cost.activity import LayerActivity
from tinycim.cost.placement import Block

_UM2_PER_MM2 = 1e6


def _converter_set_um2(
    acc: Accelerator, rows: int, cols: int, *, subtract: bool, weighting: bool, gain: bool
) -> float:
    adc = acc.adc
    return (
        rows * acc.dac.area_um2
        + math.ceil(cols / adc.cols_per_adc) * adc.area_um2
        + cols
        * (
            (adc.subtract_area_um2 if subtract else 0.0)
            + (acc.layout.analog_weight_area_um2 if weighting else 0.0)
            + (adc.gain_area_um2 if gain else 0.0)
        )
    )


def area_mm2(
    acc: Accelerator,
    blocks: list[Block],
    layers: dict[str, LayerActivity],
    cores: int,
    per_layer_periphery: bool,
) -> dict[str, float]:
    """Area by block ("array", "periphery", "digital") in mm^2.

    blocks: the placed blocks (physical rows x columns); layers: each layer's activity (its polarity
    and slices); cores: arrays counted ("array" mode) and digital blocks (`per_core`)."""
    arr, lay = acc.array, acc.layout

    def copies(act: LayerActivity) -> int:
        return 2 if act.differential and lay.differential == "arrays" else 1

    def cell_devices(act: LayerActivity) -> int:
        return 2 if act.differential and lay.differential == "cell" else 1

    def subtract(act: LayerActivity) -> bool:
        return act.differential and lay.differential == "cell"

    def weighting(act: LayerActivity) -> bool:
        return lay.slicing == "analog" and act.slices > 1

    mine = [(b, layers[b.layer]) for b in blocks if b.layer in layers]
    acts = [a for _, a in mine]
    max_copies = max((copies(a) for a in acts), default=1)
    any_sub = any(subtract(a) for a in acts)
    any_weight = any(weighting(a) for a in acts)
    if arr.area_mode == "array":
        cells = cores * max_copies * arr.rows * arr.cols * max((cell_devices(a) for a in acts), default=1)
    else:
        cells = sum(copies(a) * b.rows * b.cols * cell_devices(a) for b, a in mine)
    if per_layer_periphery and acc.per_layer_periphery == "custom":
        periph = sum(
            copies(a)
            * _converter_set_um2(
                acc, b.rows, b.cols, subtract=subtract(a), weighting=weighting(a), gain=False
            )
            for b, a in mine
        )
    else:
        gain = per_layer_periphery
        if arr.area_mode == "array":
            periph = (
                cores
                * max_copies
                * _converter_set_um2(
                    acc, arr.rows, arr.cols, subtract=any_sub, weighting=any_weight, gain=gain
                )
            )
        elif acc.execution == "layer-serial":
            rows = max((b.rows for b, _ in mine), default=0)
            cols = max((b.cols for b, _ in mine), default=0)
            periph = max_copies * _converter_set_um2(
                acc, rows, cols, subtract=any_sub, weighting=any_weight, gain=gain
            )
        else:
            periph = sum(
                copies(a)
                * _converter_set_um2(
                    acc, b.rows, b.cols, subtract=subtract(a), weighting=weighting(a), gain=gain
                )
                for b, a in mine
            )
    dig = acc.digital
    digital = (dig.sram_kib * dig.sram_area_mm2_per_kib + dig.logic_area_mm2) * (
        max(cores, 1) if dig.per_core else 1
    )
    return {
        "array": cells * arr.device_area_um2 / _UM2_PER_MM2,
        "periphery": periph / _UM2_PER_MM2,
        "digital": digital,
    }
