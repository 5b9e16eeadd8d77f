"""Training checkpoints: tensors in safetensors, everything else in its JSON metadata; never pickle.

One file, written to a temporary name and renamed (atomic on POSIX), holding the model's
state_dict, the optimizer's per-parameter tensors, the RNG generator states (as uint8 tensors)
and, as JSON, the optimizer's scalars and param groups, the scheduler state, epoch and history.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tinycim.fingerprint import check_same
from tinycim.io import load_state, read_tensors, save_tensors, state_dict_tensors


CHECKPOINT_FORMAT = "tinycim-train-checkpoint-v1"
CHECKPOINT_NAME = "checkpoint.safetensors"


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


def save_checkpoint(path: Path, loop: Any, meta: dict[str, Any]) -> None:
    """Write the whole training state of ``loop`` (its model, optimizer, scheduler and named
    generators); ``meta`` (JSON-able) holds epoch, history and settings."""
    tensors = state_dict_tensors(loop.model, prefix="model.")
    optim_tensors, optim_json = _split_optimizer(loop.optimizer.state_dict())
    tensors.update(optim_tensors)
    for name, gen in loop.generators.items():
        tensors[f"rng.{name}"] = gen.get_state()
    tensors["rng.torch_global"] = torch.get_rng_state()
    scheduler = loop.scheduler.state_dict() if loop.scheduler is not None else None
    save_tensors(
        path, tensors, {"format": CHECKPOINT_FORMAT, "optimizer": optim_json, "scheduler": scheduler, **meta}
    )


def load_checkpoint(path: Path, loop: Any, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Restore everything `save_checkpoint` wrote into ``loop``'s objects; returns the meta dict.
    settings: what this run depends on; ConfigError naming the first field that differs from the
    checkpoint's recorded ``settings`` (checked before anything is restored)."""
    tensors, payload = read_tensors(
        path, expected_format=CHECKPOINT_FORMAT, readable_as="checkpoint", kind="tinycim training checkpoint"
    )
    if settings is not None:
        check_same(str(path), payload.get("settings"), settings)
    load_state(loop.model, tensors, path, prefix="model.")
    per_param: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            per_param.setdefault(int(index), {})[name] = value
    for index, values in payload["optimizer"]["scalars"].items():
        per_param.setdefault(int(index), {}).update(values)
    loop.optimizer.load_state_dict({"state": per_param, "param_groups": payload["optimizer"]["param_groups"]})
    if loop.scheduler is not None and payload.get("scheduler") is not None:
        loop.scheduler.load_state_dict(payload["scheduler"])
    for name, gen in loop.generators.items():
        gen.set_state(tensors[f"rng.{name}"])
    torch.set_rng_state(tensors["rng.torch_global"])
    return payload
