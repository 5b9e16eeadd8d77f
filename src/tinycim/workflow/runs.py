"""Run directories: what a training run leaves behind, readable without pickle.

    RUN_DIR/model.safetensors   the model's state_dict: a prepared model's (BN-folded weights,
                                learned converter ranges, unipolar signs) or a plain one's
    RUN_DIR/config.json         {"format", "model": {"name", "kwargs"}, "hwa" (null for plain
                                training), "analog", "train", "extra"}
    RUN_DIR/metrics.json        per-epoch history (list of dicts)
    RUN_DIR/calibration.safetensors  up to 512 training inputs: what sets converter ranges when
                                the run is evaluated on hardware it did not learn ranges for (a plain
                                run, another preset), so `drift` needs no training data

`load_run` rebuilds the model from the zoo (`tinycim.models.create_model`) and, for a
hardware-aware run, `prepare` with the run's own AnalogConfig (its per-layer overrides
included), so what was trained is what is loaded. Runs written by tinycim 0.1 load too.
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
from tinycim.errors import ConfigError, DataError
from tinycim.io import atomic_write_text, load_state, read_tensors, save_tensors, state_dict_tensors
from tinycim.nn.convert import model_info_or_none
from tinycim.compat import migrate_v1_run_state, split_legacy, v1_run_analog, v1_simulated
from tinycim.train.config import HWAConfig, TrainConfig
from tinycim.train.prepare import hwa_config, prepare

RUN_FORMAT = "tinycim-run-v2"
_V1_FORMAT = "tinycim-run-v1"
MODEL_FILE, CONFIG_FILE, METRICS_FILE = "model.safetensors", "config.json", "metrics.json"
CALIBRATION_FILE, CALIBRATION_FORMAT = "calibration.safetensors", "tinycim-calibration-v1"
CALIBRATION_SAMPLES = 512


def save_run(
    out_dir: str | Path,
    model_name: str,
    model: nn.Module,
    hwa: HWAConfig | None,
    analog_config: AnalogConfig,
    train_config: TrainConfig,
    metrics: list[dict[str, Any]] | dict[str, Any],
    model_kwargs: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    calibration: torch.Tensor | None = None,
) -> Path:
    """Write a run directory (atomically, file by file).

    model: prepared with (hwa, analog_config) for a hardware-aware run, or plain (hwa None);
    analog_config: the hardware a hardware-aware run trained on, or the one a plain run is meant
    for; model_kwargs are what `create_model(model_name, **kw)` needs; calibration: training
    inputs [N, ...] (the first CALIBRATION_SAMPLES are kept) that calibrate converter ranges later."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prepared = model_info_or_none(model) is not None
    if hwa is not None and not prepared:
        raise ConfigError("save_run: hwa is given but the model is not prepared (tinycim.train.prepare)")
    if hwa is None and prepared:
        hwa = hwa_config(model)
    save_tensors(out / MODEL_FILE, state_dict_tensors(model), {"format": RUN_FORMAT})
    config = {
        "format": RUN_FORMAT,
        "model": {"name": model_name, "kwargs": model_kwargs or {}},
        "hwa": None if hwa is None else hwa.to_dict(),
        "analog": analog_config.to_dict(),
        "train": train_config.to_dict(),
        "extra": extra or {},
    }
    atomic_write_text(out / CONFIG_FILE, json.dumps(config, indent=2))
    atomic_write_text(out / METRICS_FILE, json.dumps(metrics, indent=2))
    if calibration is not None:
        batch = calibration[:CALIBRATION_SAMPLES].detach().to("cpu", torch.float32).contiguous()
        save_tensors(out / CALIBRATION_FILE, {"x": batch}, {"format": CALIBRATION_FORMAT})
    return out


