"""Crash-safe persistence of finished candidates: an append-only JSONL file plus a header.

Every finished candidate is one line, written with a single ``write`` of the whole line, flushed and
``fsync``-ed before the search goes on, so a killed search loses at most the candidates still being
trained. A torn last line (killed mid-write) is detected on open and cut off. The header
(``search.json``, written by tmp + rename) records the space and settings; resuming with different
ones is refused, since the stored results would then describe a different experiment.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

from tinycim.errors import ConfigError, DataError
from tinycim.io import atomic_write_text

__all__ = ["ResultStore"]

HEADER = "search.json"
RESULTS = "candidates.jsonl"


_MISSING = "<absent>"


def _differences(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(dotted field, old value, new value) of every leaf where two JSON headers differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            out += _differences(
                old.get(key, _MISSING), new.get(key, _MISSING), f"{path}.{key}" if path else key
            )
        return out
    return [] if old == new else [(path or "header", old, new)]


class ResultStore:
    """Finished candidates of one search, keyed by arch key.

    ``records`` maps key -> record (a dict with at least ``key``, ``arch``, ``metrics``); ``add``
    appends one and makes it durable at once.
    """

    def __init__(self, directory: str | os.PathLike, header: dict[str, Any] | None = None):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / RESULTS
        self.records: dict[str, dict[str, Any]] = {}
        if header is not None:
            self._check_header(header)
        self._load()

    def _check_header(self, header: dict[str, Any]) -> None:
        path = self.dir / HEADER
        normal = json.loads(json.dumps(header, sort_keys=True))  # tuples -> lists, as stored
        if path.exists():
            old = json.loads(path.read_text(encoding="utf-8"))
            if old != normal:
                diff = "; ".join(f"{k}: {a!r} there, {b!r} now" for k, a, b in _differences(old, normal)[:4])
                raise ConfigError(
                    f"{self.dir} holds a different search ({diff}); "
                    f"use a new --out directory or the same settings to resume"
                )
        else:
            atomic_write_text(path, json.dumps(normal, indent=2, sort_keys=True))

    def _load(self) -> None:
        if not self.path.exists():
            return
        raw = self.path.read_bytes()
        good = raw.rfind(b"\n") + 1  # everything after the last newline is a torn write
        if good < len(raw):
            with open(self.path, "r+b") as f:
                f.truncate(good)
                f.flush()
                os.fsync(f.fileno())
        for n, line in enumerate(raw[:good].decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{self.path}:{n}: corrupt record ({err})") from None
            self.records[rec["key"]] = rec

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records.values())

    def get(self, key: str) -> dict[str, Any] | None:
        return self.records.get(key)

    def add(self, record: dict[str, Any]) -> None:
        """Append ``record`` durably (one write, flush, fsync). A key already stored is ignored."""
        if record["key"] in self.records:
            return
        line = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")
        with open(self.path, "ab") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self.records[record["key"]] = record
