"""Re-evaluate a search's top candidates before naming a winner.

A search's label is one (or a few) short training runs, and on a small task the seed-to-seed spread
of a candidate is as large as the spread between candidates (HAR: 1.2 pp per run, docs/nas.md). The
maximum of many noisy labels is then mostly the luckiest run, and it regresses on retraining.
``confirm_best`` retrains the ``top`` feasible candidates ``rounds`` more times with fresh seeds
and picks the best mean of all their runs (the label's included). Every finished evaluation is
stored at once, so a killed confirmation resumes without retraining any.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Sequence

from tinycim.errors import ConfigError
from tinycim.nas.constraints import Constraints, record_value
from tinycim.nas.store import ResultStore

__all__ = ["confirm_best", "reevaluate"]

Record = dict[str, Any]


def reevaluate(
    records: Sequence[Record], evaluator: Any, executor: Any, store: str | Path, rounds: int = 1
) -> dict[str, list[Record]]:
    """Evaluate each record ``rounds`` more times with seeds its label did not use.

    Round ``r`` runs at ``seed + r * stride`` (``stride`` = the evaluator's ``settings.seeds``: a
    2-seed label at seeds s, s+1 is followed by s+2, s+3, ...), so no training run is shared with
    the label. Returns key -> [stored result of round 1, ..., round ``rounds``], each with ``metrics``.
    ``store`` (a folder) keeps every finished evaluation at once under ``"{round}:{key}"``: a killed
    run resumes, and callers sharing a store (confirmation, retest) never train one twice.
    """
    if rounds < 1:
        raise ConfigError(f"reevaluate needs rounds >= 1, got {rounds}")
    if getattr(evaluator, "runs_dir", None) is not None:
        # A re-run must not overwrite the candidate's saved run (the one its label describes).
        evaluator = copy.copy(evaluator)
        evaluator.runs_dir = None
    settings: Any = getattr(evaluator, "settings", None)
    stride = int(getattr(settings, "seeds", 1) or 1)
    header = {
        "reevaluate": {"stride": stride},
        "eval": settings.to_dict() if hasattr(settings, "to_dict") else None,
    }
    results = ResultStore(store, header)
    tasks = [
        {"name": f"{r}:{rec['key']}", "arch": rec["arch"], "seed": (int(rec["seed"]) + r * stride) % 2**32}
        for rec in records
        for r in range(1, rounds + 1)
    ]
    todo = [t for t in tasks if t["name"] not in results]
    for i, metrics in executor.map(evaluator, [{"arch": t["arch"], "seed": t["seed"]} for t in todo]):
        results.add(
            {
                "key": todo[i]["name"],
                "arch": todo[i]["arch"],
                "seed": todo[i]["seed"],
                "metrics": dict(metrics),
            }
        )
    return {
        rec["key"]: [results.records[f"{r}:{rec['key']}"] for r in range(1, rounds + 1)] for rec in records
    }


def confirm_best(
    records: Sequence[Record],
    evaluator: Any,
    executor: Any,
    constraints: Constraints,
    store: str | Path,
    top: int = 3,
    rounds: int = 1,
) -> Record | None:
    """The best of the ``top`` feasible ``records`` (by label) after ``rounds`` more evaluations each
    (:func:`reevaluate`; a call is weighted like the label, each being a mean over the same number
    of training runs). Returns a copy of the chosen record with ``"confirmed": {"acc_1d": mean,
    "runs": [label, round 1, ...]}``, or None if no record is feasible."""
    if top < 1 or rounds < 1:
        raise ConfigError(f"confirm_best needs top >= 1 and rounds >= 1, got top={top}, rounds={rounds}")
    ranked = sorted(
        (r for r in records if constraints.ok(r)), key=lambda r: (-record_value(r, "acc_1d"), r["key"])
    )[:top]
    if not ranked:
        return None
    more = reevaluate(ranked, evaluator, executor, store, rounds)
    scored = []
    for rec in ranked:
        runs = [record_value(rec, "acc_1d")] + [record_value(m, "acc_1d") for m in more[rec["key"]]]
        finite = [v for v in runs if math.isfinite(v)]
        mean = sum(finite) / len(finite) if finite else -math.inf
        scored.append({**rec, "confirmed": {"acc_1d": mean, "runs": runs}})
    return max(scored, key=lambda r: (r["confirmed"]["acc_1d"], r["key"]))
