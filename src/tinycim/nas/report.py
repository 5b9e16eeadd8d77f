"""Outputs of a search: the candidates table (CSV + JSON), the Pareto plot (PNG) and the best run."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import shutil
from pathlib import Path
from typing import Any, Sequence

from tinycim.io import atomic_write_text
from tinycim.nas.constraints import Constraints

__all__ = ["write_table", "plot_pareto", "copy_best_run", "run_dir_name"]

COLUMNS = (
    "key",
    "origin",
    "generation",
    "feasible",
    "pareto",
    "acc_fp",
    "acc_1s",
    "acc_1h",
    "acc_1d",
    "acc_30d",
    "std_1d",
    "avm",
    "params",
    "macs",
    "energy_j",
    "area_mm2",
    "tops_per_watt",
    "devices",
    "train_s",
)


def run_dir_name(key: str) -> str:
    """Directory name of a candidate's saved run (a hash: arch keys are long and full of quotes)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _row(record: dict[str, Any], constraints: Constraints, front_keys: set[str]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "key": record["key"],
        "origin": record.get("origin"),
        "generation": record.get("generation"),
        "feasible": constraints.ok(record),
        "pareto": record["key"] in front_keys,
    }
    for col in COLUMNS[5:]:
        row[col] = record.get("metrics", {}).get(col, record.get("static", {}).get(col))
    return row


def write_table(
    out_dir: str | Path,
    records: Sequence[dict[str, Any]],
    constraints: Constraints,
    front: Sequence[dict[str, Any]],
) -> tuple[Path, Path]:
    """``candidates.csv`` (one row per candidate, arch as its JSON key) and ``candidates.json``
    (full records, with feasibility and front membership)."""
    out = Path(out_dir)
    keys = {r["key"] for r in front}
    rows = [_row(r, constraints, keys) for r in records]
    csv_path, json_path = out / "candidates.csv", out / "candidates.json"
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(csv_path, table.getvalue())
    atomic_write_text(
        json_path,
        json.dumps(
            [{**r, "feasible": row["feasible"], "pareto": row["pareto"]} for r, row in zip(records, rows)],
            indent=2,
            sort_keys=True,
        ),
    )
    return csv_path, json_path


def plot_pareto(
    path: str | Path,
    records: Sequence[dict[str, Any]],
    constraints: Constraints,
    front: Sequence[dict[str, Any]],
    title: str = "",
) -> Path:
    """Scatter of 1-day accuracy vs energy per inference: feasible, infeasible (AVM), and the front."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a display
    import matplotlib.pyplot as plt

    def xy(rows):
        pts = [(r["static"].get("energy_j"), r["metrics"].get("acc_1d")) for r in rows]
        pts = [
            (x * 1e9, y)
            for x, y in pts
            if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)
        ]
        return [p[0] for p in pts], [p[1] for p in pts]

    feasible = [r for r in records if constraints.ok(r)]
    infeasible = [r for r in records if not constraints.ok(r)]
    fig, ax = plt.subplots(figsize=(6, 4))
    for rows, size, colour, label in (
        (infeasible, 14, "lightgray", "violates a constraint"),
        (feasible, 16, "tab:blue", "feasible"),
    ):
        x, y = xy(rows)
        ax.scatter(x, y, s=size, c=colour, label=label)
    fx, fy = xy(front)
    ax.plot(fx, fy, "-o", c="tab:red", ms=5, label="Pareto front")
    ax.set_xlabel("energy per inference (nJ)")
    ax.set_ylabel("accuracy after 1 day of drift (%)")
    ax.set_title(title or "accuracy vs energy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def copy_best_run(runs_dir: str | Path, best: dict[str, Any], dest: str | Path) -> Path | None:
    """Copy the best candidate's saved run directory to ``dest`` (replacing it); None if the candidate
    was trained where ``runs_dir`` is not visible (e.g. a remote Ray node without a shared disk)."""
    src = Path(runs_dir) / run_dir_name(best["key"])
    if not src.is_dir():
        return None
    import os
    import secrets

    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")  # unique per writer
    shutil.copytree(src, tmp)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest
