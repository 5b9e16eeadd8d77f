"""The measurement format: one row per cell and read, in CSV or Parquet.

Columns (names are the contract; order is free, extra columns are ignored):

| column          | meaning                                                        | unit   | rule          |
|-----------------|----------------------------------------------------------------|--------|---------------|
| `cell`          | id of the physical cell (any text; the same id = the same cell) | -      | non-empty     |
| `target_us`     | conductance the cell was programmed to                         | uS     | finite, >= 0  |
| `t_s`           | seconds since programming (0 = read right after programming)   | s      | finite, >= 0  |
| `g_us`          | measured conductance                                           | uS     | finite, >= 0  |
| `temperature_c` | optional: temperature of the read                              | deg C  | finite        |

A cell keeps one target; it may be read any number of times (several rows). Targets are a few
discrete levels (the levels the device team programmed), at least two of them.
`read_measurements` names the file, row and column of the first bad value in a one-line
`DataError`; rows are numbered from 1 (the first data row; in a CSV that is line 2).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinycim.errors import DataError

REQUIRED_COLUMNS = ("cell", "target_us", "t_s", "g_us")
OPTIONAL_COLUMNS = ("temperature_c",)
# More distinct targets than this is not "a few programmed levels" (the fit groups cells by target).
MAX_LEVELS = 256


@dataclass(frozen=True)
class Measurements:
    """Validated measurements, one entry per row (read) [N].

    cell: int cell index [N] (0..n_cells-1, in order of first appearance); cell_ids: the ids as
    written [n_cells]; target_us, t_s, g_us: float64 [N]; temperature_c: float64 [N] or None.
    """

    cell: np.ndarray
    cell_ids: tuple[str, ...]
    target_us: np.ndarray
    t_s: np.ndarray
    g_us: np.ndarray
    temperature_c: np.ndarray | None = None
    source: str = "<memory>"

    @property
    def rows(self) -> int:
        return int(self.g_us.shape[0])

    @property
    def n_cells(self) -> int:
        return len(self.cell_ids)

    @property
    def levels_us(self) -> np.ndarray:
        """Distinct target levels, ascending [L] (uS)."""
        return np.unique(self.target_us)

    @property
    def times_s(self) -> np.ndarray:
        """Distinct read times, ascending [T] (s)."""
        return np.unique(self.t_s)

    def cell_targets(self) -> np.ndarray:
        """Target of each cell [n_cells] (uS)."""
        out = np.empty(self.n_cells)
        out[self.cell] = self.target_us
        return out

    def select(self, mask: np.ndarray) -> Measurements:
        """The rows where `mask` [N] is true (cells renumbered)."""
        kept_ids, cell = np.unique(self.cell[mask], return_inverse=True)
        temp = None if self.temperature_c is None else self.temperature_c[mask]
        return Measurements(
            cell=cell,
            cell_ids=tuple(self.cell_ids[i] for i in kept_ids),
            target_us=self.target_us[mask],
            t_s=self.t_s[mask],
            g_us=self.g_us[mask],
            temperature_c=temp,
            source=self.source,
        )


def from_arrays(
    cell, target_us, t_s, g_us, temperature_c=None, *, source: str = "<memory>", min_levels: int = 2
) -> Measurements:
    """Validate columns given as sequences [N] (same rules and messages as the file reader)."""
    columns = {"cell": [str(c) for c in cell], "target_us": target_us, "t_s": t_s, "g_us": g_us}
    if temperature_c is not None:
        columns["temperature_c"] = temperature_c
    return _validate(columns, source, min_levels=min_levels)


def read_measurements(path: str | Path, *, min_levels: int = 2) -> Measurements:
    """Read and validate a measurement file (.csv, or .parquet / .pq with pyarrow installed)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: measurement file not found")
    if path.suffix.lower() in (".parquet", ".pq"):
        columns = _read_parquet(path)
    else:
        columns = _read_csv(path)
    return _validate(columns, str(path), min_levels=min_levels)


