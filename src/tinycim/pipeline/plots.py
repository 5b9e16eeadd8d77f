"""The report's figures (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from matplotlib.patches import Patch  # noqa: E402

from tinycim.units import format_duration  # noqa: E402

_STYLES = {  # curve key -> (label, colour, line style)
    "hwa_gdc": ("hardware-aware, GDC", "tab:blue", "-"),
    "hwa_no_gdc": ("hardware-aware, no compensation", "tab:blue", "--"),
    "plain_gdc": ("trained plainly, GDC", "tab:red", "-"),
    "plain_no_gdc": ("trained plainly, no compensation", "tab:red", "--"),
}


def _chips(rows: list[dict]) -> str:
    n = next((r.get("instances") for r in rows if r.get("instances")), None)
    return f"{n} chips" if n else "programmed chips"


def accuracy_vs_time(drift: dict, fp_accuracy: float, path: Path, title: str) -> Path:
    """Accuracy (mean +- std band over programmed chips) vs time since programming, log time axis."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    chips = _chips([r for rows in drift.values() for r in rows])
    for key, rows in drift.items():
        if not rows:
            continue
        label, colour, style = _STYLES.get(key, (key, None, "-"))
        t = [r["seconds"] for r in rows]
        mean = [r["mean"] for r in rows]
        std = [r["std"] for r in rows]
        ax.plot(t, mean, style, marker="o", color=colour, label=label)
        ax.fill_between(
            t,
            [m - s for m, s in zip(mean, std)],
            [m + s for m, s in zip(mean, std)],
            color=colour,
            alpha=0.15,
        )
    ax.axhline(fp_accuracy, color="k", lw=1, ls=":", label=f"FP32 {fp_accuracy:.2f} %")
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Patch(color="grey", alpha=0.3, label=f"bands: +-1 std over {chips}"))
    ax.set_xscale("log")
    ticks = sorted({r["seconds"] for rows in drift.values() for r in rows})
    ax.set_xticks(ticks)
    ax.set_xticklabels([format_duration(t) for t in ticks])
    ax.set_xlabel("time since programming")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def accuracy_vs_bits(rows: list[dict], fp_accuracy: float, path: Path, title: str) -> Path:
    """Accuracy at one day vs DAC/ADC bits (mean +- std)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    bits = [r["bits"] for r in rows]
    ax.errorbar(
        bits,
        [r["mean"] for r in rows],
        yerr=[r["std"] for r in rows],
        marker="o",
        capsize=4,
        label=f"hardware-aware, 1 day, GDC (+-1 std over {_chips(rows)})",
    )
    ax.axhline(fp_accuracy, color="k", lw=1, ls=":", label=f"FP32 {fp_accuracy:.2f} %")
    ax.set_xticks(bits)
    ax.set_xlabel("DAC / ADC bits")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


_ENERGY_SCALES = ((1e-3, "mJ"), (1e-6, "uJ"), (1e-9, "nJ"), (1e-12, "pJ"), (1e-15, "fJ"))


def energy_unit(joules: float) -> tuple[float, str]:
    """(scale, unit) that shows `joules` as a number >= 1 (fJ below): 1.2e-7 -> (1e-9, "nJ")."""
    for scale, unit in _ENERGY_SCALES:
        if abs(joules) >= scale:
            return scale, unit
    return _ENERGY_SCALES[-1]


def energy_breakdown(per_layer: list[dict], path: Path, title: str) -> Path:
    """Stacked bars: energy per inference of each layer, split by component, in the unit (pJ, nJ,
    uJ, ...) that keeps the tallest bar between 1 and 1000."""
    components = sorted({c for row in per_layer for c in row["energy_j"]})
    tallest = max((sum(row["energy_j"].values()) for row in per_layer), default=0.0)
    scale, unit = energy_unit(tallest)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(per_layer) + 2), 4.2))
    bottom = [0.0] * len(per_layer)
    names = [row["name"] for row in per_layer]
    for comp in components:
        values = [row["energy_j"].get(comp, 0.0) / scale for row in per_layer]
        ax.bar(range(len(names)), values, bottom=bottom, label=comp)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel(f"energy per inference ({unit})")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