def load_calibration(run_dir: str | Path) -> torch.Tensor | None:
    """The run's calibration inputs [N, ...] (see save_run), or None for a run without them."""
    path = Path(run_dir) / CALIBRATION_FILE
    if not path.is_file():
        return None
    tensors, _ = read_tensors(
        path,
        expected_format=CALIBRATION_FORMAT,
        readable_as="safetensors file",
        kind="tinycim calibration batch",
    )
    x = tensors.get("x")
    if x is None or x.ndim < 2 or not x.is_floating_point() or not bool(torch.isfinite(x).all()):
        raise DataError(f"{path}: 'x' must be finite float inputs [N, ...]")
    return x


def load_run(run_dir: str | Path) -> tuple[nn.Module, HWAConfig | None, AnalogConfig, dict[str, Any]]:
    """(model with the trained weights, hwa or None for a plain run, analog_config, meta).

    The model is prepared (hardware-aware run) or plain; meta: the rest of config.json
    ("model", "train", "extra") plus "metrics".
    """
    from tinycim.models import create_model

    run = Path(run_dir)
    for name in (CONFIG_FILE, MODEL_FILE):
        if not (run / name).is_file():
            raise DataError(f"{run / name}: no such file (not a tinycim run directory)")
    try:
        config = json.loads((run / CONFIG_FILE).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{run / CONFIG_FILE}: not valid JSON ({err})") from None
    if not isinstance(config, dict) or config.get("format") not in (RUN_FORMAT, _V1_FORMAT):
        got = config.get("format") if isinstance(config, dict) else None
        raise DataError(
            f"{run / CONFIG_FILE}: not a tinycim run (format {got!r}; this tinycim reads "
            f"{RUN_FORMAT} and {_V1_FORMAT})"
        )
    for key in ("model", "analog", "train"):
        if key not in config:
            raise DataError(f"{run / CONFIG_FILE}: missing field {key!r}")
    try:
        analog = AnalogConfig.from_dict(config["analog"])
        hwa = _hwa_of(config)
        model_name, kwargs = config["model"]["name"], config["model"].get("kwargs", {})
    except (ConfigError, KeyError, TypeError) as err:
        raise DataError(f"{run / CONFIG_FILE}: {err}") from None
    try:
        state = load_file(str(run / MODEL_FILE))
    except (OSError, SafetensorError) as err:
        raise DataError(f"{run / MODEL_FILE}: not a readable safetensors file ({err})") from None
    for key, value in state.items():
        if value.is_floating_point() and key.endswith(("weight", "bias")) and not torch.isfinite(value).all():
            raise DataError(f"{run / MODEL_FILE}: tensor {key!r} holds NaN or inf values")
    digital = create_model(model_name, seed=0, **kwargs)  # weights replaced below
    if (
        "input_norm" not in kwargs
        and _has_input_norm(digital)
        and not any(k.startswith("input_norm.") for k in state)
    ):
        # a run saved before its zoo model standardized its input by default (har_cnn, 0.2): as it was
        digital = create_model(model_name, seed=0, input_norm=False, **kwargs)
    if config["format"] == _V1_FORMAT:
        if hwa is not None:
            analog = v1_run_analog(config, analog, state)
        state = migrate_v1_run_state(state, hwa is not None)
    model = digital if hwa is None else prepare(digital, hwa, analog)
    load_state(model, state, run / MODEL_FILE)
    model.eval()
    metrics_path = run / METRICS_FILE
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else []
    meta = {
        "model": config["model"],
        "train": config["train"],
        "extra": config.get("extra", {}),
        "metrics": metrics,
    }
    return model, hwa, analog, meta


def _has_input_norm(model: nn.Module) -> bool:
    return any(name.startswith("input_norm.") for name, _ in model.state_dict().items())


def _hwa_of(config: dict[str, Any]) -> HWAConfig | None:
    data = config.get("hwa")
    if data is None:
        return None
    if config["format"] == _V1_FORMAT:  # v1 stored HWAConfig() with everything off for a plain run
        train, hardware = split_legacy(data)
        if HWAConfig.from_dict(train) == HWAConfig() and not v1_simulated(hardware):
            return None
    return HWAConfig.from_dict(data)
