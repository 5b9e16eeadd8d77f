"""`tinycim drift`, `tinycim sensitivity` and `tinycim retarget`: a trained run on its hardware over
time, on other hardware, and which of its layers loses the accuracy. All three read the run's own
held-out data and calibration inputs (`run_data`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from tinycim.errors import ConfigError


def hardware(base: Any, preset: Optional[str], sets: list[str]) -> Any:
    """The AnalogConfig to evaluate on: `preset` (default: `base`, the run's own) with dotted
    `--set section.field=value` overrides (values read as YAML scalars: 6, 2.5, true, null, pcm)."""
    from tinycim.config import AnalogConfig
    from tinycim.io import safe_yaml

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
        node[parts[-1]] = safe_yaml(raw, f"--set {key}")
    return AnalogConfig.from_dict(data)


def run_data(
    run_dir: Path, meta: dict[str, Any], dataset: Optional[str], data_dir: Optional[Path], split: str
) -> tuple[Any, Any, str]:
    """(split, a batch of training inputs for calibration, dataset name) of a run: its own dataset,
    loader options and data seed, so the split is the run's held-out set. The calibration batch is
    the one the run recorded (calibration.safetensors), else the first 512 training inputs."""
    from tinycim.data import load
    from tinycim.workflow.runs import CALIBRATION_SAMPLES, load_calibration

    extra, trained_on = meta["extra"], meta["extra"].get("dataset")
    if dataset is None:
        if trained_on is None:
            raise ConfigError(f"{run_dir} does not record its dataset: pass --dataset")
        dataset = trained_on
    if trained_on is None:  # e.g. a recipe run written before runs recorded their data
        typer.echo(
            f"warning: {run_dir} records no data split; {dataset} is loaded with default loader "
            "options, which may not be the split it was trained on",
            err=True,
        )
    # The run's loader options (e.g. split_by=speaker) belong to the data it was trained on; the
    # seed that drew its subject / speaker split makes --split test the run's own held-out set
    # (NAS candidates train with a per-arch seed but share the search's split: they record it).
    opts = extra.get("data_options", {}) if dataset == trained_on else {}
    seed = extra.get("data_seed", meta["train"].get("seed", 0))
    ds = load(dataset, data_dir, split, seed=seed, **opts)
    calib = load_calibration(run_dir)
    if calib is None:
        calib = load(dataset, data_dir, "train", seed=seed, **opts).tensors[0][:CALIBRATION_SAMPLES]
        if len(calib) == 0:
            raise ConfigError(
                f"{run_dir} records no calibration inputs and the training split of {data_dir or dataset} "
                "is empty: point --data-dir at the data the run was trained on"
            )
    return ds, calib, dataset


# Options the commands share (a run, its data, the hardware to evaluate on).
_RUN_DIR = typer.Argument(..., help="A run directory (tinycim train / run / nas).")
_DATASET = typer.Option(None, "--dataset", help="Default: the run's own.")
_DATA_DIR = typer.Option(None, "--data-dir", help="Dataset folder (not needed for digits).")
_SPLIT = typer.Option("test", "--split", help="train, val, test or all.")
_SEED = typer.Option(0, "--seed", min=0, help="Programming seed.")
_PRESET = typer.Option(None, "--preset", help="Hardware preset (default: the run's own).")
_JSON = typer.Option(
    False, "--json", help="Print the result as JSON instead of a table (as cost, models, ...)."
)
_JSON_OUT = typer.Option(None, "--json-out", help="Also write the result as JSON to this file.")
_SETS = typer.Option(
    [],
    "--set",
    help="Override a hardware field: section.field=value, e.g. --set tile.rows=256 --set adc.bits=6.",
)


def drift_cmd(
    run_dir: Path = _RUN_DIR,
    dataset: Optional[str] = _DATASET,
    data_dir: Optional[Path] = _DATA_DIR,
    split: str = _SPLIT,
    times: str = typer.Option("1s,1h,1d,30d,1y", "--times", help="Comma-separated times after programming."),
    instances: int = typer.Option(10, "--instances", min=1, help="Programmed chips (Monte-Carlo)."),
    seed: int = _SEED,
    json_flag: bool = _JSON,
    json_out: Optional[Path] = _JSON_OUT,
    batch_size: int = typer.Option(512, "--batch-size", min=1, help="Outputs per forward call (memory)."),
    tensorboard: bool = typer.Option(
        False, "--tensorboard", help="Also write the drift curve to RUN/tb (needs tinycim[tb])."
    ),
    device: Optional[str] = typer.Option(
        None, "--device", help="cpu, cuda or cuda:N [default: cuda when available, else cpu]."
    ),
) -> None:
    """Accuracy of a trained run on its hardware over time: mean and std over K chips.

    Two references: FP32 (the same weights run digitally) and "ideal chip" (the same chip with
    its DAC/ADC, tiles and weight levels on noise- and drift-free devices): the loss below the
    second is drift and noise, the gap between them what the converters cost."""
    import warnings

    from rich.console import Console
    from rich.table import Table

    from tinycim.cli.train_cmd import parse_times, resolve_device
    from tinycim.train import evaluate_drift, load_run, to_analog

    grid = parse_times(times)
    if tensorboard:
        from tinycim.tblog import _require_tensorboard

        _require_tensorboard()
    model, hwa, analog, meta = load_run(run_dir)
    model = model.to(resolve_device(device))
    ds, calib, name = run_data(run_dir, meta, dataset, data_dir, split)
    # a plainly trained run has no learned ranges: they are calibrated on its training inputs
    amodel = to_analog(model, analog, calibrate_with=calib if hwa is None else None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = evaluate_drift(
            amodel, ds, times=[t for _, t in grid], instances=instances, seed=seed, batch_size=batch_size
        )
    for w in caught:
        if issubclass(w.category, UserWarning):
            typer.echo(f"warning: {w.message}", err=True)
    if res.reference_warning is not None:
        typer.echo(f"warning: {res.reference_warning}", err=True)
    report = {
        "run_dir": str(run_dir),
        "dataset": name,
        "split": split,
        "n_samples": len(ds),
        "instances": instances,
        "seed": seed,
        **res.to_dict(),
        "reference_warning": res.reference_warning,
        "labels": [label for label, _ in grid],
        "times_s": res.times,
        "analog_config": analog.to_dict(),
    }
    table = Table(title=f"{run_dir} on {name}/{split} ({len(ds)} samples, {instances} chips)")
    ideal = res.ideal_accuracy
    for column in (
        "time",
        "accuracy %",
        "vs FP32 (pp)",
        *(["vs ideal chip (pp)"] if ideal is not None else []),
    ):
        table.add_column(column, justify="left" if column == "time" else "right")
    table.add_row("FP32", f"{res.fp_accuracy:.2f}", "", *([""] if ideal is not None else []))
    if ideal is not None:
        table.add_row("ideal chip", f"{ideal:.2f}", f"{ideal - res.fp_accuracy:+.2f}", "")
    for (label, _), mean, std in zip(grid, res.mean, res.std):
        vs_ideal = [f"{mean - ideal:+.2f}"] if ideal is not None else []
        table.add_row(label, f"{mean:.2f} +- {std:.2f}", f"{mean - res.fp_accuracy:+.2f}", *vs_ideal)
    _emit(report, json_flag, json_out, lambda: Console().print(table))
    if tensorboard:
        from tinycim.tblog import TensorBoardLogger

        with TensorBoardLogger(Path(run_dir) / "tb") as tb:
            tb.drift(res.times, res.mean, std=res.std)


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
    json_flag: bool = _JSON,
    json_out: Optional[Path] = _JSON_OUT,
) -> None:
    """Each layer alone on the hardware, the others ideal: accuracy and loss, most sensitive first."""
    from rich.console import Console
    from rich.table import Table

    from tinycim.evaluate import layer_sensitivity
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
    _emit(
        {"run_dir": str(run_dir), "seconds": seconds, "rows": rows},
        json_flag,
        json_out,
        lambda: Console().print(table),
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
    json_flag: bool = _JSON,
    json_out: Optional[Path] = _JSON_OUT,
) -> None:
    """A trained run on other hardware (tile size, converter bits, device, ...): ranges it learned
    are kept where they mean the same thing and recalibrated on its training data where not."""
    from rich.console import Console

    from tinycim.cli.train_cmd import parse_times
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

    def show() -> None:
        console = Console()
        console.print(f"{run_dir} on {name}/{split}, {instances} chips; FP32 {res.fp_accuracy:.2f} %")
        for (label, _), mean, std in zip(grid, res.mean, res.std):
            console.print(f"  {label:>6}: {mean:.2f} +- {std:.2f} %  ({mean - res.fp_accuracy:+.2f} pp)")

    report = {"run_dir": str(run_dir), "analog_config": target.to_dict(), **res.to_dict()}
    _emit(report, json_flag, json_out, show)


def _emit(report: dict[str, Any], json_flag: bool, json_out: Optional[Path], show: Any) -> None:
    """The result as a table (show()) or, with --json, as JSON on stdout; --json-out also writes it."""
    from tinycim.io import atomic_write_text

    text = json.dumps(report, indent=2)
    if json_flag:
        typer.echo(text)
    else:
        show()
    if json_out is not None:
        atomic_write_text(json_out, text)


def register(app: typer.Typer) -> None:
    """Add `drift`, `sensitivity` and `retarget` to the root app."""
    app.command("drift")(drift_cmd)
    app.command("sensitivity")(sensitivity_cmd)
    app.command("retarget")(retarget_cmd)
