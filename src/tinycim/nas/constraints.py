"""Constraints every candidate must meet, and the accuracy-vs-energy Pareto front.

Static constraints (parameters, energy, devices) are known before training, so a candidate that
breaks one is never trained; the AVM constraint (accuracy at 1 s minus accuracy after 30 days, AVM < T,
AnalogNAS) is known only after the drift evaluation, so such a candidate is trained but never enters a
population, the front or the answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence, TypeVar

from tinycim.errors import ConfigError

__all__ = ["Constraints", "pareto_front", "record_value"]


def record_value(record: Mapping[str, Any], name: str) -> float:
    """A metric of a stored record, from its measured ``metrics`` or its pre-training ``static`` part."""
    for part in ("metrics", "static"):
        if name in record.get(part, {}):
            value = record[part][name]
            return float("nan") if value is None else float(value)
    raise KeyError(f"record {record.get('key', '?')[:60]} has no metric {name!r}")


@dataclass(frozen=True)
class Constraints:
    """``max_params`` (<=), ``max_energy_j`` (<=), ``max_devices`` (<=) and ``max_avm`` (AVM < T);
    None switches a constraint off."""

    max_params: int | None = None
    max_energy_j: float | None = None
    max_devices: int | None = None
    max_avm: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_params", "max_energy_j", "max_devices", "max_avm"):
            value = getattr(self, name)
            ok = isinstance(value, (int, float)) and value > 0 and math.isfinite(value)
            if value is not None and not ok:
                raise ConfigError(f"constraints.{name} = {value!r} is invalid: allowed > 0 or None")

    def static_violations(self, static: Mapping[str, Any]) -> list[str]:
        """What a candidate breaks before training (empty list: fine)."""
        out = []
        for limit, key in (
            (self.max_params, "params"),
            (self.max_energy_j, "energy_j"),
            (self.max_devices, "devices"),
        ):
            if limit is None:
                continue
            value = static.get(key)
            if value is None or not value <= limit:  # NaN or missing fails: unknown is not within budget
                out.append(f"{key}={value} > {limit}")
        return out

    def needs(self) -> set[str]:
        """Static metrics the checks need (the evaluator skips costly ones nobody asked for)."""
        return {
            k
            for limit, k in (
                (self.max_params, "params"),
                (self.max_energy_j, "energy_j"),
                (self.max_devices, "devices"),
            )
            if limit is not None
        }

    def ok(self, record: Mapping[str, Any]) -> bool:
        """True if a finished candidate meets every constraint."""
        if self.static_violations(record.get("static", {})):
            return False
        if self.max_avm is not None:
            avm = record_value(record, "avm")
            if not avm < self.max_avm:
                return False
        return math.isfinite(record_value(record, "acc_1d"))


R = TypeVar("R", bound=Mapping[str, Any])


def pareto_front(records: Sequence[R], maximize: str = "acc_1d", minimize: str = "energy_j") -> list[R]:
    """Records not dominated in (higher ``maximize``, lower ``minimize``), sorted by ``minimize``.

    Ties are broken by key so the front is a deterministic function of the set of records."""
    rows = [
        r
        for r in records
        if math.isfinite(record_value(r, maximize)) and math.isfinite(record_value(r, minimize))
    ]
    rows.sort(key=lambda r: (record_value(r, minimize), -record_value(r, maximize), r["key"]))
    front, best = [], -math.inf
    for r in rows:
        if record_value(r, maximize) > best:
            front.append(r)
            best = record_value(r, maximize)
    return front
