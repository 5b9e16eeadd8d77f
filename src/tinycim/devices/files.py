"""Device files: a device as JSON (`save_device`, `load_device`) and `from_file` for any of
a device JSON, an AnalogConfig JSON (its device), or a measurement file (fitted on the spot).

A device JSON is `{"format": "tinycim-device", "version": 1, "device": {"kind": ..., ...}}`
(a bare `{"kind": ...}` object is read too), validated on load by the device classes themselves:
a bad field raises ConfigError naming it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from tinycim.errors import ConfigError, DataError

FORMAT = "tinycim-device"
VERSION = 1
MEASUREMENT_SUFFIXES = (".csv", ".parquet", ".pq")


def device_to_dict(device: Any) -> dict[str, Any]:
    """The device's fields as JSON-ready data (nested devices included)."""
    return dataclasses.asdict(device)


def device_from_dict(data: Any, owner: str = "device") -> Any:
    """A device from its JSON data (`kind` picks the class); ConfigError naming the bad field."""
    from tinycim.config import AnalogConfig

    if not isinstance(data, dict):
        raise ConfigError(f"{owner} must be a JSON object with a 'kind', got {type(data).__name__}")
    return AnalogConfig.from_dict({"device": data}).device


def save_device(device: Any, path: str | Path, meta: dict | None = None) -> Path:
    """Write `device` as a device JSON (atomically); `meta` (e.g. the fit summary) is stored alongside."""
    from tinycim.io import atomic_write_text

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"format": FORMAT, "version": VERSION, "device": device_to_dict(device)}
    if meta:
        doc["meta"] = _strict_json(meta)
    atomic_write_text(path, json.dumps(doc, indent=1))
    return path


def _strict_json(value: Any) -> Any:
    """`value` with every non-finite float (a one-sided interval's inf, a missing NaN) as null:
    strict JSON readers refuse Python's Infinity / NaN literals."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict_json(v) for v in value]
    return value


def load_device(path: str | Path) -> Any:
    """Read a device JSON (or an AnalogConfig JSON, taking its device)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: device file not found")
    try:
        doc = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {type(doc).__name__}")
    if doc.get("format") == FORMAT:
        if doc.get("version") != VERSION:
            raise ConfigError(f"{path}: version = {doc.get('version')!r} is not supported: allowed {VERSION}")
        data = doc.get("device")
    elif "kind" in doc:
        data = doc
    elif isinstance(doc.get("device"), dict):  # an AnalogConfig JSON
        data = doc["device"]
    else:
        raise ConfigError(
            f"{path}: not a device file (expected format {FORMAT!r}, a device object with a "
            "'kind', or an analog config with a 'device')"
        )
    try:
        return device_from_dict(data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def from_file(path: str | Path, *, model: str = "empirical", seed: int = 0) -> Any:
    """A simulator device from a file, ready for `dataclasses.replace(cfg, device=...)`.

    path: a device JSON written by `tinycim device fit` / `save_device`, an AnalogConfig JSON, or a
    measurement file (.csv / .parquet), which is fitted here with `model` ("empirical", "pcm" or
    "rram"; no bootstrap).
    """
    path = Path(path)
    if path.suffix.lower() in MEASUREMENT_SUFFIXES:
        from tinycim.devices.fitting import fit_device
        from tinycim.devices.measurements import read_measurements

        return fit_device(read_measurements(path), model, bootstrap=0, seed=seed).device
    return load_device(path)
