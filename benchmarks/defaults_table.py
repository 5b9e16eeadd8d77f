"""Markdown rows of the issue-15 tables from `tinycim drift --json-out` files.

    python benchmarks/defaults_table.py LABEL=runs/x_drift.json [LABEL=...] [--times 1s,1h,1d,30d,1y]

One row per file: FP32 (the run's digital copy), the ideal chip (same converters, ideal devices),
then mean +- std over chips at each drift time, with the change against FP32 in brackets at 1 day and
later (negative = accuracy lost).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def row(label: str, report: dict, times: list[str]) -> str:
    """One markdown table row of a `tinycim drift --json-out` report."""
    fp = report["fp_accuracy"]
    ideal = report.get("ideal_accuracy")
    cells = [label, f"{fp:.2f}", "-" if ideal is None else f"{ideal:.2f}"]
    for t in times:
        if t not in report["labels"]:
            cells.append("-")
            continue
        k = report["labels"].index(t)
        mean, std = report["mean"][k], report["std"][k]
        cell = f"{mean:.2f} +- {std:.2f}"
        if t not in ("1s", "1h"):
            cell += f" ({mean - fp:+.2f})"
        cells.append(cell)
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    """Print the header and one row per LABEL=FILE argument."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("reports", nargs="+", help="LABEL=path/to/drift.json")
    parser.add_argument("--times", default="1s,1h,1d,30d,1y")
    args = parser.parse_args()
    times = args.times.split(",")
    print("| model | FP32 | ideal chip | " + " | ".join(times) + " |")
    print("|---" * (3 + len(times)) + "|")
    for item in args.reports:
        label, _, path = item.partition("=")
        report = json.loads(Path(path).read_text())
        print(row(label, report, times))
        print(
            f"<!-- {path}: {report['n_samples']} {report['split']} samples, {report['instances']} chips -->"
        )


if __name__ == "__main__":
    main()
