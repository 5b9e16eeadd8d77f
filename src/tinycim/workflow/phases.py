"""The library workflow: a training phase, and the default recipe of two (FP, then hardware-aware).

    phase:   [prepare for (hwa, analog)] -> fit (resumable, settings checked) -> run directory
    default: FP phase -> to_digital -> hardware-aware phase distilled from the FP model

`tinycim train`, the recipe runner (`tinycim run`) and NAS candidates are all these calls; only how
they pick configs and data differs. Then `to_analog` + `evaluate_drift` (tinycim.evaluate) measure
the programmed chip.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from tinycim.config import AnalogConfig
from tinycim.evaluate.drift import evaluate
from tinycim.nn.convert import to_digital
from tinycim.nn.state import derive_seed
from tinycim.train.config import HWAConfig, TrainConfig
from tinycim.train.fit import FitResult, fit
from tinycim.train.prepare import prepare
from tinycim.workflow.runs import save_run

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]

# FP-phase augmentation by dataset (issue 15): Speech Commands trains on the reader's time shift +
# background-noise mixing (AUGMENT_MIX_FRACTION of the clips, one seeded draw) and SpecAugment-style
# masks per batch. The hardware-aware phase distills from the FP model on the clean clips.
# Raw inertial windows (HAR) train on `tinycim.data.har_augment.augment_windows` per batch: small
# rotation of the 3-axis groups, per-group gain, time shift and jitter (the FP model otherwise fits
# the training subjects, 98.6 % against 91-94 % on held-out ones; docs/results.md, issue 15).
AUGMENTED_DATASETS = ("speech_commands",)
AUGMENT_MIX_FRACTION = 0.5
HAR_WINDOW_DATASETS = ("hapt", "uci_har")


@dataclass(frozen=True)
class RunRecord:
    """What a run directory records besides weights and configs: the zoo name and options that
    rebuild the model (`create_model(model_name, **model_kwargs)`) and `extra` (data split, ...)."""

    model_name: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Trained:
    """The result of `train_default`: the FP model (digital), the hardware-aware model (prepared)
    and each phase's FitResult."""

    fp: nn.Module
    fp_result: FitResult
    model: nn.Module
    result: FitResult


def train_phase(
    model: nn.Module,
    train_ds: Any,
    val_ds: Any,
    config: TrainConfig,
    *,
    hwa: HWAConfig | None = None,
    analog: AnalogConfig | None = None,
    teacher: nn.Module | None = None,
    out_dir: str | Path | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    record: RunRecord | None = None,
    progress: bool = False,
    tensorboard: bool = False,
    augment: Augment | None = None,
) -> tuple[nn.Module, FitResult]:
    """Train one phase; returns (trained model, FitResult).

    hwa: hardware-aware training on ``analog`` (the model is `prepare`d, seeded from config.seed);
    None trains the model as it is (plain, or already prepared). out_dir with record: the run
    directory written at the end (`save_run`; ``analog`` is the hardware a plain run is meant for).
    checkpoint_dir: where `fit` checkpoints every epoch (default out_dir); resume continues from
    it, refused (naming the field) if it was written with other settings or data."""
    if hwa is not None:
        if analog is None:
            raise ValueError("train_phase: hwa needs the analog config it trains on")
        model = prepare(model, hwa, analog, seed=config.seed)
    result = fit(
        model,
        train_ds,
        val_ds,
        config,
        out_dir=checkpoint_dir if checkpoint_dir is not None else out_dir,
        resume=resume,
        teacher=teacher,
        progress=progress,
        tensorboard=tensorboard,
        augment=augment,
    )
    if out_dir is not None and record is not None:
        extra = dict(record.extra)
        if result.restored_epoch is not None:
            extra["restored_epoch"] = result.restored_epoch
        hardware = analog if analog is not None else AnalogConfig.preset("pcm")
        save_run(
            out_dir,
            record.model_name,
            model,
            hwa,
            hardware,
            config,
            result.history,
            record.model_kwargs,
            extra,
            calibration=train_ds.tensors[0],
        )
    return model, result


