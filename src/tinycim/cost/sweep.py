"""Sweeps of the cost model over bits, tile size and any preset parameter, and the accuracy-vs-energy
Pareto plot of a recipe run's bits sweep (what `tinycim cost --sweep / --set / --pareto` call).

    acc = apply_overrides(get_accelerator("hamq-bitcell"), [("adc.column_current_w_per_s", 0.0)])
    rows = sweep_grid("analognet_kws", acc, [("act_bits", [4, 6, 8]), ("tile", [(256, 256), (512, 512)])])
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Any, Sequence

from torch import nn

from tinycim.cost.accelerator import _SECTIONS, Accelerator
from tinycim.cost.estimate import estimate
from tinycim.errors import ConfigError

# Sweep keys that are arguments of `estimate`, not accelerator fields.
ESTIMATE_KEYS = ("act_bits", "tile", "periphery", "polarity")


def _value(text: str, key: str) -> Any:
    text = text.strip()
    if key == "tile":
        rows, sep, cols = text.lower().partition("x")
        if not sep or not rows.isdigit() or not cols.isdigit():
            raise ConfigError(f"tile = {text!r} is invalid: write ROWSxCOLS, e.g. 256x256")
        return int(rows), int(cols)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text.lower() in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_assignment(text: str, many: bool = False) -> tuple[str, Any]:
    """'KEY=VALUE' -> (key, value); with many=True 'KEY=V1,V2' -> (key, [v1, v2]). Numbers, true/false,
    none and ROWSxCOLS (tile) are parsed; anything else stays a string."""
    key, sep, rest = text.partition("=")
    key = key.strip()
    if not sep or not key or not rest.strip():
        raise ConfigError(f"{text!r} is invalid: write KEY=VALUE{',VALUE...' if many else ''}")
    if many:
        return key, [_value(v, key) for v in rest.split(",")]
    return key, _value(rest, key)


def apply_overrides(acc: Accelerator, assignments: Sequence[tuple[str, Any]]) -> Accelerator:
    """`acc` with dotted fields replaced ("adc.step_time_s", "mvm_fixed_time_s", "tile"); every value is
    validated by the dataclasses (ConfigError names the field)."""
    for key, value in assignments:
        if key == "tile":
            rows, cols = value
            acc = dataclasses.replace(acc, array=dataclasses.replace(acc.array, rows=rows, cols=cols))
            continue
        section, dot, name = key.partition(".")
        if not dot:
            section, name = "", key
        if section and section not in _SECTIONS:
            raise ConfigError(f"{key!r}: unknown section {section!r}: allowed {', '.join(_SECTIONS)}")
        owner = getattr(acc, section) if section else acc
        known = [f.name for f in dataclasses.fields(owner)]
        if name not in known or (not section and name in _SECTIONS):
            raise ConfigError(
                f"{key!r}: unknown field of {section or 'accelerator'}: allowed {', '.join(known)}"
            )
        # The field names were checked against dataclasses.fields above; the values are typed Any.
        changes: dict[str, Any] = {name: value}
        if section:
            changes = {section: dataclasses.replace(owner, **changes)}
        acc = dataclasses.replace(acc, **changes)
    return acc


def sweep_grid(
    model: nn.Module | str,
    acc: Accelerator,
    axes: Sequence[tuple[str, list]],
    *,
    act_bits: int = 8,
    polarity: str | None = None,
    periphery: str | None = None,
    input_shape: Sequence[int] | None = None,
) -> list[dict]:
    """One estimate per point of the grid `axes` [(key, values)]: rows {"point": {key: value}, headline
    figures}. A zoo model name is built once (seed 0) so every point sees the same weights."""
    if isinstance(model, str):
        from tinycim.models import create_model

        model = create_model(model, seed=0)  # the zoo model with seeded weights: the same figures every run
    rows = []
    for values in itertools.product(*(vals for _, vals in axes)):
        point = dict(zip((k for k, _ in axes), values))
        args: dict[str, Any] = {"act_bits": act_bits, "polarity": polarity, "periphery": periphery}
        args.update({k: v for k, v in point.items() if k in ("act_bits", "periphery", "polarity")})
        here = apply_overrides(
            acc, [(k, v) for k, v in point.items() if k not in ("act_bits", "periphery", "polarity")]
        )
        r = estimate(model, here, input_shape=input_shape, **args)
        rows.append(
            {
                "point": {k: ("x".join(map(str, v)) if k == "tile" else v) for k, v in point.items()},
                "energy_per_inference_j": r.energy_per_inference_j,
                "tops_per_watt": r.tops_per_watt,
                "area_mm2": r.area_mm2,
                "latency_s": r.latency_s,
                "conversions": r.extra["conversions"],
                "energy_by_component_j": r.energy_by_component_j,
            }
        )
    return rows


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For (energy, accuracy) points: True where no other point has lower-or-equal energy and
    higher-or-equal accuracy with one of them strictly better."""
    return [not any(e2 <= e and a2 >= a and (e2 < e or a2 > a) for e2, a2 in points) for e, a in points]


