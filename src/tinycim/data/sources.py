"""Read a dataset the same way whether it is an extracted folder or the archive it came in.

`open_tree(path)` gives a `FileTree` over a folder, a `.tar[.gz|.xz|.bz2]` or a `.zip`; member
names are POSIX paths relative to the folder or archive root. Archives are read in one
sequential pass (a compressed tar cannot seek cheaply), never extracted to disk.
"""
from __future__ import annotations

import os
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


class FileTree:
    """Base: list members, read some of them, and say where a member is for error messages."""

    def __init__(self, path: Path):
        self.path = path

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
        out = []
        for dirpath, dirnames, filenames in os.walk(self.path):
            dirnames[:] = sorted(d for d in dirnames if d != CACHE_DIR_NAME)
            for fname in sorted(filenames):
                full = os.path.join(dirpath, fname)
                st = os.stat(full)
                out.append(Member(Path(full).relative_to(self.path).as_posix(), st.st_size, st.st_mtime))
        return out

    def read(self, names: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        for name in names:
            yield name, (self.path / name).read_bytes()


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
            return [Member(_clean(i.filename), i.file_size, datetime.datetime(*i.date_time).timestamp())
                    for i in zf.infolist() if not i.is_dir()]

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
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
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
