"""The verbs on a converted model: program, drift, calibrate, save and load."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch import nn

from tinycim.config import AnalogConfig
from tinycim.devices import check_time
from tinycim.errors import ConfigError, DataError, MappingError
from tinycim.io import load_state, read_tensors, save_tensors, state_dict_tensors
from tinycim.nn.convert import analog_layers, convert, model_info
from tinycim.nn.state import clear_programmed, program_layer, restore_programmed, set_time

SAVE_FORMAT = "tinycim-analog-v2"
# Files written by tinycim 0.1 (converter ranges as linear `input_range` / `output_range` buffers).
_V1_FORMAT = "tinycim-analog-v1"


def program(model: nn.Module, seed: int = 0, instances: int = 1) -> nn.Module:
    """Write the weights into the arrays: `instances` independent chips (Monte-Carlo), seeded.

    Draws programming noise and drift exponents per device; the model is then at t = 0 s.
    Returns the model (modified in place).
    """
    info = model_info(model)
    if not isinstance(instances, int) or isinstance(instances, bool) or instances < 1:
        raise ConfigError(f"instances = {instances!r} is invalid: allowed range >= 1")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"seed = {seed!r} is invalid: an integer is required")
    _check_memory(model, instances)
    for index, (_, layer) in enumerate(analog_layers(model)):
        program_layer(layer, seed=seed, index=index, instances=instances)
    info.seed, info.instances, info.t_inf = seed, instances, 0.0
    info.context.instances = instances
    return model


def programmed_bytes(model: nn.Module, instances: int = 1) -> int:
    """Bytes the programmed state of `instances` chips takes: per weight and slice, P devices'
    conductance and drift exponent plus the weight the MVM reads."""
    total = 0
    for _, layer in analog_layers(model):
        m = layer.analog_config.mapping
        devices = 1 if m.polarity == "unipolar" else 2
        total += layer.weight.numel() * m.slices * (2 * devices + 1) * layer.weight.element_size()
    return total * instances


def _check_memory(model: nn.Module, instances: int) -> None:
    """Refuse a chip count whose programmed state would not fit in half of this machine's memory."""
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return
    need, per_chip = programmed_bytes(model, instances), programmed_bytes(model, 1)
    if per_chip and need > ram // 2:
        raise ConfigError(
            f"instances = {instances} needs about {need / 2**30:.1f} GiB for the programmed state "
            f"({per_chip / 2**20:.1f} MiB per chip): at most {max(1, ram // 2 // per_chip)} chips fit in "
            f"half of this machine's {ram / 2**30:.0f} GiB"
        )


def drift(model: nn.Module, seconds: float) -> nn.Module:
    """Put a programmed model in its state `seconds` after programming (drift, read noise, GDC)."""
    info = model_info(model)
    t = check_time(seconds)
    if info.seed is None:
        raise ConfigError("drift needs a programmed model: call tc.program(model, seed=...) first")
    for _, layer in analog_layers(model):
        set_time(layer, t)
    info.t_inf = t
    return model


def unprogram(model: nn.Module) -> nn.Module:
    """Forget the programmed state: layers go back to ideal conductances with the configured periphery."""
    info = model_info(model)
    for _, layer in analog_layers(model):
        clear_programmed(layer)
    info.seed, info.instances, info.t_inf = None, 1, None
    info.context.instances = 1
    return model


@torch.no_grad()
def calibrate(
    model: nn.Module, inputs: torch.Tensor, percentile: float = 99.99, *, keep_calibrated: bool = False
) -> nn.Module:
    """Fix each layer's DAC input range and ADC full scale from a representative batch.

    Runs `inputs` ([B, ...]) through the model with ideal (unprogrammed) weights; each layer's
    input range becomes the percentile of |x| and its ADC range the percentile of |tile partial
    sums| (normalized units); a uniform periphery takes the max over its layers. Ranges fixed by
    the config are kept, and so are calibrated or learned ones with `keep_calibrated`. Programmed
    state is kept. Hardware-aware training starts from this too.
    """
    model_info(model)
    if not isinstance(percentile, (int, float)) or not 0 < percentile <= 100:
        raise ConfigError(f"percentile = {percentile!r} is invalid: allowed range (0, 100]")
    if not isinstance(inputs, torch.Tensor) or inputs.shape[0] == 0:
        raise ConfigError("calibrate needs a non-empty batch of inputs [B, ...] (B >= 1)")
    param = next(model.parameters(), None)
    if param is not None and inputs.device != param.device:
        inputs = inputs.to(param.device)
    layers = [layer for _, layer in analog_layers(model)]
    saved = [layer.prog_w for layer in layers]
    converters = {
        id(c): c
        for layer in layers
        for c in layer.periphery.converters()
        if c.fixed is None and not (keep_calibrated and c.calibrated)
    }
    was_training = model.training
    try:
        model.eval()
        for layer in layers:
            layer.prog_w = None
        for conv in converters.values():
            conv.set_range(math.nan)
            conv.calibrating = float(percentile)
        model(inputs)
    finally:
        for conv in converters.values():
            conv.calibrating = None
        for layer, w in zip(layers, saved):
            layer.prog_w = w
        model.train(was_training)
    return model