def pareto_plot(
    model: nn.Module, acc: Accelerator, report: dict, path: str | Path, *, periphery: str | None = None
) -> list[dict]:
    """Accuracy after 1 day (the run's bits sweep, report["bits"]) against energy per inference at the
    same activation bits on `acc`; writes a PNG and returns the rows (with their Pareto flag)."""
    sweep = report.get("bits") or []
    if not sweep:
        raise ConfigError(
            "the run's report.json has no bits sweep (recipes with bits_sweep: record accuracy per bits)"
        )
    shape = tuple(report.get("model", {}).get("input_shape") or ()) or None
    rows = []
    for entry in sweep:
        r = estimate(model, acc, act_bits=int(entry["bits"]), input_shape=shape, periphery=periphery)
        rows.append(
            {
                "bits": int(entry["bits"]),
                "acc_1d": float(entry["mean"]),
                "acc_1d_std": float(entry["std"]),
                "energy_j": r.energy_per_inference_j,
            }
        )
    for row, front in zip(rows, pareto_front([(r["energy_j"], r["acc_1d"]) for r in rows])):
        row["pareto"] = front
    _draw(rows, acc.name, report.get("recipe", ""), Path(path))
    return rows


def _draw(rows: list[dict], accelerator: str, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale, unit = next(
        (
            (s, u)
            for s, u in ((1e-3, "mJ"), (1e-6, "uJ"), (1e-9, "nJ"), (1e-12, "pJ"))
            if min(r["energy_j"] for r in rows) >= s
        ),
        (1e-15, "fJ"),
    )
    fig, ax = plt.subplots(figsize=(5.5, 4))
    try:
        x = [r["energy_j"] / scale for r in rows]
        ax.errorbar(x, [r["acc_1d"] for r in rows], yerr=[r["acc_1d_std"] for r in rows], fmt="o", capsize=3)
        for r, xi in zip(rows, x):
            ax.annotate(
                f"{r['bits']}-bit", (xi, r["acc_1d"]), textcoords="offset points", xytext=(5, -10), fontsize=8
            )
        front = sorted((xi, r["acc_1d"]) for r, xi in zip(rows, x) if r["pareto"])
        ax.plot([p[0] for p in front], [p[1] for p in front], "--", color="grey", label="Pareto front")
        ax.set_xlabel(f"energy per inference on {accelerator} ({unit})")
        ax.set_ylabel("accuracy after 1 day (%)")
        ax.set_title(f"{title}: accuracy vs energy" if title else "accuracy vs energy")
        if all(v > 0 for v in x) and max(x) / min(x) > 20:
            ax.set_xscale("log")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
    finally:
        plt.close(fig)


__all__ = [
    "ESTIMATE_KEYS",
    "apply_overrides",
    "parse_assignment",
    "pareto_front",
    "pareto_plot",
    "sweep_grid",
]
