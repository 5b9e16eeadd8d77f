"""Read a dataset the same way whether it is an extracted folder or the archive it came in.

`open_tree(path)` gives a `FileTree` over a folder, a `.tar[.gz|.xz|.bz2]` or a `.zip`; member
names are POSIX paths relative to the folder or archive root. Archives are read in one
sequential pass (a compressed tar cannot seek cheaply), never extracted to disk.

Only regular files are ever opened: a FIFO, socket or device (e.g. a FIFO named `x.tar.gz`) would
block a reader forever, so `read_regular` opens without blocking and refuses anything else, and
`FolderTree.members()` lists such entries in `irregular` instead of `members`. Paths named inside
a dataset (a CSV row, a list file) go through `resolve_inside`, which keeps them in the folder.
"""

from __future__ import annotations

import os
import re
import stat
import tarfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tinycim.data.cache import CACHE_DIR_NAME
from tinycim.errors import DataError

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2")


@dataclass(frozen=True)
class Member:
    name: str  # POSIX path relative to the tree root
    size: int  # bytes
    mtime: float  # seconds since the epoch (archive members: as recorded in the archive)


def file_kind(mode: int) -> str:
    """'regular file', 'folder', 'FIFO', 'socket', 'device' or 'special file' for an st_mode."""
    if stat.S_ISREG(mode):
        return "regular file"
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def read_regular(path: str | os.PathLike, *, max_bytes: int | None = None) -> bytes:
    """The bytes of a regular file; `ValueError` with the reason (never blocks) otherwise.

    Opened with O_NONBLOCK and checked with fstat on the open descriptor, so a FIFO or device
    (or a file swapped for one after a listing) is refused at once instead of waiting for a
    writer. `max_bytes`: refuse larger files before reading them (a resource limit).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ValueError("missing") from None
    except OSError as err:
        raise ValueError(f"cannot open ({err.strerror or err})") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"not a regular file (a {file_kind(st.st_mode)})")
        if max_bytes is not None and st.st_size > max_bytes:
            raise ValueError(f"{st.st_size} bytes, more than the {max_bytes} this format allows")
        return fh.read()


def resolve_inside(root: Path, name: str) -> Path:
    """`root / name` for a relative path named inside a dataset (a CSV row, a list entry).

    `ValueError` if `name` is absolute, climbs out with `..`, or resolves (through symlinks)
    outside `root`: a dataset file must never make tinycim read elsewhere on the machine.
    """
    if not name:
        raise ValueError("empty file name")
    posix = name.replace("\\", "/")
    if posix.startswith("/") or os.path.isabs(name) or re.match(r"[A-Za-z]:/", posix):
        raise ValueError(f"file name {name!r} is an absolute path; expected a path inside {root}")
    if ".." in posix.split("/"):
        raise ValueError(
            f"file name {name!r} leaves the dataset folder ('..'); expected a path inside {root}"
        )
    path = root / posix
    real_root = root.resolve()
    real = path.resolve()
    if real != real_root and real_root not in real.parents:
        raise ValueError(f"file name {name!r} resolves outside the dataset folder (to {real})")
    return path


class FileTree:
    """Base: list members, read some of them, and say where a member is for error messages.

    `irregular`: after `members()`, names of entries that are not regular files (FIFOs,
    sockets, devices, broken links); they are never read. Archives hold none (only file
    members are listed).
    """

    def __init__(self, path: Path):
        self.path = path
        self.irregular: list[str] = []

    def members(self) -> list[Member]:
        raise NotImplementedError

    def read(self, names: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """Yield (name, content) for the wanted names, in storage order (not the order asked)."""
        raise NotImplementedError

    def where(self, name: str) -> str:
        return str(self.path / name)

    @property
    def is_archive(self) -> bool:
        return not self.path.is_dir()


class FolderTree(FileTree):
    def members(self) -> list[Member]:
        out, self.irregular = [], []
        for dirpath, dirnames, filenames in os.walk(self.path):
            dirnames[:] = sorted(d for d in dirnames if d != CACHE_DIR_NAME)
            for fname in sorted(filenames):
                full = os.path.join(dirpath, fname)
                name = Path(full).relative_to(self.path).as_posix()
                try:
                    st = os.stat(full)
                except OSError:  # a broken symlink
                    self.irregular.append(name)
                    continue
                if not stat.S_ISREG(st.st_mode):
                    self.irregular.append(name)
                    continue
                out.append(Member(name, st.st_size, st.st_mtime))
        return out

    def read(self, names: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        for name in names:
            try:
                yield name, read_regular(self.path / name)
            except ValueError as err:
                raise DataError(f"{self.where(name)}: {err}") from None


class TarTree(FileTree):
    def _open(self) -> tarfile.TarFile:
        try:
            return tarfile.open(self.path, "r:*")
        except (tarfile.TarError, OSError, EOFError) as err:
            raise DataError(f"{self.path}: not a readable tar archive ({err})") from err

    def members(self) -> list[Member]:
        try:
            with self._open() as tar:
                return [Member(_clean(m.name), m.size, float(m.mtime)) for m in tar if m.isfile()]
        except (tarfile.TarError, OSError, EOFError) as err:
            raise DataError(f"{self.path}: truncated or corrupt archive ({err})") from err

    def read(self, names: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        wanted = set(names)
        try:
            with self._open() as tar:
                for m in tar:
                    name = _clean(m.name)
                    if m.isfile() and name in wanted:
                        fh = tar.extractfile(m)
                        yield name, fh.read() if fh is not None else b""
        except (tarfile.TarError, OSError, EOFError) as err:
            raise DataError(f"{self.path}: truncated or corrupt archive ({err})") from err

    def where(self, name: str) -> str:
        return f"{self.path}:{name}"


class ZipTree(FileTree):
    def _open(self) -> zipfile.ZipFile:
        try:
            return zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as err:
            raise DataError(f"{self.path}: not a readable zip archive ({err})") from err

    def members(self) -> list[Member]:
        import datetime

        with self._open() as zf:
            return [
                Member(_clean(i.filename), i.file_size, datetime.datetime(*i.date_time).timestamp())
                for i in zf.infolist()
                if not i.is_dir()
            ]

    def read(self, names: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        wanted = set(names)
        with self._open() as zf:
            for info in zf.infolist():
                name = _clean(info.filename)
                if name in wanted:
                    try:
                        yield name, zf.read(info)
                    except (zipfile.BadZipFile, OSError, EOFError) as err:
                        raise DataError(f"{self.where(name)}: corrupt zip member ({err})") from err

    def where(self, name: str) -> str:
        return f"{self.path}:{name}"


def _clean(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


def open_tree(path: str | os.PathLike) -> FileTree:
    """A `FileTree` for a folder or a supported archive; `DataError` naming the path otherwise."""
    path = Path(path).expanduser()
    if path.is_dir():
        return FolderTree(path)
    try:
        mode = path.stat().st_mode
    except OSError:
        raise DataError(f"{path}: no such file or folder") from None
    if not stat.S_ISREG(mode):
        raise DataError(
            f"{path}: not a regular file (a {file_kind(mode)}); expected a folder, "
            "a .tar(.gz/.xz/.bz2) or a .zip archive"
        )
    name = path.name.lower()
    if name.endswith(TAR_SUFFIXES):
        return TarTree(path)
    if name.endswith(".zip"):
        return ZipTree(path)
    raise DataError(f"{path}: expected a folder, a .tar(.gz/.xz/.bz2) or a .zip archive")


def find_root(members: list[Member], marker: str) -> str:
    """The prefix ('' or 'top/folder/') under which `marker` (a relative path) sits, or raise."""
    for m in members:
        if m.name == marker or m.name.endswith("/" + marker):
            return m.name[: len(m.name) - len(marker)]
    raise KeyError(marker)