def save(model: nn.Module, path: str | os.PathLike) -> None:
    """Save a converted (optionally programmed) model to safetensors, atomically.

    Holds the state_dict (weights after BN folding, converter ranges, unipolar signs) and, if
    programmed, each layer's programmed conductances and drift exponents; metadata holds the
    config (with its per-layer overrides) as JSON.
    """
    info = model_info(model)
    tensors = state_dict_tensors(model, prefix="model.")
    for name, layer in analog_layers(model):
        if layer.prog_g is None:
            continue
        prefix = f"programmed.{name or '<root>'}"
        tensors[f"{prefix}.g_prog"] = layer.prog_g.cpu().contiguous()
        if layer.prog_nu is not None:
            tensors[f"{prefix}.nu"] = layer.prog_nu.cpu().contiguous()
        if layer.prog_gdc_ref is not None:
            tensors[f"{prefix}.gdc_ref"] = layer.prog_gdc_ref.cpu().contiguous()
    meta = {
        "format": SAVE_FORMAT,
        "config": info.config.to_dict(),
        "seed": info.seed,
        "instances": info.instances,
        "t_inf": info.t_inf,
    }
    save_tensors(path, tensors, meta)


def load(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Rebuild a saved analog model: `model` is the digital architecture (its weights are replaced).

    Everything read is checked before use (format, config, tensor names and shapes, finite,
    non-negative conductances); files from tinycim 0.1 are read too."""
    from tinycim.compat import migrate_v1_analog

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        tensors, meta = read_tensors(
            path, expected_format=SAVE_FORMAT, readable_as="safetensors file", kind="tinycim analog model"
        )
        legacy = False
    except DataError:
        tensors, meta = read_tensors(
            path, expected_format=_V1_FORMAT, readable_as="safetensors file", kind="tinycim analog model"
        )
        tensors, legacy = migrate_v1_analog(tensors), True
    try:
        config = AnalogConfig.from_dict(meta["config"])
    except (ConfigError, KeyError, TypeError) as err:
        raise DataError(f"{path}: its analog config is invalid ({err})") from None
    for key, value in tensors.items():
        if (
            value.is_floating_point()
            and key.startswith("model.")
            and not key.endswith("log_range")
            and not key.endswith("w_max")
            and not torch.isfinite(value).all()
        ):
            raise DataError(f"{path}: tensor {key!r} holds NaN or inf values")
    amodel = convert(model, config)
    if legacy:  # derived state 0.1 did not store: taken from the loaded weights below
        tensors = {**{f"model.{k}": v for k, v in amodel.state_dict().items()}, **tensors}
    load_state(amodel, tensors, path, prefix="model.")
    if legacy:
        refresh_derived(amodel)
    seed = meta.get("seed")
    if seed is not None:
        instances = meta.get("instances")
        if not isinstance(seed, int) or not isinstance(instances, int) or instances < 1:
            raise DataError(f"{path}: invalid programmed seed/instances ({seed!r}, {instances!r})")
        program(amodel, seed=seed, instances=instances)
        for name, layer in analog_layers(amodel):
            prefix = f"programmed.{name or '<root>'}"
            if f"{prefix}.g_prog" not in tensors:
                raise DataError(f"{path}: layer {name!r} has no programmed conductances ({prefix}.g_prog)")
            try:
                restore_programmed(
                    layer,
                    tensors[f"{prefix}.g_prog"],
                    tensors.get(f"{prefix}.nu"),
                    tensors.get(f"{prefix}.gdc_ref"),
                    meta.get("t_inf") or 0.0,
                )
            except MappingError as err:
                raise DataError(f"{path}: {err}") from None
        model_info(amodel).t_inf = meta.get("t_inf") or 0.0
    return amodel


@torch.no_grad()
def refresh_derived(model: nn.Module) -> None:
    """Recompute what the config derives from the weights: unipolar signs and uniform weight ranges."""
    from tinycim.tiles.mapping import unipolar_signs

    shared: dict[int, list] = {}
    for _, layer in analog_layers(model):
        if layer.unipolar_sign is not None:
            layer.unipolar_sign.copy_(
                unipolar_signs(layer.weight, layer.geometry, layer.analog_config.mapping.unipolar_sign)
            )
        if layer.periphery.shared:
            shared.setdefault(id(layer.periphery), []).append(layer)
    for layers in shared.values():
        w_max = layers[0].analog_config.mapping.weight_max
        layers[0].periphery.set_w_max(
            w_max if w_max is not None else max(float(la.weight.abs().max()) for la in layers)
        )


__all__ = ["calibrate", "drift", "load", "program", "save", "unprogram"]
