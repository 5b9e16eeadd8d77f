"""Where derived features are cached, and how a cache entry is named, written and checked.

Entries live in the user's cache folder (`platformdirs.user_cache_dir("tinycim")`, e.g.
`~/.cache/tinycim` on Linux; `$TINYCIM_CACHE_DIR` overrides it, `cache_dir=` overrides both),
never inside a dataset folder: a dataset may be read-only, shared, or under version control.

A cache entry's name is a hash of everything its content depends on (the feature parameters,
the dataset's resolved path and the list of source files with their sizes and modification
times), so a changed file or parameter can never return stale features: it simply misses. An
entry that cannot be read, or that fails its reader's checks, is a miss too and is rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

# Older tinycim versions wrote `<data_dir>/.tinycim_cache`; folder walks still skip that name.
CACHE_DIR_NAME = ".tinycim_cache"
CACHE_ENV = "TINYCIM_CACHE_DIR"
APP_NAME = "tinycim"
CACHE_FORMAT_VERSION = 2  # bump when the cached arrays change meaning (2: audio range checks)


def default_cache_dir() -> Path:
    """`$TINYCIM_CACHE_DIR` if set, else the platform's user cache folder for tinycim."""
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    try:
        import platformdirs
    except ImportError:  # platformdirs is a dependency; this only guards a stripped environment
        base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
        return Path(base).expanduser() / APP_NAME
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def cache_key(payload: Any) -> str:
    """A stable hex digest of a JSON-serialisable description of what the entry depends on."""
    text = json.dumps({"version": CACHE_FORMAT_VERSION, "payload": payload}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of a cache entry, or None if absent, not a regular file, or unreadable.

    Any failure to read is a miss (the caller recomputes and rewrites the entry); object arrays
    are never unpickled.
    """
    try:  # O_NONBLOCK + fstat: a FIFO or folder in the entry's place is a miss, never waited on
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    with os.fdopen(fd, "rb") as fh:
        try:
            with np.load(fh, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except Exception:  # noqa: BLE001 - zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError...
            return None


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write atomically (unique temp file + fsync + rename) so a crash or a concurrent writer
    never leaves a half-written entry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]  # (numpy stubs: a key could be allow_pickle)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
