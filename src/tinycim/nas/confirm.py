"""Re-evaluate a search's top candidates before naming a winner.

A search's label is one (or a few) short training runs, and on a small task the seed-to-seed spread
of a candidate is as large as the spread between candidates (HAR: 1.2 pp per run, docs/nas.md). The
maximum of many noisy labels is then mostly the luckiest run, and it regresses on retraining.
``confirm_best`` retrains the ``top`` feasible candidates ``rounds`` more times with fresh seeds
and picks the best mean of all their runs (the label's included). Every finished evaluation is
stored at once, so a killed confirmation resumes without retraining any.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

from tinycim.errors import ConfigError
from tinycim.nas.constraints import Constraints, record_value
from tinycim.nas.store import ResultStore

__all__ = ["confirm_best"]

Record = dict[str, Any]


def confirm_best(records: Sequence[Record], evaluator: Any, executor: Any, constraints: Constraints,
                 store: str | Path, top: int = 3, rounds: int = 1) -> Record | None:
    """The best of the ``top`` feasible ``records`` (by label) after ``rounds`` more evaluations each.

    Round ``r`` evaluates a candidate at ``seed + r * stride`` (``stride`` = the evaluator's
    ``settings.seeds``, so a 2-seed label at seeds s, s+1 is followed by s+2, s+3, ...); a call
    is weighted like the label (each is a mean over the same number of training runs). Returns a
    copy of the chosen record with ``"confirmed": {"acc_1d": mean, "runs": [label, round 1, ...]}``,
    or None if no record is feasible. ``store``: folder of the resumable confirmation results.
    """
    if top < 1 or rounds < 1:
        raise ConfigError(f"confirm_best needs top >= 1 and rounds >= 1, got top={top}, rounds={rounds}")
    ranked = sorted((r for r in records if constraints.ok(r)),
                    key=lambda r: (-record_value(r, "acc_1d"), r["key"]))[:top]
    if not ranked:
        return None
    settings = getattr(evaluator, "settings", None)
    stride = int(getattr(settings, "seeds", 1) or 1)
    header = {"confirm": {"top": top, "stride": stride},
              "eval": settings.to_dict() if hasattr(settings, "to_dict") else None}
    results = ResultStore(store, header)
    tasks = [{"name": f"{r}:{rec['key']}", "arch": rec["arch"], "seed": (int(rec["seed"]) + r * stride) % 2**32}
             for rec in ranked for r in range(1, rounds + 1)]
    todo = [t for t in tasks if t["name"] not in results]
    for i, metrics in executor.map(evaluator, [{"arch": t["arch"], "seed": t["seed"]} for t in todo]):
        results.add({"key": todo[i]["name"], "arch": todo[i]["arch"], "seed": todo[i]["seed"],
                     "metrics": dict(metrics)})
    scored = []
    for rec in ranked:
        runs = [record_value(rec, "acc_1d")]
        runs += [record_value(results.get(f"{r}:{rec['key']}"), "acc_1d") for r in range(1, rounds + 1)]
        finite = [v for v in runs if math.isfinite(v)]
        mean = sum(finite) / len(finite) if finite else -math.inf
        scored.append({**rec, "confirmed": {"acc_1d": mean, "runs": runs}})
    return max(scored, key=lambda r: (r["confirmed"]["acc_1d"], r["key"]))