def write_measurements(path: str | Path, m: Measurements) -> Path:
    """Write `m` in the measurement format (.csv, or .parquet with pyarrow installed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(REQUIRED_COLUMNS) + (["temperature_c"] if m.temperature_c is not None else [])
    ids = np.asarray(m.cell_ids, dtype=object)[m.cell]
    cols = {"cell": ids, "target_us": m.target_us, "t_s": m.t_s, "g_us": m.g_us}
    if m.temperature_c is not None:
        cols["temperature_c"] = m.temperature_c
    if path.suffix.lower() in (".parquet", ".pq"):
        pa, pq = _pyarrow(path)
        table = pa.table(
            {k: (list(map(str, v)) if k == "cell" else np.asarray(v, dtype=float)) for k, v in cols.items()}
        )
        pq.write_table(table, path)
        return path
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(names)
        fmt = [str] + [repr] * (len(names) - 1)
        rows = zip(*(cols[n].tolist() if hasattr(cols[n], "tolist") else cols[n] for n in names))
        writer.writerows([f(v) for f, v in zip(fmt, row)] for row in rows)
    return path


# ---- reading ----------------------------------------------------------------------------------
def _read_csv(path: Path) -> dict[str, list]:
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise DataError(
                f"{path}: empty file (expected a header with {', '.join(REQUIRED_COLUMNS)})"
            ) from None
        except csv.Error as err:
            raise DataError(f"{path}: not a readable CSV file ({err})") from None
        header = [h.strip() for h in header]
        _check_header(path, header)
        index = {
            name: header.index(name) for name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if name in header
        }
        columns: dict[str, list] = {name: [] for name in index}
        try:
            for row_no, row in enumerate(reader, start=1):
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) < len(header):
                    raise DataError(
                        f"{path}: row {row_no} (line {reader.line_num}) has {len(row)} fields, "
                        f"the header has {len(header)}"
                    )
                for name, i in index.items():
                    columns[name].append(row[i].strip())
        except csv.Error as err:
            raise DataError(f"{path}: line {reader.line_num} is not valid CSV ({err})") from None
    return columns


def _pyarrow(path: Path):
    try:
        import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type stubs
        import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no type stubs
    except ImportError:
        raise DataError(
            f"{path}: reading or writing Parquet needs pyarrow (pip install pyarrow), "
            "or save the measurements as CSV"
        ) from None
    return pa, pq


def _read_parquet(path: Path) -> dict[str, list]:
    _, pq = _pyarrow(path)
    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several types for corrupt files
        raise DataError(f"{path}: not a readable Parquet file ({err})") from None
    _check_header(path, list(table.column_names))
    return {
        name: table.column(name).to_pylist()
        for name in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
        if name in table.column_names
    }


def _check_header(path: Path, header: list[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)} (required: {', '.join(REQUIRED_COLUMNS)}; "
            f"optional: {', '.join(OPTIONAL_COLUMNS)}; found: {', '.join(header) or 'none'})"
        )


# ---- validation -------------------------------------------------------------------------------
_RULES = {  # column -> (lower bound or None, what it is)
    "target_us": (0.0, "target conductance (uS)"),
    "t_s": (0.0, "time since programming (s)"),
    "g_us": (0.0, "measured conductance (uS)"),
    "temperature_c": (None, "temperature (deg C)"),
}


def _numbers(source: str, name: str, values) -> np.ndarray:
    """Column `name` as float64 [N]; DataError naming the first bad row."""
    try:
        arr: np.ndarray = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        for row_no, v in enumerate(values, start=1):
            try:
                float(v if v is not None else "nan")
            except (TypeError, ValueError):
                raise DataError(f"{source}: row {row_no}, column {name}: {v!r} is not a number") from None
        arr = np.asarray([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    bad = np.asarray(~np.isfinite(arr))
    if bad.any():
        row_no = int(np.argmax(bad)) + 1
        raise DataError(
            f"{source}: row {row_no}, column {name}: {values[row_no - 1]!r} is not a finite number "
            f"(NaN, inf and empty values are not allowed)"
        )
    lo, what = _RULES[name]
    below = np.asarray(arr < lo) if lo is not None else np.zeros(arr.shape, dtype=bool)
    if below.any():
        row_no = int(np.argmax(below)) + 1
        raise DataError(
            f"{source}: row {row_no}, column {name}: {float(arr[row_no - 1])!r} is negative "
            f"(a {what} must be >= {lo:g})"
        )
    return arr


def _validate(columns: dict, source: str, *, min_levels: int) -> Measurements:
    n = len(columns["cell"])
    if n == 0:
        raise DataError(f"{source}: no data rows (expected one row per cell and read)")
    for name, values in columns.items():
        if len(values) != n:
            raise DataError(f"{source}: column {name} has {len(values)} values, column cell has {n}")
    ids = ["" if c is None else str(c) for c in columns["cell"]]
    empty = [i for i, c in enumerate(ids) if not c]
    if empty:
        raise DataError(f"{source}: row {empty[0] + 1}, column cell: empty cell id")
    arrays = {name: _numbers(source, name, columns[name]) for name in _RULES if name in columns}
    unique_ids, first, cell = np.unique(np.asarray(ids, dtype=object), return_index=True, return_inverse=True)
    # Renumber cells in order of first appearance (stable, readable ids in reports).
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    cell = rank[cell]
    cell_ids = tuple(str(unique_ids[i]) for i in order)
    target = arrays["target_us"]
    first_target = np.full(len(cell_ids), np.nan)
    first_target[cell[::-1]] = target[::-1]  # the first row of each cell wins
    clash = target != first_target[cell]
    if clash.any():
        row_no = int(np.argmax(clash)) + 1
        raise DataError(
            f"{source}: row {row_no}, column target_us: cell {ids[row_no - 1]!r} has target "
            f"{target[row_no - 1]:g} uS here but {first_target[cell[row_no - 1]]:g} uS in an earlier row "
            "(one target per cell)"
        )
    levels = np.unique(target)
    if levels.size < min_levels:
        raise DataError(
            f"{source}: column target_us has {levels.size} level(s) only "
            f"({', '.join(f'{v:g}' for v in levels[:3])} uS) in all {n} rows: a device fit needs "
            f">= {min_levels} distinct target levels"
        )
    if levels.size > MAX_LEVELS:
        raise DataError(
            f"{source}: column target_us has {levels.size} distinct values: expected a few programmed "
            f"levels (<= {MAX_LEVELS}); round the targets to the levels that were programmed"
        )
    return Measurements(
        cell=cell.astype(np.int64),
        cell_ids=cell_ids,
        target_us=target,
        t_s=arrays["t_s"],
        g_us=arrays["g_us"],
        temperature_c=arrays.get("temperature_c"),
        source=source,
    )


def sample_measurements(device, levels_us, times_s, cells_per_level: int, seed: int) -> Measurements:
    """Measurements drawn from a simulator device: `cells_per_level` cells at each level (uS),
    each programmed once and read at every time in `times_s` (s) with `device.read`.

    Each read draws its own read noise (as a real read would); seeded, so the same call gives the
    same file. Used by the round-trip tests and benchmarks.
    """
    import torch

    levels = [float(v) for v in levels_us]
    times = [float(t) for t in times_s]
    if cells_per_level < 1 or not levels or not times or any(not math.isfinite(v) for v in levels + times):
        raise DataError("sample_measurements: need >= 1 cell per level, >= 1 finite level and time")
    gen = torch.Generator().manual_seed(seed)
    targets = torch.tensor(levels, dtype=torch.float64).repeat_interleave(cells_per_level)  # [C]
    cells = device.program(targets, gen)
    reads = torch.stack([device.read(cells, t, gen) for t in times], dim=1)  # [C, T]
    n_cells = targets.numel()
    cell = np.repeat(np.arange(n_cells), len(times))
    return Measurements(
        cell=cell,
        cell_ids=tuple(f"c{i}" for i in range(n_cells)),
        target_us=np.repeat(targets.numpy(), len(times)),
        t_s=np.tile(np.asarray(times), n_cells),
        g_us=reads.reshape(-1).numpy().astype(np.float64),
        source=f"sampled from {device.kind}",
    )
