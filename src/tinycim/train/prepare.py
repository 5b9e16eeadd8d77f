"""`prepare(model, hwa, analog=...)`: the analog model, set up to train on its own hardware.

`prepare` is `tc.convert` plus how to train (`HWAConfig`): the layers it returns are the same
analog layers that are later programmed, so training simulates exactly the chip the model will
run on. Also here: the per-step weight constraints (clipping, unipolar signs, the uniform weight
range) and the calibration that initializes the learned converter ranges.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tinycim.config import AnalogConfig, resolve_preset
from tinycim.errors import ConfigError
from tinycim.nn.api import calibrate
from tinycim.nn.convert import analog_layers, convert, model_info_or_none
from tinycim.nn.layers import AnalogLayerMixin
from tinycim.train.config import HWAConfig

_TINY = 1e-12


def hwa_layers(model: nn.Module) -> list[tuple[str, AnalogLayerMixin]]:
    """(name, layer) of every analog layer `prepare` set up for training, in module order."""
    return [(n, m) for n, m in analog_layers(model) if m.hwa is not None]


def hwa_config(model: nn.Module) -> HWAConfig | None:
    """The HWAConfig a model was prepared with, or None for a model `prepare` did not make."""
    layers = hwa_layers(model)
    return layers[0][1].hwa if layers else None


def prepare(
    model: nn.Module, hwa: HWAConfig | str = "pcm", analog: AnalogConfig | str = "pcm", seed: int = 0
) -> nn.Module:
    """Return a hardware-aware copy of `model` (which is left untouched).

    analog: the hardware (an AnalogConfig or preset name, with any per-layer overrides): the
        model is converted for it (`tc.convert`: BatchNorm folded when analog.fold_bn), so every
        mapped layer trains on its own converters, tiles, weight levels and polarity.
    hwa: how to train on it (noise, clipping, learned ranges; an HWAConfig or preset name).
    With hwa.unipolar_init "magnitude" the weights of unipolar layers become sign x |w| and every
    other channel's scale of the BatchNorm after each is negated; weight constraints are applied once. `seed`
    seeds the noise (`fit` reseeds it from its TrainConfig.seed).
    """
    how: HWAConfig = resolve_preset(hwa, HWAConfig, HWAConfig.preset, "hwa")
    hardware: AnalogConfig = resolve_preset(analog, AnalogConfig, AnalogConfig.preset, "analog")
    if not isinstance(model, nn.Module):
        raise ConfigError(f"prepare expects a torch.nn.Module, got {type(model).__name__}")
    if model_info_or_none(model) is not None:
        raise ConfigError("this model is already converted or prepared; prepare the original digital model")
    prepared = convert(model, hardware)
    layers = [layer for _, layer in analog_layers(prepared)]
    if not layers:
        raise ConfigError("prepare found no nn.Linear, nn.Conv1d or nn.Conv2d layer to make hardware-aware")
    if how.hamq_lambda > 0 and not any(layer.analog_config.mapping.weight_bits for layer in layers):
        raise ConfigError(
            "hwa.hamq_lambda > 0 needs weight levels: set the analog config's mapping.weight_bits "
            "(HamQ counts ON cells of quantized weights)"
        )
    for layer in layers:
        attach(layer, how, seed)
    if how.unipolar_init == "magnitude":
        _align_unipolar(prepared)
    constrain_(prepared)
    return prepared


def attach(layer: AnalogLayerMixin, hwa: HWAConfig, seed: int = 0) -> None:
    """Set a layer up to train with `hwa` (ranges learn when hwa.learn_ranges); `hwa=None`-like
    detaching is `detach`."""
    layer.hwa = hwa
    for conv in layer.periphery.converters():
        conv.log_range.requires_grad_(hwa.learn_ranges and conv.active and conv.fixed is None)
    layer.seed_noise(seed)


def detach(layer: AnalogLayerMixin) -> None:
    """Freeze what training learned: no training noise, ranges no longer learn."""
    layer.hwa = None
    for conv in layer.periphery.converters():
        conv.log_range.requires_grad_(False)


@torch.no_grad()
def align_to_sign_(layer: AnalogLayerMixin) -> None:
    """Weights become unipolar_sign x |w|: a one-signed copy of the initializer, where projecting
    onto the sign would zero about half of it."""
    assert layer.unipolar_sign is not None
    layer.weight.abs_().mul_(layer.unipolar_sign)


@torch.no_grad()
def negate_every_other_channel_(bn: nn.modules.batchnorm._BatchNorm) -> None:
    """Negate the scale of channels 1, 3, 5, ... of a BatchNorm: the digital per-column sign that
    makes half the columns of a one-signed crossbar inhibitory."""
    bn.weight[1::2] *= -1


@torch.no_grad()
def _align_unipolar(model: nn.Module) -> None:
    """Every unipolar layer's weights become sign x |w|, and the BatchNorm right after it (if one
    comes before the next weight layer) gets a negative scale on every other channel: the digital
    per-column sign of a one-signed crossbar. With one-signed weights and positive BN scales every
    unit is an increasing function of its inputs (no inhibition); half the columns start inhibitory."""
    modules = list(model.named_modules())
    for i, (_, layer) in enumerate(modules):
        if not isinstance(layer, AnalogLayerMixin) or layer.unipolar_sign is None:
            continue
        align_to_sign_(layer)
        bn = _next_batchnorm(modules[i + 1 :], layer.weight.shape[0])
        if bn is not None:
            negate_every_other_channel_(bn)


def _next_batchnorm(
    modules: list[tuple[str, nn.Module]], channels: int
) -> nn.modules.batchnorm._BatchNorm | None:
    """The first affine BatchNorm over `channels` among `modules` (those after a layer, in
    registration order), if one comes before the next weight layer."""
    for _, m in modules:
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            return m if m.affine and m.num_features == channels else None
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            return None
    return None


@torch.no_grad()
def constrain_(model: nn.Module) -> None:
    """Enforce the weight constraints on the stored weights, after an optimizer step.

    Clipping (alpha * std or fixed), unipolar signs (weights of the wrong sign go to 0), and the
    uniform weight range (max|W| over the layers sharing a periphery). A no-op for models
    `prepare` did not make.
    """
    layers = [layer for _, layer in hwa_layers(model)]
    shared: dict[int, list[AnalogLayerMixin]] = {}
    for layer in layers:
        hwa = layer.hwa
        assert hwa is not None
        w = layer.weight  # type: ignore[attr-defined]  # an analog layer: the mixin is typed without nn.Module
        if hwa.clip == "std":
            bound = (
                hwa.clip_value * _spread(w, layer.unipolar_sign is not None) if w.numel() > 1 else math.inf
            )
            w.clamp_(-bound, bound)
        elif hwa.clip == "fixed":
            w.clamp_(-hwa.clip_value, hwa.clip_value)
        if layer.unipolar_sign is not None:
            w.mul_(layer.unipolar_sign).clamp_(min=0).mul_(layer.unipolar_sign)
        if layer.periphery.shared:
            shared.setdefault(id(layer.periphery), []).append(layer)
    for group in shared.values():
        if group[0].analog_config.mapping.weight_max is None:
            top = max(float(layer.weight.abs().max()) for layer in group)  # type: ignore[attr-defined]  # an analog layer: the mixin is typed without nn.Module
            group[0].periphery.set_w_max(top if top > _TINY else 1.0)


def _spread(w: torch.Tensor, one_signed: bool) -> float:
    """The sigma of the alpha * sigma clip. For a one-signed (unipolar) layer the std measures the
    spread around the weights' mean, not their distance from zero, and would clip the bulk of a
    trained layer (79 -> 54 % on a toy task at alpha = PCM_CLIP_STD); the root mean square is the
    zero-centred spread, equal to the std for the zero-mean weights of a differential layer."""
    return float(w.square().mean().sqrt()) if one_signed else float(w.std())


@torch.no_grad()
def init_ranges(model: nn.Module, x: torch.Tensor) -> None:
    """Calibrate the converter ranges from a representative batch x [B, ...] (percentile of |x|
    and of the tile partial sums, `tc.calibrate`) if any is not set yet. `fit` calls it first."""
    hwa = hwa_config(model)
    layers = [layer for _, layer in hwa_layers(model)]
    if hwa is None or not any(
        c.active and not c.calibrated for layer in layers for c in layer.periphery.converters()
    ):
        return
    calibrate(model, x, percentile=hwa.range_percentile)


def set_noise_factor(model: nn.Module, factor: float) -> None:
    """Scale the weight noise (warm-up schedule): 0 = off, 1 = the configured level."""
    for _, layer in hwa_layers(model):
        layer.noise_factor = float(factor)


def seed_noise(model: nn.Module, seed: int) -> dict[str, torch.Generator]:
    """Reseed every layer's noise stream from (seed, layer name); returns the generators by name
    (empty for a model `prepare` did not make), for checkpoints."""
    return {f"noise.{name}": layer.seed_noise(seed) for name, layer in hwa_layers(model)}
