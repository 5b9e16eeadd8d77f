"""A recipe's figures beside the published ones it names (`compare`)."""

from __future__ import annotations

from tinycim.pipeline.recipe import Recipe

ONE_DAY_S = 86400.0
THIRTY_DAYS_S = 30 * ONE_DAY_S


def _metric(name: str, r: dict) -> float | None:
    curve = r.get("drift", {}).get("hwa_gdc") or r.get("drift", {}).get("plain_gdc") or []

    def at(seconds: float) -> float | None:
        rows = [row for row in curve if abs(row["seconds"] - seconds) < 1e-6]
        return rows[0]["mean"] if rows else None

    if name == "fp_accuracy":
        return r["fp_accuracy"]
    if name == "acc_1d":
        return at(ONE_DAY_S)
    if name == "acc_30d":
        return at(THIRTY_DAYS_S)
    if name == "acc_drop_1d_pp":
        v = at(ONE_DAY_S)
        return None if v is None else r["fp_accuracy"] - v
    if name == "acc_drop_30d_pp":
        v = at(THIRTY_DAYS_S)
        return None if v is None else r["fp_accuracy"] - v
    if name == "tops_per_watt":
        return r["cost"][0]["tops_per_watt"] if r.get("cost") else None
    if name in ("energy_reduction_pct", "on_cell_reduction_pct", "array_energy_reduction_pct", "acc_drop_pp"):
        return r.get("hamq", {}).get(name)
    return None


def compare(recipe: Recipe, results: dict) -> list[dict]:
    """The published figures of the recipe beside ours (always with FP and 1-day accuracy)."""
    rows = [
        {
            "metric": p["metric"],
            "ours": _metric(p["metric"], results),
            "published": p["value"],
            "source": p.get("source", ""),
        }
        for p in recipe.published
    ]
    named = {row["metric"] for row in rows}
    for metric in (
        "fp_accuracy",
        "acc_1d",
        "acc_drop_1d_pp",
        "acc_drop_30d_pp",
        "on_cell_reduction_pct",
        "array_energy_reduction_pct",
    ):
        if metric not in named and _metric(metric, results) is not None:
            rows.append({"metric": metric, "ours": _metric(metric, results), "published": None, "source": ""})
    return rows
