"""Run a recipe end to end: FP training -> hardware-aware training -> drift sweeps -> cost -> report.

Every step writes its result atomically under OUT/steps/ (training phases checkpoint every epoch
in OUT/<phase>/train/), so a killed run started again with the same arguments skips what is
done and loses at most the epoch that was running.
"""

from __future__ import annotations

import dataclasses
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import torch

import tinycim as tc
from tinycim.io import atomic_write_text
from tinycim.pipeline.compare import ONE_DAY_S, compare
from tinycim.pipeline.hardware import phase_configs, recipe_chip
from tinycim.pipeline.provenance import device_description, provenance
from tinycim.pipeline.recipe import Phase, Recipe
from tinycim.pipeline.report import write_report
from tinycim.units import format_duration

CALIBRATION_SAMPLES = 512  # batch that sets converter ranges of plainly trained models
COST_SAMPLES = 64  # real inputs that set the activity of the energy estimate


class _Steps:
    """Cached step results: OUT/steps/<name>.json, written atomically."""

    def __init__(self, root: Path, log: Callable[[str], None]) -> None:
        self.root = root / "steps"
        self.root.mkdir(parents=True, exist_ok=True)
        self.log = log

    def get(self, name: str, compute: Callable[[], Any]) -> Any:
        path = self.root / f"{name}.json"
        if path.is_file():
            self.log(f"[resume] {name}: done earlier")
            return json.loads(path.read_text())
        self.log(f"{name} ...")
        value = compute()
        atomic_write_text(path, json.dumps(value, indent=1))
        return value


def _check_same_recipe(recipe: Recipe, steps_dir: Path, data: dict[str, Any]) -> None:
    """Resuming reuses finished steps, so an out dir must only ever hold one recipe's run on one
    dataset: the recipe and fingerprints of its data splits are recorded and compared (naming the
    first field that differs)."""
    from tinycim.fingerprint import check_same, data_fingerprint

    current = json.loads(json.dumps(dataclasses.asdict(recipe), default=str))
    current.pop("source", None)
    current["data"] = {split: data_fingerprint(ds) for split, ds in sorted(data.items())}
    path = steps_dir / "recipe.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        saved.setdefault("data", current["data"])  # written before runs recorded their data
        check_same(f"{steps_dir.parent} (a finished or started run)", saved, current)
    atomic_write_text(path, json.dumps(current, indent=1))


def _train_phase(
    name: str,
    phase: Phase,
    model_fn,
    hwa,
    recipe: Recipe,
    data: dict,
    out: Path,
    steps: _Steps,
    analog_cfg: tc.AnalogConfig,
    progress: bool,
    teacher=None,
    data_dir: str | None = None,
    tensorboard: bool = False,
):
    """Train one phase (or load it when done); returns the trained model: prepared for `analog_cfg`
    when `hwa` is given, else plain."""
    from tinycim.data import split_record
    from tinycim.train import load_run
    from tinycim.train.config import DEFAULT_FP_TRAIN, DEFAULT_HWA_TRAIN
    from tinycim.workflow import RunRecord, fp_augmentation, train_phase

    run_dir = out / name
    done = steps.root / f"train_{name}.json"
    if done.is_file() and (run_dir / "model.safetensors").is_file():
        steps.log(f"[resume] training {name}: done earlier")
        return load_run(run_dir)[0], json.loads(done.read_text())
    # the default recipe's policy of this phase (tinycim.train.config), with the recipe's own epochs and rate
    cfg = dataclasses.replace(
        DEFAULT_FP_TRAIN if hwa is None else DEFAULT_HWA_TRAIN,
        epochs=phase.epochs,
        lr=phase.lr,
        batch_size=phase.batch_size,
        seed=recipe.seed,
    )
    # how the data was split, so `tinycim drift` on this run measures the recipe's own held-out set
    record = RunRecord(
        recipe.model, recipe.model_kwargs, split_record(recipe.dataset, recipe.dataset_options, recipe.seed)
    )
    train_ds, augment = data["train"], None
    if phase.augment:  # the default recipe's FP augmentation of this dataset (tinycim.workflow)
        train_ds, augment, how = fp_augmentation(
            recipe.dataset, data_dir, recipe.seed, recipe.dataset_options, train_ds
        )
        steps.log(f"{name}: {how or 'no augmentation defined for ' + recipe.dataset}")
    t0 = time.perf_counter()
    prepared, result = train_phase(
        model_fn(),
        train_ds,
        data["val"],
        cfg,
        augment=augment,
        hwa=hwa,
        analog=analog_cfg,
        teacher=teacher,
        out_dir=run_dir,
        checkpoint_dir=run_dir / "train",
        resume=True,
        record=record,
        progress=progress,
        tensorboard=tensorboard,
    )
    last = result.history[-1] if result.history else {}
    summary = {
        "epochs": phase.epochs,
        "seconds": time.perf_counter() - t0 if result.history else 0.0,
        "val_accuracy": last.get("val_acc"),
        "on_cell_fraction": last.get("on_cell_fraction"),
    }
    steps.get(f"train_{name}", lambda: summary)
    return prepared, summary


