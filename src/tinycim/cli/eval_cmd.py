"""`tinycim sensitivity` and `tinycim retarget`: a trained run on other hardware, and which of its
layers loses the accuracy. Both read the run's own held-out data, like `tinycim drift`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from tinycim.errors import ConfigError


def hardware(base: Any, preset: Optional[str], sets: list[str]) -> Any:
    """The AnalogConfig to evaluate on: `preset` (default: `base`, the run's own) with dotted
    `--set section.field=value` overrides (values read as YAML scalars: 6, 2.5, true, null, pcm)."""
    import yaml

    from tinycim.config import AnalogConfig

    cfg = AnalogConfig.preset(preset) if preset else base
    if not sets:
        return cfg
    data = cfg.to_dict()
    for item in sets:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r} is invalid: allowed section.field=value, e.g. adc.bits=6")
        node: Any = data
        parts = key.split(".")
        for part in parts[:-1]:
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"--set {key}: unknown section {part!r}; allowed {sorted(data)}")
            node = node[part]
        if not isinstance(node, dict) or parts[-1] not in node:
            allowed = sorted(node) if isinstance(node, dict) else []
            raise ConfigError(f"--set {key}: unknown field {parts[-1]!r}; allowed {allowed}")
        node[parts[-1]] = yaml.safe_load(raw)
    return AnalogConfig.from_dict(data)


def run_data(
    run_dir: Path, meta: dict[str, Any], dataset: Optional[str], data_dir: Optional[Path], split: str
) -> tuple[Any, Any, str]:
    """(split, a training batch for calibration, dataset name) of a run: its own dataset, loader
    options and data seed, so the split is the run's held-out set."""
    from tinycim.data import load

    extra, trained_on = meta["extra"], meta["extra"].get("dataset")
    if dataset is None:
        if trained_on is None:
            raise ConfigError(f"{run_dir} does not record its dataset: pass --dataset")
        dataset = trained_on
    opts = extra.get("data_options", {}) if dataset == trained_on else {}
    seed = extra.get("data_seed", meta["train"].get("seed", 0))
    ds = load(dataset, data_dir, split, seed=seed, **opts)
    calib = load(dataset, data_dir, "train", seed=seed, **opts).tensors[0][:512]
    return ds, calib, dataset


# Options both commands take (a run, its data, the hardware to evaluate on).
_RUN_DIR = typer.Argument(..., help="A run directory (tinycim train / run / nas).")
_DATASET = typer.Option(None, "--dataset", help="Default: the run's own.")
_DATA_DIR = typer.Option(None, "--data-dir", help="Dataset folder (not needed for digits).")
_SPLIT = typer.Option("test", "--split", help="train, val, test or all.")
_SEED = typer.Option(0, "--seed", min=0, help="Programming seed.")
_PRESET = typer.Option(None, "--preset", help="Hardware preset (default: the run's own).")
_SETS = typer.Option(
    [],
    "--set",
    help="Override a hardware field: section.field=value, e.g. --set tile.rows=256 --set adc.bits=6.",
)


def sensitivity_cmd(
    run_dir: Path = _RUN_DIR,
    dataset: Optional[str] = _DATASET,
    data_dir: Optional[Path] = _DATA_DIR,
    split: str = _SPLIT,
    time: str = typer.Option("1d", "--time", help="Time after programming (e.g. 1s, 1d, 30d)."),
    instances: int = typer.Option(5, "--instances", min=1, help="Programmed chips per layer."),
    seed: int = _SEED,
    preset: Optional[str] = _PRESET,
    sets: list[str] = _SETS,
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the rows as JSON here."),
) -> None:
    """Each layer alone on the hardware, the others ideal: accuracy and loss, most sensitive first."""
    from rich.console import Console
    from rich.table import Table

    from tinycim.evaluate import layer_sensitivity
    from tinycim.io import atomic_write_text
    from tinycim.train import load_run
    from tinycim.units import parse_duration

    seconds = parse_duration(time)
    model, _, analog, meta = load_run(run_dir)
    target = hardware(analog, preset, sets)
    ds, calib, name = run_data(run_dir, meta, dataset, data_dir, split)
    rows = layer_sensitivity(
        model, ds, target, seconds=seconds, instances=instances, seed=seed, calibrate_with=calib
    )
    table = Table(
        title=f"{run_dir}: each layer alone on the hardware, {time} ({name}/{split}, {instances} chips)"
    )
    for column in ("layer", "params", "accuracy %", "loss (pp)"):
        table.add_column(column, justify="left" if column == "layer" else "right")
    for r in rows:
        table.add_row(
            r["layer"], f"{r['params']:,}", f"{r['acc']:.2f} +- {r['std']:.2f}", f"{r['loss_pp']:+.2f}"
        )
    Console().print(table)
    if json_out is not None:
        atomic_write_text(
            json_out, json.dumps({"run_dir": str(run_dir), "seconds": seconds, "rows": rows}, indent=2)
        )


def retarget_cmd(
    run_dir: Path = _RUN_DIR,
    dataset: Optional[str] = _DATASET,
    data_dir: Optional[Path] = _DATA_DIR,
    split: str = _SPLIT,
    times: str = typer.Option("1s,1d,30d", "--times", help="Comma-separated times after programming."),
    instances: int = typer.Option(10, "--instances", min=1, help="Programmed chips."),
    seed: int = _SEED,
    preset: Optional[str] = _PRESET,
    sets: list[str] = _SETS,
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the result as JSON here."),
) -> None:
    """A trained run on other hardware (tile size, converter bits, device, ...): ranges it learned
    are kept where they mean the same thing and recalibrated on its training data where not."""
    from rich.console import Console

    from tinycim.cli.train_cmd import parse_times
    from tinycim.io import atomic_write_text
    from tinycim.train import evaluate_drift, load_run, to_analog

    grid = parse_times(times)
    model, _, analog, meta = load_run(run_dir)
    target = hardware(analog, preset, sets)
    ds, calib, name = run_data(run_dir, meta, dataset, data_dir, split)
    res = evaluate_drift(
        to_analog(model, target, calibrate_with=calib),
        ds,
        times=[t for _, t in grid],
        instances=instances,
        seed=seed,
    )
    console = Console()
    console.print(f"{run_dir} on {name}/{split}, {instances} chips; FP32 {res.fp_accuracy:.2f} %")
    for (label, _), mean, std in zip(grid, res.mean, res.std):
        console.print(f"  {label:>6}: {mean:.2f} +- {std:.2f} %  ({mean - res.fp_accuracy:+.2f} pp)")
    if json_out is not None:
        atomic_write_text(
            json_out,
            json.dumps(
                {"run_dir": str(run_dir), "analog_config": target.to_dict(), **res.to_dict()}, indent=2
            ),
        )


def register(app: typer.Typer) -> None:
    """Add `sensitivity` and `retarget` to the root app."""
    app.command("sensitivity")(sensitivity_cmd)
    app.command("retarget")(retarget_cmd)
