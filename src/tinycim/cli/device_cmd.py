"""`tinycim device ...`: fit a device model to measured conductances, plot a device."""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer

device_app = typer.Typer(
    help="Bring your own device: fit measured conductances, plot any device.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@device_app.command("fit", short_help="Fit a simulator device to measured conductances.")
def fit_cmd(
    measurements: Path = typer.Argument(
        ...,
        help="Measurement file (.csv or .parquet): columns cell, target_us, "
        "t_s, g_us [, temperature_c]; one row per cell and read.",
    ),
    out: Path = typer.Option(
        ..., "--out", help="Device JSON to write (use it with --device-file or tinycim.devices.from_file)."
    ),
    model: str = typer.Option(
        "pcm",
        help="pcm (PCM family), rram (lognormal family) or empirical (resampled measured distributions).",
    ),
    bootstrap: int = typer.Option(20, min=0, help="Parametric bootstrap refits for the 95 % intervals."),
    temperature: float = typer.Option(None, help="Fit only the rows read at this temperature_c."),
    plots: Path = typer.Option(None, help="Folder for the goodness-of-fit plot (default: next to --out)."),
    seed: int = typer.Option(0, help="Seed of the simulations inside the fit."),
    json_out: bool = typer.Option(False, "--json", help="Print the fit summary as JSON."),
) -> None:
    """Fit a simulator device to measured conductances; print parameters with 95 % intervals."""
    import numpy as np

    from tinycim.devices import save_device
    from tinycim.devices.fitting import fit_device
    from tinycim.devices.measurements import read_measurements
    from tinycim.devices.plots import gof_quantiles
    from tinycim.errors import DataError

    m = read_measurements(measurements)
    if temperature is not None:
        if m.temperature_c is None:
            raise DataError(f"{measurements}: --temperature given but the file has no temperature_c column")
        m = m.select(np.isclose(m.temperature_c, temperature))
        if m.rows == 0:
            raise DataError(f"{measurements}: no rows at temperature_c = {temperature:g}")
    result = fit_device(m, model, bootstrap=bootstrap, seed=seed)
    summary = _summary(result, m)
    save_device(result.device, out, meta=summary)
    folder = plots if plots is not None else out.parent
    folder.mkdir(parents=True, exist_ok=True)
    plot = gof_quantiles(result, folder / f"{out.stem}_fit.png", title=f"{model} fit of {measurements.name}")
    summary["plot"] = str(plot)
    if json_out:
        print(json.dumps(summary, indent=2))
        return
    _print_fit(summary, out)


def _finite(value: float) -> float | None:
    """value, or None for an infinite or NaN bound."""
    return value if math.isfinite(value) else None


def _interval(lo: float | None, hi: float | None) -> str:
    """A 95 % interval as table text: "a .. b", ">= a", "<= b" or "-"."""
    if lo is None and hi is None:
        return "-"
    if hi is None:
        return f">= {lo:.5g}"
    if lo is None:
        return f"<= {hi:.5g}"
    return f"{lo:.5g} .. {hi:.5g}"


def _summary(result, m) -> dict:
    return {
        "model": result.model,
        "measurements": str(m.source),
        "rows": m.rows,
        "cells": m.n_cells,
        "levels_us": [float(v) for v in m.levels_us],
        "times_s": [float(t) for t in m.times_s],
        "g_range_us": list(result.g_range_us),
        "params": [
            # strict JSON: an open side of a one-sided interval is null, not inf
            {"name": p.name, "value": p.value, "ci95": [_finite(p.low), _finite(p.high)], "unit": p.unit}
            for p in result.params
        ],
        "levels": result.levels,
        "max_ks": result.max_ks,
        "notes": result.notes,
    }


def _print_fit(summary: dict, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"[bold]{summary['model']}[/] fit of {summary['measurements']}: {summary['rows']} reads, "
        f"{summary['cells']} cells, {len(summary['levels_us'])} levels, {len(summary['times_s'])} times; "
        f"measured conductance {summary['g_range_us'][0]:.4g}..{summary['g_range_us'][1]:.4g} uS"
    )
    table = Table(title="fitted parameters (95 % interval)")
    for col in ("parameter", "value", "95 % interval", "unit"):
        table.add_column(col)
    for p in summary["params"]:
        table.add_row(p["name"], f"{p['value']:.5g}", _interval(*p["ci95"]), p["unit"])
    console.print(table)
    rows = summary["levels"]
    if rows:
        per_level = Table(title="per level: estimate±bootstrap std (fitted curve)")
        keys = [k for k in rows[0] if k not in ("level_us",) and not k.endswith(("_se", "_model"))]
        per_level.add_column("level (uS)")
        for k in keys:
            per_level.add_column(k)
        for row in rows:
            cells = []
            for k in keys:
                v = row[k]
                if v is None:
                    cells.append("-")
                elif isinstance(v, int):
                    cells.append(str(v))
                elif f"{k}_se" in row:
                    se = row[f"{k}_se"]
                    cells.append(
                        f"{v:.4g}" + (f"±{se:.2g}" if se is not None else "") + f" ({row[f'{k}_model']:.4g})"
                    )
                else:
                    cells.append(f"{v:.4g}")
            per_level.add_row(f"{row['level_us']:g}", *cells)
        console.print(per_level)
    console.print(f"worst KS distance, measured vs model per level and time: {summary['max_ks']:.3f}")
    for note in summary["notes"]:
        console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"wrote {out} and {summary['plot']}", markup=False, highlight=False, soft_wrap=True)


@device_app.command("plot", short_help="Plot a device's conductance distributions over time.")
def plot_cmd(
    file: str = typer.Argument(
        ...,
        help="Device JSON, analog config JSON, measurement file, or a preset name (pcm, rram, hermes, ...).",
    ),
    out: Path = typer.Option(None, help="PNG to write (default: <name>_distributions.png)."),
    times: str = typer.Option("0s,1s,1h,1d,30d,1y", help="Times after programming, e.g. 0s,1h,1d,1y."),
    levels: str = typer.Option(
        None,
        help="Target levels in uS, comma separated (default: the measured levels "
        "or 0, 1/4, 1/2, 3/4, 1 x g_max).",
    ),
    cells: int = typer.Option(20000, min=100, help="Simulated cells per level."),
    seed: int = typer.Option(0, help="Seed of the simulated cells."),
) -> None:
    """Plot a device's conductance distributions over time, one panel per level."""
    from tinycim.config import PRESETS, AnalogConfig
    from tinycim.devices import from_file
    from tinycim.devices.plots import conductance_distributions
    from tinycim.errors import ConfigError
    from tinycim.units import parse_durations

    if file in PRESETS:
        device, name = AnalogConfig.preset(file).device, file
    else:
        device, name = from_file(file), Path(file).stem
    level_list = None
    if levels:
        try:
            level_list = [float(v) for v in levels.split(",")]
        except ValueError:
            raise ConfigError(
                f"--levels = {levels!r} is invalid: allowed comma-separated numbers (uS)"
            ) from None
    path = out if out is not None else Path(f"{name}_distributions.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    conductance_distributions(
        device, path, levels_us=level_list, times_s=tuple(parse_durations(times)), cells=cells, seed=seed
    )
    print(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Add the `device` command group to the root app."""
    app.add_typer(device_app, name="device")
