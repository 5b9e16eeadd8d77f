"""`prepare(model, hwa)`: a copy of a model with its Linear/Conv layers swapped for HWA layers.

Also the per-step weight constraints (clipping, unipolar signs, remapping of the weight range)
and the calibration pass that initializes the learned converter ranges.
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

from tinycim.config import resolve_preset
from tinycim.errors import ConfigError
from tinycim.nn.convert import fold_batchnorm
from tinycim.nn.layers import clone_as, geometry_of
from tinycim.tiles.mapping import unipolar_signs
from tinycim.train.config import HWAConfig
from tinycim.train.layers import HWAConv1d, HWAConv2d, HWALayerMixin, HWALinear, HWAShared

HWA_FOR = {nn.Conv2d: HWAConv2d, nn.Conv1d: HWAConv1d, nn.Linear: HWALinear}
SHARED_NAME = "hwa_shared"
# A weight range below this is treated as an all-zero layer (unit scale), as in tiles.mapping.
_TINY = 1e-12


def hwa_layers(model: nn.Module) -> list[tuple[str, HWALayerMixin]]:
    """(name, layer) of every HWA layer, in module order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, HWALayerMixin)]


def shared_state(model: nn.Module) -> HWAShared | None:
    """The prepared model's shared HWA state, or None for a model `prepare` did not make."""
    return next((m for m in model.modules() if isinstance(m, HWAShared)), None)


def hwa_config(model: nn.Module) -> HWAConfig:
    """The HWAConfig a model was prepared with (HWAConfig() = plain for any other model)."""
    shared = shared_state(model)
    return shared.hwa if shared is not None else HWAConfig()


def prepare(model: nn.Module, hwa: HWAConfig | str = "pcm", seed: int = 0) -> nn.Module:
    """Return a hardware-aware copy of `model` (which is left untouched).

    BatchNorm directly after a conv/linear is folded first when hwa.fold_bn; every nn.Linear,
    nn.Conv1d and nn.Conv2d becomes the matching HWA layer (same `weight`/`bias` Parameters, so
    any optimizer works); with hwa.unipolar_init "magnitude" weights become sign x |w| and every
    other BatchNorm channel's scale is negated; weight constraints are applied once. `seed` seeds
    the noise generator (`fit` reseeds it from its TrainConfig.seed).
    """
    hwa = resolve_preset(hwa, HWAConfig, HWAConfig.preset, "hwa")
    if not isinstance(model, nn.Module):
        raise ConfigError(f"prepare expects a torch.nn.Module, got {type(model).__name__}")
    if shared_state(model) is not None:
        raise ConfigError("this model is already prepared; prepare the original digital model")
    model = copy.deepcopy(model)
    if hwa.fold_bn:
        fold_batchnorm(model)
    shared = HWAShared(hwa, seed)
    if type(model) in HWA_FOR:
        raise ConfigError("prepare needs a container module (wrap a bare layer in nn.Sequential)")
    for parent_name, parent in list(model.named_modules()):
        for child_name, child in list(parent.named_children()):
            if type(child) in HWA_FOR:
                full = f"{parent_name}.{child_name}" if parent_name else child_name
                setattr(parent, child_name, _swap(child, hwa, full, shared))
    if hwa.unipolar is not None and hwa.unipolar_init == "magnitude":
        _alternate_bn_signs(model)
    layers = hwa_layers(model)
    if not layers:
        raise ConfigError("prepare found no nn.Linear, nn.Conv1d or nn.Conv2d layer to make hardware-aware")
    # Registered under the first HWA layer, not the root: a root nn.Sequential would call it.
    layers[0][1].add_module(SHARED_NAME, shared)  # type: ignore[attr-defined]
    if hwa.uniform:
        model.register_forward_hook(_mark_shared_ready)
    constrain_(model, remap=True)
    return model


def _mark_shared_ready(module: nn.Module, args: tuple, output: object) -> None:
    shared = shared_state(module)
    if shared is not None:
        shared.ready.fill_(True)


def _swap(module: nn.Module, hwa: HWAConfig, name: str, shared: HWAShared) -> HWALayerMixin:
    new = clone_as(module, HWA_FOR[type(module)], name)
    geometry = geometry_of(module, name, hwa.tile_rows, hwa.tile_cols)
    new._init_hwa(hwa, name, geometry, shared)
    if hwa.unipolar is not None:
        new.unipolar_sign = _initial_signs(new.weight, geometry, hwa)
        if hwa.unipolar_init == "magnitude":  # sign-aligned initializer (training from scratch)
            align_to_sign_(new)
    return new


@torch.no_grad()
def align_to_sign_(layer: nn.Module) -> None:
    """Weights become unipolar_sign x |w|: a one-signed copy of the initializer, where projecting
    onto the sign would zero about half of it."""
    layer.weight.abs_().mul_(layer.unipolar_sign)  # type: ignore[attr-defined]