def _curve(dr) -> list[dict]:
    return [
        {"time": format_duration(t), "seconds": t, "mean": m, "std": s, "instances": dr.instances}
        for t, m, s in zip(dr.times, dr.mean, dr.std)
    ]


def run_recipe(
    recipe: Recipe,
    data_dir: str | None,
    out_dir: str | Path,
    *,
    settings: str = "cpu",
    progress: bool = True,
    log: Callable[[str], None] = print,
    tensorboard: bool = False,
) -> Path:
    """Run every step of `recipe` into out_dir (resuming what is done); returns report.md's path.
    tensorboard: per-epoch scalars of each phase in OUT/<phase>/train/tb, and in OUT/tb the drift
    curves (accuracy vs seconds after programming) with the recipe's hardware as hparams."""

    from tinycim.io import output_lock

    out = Path(out_dir)
    with output_lock(out):  # a second writer into the same --out gets a one-line error
        return _run_recipe(
            recipe, data_dir, out, settings=settings, progress=progress, log=log, tensorboard=tensorboard
        )


def _run_recipe(
    recipe: Recipe,
    data_dir: str | None,
    out: Path,
    *,
    settings: str,
    progress: bool,
    log: Callable[[str], None],
    tensorboard: bool = False,
) -> Path:
    from tinycim.cost import estimate
    from tinycim.data import load
    from tinycim.models import count_macs, count_params
    from tinycim.train import evaluate, evaluate_drift, to_analog, to_digital

    stamp = provenance()  # the code as it is when this invocation starts (not after its training)
    steps = _Steps(out, log)
    data = {
        split: load(recipe.dataset, data_dir, split=name, seed=recipe.seed, **recipe.dataset_options)
        for split, name in recipe.splits.items()
    }
    _check_same_recipe(recipe, steps.root, data)
    input_shape = tuple(data["train"].input_shape)

    def model_fn():
        return _fresh(recipe, data)

    base = recipe_chip(recipe)
    fp_prepared, fp_summary = _train_phase(
        "fp",
        recipe.fp,
        model_fn,
        None,
        recipe,
        data,
        out,
        steps,
        base,
        progress,
        data_dir=data_dir,
        tensorboard=tensorboard,
    )
    fp_model = to_digital(fp_prepared).eval()
    fp_acc = steps.get("fp_accuracy", lambda: evaluate(fp_model, data["test"]))
    calib = data["train"].x[:CALIBRATION_SAMPLES]
    results: dict[str, Any] = {
        "recipe": recipe.name,
        "description": recipe.description,
        "settings": settings,
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "device": device_description(),
        "tinycim_version": tc.__version__,
        "torch_version": torch.__version__,
        "provenance": stamp,
        "model": {
            "name": recipe.model,
            "params": count_params(fp_model),
            "macs": count_macs(fp_model, input_shape),
            "input_shape": list(input_shape),
        },
        "dataset": {
            "name": recipe.dataset,
            "classes": list(data["train"].classes),
            "splits": {k: len(v) for k, v in data.items()},
        },
        "training": {"fp": fp_summary},
        "fp_accuracy": fp_acc,
        "analog_config": base.to_dict(),
    }
    drift_args: dict[str, Any] = {
        "times": list(recipe.times),
        "instances": recipe.instances,
        "seed": recipe.seed,
    }
    plain_cfg = dataclasses.replace(base, fold_bn=False)
    if recipe.hwa is not None and phase_configs(recipe.hwa, base)[1].mapping.weight_range == "column":
        # the plainly trained twin runs on the same per-column weight ranges, so the curves
        # differ only by training
        plain_cfg = dataclasses.replace(
            plain_cfg, mapping=dataclasses.replace(plain_cfg.mapping, weight_range="column")
        )
    drift: dict[str, list] = {}
    cost_model = None
    if recipe.hwa is not None:
        hwa, hwa_cfg = phase_configs(recipe.hwa, base)
        start = model_fn if recipe.hwa.init == "scratch" else (lambda: fp_model)
        hwa_prepared, hwa_summary = _train_phase(
            "hwa",
            recipe.hwa,
            start,
            hwa,
            recipe,
            data,
            out,
            steps,
            hwa_cfg,
            progress,
            teacher=fp_model,
            tensorboard=tensorboard,
        )
        results["training"]["hwa"] = hwa_summary
        results["hwa_config"] = hwa.to_dict()
        results["hwa_analog_config"] = hwa_cfg.to_dict()
        drift["hwa_gdc"] = steps.get(
            "drift_hwa_gdc",
            lambda: _curve(evaluate_drift(to_analog(hwa_prepared, hwa_cfg), data["test"], **drift_args)),
        )
        if base.gdc is not None:
            drift["hwa_no_gdc"] = steps.get(
                "drift_hwa_no_gdc",
                lambda: _curve(
                    evaluate_drift(
                        to_analog(hwa_prepared, dataclasses.replace(hwa_cfg, gdc=None)),
                        data["test"],
                        **drift_args,
                    )
                ),
            )
        if recipe.bits_sweep:
            results["bits"] = steps.get(
                "bits_sweep",
                lambda: [
                    dict(
                        bits=b,
                        **_curve(
                            evaluate_drift(
                                to_analog(hwa_prepared, _with_bits(hwa_cfg, b), calibrate_with=calib),
                                data["test"],
                                **{**drift_args, "times": [ONE_DAY_S]},
                            )
                        )[0],
                    )
                    for b in recipe.bits_sweep
                ],
            )
        cost_model = to_analog(hwa_prepared, hwa_cfg)
        if recipe.hwa_baseline is not None:
            from tinycim.pipeline.hamq import hamq_comparison

            results["hamq"] = hamq_comparison(
                recipe,
                hwa,
                hwa_cfg,
                hwa_prepared,
                fp_model,
                data,
                out,
                steps,
                drift_args,
                progress,
                estimate,
                input_shape,
            )
    drift["plain_gdc"] = steps.get(
        "drift_plain_gdc",
        lambda: _curve(
            evaluate_drift(
                to_analog(fp_prepared, plain_cfg, calibrate_with=calib), data["test"], **drift_args
            )
        ),
    )
    results["drift"] = drift
    if recipe.accelerator:
        accelerator = recipe.accelerator
        target = cost_model if cost_model is not None else fp_model
        inputs = data["test"].x[:COST_SAMPLES]
        reports = steps.get(
            "cost",
            lambda: [
                estimate(target, accelerator, input_shape=input_shape, act_bits=b, inputs=inputs).to_dict()
                for b in recipe.act_bits
            ],
        )
        results["cost"] = [
            {
                k: r[k]
                for k in (
                    "accelerator",
                    "act_bits",
                    "tops_per_watt",
                    "energy_per_inference_j",
                    "latency_s",
                    "area_mm2",
                    "utilization",
                )
            }
            for r in reports
        ]
        results["cost_layers"] = reports[0]["layers"]
    results["comparison"] = compare(recipe, results)
    if tensorboard:
        _log_tensorboard(out, results)
    return write_report(results, out)


