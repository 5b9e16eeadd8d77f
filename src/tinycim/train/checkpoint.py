"""Training checkpoints: tensors in safetensors, everything else in its JSON metadata; never pickle.

One file, written to a temporary name and renamed (atomic on POSIX), holding the model's
state_dict, the optimizer's per-parameter tensors, the RNG generator states (as uint8 tensors)
and, as JSON, the optimizer's scalars and param groups, the scheduler state, epoch and history.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from tinycim.errors import DataError

CHECKPOINT_FORMAT = "tinycim-train-checkpoint-v1"
CHECKPOINT_NAME = "checkpoint.safetensors"


def atomic_write_text(path: Path, text: str) -> None:
    """Write text to path via a temporary file and rename (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _split_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, per_param in state["state"].items():
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{key}"] = value.detach().contiguous().clone()
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"scalars": scalars, "param_groups": state["param_groups"]}


def save_checkpoint(path: Path, *, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                    generators: dict[str, torch.Generator], meta: dict[str, Any]) -> None:
    """Write the whole training state; `meta` (JSON-able) holds epoch, history and configs."""
    tensors = {f"model.{k}": v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    optim_tensors, optim_json = _split_optimizer(optimizer.state_dict())
    tensors.update(optim_tensors)
    for name, gen in generators.items():
        tensors[f"rng.{name}"] = gen.get_state()
    tensors["rng.torch_global"] = torch.get_rng_state()
    payload = {"format": CHECKPOINT_FORMAT, "optimizer": optim_json,
               "scheduler": scheduler.state_dict() if scheduler is not None else None, **meta}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"tinycim": json.dumps(payload)})
    os.replace(tmp, path)


def load_checkpoint(path: Path, *, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                    generators: dict[str, torch.Generator]) -> dict[str, Any]:
    """Restore everything `save_checkpoint` wrote into the given objects; returns the meta dict."""
    try:
        with safe_open(str(path), framework="pt") as f:
            payload = json.loads((f.metadata() or {}).get("tinycim", "{}"))
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (OSError, ValueError, RuntimeError, SafetensorError) as err:
        raise DataError(f"{path}: not a readable checkpoint ({err})") from None
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise DataError(f"{path}: not a tinycim training checkpoint (format {payload.get('format')!r})")
    state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise DataError(f"{path}: does not match the model (missing {missing[:3]}, unexpected {unexpected[:3]})")
    optim_json = payload["optimizer"]
    per_param: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            per_param.setdefault(int(index), {})[name] = value
    for index, values in optim_json["scalars"].items():
        per_param.setdefault(int(index), {}).update(values)
    optimizer.load_state_dict({"state": per_param, "param_groups": optim_json["param_groups"]})
    if scheduler is not None and payload.get("scheduler") is not None:
        scheduler.load_state_dict(payload["scheduler"])
    for name, gen in generators.items():
        gen.set_state(tensors[f"rng.{name}"])
    torch.set_rng_state(tensors["rng.torch_global"])
    return payload