@torch.no_grad()
def negate_every_other_channel_(bn: nn.modules.batchnorm._BatchNorm) -> None:
    """Negate the scale of channels 1, 3, 5, ... of a BatchNorm: the digital per-column sign that
    makes half the columns of a one-signed crossbar inhibitory."""
    bn.weight[1::2] *= -1


@torch.no_grad()
def _alternate_bn_signs(model: nn.Module) -> None:
    """Negate the scale of every other channel of each (unfolded) BatchNorm: the digital per-column
    sign of a one-signed crossbar. With one-signed weights and positive BN scales every unit is an
    increasing function of its inputs (no inhibition); half the columns start inhibitory instead."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
            negate_every_other_channel_(m)


def _initial_signs(weight: torch.Tensor, geometry, hwa: HWAConfig) -> torch.Tensor:
    """+-1 per weight: fixed, or from the (pretrained) weights per layer or per tile-sized block."""
    if hwa.unipolar != "auto" or hwa.unipolar_granularity == "tile":
        return unipolar_signs(weight, geometry, hwa.unipolar)
    sign = 1.0 if float(weight.detach().sum()) >= 0 else -1.0
    return torch.full_like(weight.detach(), sign)


@torch.no_grad()
def constrain_(model: nn.Module, remap: bool | None = None) -> None:
    """Enforce the weight constraints on the stored weights, after an optimizer step.

    Clipping (alpha * std or fixed), unipolar signs (weights of the wrong sign go to 0), and,
    every `remap_every` calls (or when remap=True), a fresh weight range s = max|W| per layer,
    per column, or over the whole model (uniform). A no-op for models `prepare` did not make.
    """
    shared = shared_state(model)
    if shared is None:
        return
    hwa = shared.hwa
    layers = [layer for _, layer in hwa_layers(model)]
    for layer in layers:
        w = layer.weight  # type: ignore[attr-defined]
        if hwa.clip == "std":
            bound = hwa.clip_value * _spread(w, layer.unipolar_sign is not None) if w.numel() > 1 else math.inf
            w.clamp_(-bound, bound)
        elif hwa.clip == "fixed":
            w.clamp_(-hwa.clip_value, hwa.clip_value)
        if layer.unipolar_sign is not None:
            w.mul_(layer.unipolar_sign).clamp_(min=0).mul_(layer.unipolar_sign)
    if remap is None:
        shared.steps += 1
        remap = int(shared.steps) % hwa.remap_every == 0
    if not remap:
        return
    scales = [_weight_range(layer.weight, hwa.weight_range) for layer in layers]  # type: ignore[attr-defined]
    if hwa.uniform and scales:
        top = max(float(s.max()) for s in scales)
        scales = [torch.full_like(s, top) for s in scales]
    for layer, s in zip(layers, scales):
        layer.w_scale.copy_(torch.where(s > _TINY, s, torch.ones_like(s)))


def _spread(w: torch.Tensor, one_signed: bool) -> float:
    """The sigma of the alpha * sigma clip. For a one-signed (unipolar) layer the std measures the
    spread around the weights' mean, not their distance from zero, and would clip the bulk of a
    trained layer (79 -> 54 % on a toy task at alpha = PCM_CLIP_STD); the root mean square is the
    zero-centred spread, equal to the std for the zero-mean weights of a differential layer."""
    return float(w.square().mean().sqrt()) if one_signed else float(w.std())


def _weight_range(w: torch.Tensor, per: str) -> torch.Tensor:
    if per == "column":
        return w.abs().reshape(w.shape[0], -1).amax(dim=1)
    return w.abs().max().expand(w.shape[0]).clone()


@torch.no_grad()
def init_ranges(model: nn.Module, x: torch.Tensor) -> None:
    """Calibrate the converter ranges from a representative batch x [B, ...] (percentile of |x|
    and of the tile partial sums), if they are not set yet. `fit` calls it before training."""
    shared = shared_state(model)
    if shared is None or not (shared.hwa.dac_bits or shared.hwa.adc_bits):
        return
    was_training = model.training
    model.eval()
    try:
        model(x)
    finally:
        model.train(was_training)


def set_noise_factor(model: nn.Module, factor: float) -> None:
    """Scale the weight noise (warm-up schedule): 0 = off, 1 = the configured level."""
    shared = shared_state(model)
    if shared is not None:
        shared.noise_factor = float(factor)


def seed_noise(model: nn.Module, seed: int) -> torch.Generator | None:
    """Reseed the model's noise generator; returns it (None for an unprepared model)."""
    shared = shared_state(model)
    if shared is None:
        return None
    shared.generator.manual_seed(seed)
    return shared.generator
