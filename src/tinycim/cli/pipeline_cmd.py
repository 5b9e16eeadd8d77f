"""`tinycim run`, `tinycim quickstart` and `tinycim export`: the whole loop and what a chip loads."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("run")(run)
    app.command("quickstart")(quickstart)
    app.command("export")(export)


def run(
    recipe: str = typer.Argument(..., help="Recipe YAML file (see recipes/), or a bundled recipe name."),
    data_dir: Optional[Path] = typer.Option(
        None, "--data-dir", help="Dataset folder (not needed for digits)."
    ),
    out: Path = typer.Option(..., "--out", help="Run folder: checkpoints, step results, report."),
    full: bool = typer.Option(False, "--full", help="Paper-sized settings (the recipe's `full` section)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    tensorboard: bool = typer.Option(
        False, "--tensorboard", help="Also write TensorBoard event files to OUT/tb (needs tinycim[tb])."
    ),
) -> None:
    """Run a recipe end to end (train, drift sweeps, cost, report); resumes after a kill."""
    from tinycim.pipeline import load_recipe, run_recipe

    if tensorboard:
        from tinycim.tblog import _require_tensorboard

        _require_tensorboard()  # before any work, not after it
    report = run_recipe(
        load_recipe(recipe, full=full),
        str(data_dir) if data_dir else None,
        out,
        settings="full" if full else "cpu",
        progress=progress,
        tensorboard=tensorboard,
    )
    print(f"report: {report}")


def quickstart(
    out: Path = typer.Option(Path("runs/quickstart"), "--out", help="Run folder for the report."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
) -> None:
    """The whole loop on scikit-learn's bundled digits, in a few minutes on a laptop CPU:
    FP training, hardware-aware fine-tuning, drift sweep, cost estimate and a report."""
    from tinycim.pipeline import load_recipe, run_recipe

    report = run_recipe(load_recipe("quickstart"), None, out, progress=progress)
    print(f"report: {report}")


def export(
    run_dir: Path = typer.Argument(..., help="A training run folder (tinycim train / run / nas)."),
    out: Path = typer.Option(..., "--out", help="Folder for conductances.safetensors and deployment.json."),
    preset: Optional[str] = typer.Option(
        None, help="Analog preset to map onto (default: the run's own config)."
    ),
) -> None:
    """Export what a chip team loads: per tile the target conductances (safetensors), the DAC/ADC
    ranges and bits, the drift-compensation constants and the layer order (JSON)."""
    from tinycim.evaluate.export import export_analog
    from tinycim.train import load_run, to_analog

    model, hwa, analog_config, _ = load_run(run_dir)
    amodel = to_analog(model, preset if preset else analog_config)
    path = export_analog(amodel, out)
    print(f"deployment: {path}")
