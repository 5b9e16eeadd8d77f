"""Where derived features are cached, and how a cache entry is named and written.

A cache entry's name is a hash of everything its content depends on (the feature parameters
and the list of source files with their sizes and modification times), so a changed file or
parameter can never return stale features: it simply misses.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

CACHE_DIR_NAME = ".tinycim_cache"
USER_CACHE_DIR = Path("~/.cache/tinycim")
CACHE_FORMAT_VERSION = 1  # bump when the cached arrays change meaning


def default_cache_dir(data_dir: Path) -> Path:
    """`<data_dir>/.tinycim_cache` when that can be written, else `~/.cache/tinycim`.

    For an archive (`data_dir` is a file) the folder holding it is tried instead.
    """
    base = data_dir if data_dir.is_dir() else data_dir.parent
    local = base / CACHE_DIR_NAME
    if local.is_dir() and os.access(local, os.W_OK):
        return local
    if not local.exists() and os.access(base, os.W_OK):
        return local
    return USER_CACHE_DIR.expanduser()


def cache_key(payload: Any) -> str:
    """A stable hex digest of a JSON-serialisable description of what the entry depends on."""
    text = json.dumps({"version": CACHE_FORMAT_VERSION, "payload": payload}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of a cache entry, or None if absent or unreadable (a broken entry is a miss)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError):
        return None


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write atomically (temp file + rename) so a crash never leaves a half-written entry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
