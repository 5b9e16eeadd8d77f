"""The verbs on a converted model: program, drift, calibrate, save and load."""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from tinycim.config import AnalogConfig
from tinycim.devices import ProgrammedCells, check_time
from tinycim.errors import ConfigError, DataError
from tinycim.io import load_state, read_tensors, save_tensors, state_dict_tensors
from tinycim.nn.convert import analog_layers, convert, model_info
from tinycim.nn.state import program_layer, set_time

SAVE_FORMAT = "tinycim-analog-v1"


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
    for index, (name, layer) in enumerate(analog_layers(model)):
        layer._state = program_layer(
            name, layer.weight, layer.geometry, layer.analog_config,
            seed=seed, index=index, instances=instances, uniform_max=layer.uniform_max,
        )
    info.seed, info.instances, info.t_inf = seed, instances, 0.0
    return model


def drift(model: nn.Module, seconds: float) -> nn.Module:
    """Put a programmed model in its state `seconds` after programming (drift, read noise, GDC)."""
    info = model_info(model)
    t = check_time(seconds)
    if info.seed is None:
        raise ConfigError("drift needs a programmed model: call tc.program(model, seed=...) first")
    for _, layer in analog_layers(model):
        set_time(layer._state, t, layer.analog_config)
    info.t_inf = t
    return model


def unprogram(model: nn.Module) -> nn.Module:
    """Forget the programmed state: layers go back to ideal conductances with the configured periphery."""
    info = model_info(model)
    for _, layer in analog_layers(model):
        layer._state = None
    info.seed, info.instances, info.t_inf = None, 1, None
    return model


@torch.no_grad()
def calibrate(model: nn.Module, inputs: torch.Tensor, percentile: float = 99.99) -> nn.Module:
    """Fix each layer's DAC input range and ADC full scale from a representative batch.

    Runs `inputs` ([B, ...]) through the model with ideal weights; each layer's input range
    becomes the percentile of |x| and its ADC range the percentile of |tile partial sums|
    (normalized units). Call before `program`; programmed state is kept.
    """
    model_info(model)
    if not 0 < percentile <= 100:
        raise ConfigError(f"percentile = {percentile!r} is invalid: allowed range (0, 100]")
    layers = [layer for _, layer in analog_layers(model)]
    saved = [layer._state for layer in layers]
    was_training = model.training
    try:
        model.eval()
        for layer in layers:
            layer._state = None
            layer.input_range.fill_(float("nan"))
            layer.output_range.fill_(float("nan"))
            layer._calibrating = percentile
        model(inputs)
    finally:
        for layer, state in zip(layers, saved):
            layer._calibrating = None
            layer._state = state
        model.train(was_training)
    return model


def save(model: nn.Module, path: str | os.PathLike) -> None:
    """Save a converted (optionally programmed) model to safetensors, atomically.

    Holds the state_dict (weights after BN folding, converter ranges) and, if programmed, each
    layer's programmed conductances and drift exponents; metadata holds the config as JSON.
    """
    info = model_info(model)
    tensors = state_dict_tensors(model, prefix="model.")
    for name, layer in analog_layers(model):
        st = layer._state
        if st is None:
            continue
        prefix = f"programmed.{name or '<root>'}"
        tensors[f"{prefix}.g_prog"] = st.cells.g_prog.contiguous()
        if st.cells.nu is not None:
            tensors[f"{prefix}.nu"] = st.cells.nu.contiguous()
        if st.gdc_ref is not None:
            tensors[f"{prefix}.gdc_ref"] = st.gdc_ref.contiguous()
    meta = {"format": SAVE_FORMAT, "config": info.config.to_dict(), "seed": info.seed,
            "instances": info.instances, "t_inf": info.t_inf}
    save_tensors(path, tensors, meta)


def load(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Rebuild a saved analog model: `model` is the digital architecture (its weights are replaced)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    tensors, meta = read_tensors(path, expected_format=SAVE_FORMAT, readable_as="safetensors file",
                                 kind="tinycim analog model")
    amodel = convert(model, AnalogConfig.from_dict(meta["config"]))
    load_state(amodel, tensors, path, prefix="model.")
    if meta.get("seed") is not None:
        program(amodel, seed=meta["seed"], instances=meta["instances"])
        for name, layer in analog_layers(amodel):
            prefix = f"programmed.{name or '<root>'}"
            st = layer._state
            st.cells = ProgrammedCells(g_prog=tensors[f"{prefix}.g_prog"], nu=tensors.get(f"{prefix}.nu"))
            if f"{prefix}.gdc_ref" in tensors:
                st.gdc_ref = tensors[f"{prefix}.gdc_ref"]
        drift(amodel, meta["t_inf"] or 0.0)
    return amodel


__all__ = ["calibrate", "drift", "load", "program", "save", "unprogram"]
