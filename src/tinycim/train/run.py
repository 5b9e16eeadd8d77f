"""Run directories: what a training run leaves behind, readable without pickle.

    RUN_DIR/model.safetensors   the prepared model's state_dict (BN-folded weights, learned ranges, signs)
    RUN_DIR/config.json         {"format", "model": {"name", "kwargs"}, "hwa", "analog", "train", "extra"}
    RUN_DIR/metrics.json        per-epoch history (list of dicts)

`load_run` rebuilds the model from the zoo (`tinycim.models.create_model`) and `prepare`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from tinycim.config import AnalogConfig
from tinycim.errors import DataError
from tinycim.io import atomic_write_text, load_state, save_tensors, state_dict_tensors
from tinycim.train.config import HWAConfig, TrainConfig
from tinycim.train.prepare import hwa_layers, prepare, shared_state

RUN_FORMAT = "tinycim-run-v1"
MODEL_FILE, CONFIG_FILE, METRICS_FILE = "model.safetensors", "config.json", "metrics.json"


def save_run(out_dir: str | Path, model_name: str, model: nn.Module, hwa: HWAConfig, analog_config: AnalogConfig,
             train_config: TrainConfig, metrics: list[dict[str, Any]] | dict[str, Any],
             model_kwargs: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write a run directory (atomically, file by file). `model` must be prepared with `hwa`
    (a plain run uses HWAConfig()); model_kwargs are what `create_model(model_name, **kw)` needs."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if shared_state(model) is None:
        model = prepare(model, hwa)
    save_tensors(out / MODEL_FILE, state_dict_tensors(model), {"format": RUN_FORMAT})
    config = {"format": RUN_FORMAT, "model": {"name": model_name, "kwargs": model_kwargs or {}},
              "hwa": hwa.to_dict(), "analog": analog_config.to_dict(), "train": train_config.to_dict(),
              "extra": extra or {}}
    atomic_write_text(out / CONFIG_FILE, json.dumps(config, indent=2))
    atomic_write_text(out / METRICS_FILE, json.dumps(metrics, indent=2))
    return out


def load_run(run_dir: str | Path) -> tuple[nn.Module, HWAConfig, AnalogConfig, dict[str, Any]]:
    """(prepared model with the trained weights, hwa, analog_config, meta) of a run directory.

    meta: the rest of config.json ("model", "train", "extra") plus "metrics".
    """
    from tinycim.models import create_model

    run = Path(run_dir)
    for name in (CONFIG_FILE, MODEL_FILE):
        if not (run / name).is_file():
            raise DataError(f"{run / name}: no such file (not a tinycim run directory)")
    try:
        config = json.loads((run / CONFIG_FILE).read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"{run / CONFIG_FILE}: not valid JSON ({err})") from None
    if config.get("format") != RUN_FORMAT:
        raise DataError(f"{run / CONFIG_FILE}: not a tinycim run (format {config.get('format')!r})")
    hwa = HWAConfig.from_dict(config["hwa"])
    analog = AnalogConfig.from_dict(config["analog"])
    model = prepare(create_model(config["model"]["name"], **config["model"]["kwargs"]), hwa)
    try:
        state = load_file(str(run / MODEL_FILE))
    except (OSError, SafetensorError) as err:
        raise DataError(f"{run / MODEL_FILE}: not a readable safetensors file ({err})") from None
    for name, layer in hwa_layers(model):  # per-layer signs set outside the recipe (a unipolar NAS arch)
        if layer.unipolar_sign is None and f"{name}.unipolar_sign" in state:
            layer.unipolar_sign = torch.empty_like(layer.weight.detach())
    load_state(model, state, run / MODEL_FILE)  # config.json already named the format
    model.eval()
    metrics_path = run / METRICS_FILE
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else []
    meta = {"model": config["model"], "train": config["train"], "extra": config.get("extra", {}), "metrics": metrics}
    return model, hwa, analog, meta
