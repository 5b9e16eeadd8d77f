"""Files tinycim writes and reads back: atomic writes, an output-folder lock, and safetensors
with JSON metadata.

Weights and state live in safetensors (never pickle); anything else rides along as one JSON
string under the metadata key "tinycim", whose "format" says what the file is.

Every write goes to a uniquely named temporary file in the destination's folder, is fsynced and
then renamed over the destination (`os.replace`), so a reader, a restart after a crash, or a
second writer sees the old file or the new one, never half of one, and two writers never share a
temporary file. `output_lock(folder)` keeps a second tinycim process out of an output folder:

    with output_lock(out):          # raises TinyCimError at once if another process holds it
        ... write the run ...
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors_bytes
from torch import nn

from tinycim.errors import DataError, TinyCimError

META_KEY = "tinycim"
LOCK_NAME = ".tinycim.lock"
TMP_SUFFIX = ".tmp"
_TMP_ATTEMPTS = 100  # unique-name retries before giving up (a clash needs a 64-bit random collision)


def _open_temp(path: Path) -> tuple[int, Path]:
    """Create `.<name>.<pid>.<random>.tmp` next to `path` (O_EXCL: never an existing file).

    Created with mode 0o666 minus the umask, like an ordinary `open(path, "w")`, so the renamed
    result has the permissions the user expects (tempfile.mkstemp would give 0o600).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(_TMP_ATTEMPTS):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}{TMP_SUFFIX}")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path}: could not create a unique temporary file next to it")


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` via a unique temporary file in the same folder, fsync and
    `os.replace`: readers see the old content or the new, never a mix, and concurrent writers
    of the same path never touch each other's temporary file (the last rename wins)."""
    path = Path(path)
    fd, tmp = _open_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """`atomic_write_bytes` of `text` as UTF-8 (newlines written as given)."""
    atomic_write_bytes(path, text.encode("utf-8"))


_held_lock = threading.Lock()
_held: dict[str, tuple[int, int]] = {}  # resolved folder -> (lock file descriptor, nesting depth)


def _try_lock(fd: int) -> bool:
    """Non-blocking exclusive lock of the whole file behind `fd`; False if someone else holds it."""
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except (BlockingIOError, PermissionError):
        return False


@contextlib.contextmanager
def output_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold `<folder>/.tinycim.lock` exclusively while the block writes into `folder`.

    Creates `folder` (and parents) if needed and yields it. Never waits: if another process holds
    the lock, raises `TinyCimError("another tinycim process is writing to <folder> ...")` at once.
    The lock is an OS file lock (flock), so it is released when the process exits, even on kill -9;
    the lock file itself stays (deleting it would let two processes lock two different files).
    Re-entrant within one process (a command that calls another command's code on the same
    folder does not lock itself out); it does not separate threads of one process.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise TinyCimError(f"{folder}: cannot create the output folder ({err.strerror or err})") from None
    key = str(folder.resolve())
    with _held_lock:
        if key in _held:
            fd, depth = _held[key]
            _held[key] = (fd, depth + 1)
        else:
            try:
                fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as err:
                raise TinyCimError(
                    f"{folder / LOCK_NAME}: cannot open the lock file ({err.strerror or err})"
                ) from None
            if not _try_lock(fd):
                os.close(fd)
                raise TinyCimError(
                    f"another tinycim process is writing to {folder} "
                    f"(it holds {folder / LOCK_NAME}); wait for it or choose another --out"
                )
            with contextlib.suppress(OSError):  # who holds it, for a person looking at the folder
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
            _held[key] = (fd, 1)
    try:
        yield folder
    finally:
        with _held_lock:
            fd, depth = _held[key]
            if depth > 1:
                _held[key] = (fd, depth - 1)
            else:
                del _held[key]
                os.close(fd)  # closing the descriptor releases the flock


def save_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Write tensors (contiguous, unshared) and the JSON-able `meta` to a safetensors file, atomically."""
    atomic_write_bytes(path, save_safetensors_bytes(tensors, metadata={META_KEY: json.dumps(meta)}))


def read_tensors(
    path: str | os.PathLike, *, expected_format: str, readable_as: str, kind: str
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
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
    return {f"{prefix}{k}": v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}


def load_state(
    model: nn.Module, tensors: dict[str, torch.Tensor], path: str | os.PathLike, prefix: str = ""
) -> None:
    """Load the `prefix`ed entries of `tensors` into model; DataError naming the file on any mismatch."""
    state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    own = model.state_dict()
    for key, value in state.items():
        if key in own and tuple(own[key].shape) != tuple(value.shape):
            raise DataError(
                f"{path}: tensor {prefix}{key!r} has shape {list(value.shape)}, the model expects "
                f"{list(own[key].shape)} (the file holds another model's weights)"
            )
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise DataError(
            f"{path}: does not match the model (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )


# Config files are small: refuse anything larger before parsing, and YAML aliases beyond a few
# (an "alias bomb" of nested aliases expands to billions of nodes and never returns).
MAX_CONFIG_BYTES = 1 << 20
MAX_YAML_ALIASES = 64


def read_config_text(path: str | os.PathLike, owner: str) -> str:
    """The text of a config / recipe file, refusing non-regular files (a FIFO would block) and
    files over MAX_CONFIG_BYTES, with a one-line error naming `owner`."""
    p = Path(path)
    if not p.is_file():
        raise TinyCimError(f"{owner} {p}: not a regular file")
    size = p.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise TinyCimError(
            f"{owner} {p}: {size} bytes, more than a config file can be ({MAX_CONFIG_BYTES} bytes)"
        )
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise TinyCimError(f"{owner} {p}: not UTF-8 text ({err})") from None


def safe_yaml(text: str, owner: str) -> Any:
    """yaml.safe_load with at most MAX_YAML_ALIASES aliases (each may expand a whole subtree);
    errors are one line naming `owner`."""
    import yaml

    class _Loader(yaml.SafeLoader):
        aliases = 0

        def compose_node(self, parent: Any, index: Any) -> Any:  # noqa: D102
            if self.check_event(yaml.AliasEvent):
                _Loader.aliases += 1
                if _Loader.aliases > MAX_YAML_ALIASES:
                    raise TinyCimError(
                        f"{owner}: more than {MAX_YAML_ALIASES} YAML aliases (refused: an alias "
                        "bomb expands without bound)"
                    )
            return super().compose_node(parent, index)

    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506  # a SafeLoader subclass
    except yaml.YAMLError as err:
        raise TinyCimError(f"{owner}: not valid YAML ({' '.join(str(err).split())})") from None
