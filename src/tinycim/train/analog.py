"""From a trained model to the analog model that evaluates it, and back to digital.

A prepared model already *is* the analog model (one layer type for training and inference);
`to_analog` freezes what training learned (no noise, ranges fixed) in a copy. Given other
hardware, it re-targets the trained weights: converted for that config, learned ranges carried
where they still mean the same thing, and recalibrated where they do not.
"""

from __future__ import annotations

import copy
import warnings

import torch
from torch import nn

from tinycim.config import AnalogConfig, resolve_preset
from tinycim.nn.api import calibrate
from tinycim.nn.convert import analog_layers, convert, model_info_or_none, to_digital
from tinycim.train.prepare import detach


def to_analog(
    model: nn.Module,
    analog_config: AnalogConfig | str | None = None,
    calibrate_with: torch.Tensor | None = None,
    percentile: float = 99.99,
) -> nn.Module:
    """The analog model of a trained model, ready to program.

    model: a prepared (hardware-aware trained) model, a converted one, or a plain digital model.
    analog_config: None (or the config the model was prepared with) keeps its hardware, learned
        ranges frozen. Another config (e.g. other converter bits, tile size or device) re-targets
        the trained weights: each layer keeps its learned DAC range (input units) and, when its
        tile rows are unchanged, its ADC range; ranges that do not carry over are calibrated on
        `calibrate_with` when given (else they take each sample's range: ideal gain control, with
        a warning). A digital model is converted with `analog_config` (default "pcm").
    calibrate_with: a representative batch [B, ...] for ranges not set by training.
    """
    info = model_info_or_none(model)
    target = (
        None
        if analog_config is None
        else resolve_preset(analog_config, AnalogConfig, AnalogConfig.preset, "analog_config")
    )
    if info is not None and (target is None or target == info.config):
        out = copy.deepcopy(model)
        for _, layer in analog_layers(out):
            detach(layer)
        _calibrate_missing(out, calibrate_with, percentile)
        return out.eval()
    out = convert(to_digital(model) if info is not None else model, target or "pcm")
    if info is not None:
        trained = dict(analog_layers(model))
        with torch.no_grad():
            for name, layer in analog_layers(out):
                old = trained.get(name)
                if old is None:
                    continue
                dac, adc = layer.periphery.converters()
                if dac.active and old.periphery.dac.calibrated and dac.fixed is None:
                    dac.set_range(old.periphery.dac.range_value())
                same_rows = old.geometry.row_chunks == layer.geometry.row_chunks
                same_unit = old.periphery.dac.active == dac.active
                if (
                    adc.active
                    and old.periphery.adc.calibrated
                    and adc.fixed is None
                    and same_rows
                    and same_unit
                ):
                    adc.set_range(old.periphery.adc.range_value())
                if layer.unipolar_sign is not None and old.unipolar_sign is not None:
                    layer.unipolar_sign.copy_(old.unipolar_sign)
    _calibrate_missing(out, calibrate_with, percentile)
    return out.eval()


def _calibrate_missing(model: nn.Module, x: torch.Tensor | None, percentile: float) -> None:
    missing = [
        name
        for name, layer in analog_layers(model)
        if any(c.active and not c.calibrated for c in layer.periphery.converters())
    ]
    if not missing:
        return
    if x is not None:
        calibrate(model, x, percentile=percentile, keep_calibrated=True)
    else:
        warnings.warn(
            f"{len(missing)} layer(s) have converters without a range ({', '.join(missing[:3])}"
            f"{', ...' if len(missing) > 3 else ''}): they use each sample's range (ideal gain "
            "control); pass calibrate_with= a batch to fix them",
            stacklevel=3,
        )


__all__ = ["to_analog", "to_digital"]
