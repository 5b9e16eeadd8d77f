"""Device figures (matplotlib, Agg backend): goodness of fit and conductance distributions."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from tinycim.units import format_duration  # noqa: E402


def _grid(n: int) -> tuple[plt.Figure, list]:
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.0 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def _time_label(t: float) -> str:
    return "0 s" if t == 0 else format_duration(t)


def gof_quantiles(result, path: str | Path, title: str = "") -> Path:
    """Measured vs model quantiles (1..99 %), one panel per level, one colour per read time."""
    path = Path(path)
    levels = sorted({row["level_us"] for row in result.gof})
    times = sorted({row["t_s"] for row in result.gof})
    colours = plt.cm.viridis(np.linspace(0, 1, max(len(times), 2)))
    fig, axes = _grid(len(levels))
    for ax, g in zip(axes, levels):
        lo, hi = math.inf, -math.inf
        for row in (r for r in result.gof if r["level_us"] == g):
            ti = times.index(row["t_s"])
            ax.plot(
                row["measured_us"],
                row["model_us"],
                ".",
                ms=3,
                color=colours[ti],
                label=f"{_time_label(row['t_s'])} (KS {row['ks']:.3f})",
            )
            lo = min(lo, row["measured_us"][0], row["model_us"][0])
            hi = max(hi, row["measured_us"][-1], row["model_us"][-1])
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.7)
        ax.set_title(f"target {g:g} uS", fontsize=9)
        ax.set_xlabel("measured quantile (uS)", fontsize=8)
        ax.set_ylabel("model quantile (uS)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
    fig.suptitle(title or f"{result.model} fit: measured vs model quantiles (1-99 %)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def conductance_distributions(
    device,
    path: str | Path,
    levels_us=None,
    times_s=(0.0, 1.0, 3600.0, 86400.0, 2.592e6, 3.15e7),
    cells: int = 20000,
    seed: int = 0,
    title: str = "",
) -> Path:
    """Histogram of conductance per level (one panel each), one curve per time since programming,
    from `cells` simulated cells per level."""
    path = Path(path)
    if levels_us is None:
        levels_us = getattr(device, "levels_us", None) or tuple(
            device.g_max_us * f for f in (0.0, 0.25, 0.5, 0.75, 1.0)
        )
    levels_us = [float(v) for v in levels_us]
    gen = torch.Generator().manual_seed(seed)
    targets = torch.tensor(levels_us, dtype=torch.float64).repeat_interleave(cells)
    programmed = device.program(targets, gen)
    reads = {t: device.read(programmed, float(t), gen).view(len(levels_us), cells).numpy() for t in times_s}
    colours = plt.cm.viridis(np.linspace(0, 1, max(len(times_s), 2)))
    fig, axes = _grid(len(levels_us))
    top = max(float(r.max()) for r in reads.values())
    bins = np.linspace(0.0, max(top, 1e-9), 80)
    for li, (ax, g) in enumerate(zip(axes, levels_us)):
        for ti, t in enumerate(times_s):
            ax.hist(
                reads[t][li],
                bins=bins,
                histtype="step",
                color=colours[ti],
                label=_time_label(t),
                density=True,
            )
        ax.axvline(g, color="k", lw=0.7, ls=":")
        ax.set_title(f"target {g:g} uS", fontsize=9)
        ax.set_xlabel("conductance (uS)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=6, title="after programming", title_fontsize=6)
    fig.suptitle(
        title or f"{device.kind} device: conductance per level over time ({cells} cells per level)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
