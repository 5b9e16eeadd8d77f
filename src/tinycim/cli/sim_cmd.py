"""`tinycim simulate` and `tinycim presets`: the analog simulator from the command line."""

from __future__ import annotations

import json

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("simulate")(simulate)
    app.command("presets")(presets)


def presets() -> None:
    """List the analog hardware presets and their main settings."""
    from rich.console import Console
    from rich.table import Table

    from tinycim.config import PRESETS, AnalogConfig

    table = Table(title="analog presets")
    for col in ("name", "device", "g_max (uS)", "tile", "DAC/ADC bits", "mapping", "GDC"):
        table.add_column(col)
    for name in sorted(PRESETS):
        c = AnalogConfig.preset(name)
        table.add_row(
            name,
            c.device.kind,
            f"{c.device.g_max_us:g}",
            f"{c.tile.rows}x{c.tile.cols}",
            f"{c.dac.bits}/{c.adc.bits}",
            c.mapping.polarity,
            str(c.gdc),
        )
    Console().print(table)


def simulate(
    model: str = typer.Option("kws_cnn5", help="Model name from the zoo (tinycim.models.list_models())."),
    preset: str = typer.Option("pcm", help="Analog preset: ideal, pcm, hermes, rram, aon-cim."),
    config: str = typer.Option(None, help="AnalogConfig JSON file (overrides --preset)."),
    instances: int = typer.Option(4, min=1, help="Independently programmed chips (Monte-Carlo instances)."),
    times: str = typer.Option("1s,1h,1d,30d,1y", help="Times after programming, e.g. 1s,1h,1d,30d,1y."),
    batch: int = typer.Option(64, min=1, help="Random inputs per evaluation."),
    seed: int = typer.Option(0, help="Seed of weights, inputs and programming."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Simulate a zoo model on analog hardware: layers, tiles, and output error vs FP32 over time.

    Accuracy-free (random weights and inputs): it shows the mapping and how far the analog
    outputs move from the digital ones as the devices drift, with and without compensation.
    """
    from tinycim.evaluate.simulate import simulate_model

    summary = simulate_model(
        model, preset=preset, config_path=config, instances=instances, times=times, batch=batch, seed=seed
    )
    if json_out:
        print(json.dumps(summary, indent=2))
        return
    _print_summary(summary)


def _print_summary(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{summary['model']}[/] on [bold]{summary['preset']}[/]: {summary['conversion']}")
    layers = Table(title="layers on tiles")
    for col in ("layer", "type", "matrix (rows x cols x groups)", "tiles", "utilisation"):
        layers.add_column(col)
    for row in summary["layers"]:
        layers.add_row(
            row["name"], row["type"], row["matrix"], str(row["tiles"]), f"{row['utilization']:.1%}"
        )
    console.print(layers)
    drift = Table(title=f"output error vs FP32 ({summary['instances']} instances, mean +- std)")
    for col in ("time", "relative error", "top-1 agreement with FP32"):
        drift.add_column(col)
    for row in summary["drift"]:
        drift.add_row(
            row["time"],
            f"{row['rel_error_mean']:.4f} +- {row['rel_error_std']:.4f}",
            f"{row['agreement_mean']:.1%} +- {row['agreement_std']:.1%}",
        )
    console.print(drift)
