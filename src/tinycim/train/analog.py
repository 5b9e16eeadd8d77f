"""From a trained (prepared) model to the analog model that evaluates it, and back to digital.

`to_analog` freezes what training learned into `tc.convert`'s analog layers: the DAC range
(input units) into `input_range`, the ADC range (normalized units, per row tile) into
`output_range` (per-layer mode) or into the config's `dac.range` / `adc.range` (uniform mode,
seed B), and the weight range, polarity and levels into the mapping.
"""
from __future__ import annotations

import copy
import dataclasses

import torch
from torch import nn

from tinycim.config import AnalogConfig
from tinycim.errors import ConfigError
from tinycim.nn.api import calibrate
from tinycim.nn.convert import analog_layers, convert
from tinycim.nn.layers import AnalogLayerMixin
from tinycim.train.config import HWAConfig
from tinycim.train.layers import HWALayerMixin
from tinycim.train.prepare import hwa_config, hwa_layers

_PLAIN = (nn.Conv2d, nn.Conv1d, nn.Linear)


def _plain_copy(layer: nn.Module) -> nn.Module:
    """A plain torch layer with the same hyper-parameters and (copied) weight and bias."""
    base = next(cls for cls in _PLAIN if isinstance(layer, cls))
    if base is nn.Linear:
        new = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
    else:
        new = base(layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
                   padding=layer.padding, dilation=layer.dilation, groups=layer.groups, bias=layer.bias is not None)
    new = new.to(dtype=layer.weight.dtype, device=layer.weight.device)
    with torch.no_grad():
        new.weight.copy_(layer.weight)
        if layer.bias is not None:
            new.bias.copy_(layer.bias)
    new.train(layer.training)
    return new


def to_digital(model: nn.Module) -> nn.Module:
    """A plain FP32 copy of a prepared or analog model: HWA / analog layers back to torch layers
    (with the trained, BN-folded weights), hooks and shared HWA state dropped."""
    out = copy.deepcopy(model)
    for parent_name, parent in list(out.named_modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, (HWALayerMixin, AnalogLayerMixin)):
                setattr(parent, child_name, _plain_copy(child))
    out._forward_hooks.clear()
    out._forward_pre_hooks.clear()
    if hasattr(out, "tinycim"):
        del out.tinycim
    return out


def to_analog(prepared: nn.Module, analog_config: AnalogConfig | str | None = None,
              calibrate_with: torch.Tensor | None = None, percentile: float = 99.99) -> nn.Module:
    """The analog model of a trained model, with the learned converter ranges frozen.

    analog_config: the hardware to run on (an AnalogConfig or preset name); None = the `pcm`
    preset set up as the HWA recipe trained for (`HWAConfig.analog_config`). BatchNorm was folded
    (or not) by `prepare`, so conversion never folds again. Raises ConfigError when the config's
    tile rows differ from the rows the ADC ranges were learned for.

    calibrate_with: a representative batch [B, ...]; converter ranges training did not learn
    (e.g. a plainly trained model run with 8-bit DAC/ADC) are then set by `tc.calibrate` at
    `percentile`, instead of the ideal per-sample gain control of uncalibrated layers.
    """
    hwa = hwa_config(prepared)
    if analog_config is None:
        cfg = hwa.analog_config("pcm")
    elif isinstance(analog_config, str):
        cfg = hwa.analog_config(analog_config)
    else:
        cfg = analog_config
    if hwa.adc_bits and cfg.tile.rows != hwa.tile_rows:
        raise ConfigError(f"analog tile.rows = {cfg.tile.rows} differs from hwa.tile_rows = {hwa.tile_rows}, "
                          "the rows the ADC ranges were learned for: allowed value " + str(hwa.tile_rows))
    cfg = dataclasses.replace(cfg, fold_bn=False)
    layers = dict(hwa_layers(prepared))
    if hwa.uniform and layers:
        first = next(iter(layers.values()))
        scale = float(first.w_scale.max())
        mapping = dataclasses.replace(cfg.mapping, weight_range="uniform", weight_max=scale)
        dac, adc = cfg.dac, cfg.adc
        if hwa.dac_bits and dac.bits is not None:
            dac = dataclasses.replace(dac, range=float(first.input_range.detach()))
        if hwa.adc_bits and adc.bits is not None:
            r_in = float(first.input_range.detach()) if hwa.dac_bits and dac.bits is None else 1.0
            adc = dataclasses.replace(adc, range=float(first.output_range.detach()) * r_in)
        cfg = dataclasses.replace(cfg, mapping=mapping, dac=dac, adc=adc)
    amodel = convert(to_digital(prepared), cfg)
    if calibrate_with is not None and not (hwa.dac_bits or hwa.adc_bits):
        calibrate(amodel, calibrate_with, percentile=percentile)
    _map_layer_polarities(amodel, layers, hwa)
    if hwa.uniform:
        return amodel
    with torch.no_grad():
        for name, alayer in analog_layers(amodel):
            hlayer = layers.get(name)
            if hlayer is None:
                continue
            r_in = hlayer.input_range
            if r_in is not None:
                alayer.input_range.fill_(float(r_in.detach()))
            if hlayer.output_range is not None:
                # Without a DAC in the analog model its partial sums are in input units.
                unit = float(r_in.detach()) if r_in is not None and cfg.dac.bits is None else 1.0
                alayer.output_range.fill_(float(hlayer.output_range.detach()) * unit)
    return amodel


def _map_layer_polarities(amodel: nn.Module, hwa_by_name: dict[str, nn.Module], hwa: HWAConfig) -> None:
    """One device per weight for a layer trained with its own fixed sign while the recipe is
    differential (the per-layer polarity genes of the unipolar NAS space): the analog layer gets a
    unipolar mapping of that sign, so it is programmed, costed and drifts as it was trained."""
    if hwa.unipolar is not None:
        return  # model-wide unipolar: the config's mapping already says so
    for name, alayer in analog_layers(amodel):
        sign = getattr(hwa_by_name.get(name), "unipolar_sign", None)
        if sign is None:
            continue
        positive, negative = bool((sign > 0).all()), bool((sign < 0).all())
        if not (positive or negative):
            raise ConfigError(f"layer {name!r} has mixed unipolar signs under a differential recipe; "
                              "per-tile signs need hwa.unipolar='auto' with unipolar_granularity='tile'")
        polarity = "positive" if positive else "negative"
        cfg = alayer.analog_config
        mapping = dataclasses.replace(cfg.mapping, polarity="unipolar", unipolar_sign=polarity)
        alayer.analog_config = dataclasses.replace(cfg, mapping=mapping)
