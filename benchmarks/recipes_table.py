"""Collect the recipes' report.json files into one markdown table (ours vs published).

python benchmarks/recipes_table.py runs/recipes/*/report.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(paths: list[str]) -> None:
    print(
        "| recipe | model | data (train/test) | FP32 % | 1 s | 1 day | 30 days | 1 year | plain 1 day | metric: ours vs published "
        "| commit, threads |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for path in paths:
        r = json.loads(Path(path).read_text())
        curve = {row["time"]: row for row in r["drift"].get("hwa_gdc") or r["drift"]["plain_gdc"]}
        plain = {row["time"]: row for row in r["drift"]["plain_gdc"]}

        def cell(rows: dict, t: str) -> str:
            return f"{rows[t]['mean']:.2f} +- {rows[t]['std']:.2f}" if t in rows else "-"

        comp = "; ".join(
            f"{c['metric']} {c['ours']:.2f} vs {c['published']}"
            for c in r["comparison"]
            if c["published"] is not None and c["ours"] is not None
        )
        splits = r["dataset"]["splits"]
        print(
            f"| {r['recipe']} | {r['model']['name']} | {splits['train']}/{splits['test']} | {r['fp_accuracy']:.2f} | "
            f"{cell(curve, '1s')} | {cell(curve, '1d')} | {cell(curve, '30d')} | {cell(curve, '1y')} | "
            f"{cell(plain, '1d')} | {comp} | {_stamp(r)} |"
        )


def _stamp(r: dict) -> str:
    p = r.get("provenance") or {}
    return f"{p.get('commit') or r.get('tinycim_version', '?')}, {p.get('threads', '?')}"


if __name__ == "__main__":
    main(sys.argv[1:])
