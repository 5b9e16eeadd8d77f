"""`tinycim nas`: analog-aware architecture search (the library lives in `tinycim.nas`).

Parses, builds the space / evaluator / executor, runs the search with a rich progress bar, and
writes candidates.csv / candidates.json / pareto.png / best/ (a run directory for `tinycim drift`)
into --out. Re-running the same command on the same --out resumes: finished candidates are read
back from the store, never trained again.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Optional

import typer

SEARCHES = ("evolution", "random")


def nas_command(
    space: str = typer.Option(..., "--space", help="resnet-like, tinyml or tinyml-unipolar."),
    dataset: str = typer.Option(..., "--dataset", help="Dataset name (hapt, uci_har, speech_commands, ...)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Dataset folder or archive."),
    budget_params: int = typer.Option(
        ..., "--budget-params", min=1, help="Parameter budget (each candidate <= N)."
    ),
    trials: int = typer.Option(..., "--trials", min=1, help="Candidates to train."),
    out: Path = typer.Option(..., "--out", help="Output folder (re-run on it to resume)."),
    executor: str = typer.Option("ray", "--executor", help="ray (local cores or --address) or local."),
    address: Optional[str] = typer.Option(None, "--address", help="Join this Ray cluster (e.g. auto)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Search seed (sampling, mutations, training seeds)."),
    epochs: int = typer.Option(2, "--epochs", min=0, help="HWA fine-tuning epochs per candidate."),
    fp_epochs: int = typer.Option(4, "--fp-epochs", min=0, help="FP pre-training epochs per candidate."),
    lr: float = typer.Option(
        2e-3,
        "--lr",
        min=1e-6,
        max=1.0,
        help="FP pre-training learning rate (HWA fine-tuning: a quarter of it).",
    ),
    instances: int = typer.Option(4, "--instances", min=1, help="Programmed chips K per drift evaluation."),
    label_seeds: int = typer.Option(
        1,
        "--label-seeds",
        min=1,
        help="Training runs per candidate; its metrics are their mean (less label noise).",
    ),
    max_avm: Optional[float] = typer.Option(None, "--max-avm", help="AVM threshold T (accuracy points)."),
    budget_energy: Optional[float] = typer.Option(
        None, "--budget-energy", min=0.0, help="Energy budget (J)."
    ),
    budget_devices: Optional[int] = typer.Option(
        None, "--budget-devices", min=1, help="Device budget (e.g. for the unipolar space)."
    ),
    accelerator: str = typer.Option("aon-cim", "--accelerator", help="Cost-model preset: aon-cim or hermes."),
    confirm: int = typer.Option(
        0,
        "--confirm",
        min=0,
        help="Retrain the top N candidates --confirm-rounds more times and name the best "
        "mean the winner (0: the best label wins). Guards against a lucky run.",
    ),
    confirm_rounds: int = typer.Option(
        1, "--confirm-rounds", min=1, help="Extra evaluations per confirmed candidate."
    ),
    search: str = typer.Option("evolution", "--search", help="evolution (surrogate-guided) or random."),
    population: int = typer.Option(8, "--population", min=1, help="Evolution: parents kept per generation."),
    init: int = typer.Option(16, "--init", min=1, help="Evolution: random candidates before evolving."),
    batch: int = typer.Option(4, "--batch", min=1, help="Candidates trained per generation / batch."),
    evaluator: str = typer.Option("train", "--evaluator", help="train, or synthetic (no training: dry runs)"),
    split_by: Optional[str] = typer.Option(
        None, "--split-by", help="Loader split option (default speaker for speech_commands)."
    ),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Show a progress bar (only on a terminal)."
    ),
    tensorboard: bool = typer.Option(
        False, "--tensorboard", help="Also write per-candidate scalars to OUT/tb (needs tinycim[tb])."
    ),
    input_norm: bool = typer.Option(
        False,
        "--input-norm",
        help="tinyml spaces: every candidate standardizes its input digitally "
        "first: per channel (raw sensor data, e.g. HAR), or per "
        "speech_commands MFCC coefficient.",
    ),
) -> None:
    """Search architectures that stay accurate under PCM drift within a parameter / energy budget."""
    started = time.monotonic()
    if tensorboard:
        from tinycim.tblog import _require_tensorboard

        _require_tensorboard()  # before any work, not after it
    from tinycim.errors import ConfigError
    from tinycim.nas import (
        SPACES,
        Constraints,
        EvalSettings,
        SearchConfig,
        SyntheticEvaluator,
        TrainEvaluator,
        confirm_best,
        make_executor,
        record_value,
    )
    from tinycim.io import atomic_write_text
    from tinycim.nas.report import copy_best_run, plot_pareto, write_table

    if space not in SPACES:
        raise ConfigError(f"--space {space!r} unknown: allowed {', '.join(SPACES)}")
    if search not in SEARCHES:
        raise ConfigError(f"--search {search!r} unknown: allowed {', '.join(SEARCHES)}")
    if evaluator not in ("train", "synthetic"):
        raise ConfigError(f"--evaluator {evaluator!r} unknown: allowed train, synthetic")
    _check_options(executor, address, accelerator, max_avm, budget_energy)
    _check_instances(instances, budget_params)
    from tinycim.data import dataset_info, load, split_record

    if split_by is None and dataset == "speech_commands":
        split_by = "speaker"  # a speaker in both train and val would inflate every candidate's accuracy
    opts: dict[str, Any] = {"split_by": split_by} if split_by else {}
    train_ds = load(dataset, data_dir, "train", seed=seed, **opts)
    if input_norm and space == "resnet-like":
        raise ConfigError("--input-norm applies to the tinyml spaces, not resnet-like")
    # per channel, or per MFCC coefficient for speech_commands: the dataset knows which
    space_opts = {"input_norm": dataset_info(dataset).input_norm} if input_norm else {}  # not resnet-like
    the_space = SPACES[space](train_ds.input_shape, len(train_ds.classes), **space_opts)
    runs_dir = out / "runs"
    ev: Any
    if evaluator == "synthetic":
        ev = SyntheticEvaluator(the_space)
    else:
        val_ds = load(dataset, data_dir, "val", seed=seed, **opts)
        ev = TrainEvaluator(
            the_space,
            train_ds,
            val_ds,
            EvalSettings(
                fp_epochs=fp_epochs,
                epochs=epochs,
                instances=instances,
                lr=lr,
                accelerator=accelerator,
                seeds=label_seeds,
            ),
            runs_dir=runs_dir,
            data=split_record(dataset, opts, seed),
        )
    constraints = Constraints(
        max_params=budget_params, max_avm=max_avm, max_energy_j=budget_energy, max_devices=budget_devices
    )
    config = SearchConfig(
        trials=trials, seed=seed, population=population, init=min(init, trials), batch=batch
    )
    runner = make_executor(executor, address=address)
    # Everything that changes a candidate's numbers goes into the store header, so a resume with other
    # settings is refused instead of mixing two experiments.
    header = {
        "dataset": dataset,
        "data_dir": str(data_dir),
        "split_by": split_by,
        "evaluator": evaluator,
        "eval": ev.settings.to_dict() if evaluator == "train" else None,
    }
    try:
        result = _run(the_space, ev, constraints, config, runner, out, search, header, progress)
        best = result.best
        if confirm and best is not None:
            best = confirm_best(
                result.records, ev, runner, constraints, out / "confirm", top=confirm, rounds=confirm_rounds
            )
    finally:
        runner.close()

    write_table(out, result.records, constraints, result.front)
    if tensorboard:
        _log_tensorboard(out / "tb", result.records, header)
    plot_pareto(
        out / "pareto.png",
        result.records,
        constraints,
        result.front,
        title=f"{space} on {dataset}: {len(result.records)} candidates",
    )
    if best is None:
        typer.echo("no candidate met every constraint (see candidates.csv)")
        raise typer.Exit(1)
    best_dir = copy_best_run(runs_dir, best, out / "best") if evaluator == "train" else None
    summary = {
        "best": best,
        "front": [r["key"] for r in result.front],
        "trained_now": result.evaluated,
        "best_run": str(best_dir) if best_dir else None,
        "elapsed_s": time.monotonic() - started,
    }  # the whole command: data, search, confirmation
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, sort_keys=True))
    acc = record_value(best, "acc_1d")
    confirmed = (
        f", confirmed {best['confirmed']['acc_1d']:.2f} over {len(best['confirmed']['runs'])} evaluations"
        if "confirmed" in best
        else ""
    )
    typer.echo(
        f"best: acc_1d {acc:.2f}{confirmed} (std {record_value(best, 'std_1d'):.2f}, "
        f"AVM {record_value(best, 'avm'):.2f}), {best['static']['params']:,} params; "
        f"{len(result.front)} on the Pareto front; {result.evaluated} trained now, "
        f"{len(result.records) - result.evaluated} read back; {summary['elapsed_s'] / 60:.1f} min in all"
    )
    if best_dir is not None:
        hint = f"tinycim drift {best_dir}" + (f" --data-dir {data_dir}" if data_dir is not None else "")
        typer.echo(f"best run: {best_dir}  ({hint})")
    elif evaluator == "train":
        typer.echo("best run not found locally (trained on a remote node?): its arch is in summary.json")


def _check_options(
    executor: str, address: str | None, accelerator: str, max_avm: float | None, budget_energy: float | None
) -> None:
    """The options typer's ranges cannot say, checked before any data is read (one-line errors)."""
    from tinycim.cost.presets import ACCELERATORS
    from tinycim.errors import ConfigError

    if executor not in ("local", "ray"):
        raise ConfigError(f"--executor {executor!r} unknown: allowed local, ray")
    if address is not None and executor != "ray":
        raise ConfigError(f"--address {address!r} needs --executor ray (got --executor {executor})")
    if accelerator not in ACCELERATORS:
        raise ConfigError(f"--accelerator {accelerator!r} unknown: allowed {', '.join(sorted(ACCELERATORS))}")
    for option, value in (("--max-avm", max_avm), ("--budget-energy", budget_energy)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{option} = {value} is invalid: allowed a finite number > 0")


def _check_instances(instances: int, budget_params: int) -> None:
    """Refuse an --instances whose programmed chips could not fit in half of this machine's memory for
    a candidate at the parameter budget (the bound tc.program applies, known before any training)."""
    import os

    from tinycim.config import AnalogConfig
    from tinycim.errors import ConfigError
    from tinycim.nas import EvalSettings

    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return
    mapping = AnalogConfig.preset(EvalSettings().analog_preset).mapping
    devices = 1 if mapping.polarity == "unipolar" else 2
    per_chip = (
        budget_params * mapping.slices * (2 * devices + 1) * 4
    )  # float32 conductances, exponents, weights
    if per_chip * instances > ram // 2:
        raise ConfigError(
            f"--instances {instances} needs up to {per_chip * instances / 2**30:.1f} GiB for the programmed "
            f"chips of a {budget_params:,}-parameter candidate: at most {max(1, ram // 2 // per_chip)} fit "
            f"in half of this machine's {ram / 2**30:.0f} GiB"
        )


def _log_tensorboard(logdir: Path, records: list, header: dict) -> None:
    """OUT/tb: one step per candidate in search order (accuracy at 1 s / 1 day / 30 days, AVM,
    energy in nJ, parameters) and the search's settings as hparams with the best 1-day accuracy."""
    import math

    from tinycim.nas import record_value
    from tinycim.tblog import TensorBoardLogger

    tags = {"acc_1s": "candidate/acc_1s", "acc_1d": "candidate/acc_1d", "acc_30d": "candidate/acc_30d"}
    tags.update({"avm": "candidate/avm_pp", "params": "candidate/params"})
    best = float("nan")
    with TensorBoardLogger(logdir) as tb:
        for step, record in enumerate(records):
            values = {}
            for name, tag in tags.items():
                try:
                    value = record_value(record, name)
                except KeyError:
                    continue
                if math.isfinite(value):
                    values[tag] = value
            energy = record.get("static", {}).get("energy_j")
            if energy is not None:
                values["candidate/energy_nj"] = energy * 1e9
            tb.scalars(step, values)
            acc = values.get("candidate/acc_1d", float("nan"))
            best = acc if math.isnan(best) or acc > best else best
        tb.hparams({k: v for k, v in header.items() if v is not None}, {"best/acc_1d": best})


def _run(space, ev, constraints, config, runner, out: Path, search: str, header: dict, show: bool = True):
    """Run the search under a rich progress bar showing the best feasible 1-day accuracy so far
    (none with --no-progress or when stdout is not a terminal)."""
    import sys

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tinycim.nas import Search, record_value

    if not (show and sys.stdout.isatty()):
        s = Search(space, ev, constraints, out / "store", runner, config, header=header)
        return s.run_evolution() if search == "evolution" else s.run_random()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=False,
    ) as bar:
        task = bar.add_task("searching", total=config.trials)

        def progress(done, total, best):
            acc = record_value(best, "acc_1d") if best else math.nan
            bar.update(task, completed=done, description=f"best acc_1d {acc:.2f}")

        s = Search(space, ev, constraints, out / "store", runner, config, progress=progress, header=header)
        return s.run_evolution() if search == "evolution" else s.run_random()


def _locked(command):
    """The command, holding its --out folder's lock (a second writer gets a one-line error)."""
    import functools

    @functools.wraps(command)
    def run(*args, **kwargs):
        from tinycim.io import output_lock

        with output_lock(kwargs["out"]):
            return command(*args, **kwargs)

    return run


def register(app: typer.Typer) -> None:
    """Add `tinycim nas` to the root app."""
    app.command("nas")(_locked(nas_command))
