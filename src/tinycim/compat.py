"""Reading what tinycim 0.1 wrote: version-1 HWAConfig fields (which described hardware), run
directories (tinycim-run-v1) and analog model files (tinycim-analog-v1). Everything that migrates
an old format lives here; current code reads only the current formats and calls these.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch

from tinycim.config import AnalogConfig
from tinycim.errors import ConfigError

# Version-1 HWAConfig fields that described hardware; they now live in AnalogConfig.
LEGACY_HARDWARE_FIELDS = (
    "noise_preset",
    "remap_every",
    "dac_bits",
    "adc_bits",
    "tile_rows",
    "tile_cols",
    "weight_range",
    "uniform",
    "unipolar",
    "unipolar_granularity",
    "weight_bits",
    "device_bits",
    "fold_bn",
)


def split_legacy(fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(training fields, hardware fields) of a version-1 HWAConfig dict or of recipe overrides
    written with its field names; `legacy_hardware(base, hardware)` applies the second part."""
    train = {k: v for k, v in fields.items() if k not in LEGACY_HARDWARE_FIELDS}
    train.pop("version", None)
    hardware = {k: v for k, v in fields.items() if k in LEGACY_HARDWARE_FIELDS}
    remap = hardware.get("remap_every", 1)
    if remap != 1:
        raise ConfigError(
            f"hwa.remap_every = {remap!r} is no longer supported: the weight range follows "
            "max|W| after every step (allowed 1)"
        )
    return train, hardware


def legacy_hardware(base: AnalogConfig, hardware: dict[str, Any]) -> AnalogConfig:
    """`base` with the hardware fields of a version-1 HWAConfig (dac_bits, tile_rows, unipolar, ...)."""
    h = dict(hardware)
    cfg = base
    if h.get("dac_bits") is not None:
        cfg = dataclasses.replace(cfg, dac=dataclasses.replace(cfg.dac, bits=h["dac_bits"]))
    if h.get("adc_bits") is not None:
        cfg = dataclasses.replace(cfg, adc=dataclasses.replace(cfg.adc, bits=h["adc_bits"]))
    if "tile_rows" in h or "tile_cols" in h:
        cfg = dataclasses.replace(
            cfg,
            tile=dataclasses.replace(
                cfg.tile, rows=h.get("tile_rows", cfg.tile.rows), cols=h.get("tile_cols", cfg.tile.cols)
            ),
        )
    mapping: dict[str, Any] = {}
    if h.get("uniform"):
        mapping["weight_range"] = "uniform"
    elif "weight_range" in h:
        mapping["weight_range"] = h["weight_range"]
    if h.get("unipolar") is not None:
        mapping["polarity"] = "unipolar"
        sign = h["unipolar"]
        mapping["unipolar_sign"] = (
            "auto-layer" if sign == "auto" and h.get("unipolar_granularity") == "layer" else sign
        )
    for key in ("weight_bits", "device_bits"):
        if key in h:
            mapping[key] = h[key]
    if mapping:
        cfg = dataclasses.replace(cfg, mapping=dataclasses.replace(cfg.mapping, **mapping))
    if "fold_bn" in h:
        cfg = dataclasses.replace(cfg, fold_bn=h["fold_bn"])
    return cfg


def migrate_v1_analog(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """tinycim 0.1 analog files: linear `input_range` / `output_range` buffers become the
    converters' log ranges."""
    out = {}
    for key, value in tensors.items():
        for old, new in (
            (".input_range", ".periphery.dac.log_range"),
            (".output_range", ".periphery.adc.log_range"),
        ):
            if key.endswith(old) or key in ("model" + old,):
                key = key[: -len(old)] + new
                value = value.log()
                break
        out[key] = value
    return out


def v1_simulated(hardware: dict[str, Any]) -> bool:
    """Whether a v1 HWAConfig's hardware fields simulated anything in training."""
    return any(hardware.get(k) for k in ("dac_bits", "adc_bits", "unipolar", "weight_bits", "uniform"))


def v1_run_analog(
    config: dict[str, Any], analog: AnalogConfig, state: dict[str, torch.Tensor]
) -> AnalogConfig:
    """A v1 run's `analog` already held the trained mapping (HWAConfig.analog_config); converters
    and tiles it trained without keep the analog config's values. BN was folded by v1's prepare.
    Per-layer signs v1 kept in side buffers (the unipolar NAS space) become `layers` overrides."""
    _, hardware = split_legacy(config["hwa"])
    cfg = legacy_hardware(analog, {k: v for k, v in hardware.items() if k != "fold_bn"})
    cfg = dataclasses.replace(cfg, fold_bn=bool(hardware.get("fold_bn", False)))
    if cfg.mapping.polarity == "differential":
        layers = dict(cfg.layers)
        for key, sign in state.items():
            if key.endswith(".unipolar_sign"):
                name = key[: -len(".unipolar_sign")]
                polarity = "positive" if bool((sign > 0).all()) else "negative"
                layers[name] = {"mapping": {"polarity": "unipolar", "unipolar_sign": polarity}}
        cfg = dataclasses.replace(cfg, layers=layers)
    return cfg


def migrate_v1_run_state(state: dict[str, torch.Tensor], prepared: bool) -> dict[str, torch.Tensor]:
    """v1 HWA layer keys -> v2: log_input_range / log_output_range -> periphery.{dac,adc}.log_range,
    the shared uniform ranges to every layer; step counters and cached weight ranges dropped."""
    dropped = ("w_scale", "ranges_ready")
    out: dict[str, torch.Tensor] = {}
    shared = {k.rsplit(".", 1)[-1]: v for k, v in state.items() if ".hwa_shared." in k}
    layers = sorted({k.rsplit(".", 1)[0] for k in state if k.endswith(".w_scale")})
    for key, value in state.items():
        if ".hwa_shared." in key or key.rsplit(".", 1)[-1] in dropped:
            continue
        if not prepared and key.rsplit(".", 1)[-1] in (
            "log_input_range",
            "log_output_range",
            "unipolar_sign",
        ):
            continue
        key = key.replace(".log_input_range", ".periphery.dac.log_range").replace(
            ".log_output_range", ".periphery.adc.log_range"
        )
        out[key] = value
    if prepared:
        for layer in layers:
            for old, new in (("log_input_range", "dac"), ("log_output_range", "adc")):
                key = f"{layer}.periphery.{new}.log_range"
                if key not in out:
                    found = shared.get(old)
                    out[key] = (
                        found.clone()
                        if found is not None and math.isfinite(float(found))
                        else torch.tensor(math.nan)
                    )
            out.setdefault(f"{layer}.periphery.w_max", torch.tensor(math.nan))
    return out