def train_default(
    model: nn.Module,
    train_ds: Any,
    val_ds: Any,
    pretrain: TrainConfig,
    finetune: TrainConfig,
    hwa: HWAConfig,
    analog: AnalogConfig,
    *,
    distill: bool = True,
    validate_fp: bool = True,
    fp_train: tuple[Any, Augment | None] | None = None,
    fp_hardware: AnalogConfig | None = None,
    out_dir: str | Path | None = None,
    resume: bool = False,
    record: RunRecord | None = None,
    progress: bool = False,
    tensorboard: bool = False,
    log: Callable[[str], None] = lambda message: None,
) -> Trained:
    """The default hardware-aware recipe: FP pre-training, then fine-tuning on ``analog`` with
    ``hwa`` (at the rate in ``finetune``), distilled from the FP model when ``distill``.

    validate_fp: score the FP phase on val_ds every epoch (False: only the fine-tuning is validated);
    fp_train: (training set, per-batch augment) of the FP phase (default: train_ds, none);
    fp_hardware: train the FP phase prepared on this config (ideal devices, e.g. to keep unipolar
    layers one-signed from the start) instead of plainly. out_dir: the run directory of the
    hardware-aware phase, the FP phase's in out_dir/pretrain."""
    out = Path(out_dir) if out_dir is not None else None
    fp_ds, augment = fp_train if fp_train is not None else (train_ds, None)
    log(f"FP pre-training: {pretrain.epochs} epochs at lr {pretrain.lr:g}")
    fp_hwa = None if fp_hardware is None else HWAConfig(unipolar_init="magnitude")
    fp_model, fp_result = train_phase(
        model,
        fp_ds,
        val_ds if validate_fp else None,
        pretrain,
        hwa=fp_hwa,
        analog=fp_hardware if fp_hardware is not None else analog,
        out_dir=None if out is None else out / "pretrain",
        resume=resume,
        record=record,
        progress=progress,
        tensorboard=tensorboard,
        augment=augment,
    )
    fp = to_digital(fp_model)
    record_hwa = record
    if val_ds is not None and record is not None:
        fp_val = evaluate(fp, val_ds)
        record_hwa = dataclasses.replace(record, extra={**record.extra, "fp_val_acc": fp_val})
        log(
            f"hardware-aware fine-tuning: {finetune.epochs} epochs at lr {finetune.lr:g} (FP val acc {fp_val:.2f} %)"
        )
    prepared, result = train_phase(
        fp,
        train_ds,
        val_ds,
        finetune,
        hwa=hwa,
        analog=analog,
        teacher=fp if distill else None,
        out_dir=out,
        resume=resume,
        record=record_hwa,
        progress=progress,
        tensorboard=tensorboard,
    )
    return Trained(fp=fp, fp_result=fp_result, model=prepared, result=result)


def fp_augmentation(
    dataset: str, data_dir: Any, seed: int, data_opts: dict[str, Any], train_ds: Any
) -> tuple[Any, Augment | None, str | None]:
    """(training set, per-batch augment or None, description or None) of a dataset's FP phase:
    Speech Commands mixes time-shifted, background-noised clips in and masks MFCC bands; HAR
    (raw windows, not the 561 features) augments each batch of windows."""
    if dataset in HAR_WINDOW_DATASETS and data_opts.get("features", "raw") == "raw":
        from tinycim.data import har_augment as ha

        how = (
            f"rotation up to {ha.MAX_ROTATION_DEG:g} deg, gain N(1, {ha.SCALE_STD:g}) per sensor, "
            f"time shift up to {ha.MAX_SHIFT} samples, jitter {ha.JITTER_STD:g} std, per batch"
        )
        return train_ds, ha.augment_windows, how
    if dataset not in AUGMENTED_DATASETS or data_opts.get("augment"):
        return train_ds, None, None
    from tinycim.data import Dataset, load
    from tinycim.data.speech_commands import mix_augmented, spec_augment

    clips = torch.Generator().manual_seed(derive_seed("augment-clips", seed))
    noisy = load(dataset, data_dir, "train", seed=seed, **{**data_opts, "augment": True, "generator": clips})
    mix = torch.Generator().manual_seed(derive_seed("augment-mix", seed))
    x = mix_augmented(train_ds.tensors[0], noisy.tensors[0], mix, AUGMENT_MIX_FRACTION)
    mixed = Dataset(x, train_ds.tensors[1], classes=train_ds.classes, name=train_ds.name, split="train")
    how = f"time shift + background noise on {AUGMENT_MIX_FRACTION:.0%} of the clips, SpecAugment masks per batch"
    return mixed, spec_augment, how
