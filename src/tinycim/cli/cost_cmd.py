"""`tinycim cost` and `tinycim accelerators`: energy, latency, area and TOPS/W from the command line,
sweeps over bits, tile size and any preset parameter, and an accuracy-vs-energy Pareto plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from torch import nn


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("cost")(cost)
    app.command("accelerators")(accelerators)


def accelerators(
    json_out: bool = typer.Option(False, "--json", help="Print the presets' full JSON."),
) -> None:
    """List the accelerator presets of the cost model."""
    from tinycim.cost import ACCELERATORS, get_accelerator

    for name in sorted(ACCELERATORS):
        acc = get_accelerator(name)
        if json_out:
            print(acc.to_json())
        else:
            a, lay = acc.array, acc.layout
            print(
                f"{name:<15} {acc.execution:<13} {a.cores} x {a.rows}x{a.cols} arrays, {acc.adc.kind} ADC, "
                f"differential: {lay.differential}, slices: {lay.slicing}, inputs: {lay.input_encoding}"
                + (f"  ({acc.description})" if acc.description else "")
            )


def cost(
    model: str = typer.Option(
        "analognet_kws", help="Model name from the zoo (tinycim.models.list_models())."
    ),
    accelerator: str = typer.Option("aon-cim", help="Accelerator preset (tinycim accelerators)."),
    act_bits: int = typer.Option(8, "--act-bits", help="Activation (DAC/ADC) bits, 1..16."),
    run: str = typer.Option(
        None,
        "--run",
        help="Training run directory (model.safetensors + config.json), or a "
        "recipe's --out directory (its hwa/ model).",
    ),
    polarity: str = typer.Option(None, help="differential or unipolar (digital models only)."),
    periphery: str = typer.Option(None, help="uniform or per-layer (default: from the model's config)."),
    set_: list[str] = typer.Option(
        [],
        "--set",
        help="Override a preset parameter: KEY=VALUE, e.g. "
        "adc.column_current_w_per_s=0.06 or layout.differential=columns.",
    ),
    sweep: list[str] = typer.Option(
        [],
        "--sweep",
        help="KEY=V1,V2,...: act_bits, tile (ROWSxCOLS), periphery, "
        "polarity or any preset parameter; repeat for a grid.",
    ),
    pareto: str = typer.Option(
        None,
        help="With --run of a recipe that swept bits: write accuracy after 1 day "
        "vs energy per inference to this PNG.",
    ),
    plot: str = typer.Option(None, help="Write the per-layer energy breakdown to this PNG."),
    json_out: bool = typer.Option(False, "--json", help="Print the full report (or the sweep rows) as JSON."),
) -> None:
    """Estimate energy per inference, latency, area and TOPS/W of a model on an accelerator."""
    from tinycim.cost import estimate, format_energy, get_accelerator
    from tinycim.cost.sweep import apply_overrides, parse_assignment, pareto_plot, sweep_grid

    acc = apply_overrides(get_accelerator(accelerator), [parse_assignment(s) for s in set_])
    target = _load_run(run) if run else model
    if pareto:
        if isinstance(target, str):  # no --run: a zoo model has no accuracy to plot
            from tinycim.errors import ConfigError

            raise ConfigError(
                "--pareto needs --run: a recipe's output directory whose report.json has a bits sweep"
            )
        rows = pareto_plot(target, acc, _run_report(run), pareto, periphery=periphery)
        for r in rows:
            print(
                f"{r['bits']:>2}-bit: accuracy after 1 day {r['acc_1d']:.2f} +- {r['acc_1d_std']:.2f} %, "
                f"{format_energy(r['energy_j'])} per inference{'  (Pareto)' if r['pareto'] else ''}"
            )
        print(f"wrote {pareto}")
        return
    if sweep:
        rows = sweep_grid(
            target,
            acc,
            [parse_assignment(s, many=True) for s in sweep],
            act_bits=act_bits,
            polarity=polarity,
            periphery=periphery,
        )
        if json_out:
            print(json.dumps(rows, indent=2))
            return
        keys = list(rows[0]["point"])
        print(
            "  ".join(f"{k:>14}" for k in keys) + f"  {'energy':>10} {'TOPS/W':>8} {'area mm^2':>10} "
            f"{'latency us':>11} {'conversions':>12}"
        )
        for r in rows:
            print(
                "  ".join(f"{str(v):>14}" for v in r["point"].values())
                + f"  {format_energy(r['energy_per_inference_j']):>10} {r['tops_per_watt']:>8.2f} "
                f"{r['area_mm2']:>10.4f} {r['latency_s'] * 1e6:>11.2f} {r['conversions']:>12,}"
            )
        return
    report = estimate(target, acc, act_bits=act_bits, polarity=polarity, periphery=periphery)
    if run:
        report.model = run
    if plot:
        report.plot(plot)
    if json_out:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.summary())


def _run_dir(run_dir: str) -> Path:
    """A training run directory: RUN itself, or RUN/hwa for a recipe's output directory."""
    path = Path(run_dir)
    if not (path / "model.safetensors").is_file() and (path / "hwa" / "model.safetensors").is_file():
        return path / "hwa"
    return path


def _run_report(run_dir: str) -> dict:
    from tinycim.errors import DataError

    for path in (Path(run_dir) / "report.json", _run_dir(run_dir).parent / "report.json"):
        if path.is_file():
            try:
                return json.loads(path.read_text())
            except json.JSONDecodeError as err:
                raise DataError(f"{path}: not valid JSON ({err})") from None
    raise DataError(f"{run_dir}: no report.json (the --out directory of `tinycim run`)")


def _load_run(run_dir: str) -> nn.Module:
    """The analog model of a training run (tinycim.train.load_run + to_analog, imported lazily: the
    training module is optional), with the converter ranges it learned."""
    from tinycim.errors import ConfigError

    try:
        from tinycim.train import load_run, to_analog
    except ImportError:
        raise ConfigError(
            "--run needs tinycim.train.load_run, which this installation does not have"
        ) from None
    import warnings

    model, _hwa, analog_config, _meta = load_run(_run_dir(run_dir))
    with warnings.catch_warnings():
        # A run without learned ranges: the cost model codes inputs by each sample's range (as the simulator).
        warnings.filterwarnings("ignore", message=r".*converters without a range.*", category=UserWarning)
        return to_analog(model, analog_config)
