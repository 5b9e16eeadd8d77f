"""What a result was computed from, so a resume can refuse to mix two runs.

A resumed training run or recipe reuses finished work; if the settings or the data changed since,
the result would describe a run that never happened. Every resumable job records
``settings`` (configs as JSON, data as fingerprints) and compares them on resume with
`check_same`, which names the first field that differs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import torch

from tinycim.errors import ConfigError


def data_fingerprint(ds: Any) -> str:
    """sha256 (first 16 hex digits) of a dataset's tensors: shapes, dtypes and every value.

    ds: a ``TensorDataset`` (``.tensors``) or a tensor. Two loads of the same files with the same
    split options and seed give the same fingerprint; another folder, split or seed does not."""
    tensors = ds.tensors if hasattr(ds, "tensors") else (ds,)
    h = hashlib.sha256()
    for t in tensors:
        t = torch.as_tensor(t).detach().cpu().contiguous()
        h.update(f"{tuple(t.shape)}:{t.dtype};".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat(item, f"{prefix}{key}."))
        return out or {prefix.rstrip("."): {}}
    return {prefix.rstrip("."): value}


def first_difference(saved: dict[str, Any], current: dict[str, Any]) -> tuple[str, Any, Any] | None:
    """(dotted field, saved value, current value) of the first difference in ``current``'s field
    order, or None when equal (compared as JSON: tuples equal lists, numbers compare by value)."""
    a = _flat(json.loads(json.dumps(saved, default=str)))
    b = _flat(json.loads(json.dumps(current, default=str)))
    for key in [*b, *(k for k in a if k not in b)]:
        if a.get(key, "<absent>") != b.get(key, "<absent>"):
            return key, a.get(key, "<absent>"), b.get(key, "<absent>")
    return None


def check_same(where: str, saved: dict[str, Any] | None, current: dict[str, Any]) -> None:
    """Raise ConfigError naming the first field in which ``current`` differs from ``saved`` (the
    settings a resumable job recorded at ``where``); None (nothing recorded) passes."""
    if saved is None:
        return
    diff = first_difference(saved, current)
    if diff is not None:
        field, old, new = diff
        what = "the data" if field.startswith("data") else "the settings"
        raise ConfigError(
            f"{where}: was written with {field} = {old!r}, this run has {new!r} ({what} changed): "
            f"resume with the original settings, or use a new output folder"
        )