def _log_tensorboard(out: Path, results: dict) -> None:
    """OUT/tb: every drift curve (accuracy vs seconds after programming, +-std over the chips) and
    the recipe's hardware as hparams, with each curve's accuracies as their metrics."""
    from tinycim.tblog import TensorBoardLogger

    with TensorBoardLogger(out / "tb") as tb:
        metrics: dict[str, float] = {"fp_accuracy": results["fp_accuracy"]}
        for name, curve in results["drift"].items():
            metrics.update(
                tb.drift(
                    [row["seconds"] for row in curve],
                    [row["mean"] for row in curve],
                    std=[row["std"] for row in curve],
                    tag=f"drift/{name}",
                )
            )
        tb.hparams({"recipe": results["recipe"], "analog": results["analog_config"]}, metrics)


def _fresh(recipe: Recipe, data: dict):
    """A newly initialized zoo model (zoo models use torch's default initializers: seeded here)."""
    from tinycim.models import create_model

    return create_model(
        recipe.model, num_classes=len(data["train"].classes), seed=recipe.seed, **recipe.model_kwargs
    )


def _with_bits(cfg: tc.AnalogConfig, bits: int) -> tc.AnalogConfig:
    return dataclasses.replace(
        cfg, dac=dataclasses.replace(cfg.dac, bits=bits), adc=dataclasses.replace(cfg.adc, bits=bits)
    )
