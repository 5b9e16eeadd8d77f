"""Which layer loses the accuracy: each layer alone on the hardware, the rest ideal, ranked.

    rows = layer_sensitivity(model, test_ds, "pcm", calibrate_with=x_train[:512])
    rows[0]  # {"layer": ..., "acc": ..., "loss_pp": ..., "params": ...}: the most sensitive layer

One call on the one hardware description: for layer L the config is the `ideal` preset with a
`layers` override putting L (only) on the target hardware, so nothing else is simulated twice.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import torch
from torch import nn

from tinycim.config import AnalogConfig, resolve_preset
from tinycim.nn.convert import analog_layers, convert, model_info_or_none, to_digital

ONE_DAY_S = 86400.0


def on_one_layer(target: AnalogConfig, name: str) -> AnalogConfig:
    """The `ideal` preset with only layer `name` on `target`'s hardware (its own overrides included)."""
    layer_cfg = target.for_layer(name)
    ideal = dataclasses.replace(AnalogConfig.preset("ideal"), fold_bn=target.fold_bn)
    if layer_cfg is None:
        return ideal
    full = layer_cfg.to_dict()
    override = {key: full[key] for key in ("device", "tile", "mapping", "dac", "adc", "gdc")}
    return dataclasses.replace(ideal, layers={name: override})


def layer_sensitivity(
    model: nn.Module,
    dataset: Any,
    analog: AnalogConfig | str = "pcm",
    *,
    seconds: float = ONE_DAY_S,
    instances: int = 5,
    seed: int = 0,
    calibrate_with: torch.Tensor | None = None,
    batch_size: int = 512,
) -> list[dict[str, Any]]:
    """Accuracy with each analog layer alone on `analog`'s hardware `seconds` after programming,
    the other layers ideal (FP32 weights, no converters); rows sorted by loss, largest first.

    model: a digital, converted or prepared (trained) model; a trained model keeps its learned
    converter ranges, others take them from `calibrate_with` (a batch [B, ...]).
    Each row: layer, params, acc (mean over `instances` chips), std, loss_pp (vs the all-ideal model).
    """
    from tinycim.train.analog import to_analog
    from tinycim.evaluate.drift import evaluate, evaluate_drift

    target = resolve_preset(analog, AnalogConfig, AnalogConfig.preset, "analog")
    info = model_info_or_none(model)
    digital = to_digital(model) if info is not None else model
    names = [name for name, _ in analog_layers(convert(digital, dataclasses.replace(target, fold_bn=False)))]
    reference = evaluate(to_digital(model) if info is not None else model, dataset, batch_size=batch_size)
    rows = []
    for name in names:
        amodel = to_analog(model, on_one_layer(target, name), calibrate_with=calibrate_with)
        layer = dict(analog_layers(amodel))[name]
        with warnings.catch_warnings():  # one layer's converters costing accuracy is what is measured here
            warnings.filterwarnings("ignore", message="the converters alone cost")
            result = evaluate_drift(
                amodel, dataset, times=[seconds], instances=instances, seed=seed, batch_size=batch_size
            )
        rows.append(
            {
                "layer": name,
                "params": int(layer.weight.numel()),
                "acc": result.mean[0],
                "std": result.std[0],
                "loss_pp": reference - result.mean[0],
            }
        )
    return sorted(rows, key=lambda r: -r["loss_pp"])
