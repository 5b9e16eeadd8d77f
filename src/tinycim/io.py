"""Files tinycim writes and reads back: atomic writes, and safetensors with JSON metadata.

Weights and state live in safetensors (never pickle); anything else rides along as one JSON
string under the metadata key "tinycim", whose "format" says what the file is.
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

META_KEY = "tinycim"


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write text via a temporary file, fsync and rename: a reader (or a restart after a crash)
    sees the old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Write tensors (contiguous, unshared) and the JSON-able `meta` to a safetensors file, atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(meta)})
    os.replace(tmp, path)


def read_tensors(path: str | os.PathLike, *, expected_format: str, readable_as: str,
                 kind: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, meta) of a file `save_tensors` wrote; DataError naming the file if it is not
    readable (`readable_as`: what it should have been readable as) or holds another format (`kind`)."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {}).get(META_KEY, "{}"))
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (OSError, ValueError, RuntimeError, SafetensorError) as err:
        raise DataError(f"{path}: not a readable {readable_as} ({err})") from None
    if meta.get("format") != expected_format:
        raise DataError(f"{path}: not a {kind} (format {meta.get('format')!r})")
    return tensors, meta


def state_dict_tensors(model: nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    """The model's state_dict as standalone tensors (safetensors refuses shared or strided storage)."""
    return {f"{prefix}{k}": v.detach().contiguous().clone() for k, v in model.state_dict().items()}


def load_state(model: nn.Module, tensors: dict[str, torch.Tensor], path: str | os.PathLike,
               prefix: str = "") -> None:
    """Load the `prefix`ed entries of `tensors` into model; DataError naming the file on any mismatch."""
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise DataError(f"{path}: does not match the model (missing {missing[:3]}, unexpected {unexpected[:3]})")
