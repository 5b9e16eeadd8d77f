"""`fit`: train any model (plain or prepared) with any torch optimizer, resumably.

Per epoch: a seeded shuffle, mini-batch steps (task loss, optional distillation and HamQ terms),
the weight constraints after every optimizer step, validation accuracy, and, with an out_dir,
an atomic checkpoint plus `metrics.json`. Resuming restores model, optimizer, scheduler and every
RNG state, so a killed run ends exactly where an uninterrupted one does.

A hardware-aware model ends on its best epoch by validation accuracy (`keep_best`; the prepared
model validates on its own converters, without training noise), and `fit` warns when that best
falls more than HWA_COLLAPSE_WARN_PP below the FP teacher's: the fine-tuning collapsed.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from tinycim.errors import ConfigError, TinyCimError
from tinycim.fingerprint import data_fingerprint
from tinycim.io import atomic_write_text, load_state, read_tensors, save_tensors, state_dict_tensors
from tinycim.nn.convert import model_info_or_none
from tinycim.nn.state import derive_seed
from tinycim.train.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from tinycim.train.config import TrainConfig
from tinycim.evaluate.drift import evaluate
from tinycim.train.hamq import hamq_penalty, on_cell_fraction
from tinycim.train.prepare import constrain_, hwa_config, init_ranges, seed_noise, set_noise_factor

METRICS_NAME = "metrics.json"
BEST_NAME = "best.safetensors"  # the best epoch's weights (keep_best), for resuming
BEST_FORMAT = "tinycim-train-best-v1"
TENSORBOARD_DIR = "tb"
# A hardware-aware model whose best validation accuracy is this many percentage points below its FP
# teacher's has collapsed (learning rate, noise level): `fit` warns. ASSUMED (well above the
# 0.5-2 pp a working recipe loses on HAR and KWS, docs/results.md).
HWA_COLLAPSE_WARN_PP = 5.0
# Samples of the training set used to calibrate the initial converter ranges.
CALIBRATION_SAMPLES = 512
_LR_PARAM_KEYWORD = "log_"  # learned converter ranges (log_input_range / log_output_range)


class TrainingDivergedError(TinyCimError, RuntimeError):
    """The loss became NaN or infinite; training stopped."""


@dataclass
class FitResult:
    """history: one dict per epoch (epoch, loss, train_acc, val_acc, lr, noise_factor, seconds,
    on_cell_fraction). restored_epoch: the epoch whose weights the model ends with when keep_best
    chose an earlier one than the last (else None). teacher_val_acc: the teacher's validation
    accuracy in % (the reference of the collapse warning), when a teacher and val_ds were given."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best_val_acc: float | None = None
    best_epoch: int | None = None
    final_val_acc: float | None = None
    restored_epoch: int | None = None
    teacher_val_acc: float | None = None


@dataclass
class _Loop:
    """What a training run carries from step to step, and into its checkpoint."""

    model: nn.Module
    cfg: TrainConfig
    optimizer: torch.optim.Optimizer
    scheduler: Any
    generators: dict[str, torch.Generator]
    teacher: nn.Module | None = None
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer, with no weight decay on biases, 1-D tensors and learned ranges (decaying
    a range would shrink it for no reason)."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.dim() <= 1 or _LR_PARAM_KEYWORD in name.rsplit(".", 1)[-1] else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)
    kind = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return kind(groups, lr=cfg.lr)


def _scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int):
    if cfg.scheduler == "constant":
        return None
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, cfg.epochs * steps_per_epoch))


def _loss(
    logits: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, teacher_logits: torch.Tensor | None
) -> torch.Tensor:
    loss = F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
    if teacher_logits is None:
        return loss
    t = cfg.distill_temperature
    kl = F.kl_div(
        F.log_softmax(logits / t, dim=1),
        F.log_softmax(teacher_logits / t, dim=1),
        reduction="batchmean",
        log_target=True,
    ) * (t * t)  # t^2 keeps gradient scale (Hinton 2015)
    return (1 - cfg.distill_alpha) * loss + cfg.distill_alpha * kl


def _noise_factor(model: nn.Module, epoch: int, epochs: int) -> float:
    hwa = hwa_config(model)
    warmup = 0.0 if hwa is None else hwa.noise_warmup * epochs
    return 1.0 if warmup <= 0 else min(1.0, (epoch + 1) / warmup)


def fit(
    model: nn.Module,
    train_ds,
    val_ds=None,
    config: TrainConfig | None = None,
    out_dir: str | Path | None = None,
    resume: bool = False,
    teacher: nn.Module | None = None,
    progress: bool = True,
    keep_best: bool | None = None,
    tensorboard: bool = False,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
) -> FitResult:
    """Train `model` in place on `train_ds` (a TensorDataset with .x [N, ...] and .y [N]).

    out_dir: checkpoint + metrics.json each epoch (atomic). resume: continue from out_dir's
    checkpoint (at most the epoch that was running is lost); refused, naming the field, when the
    checkpoint was written with other settings (`fit_settings`: configs, model, data). teacher: distill from it (and warn
    if the best validation accuracy ends HWA_COLLAPSE_WARN_PP below the teacher's).
    keep_best: end on the weights of the epoch with the best validation accuracy among those
        trained at full noise (after the hwa.noise_warmup epochs; the earliest on ties; kept in
        memory and, with out_dir, in out_dir/best.safetensors for resuming).
        None (default): on for a model `prepare` made, when val_ds is given.
    tensorboard: also write per-epoch scalars (train/loss, train/accuracy, val/accuracy, lr,
        noise_factor, on_cell_fraction) to out_dir/tb (needs out_dir and the tensorboard package).
    augment: applied to every training batch, augment(x [B, ...], generator) -> [B, ...] (e.g.
        `tinycim.data.speech_augment.spec_augment`), drawing from a generator seeded from
        config.seed and checkpointed with the others.
    Raises TrainingDivergedError on a NaN/inf loss.
    """
    cfg = config or TrainConfig()
    if tensorboard and out_dir is None:
        raise ConfigError("fit(tensorboard=True) needs out_dir: the event files go to out_dir/tb")
    if keep_best is None:
        keep_best = hwa_config(model) is not None
    keep_best = keep_best and val_ds is not None
    x_all, y_all = train_ds.tensors[0], train_ds.tensors[1]
    optimizer = build_optimizer(model, cfg)
    generators = {"shuffle": torch.Generator().manual_seed(derive_seed("shuffle", cfg.seed))}
    if augment is not None:
        generators["augment"] = torch.Generator(device=x_all.device).manual_seed(
            derive_seed("augment", cfg.seed)
        )
    generators.update(seed_noise(model, derive_seed("noise", cfg.seed)))
    steps_per_epoch = math.ceil(x_all.shape[0] / cfg.batch_size)
    loop = _Loop(
        model, cfg, optimizer, _scheduler(optimizer, cfg, steps_per_epoch), generators, teacher, augment
    )
    out = Path(out_dir) if out_dir is not None else None
    ckpt = out / CHECKPOINT_NAME if out is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    result, start = FitResult(), 0
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None  # (val_acc, epoch, weights)
    # what a checkpoint records and a resume compares (hashes the data: only when checkpointing)
    settings = fit_settings(model, cfg, train_ds, val_ds) if ckpt is not None else {}
    if resume and ckpt is not None and ckpt.is_file():
        meta = load_checkpoint(ckpt, loop, settings=settings)
        start, result.history = meta["epoch"], meta["history"]
        best = _load_best(out, keep_best)
    else:
        init_ranges(model, _to_model(model, x_all[:CALIBRATION_SAMPLES]))
    if teacher is not None:
        teacher.eval()
        if val_ds is not None:
            result.teacher_val_acc = evaluate(teacher, val_ds, batch_size=cfg.eval_batch_size)
    tb = _tensorboard(out, tensorboard)
    try:
        for epoch in range(start, cfg.epochs):
            factor = _noise_factor(model, epoch, cfg.epochs)
            set_noise_factor(model, factor)
            row = _run_epoch(loop, x_all, y_all, epoch, progress)
            if hwa_config(model) is not None:
                row["noise_factor"] = factor
            if val_ds is not None:
                row["val_acc"] = evaluate(model, val_ds, batch_size=cfg.eval_batch_size)
            on = on_cell_fraction(model)
            if on is not None:
                row["on_cell_fraction"] = on
            result.history.append(row)
            # best among the epochs at full training noise: one inside the warm-up has not yet met the
            # noise it must be robust to (the ideal-chip validation cannot tell)
            full_noise = row.get("noise_factor", 1.0) >= 1.0
            if keep_best and full_noise and (best is None or row["val_acc"] > best[0]):
                best = (row["val_acc"], epoch + 1, state_dict_tensors(model))
                if out is not None:
                    meta_best = {"format": BEST_FORMAT, "epoch": best[1], "val_acc": best[0]}
                    save_tensors(out / BEST_NAME, best[2], meta_best)
            if out is not None and ckpt is not None:
                save_checkpoint(
                    ckpt, loop, {"epoch": epoch + 1, "history": result.history, "settings": settings}
                )
                atomic_write_text(out / METRICS_NAME, json.dumps(result.history, indent=2))
            if tb is not None:
                tb.scalars(epoch + 1, _tb_values(row))
    finally:
        if tb is not None:
            tb.close()
    set_noise_factor(model, 1.0)
    _summarize(result)
    if best is not None and best[1] != len(result.history):
        load_state(model, best[2], out / BEST_NAME if out is not None else "best epoch")
        result.restored_epoch = best[1]
    _warn_collapse(result)
    return result


def fit_settings(model: nn.Module, cfg: TrainConfig, train_ds, val_ds=None) -> dict[str, Any]:
    """What a training run depends on (recorded in its checkpoint, compared on resume): the
    training config, the model's class and parameter shapes, the hardware-aware and hardware
    configs of a prepared model, and fingerprints of the training and validation data."""
    info, hwa = model_info_or_none(model), hwa_config(model)
    return {
        "train": cfg.to_dict(),
        "model": {
            "class": type(model).__name__,
            "parameters": {k: list(p.shape) for k, p in model.named_parameters()},
        },
        "hwa": hwa.to_dict() if hwa is not None else None,
        "analog": info.config.to_dict() if info is not None else None,
        "data": {
            "train": data_fingerprint(train_ds),
            "val": None if val_ds is None else data_fingerprint(val_ds),
        },
    }


def _load_best(out: Path | None, keep_best: bool) -> tuple[float, int, dict[str, torch.Tensor]] | None:
    if not keep_best or out is None or not (out / BEST_NAME).is_file():
        return None
    tensors, meta = read_tensors(
        out / BEST_NAME,
        expected_format=BEST_FORMAT,
        readable_as="best-epoch weights",
        kind="best-epoch weights",
    )
    return float(meta["val_acc"]), int(meta["epoch"]), tensors


def _tensorboard(out: Path | None, enabled: bool):
    if not enabled or out is None:
        return None
    from tinycim.tblog import TensorBoardLogger

    return TensorBoardLogger(out / TENSORBOARD_DIR)


_TB_TAGS = {
    "loss": "train/loss",
    "train_acc": "train/accuracy",
    "val_acc": "val/accuracy",
    "lr": "train/lr",
    "noise_factor": "train/noise_factor",
    "on_cell_fraction": "train/on_cell_fraction",
}


def _tb_values(row: dict[str, Any]) -> dict[str, float]:
    """One history row as TensorBoard tags (accuracies in %, as in metrics.json)."""
    return {tag: row[key] for key, tag in _TB_TAGS.items() if key in row}


def _warn_collapse(result: FitResult) -> None:
    ref, best = result.teacher_val_acc, result.best_val_acc
    if ref is not None and best is not None and best < ref - HWA_COLLAPSE_WARN_PP:
        warnings.warn(
            f"the trained model's best validation accuracy {best:.2f} % (epoch {result.best_epoch}) is "
            f"{ref - best:.2f} pp below its FP teacher's {ref:.2f} %: the fine-tuning collapsed (lower "
            f"train.lr or hwa.noise_scale, or raise hwa.noise_warmup)",
            stacklevel=2,
        )


def _to_model(model: nn.Module, t: torch.Tensor) -> torch.Tensor:
    """A batch on the model's device (data stays where the reader put it; batches move)."""
    param = next(model.parameters(), None)
    return t if param is None or t.device == param.device else t.to(param.device, non_blocking=True)


def _run_epoch(
    loop: _Loop, x_all: torch.Tensor, y_all: torch.Tensor, epoch: int, progress: bool
) -> dict[str, Any]:
    """One epoch of mini-batch steps in a seeded order; returns its history row."""
    model, cfg, optimizer = loop.model, loop.cfg, loop.optimizer
    model.train()
    n = x_all.shape[0]
    order = torch.randperm(n, generator=loop.generators["shuffle"])
    total_loss, correct, seen, t0 = 0.0, 0, 0, time.perf_counter()
    steps = math.ceil(n / cfg.batch_size)
    bar = _progress_bar(progress, f"epoch {epoch + 1}/{cfg.epochs}", steps)
    for step in range(steps):
        idx = order[step * cfg.batch_size : (step + 1) * cfg.batch_size]
        xb, yb = _to_model(model, x_all[idx]), _to_model(model, y_all[idx])
        if loop.augment is not None:
            xb = loop.augment(xb, loop.generators["augment"])
        logits = model(xb)
        teacher_logits = None
        if loop.teacher is not None:
            with torch.no_grad():
                teacher_logits = loop.teacher(xb)
        loss = _loss(logits, yb, cfg, teacher_logits)
        penalty = hamq_penalty(model)
        if penalty is not None:
            loss = loss + penalty
        value = float(loss.detach())
        if not math.isfinite(value):
            if bar is not None:
                bar.stop()
            raise TrainingDivergedError(
                f"loss is {value} at epoch {epoch + 1}, step {step + 1}: training stopped "
                f"(lower train.lr = {cfg.lr}, set train.grad_clip, or check the data for NaN/inf)"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        if loop.scheduler is not None:
            loop.scheduler.step()
        constrain_(model)
        total_loss += value * len(idx)
        correct += int((logits.detach().argmax(dim=1) == yb).sum())
        seen += len(idx)
        if bar is not None:
            bar.update(
                bar.task_ids[0], advance=1, description=f"epoch {epoch + 1}/{cfg.epochs} loss {value:.4f}"
            )
    if bar is not None:
        bar.stop()
    return {
        "epoch": epoch + 1,
        "loss": total_loss / max(1, seen),
        "train_acc": 100.0 * correct / max(1, seen),
        "lr": optimizer.param_groups[0]["lr"],
        "seconds": time.perf_counter() - t0,
    }


def _progress_bar(enabled: bool, description: str, total: int):
    import sys

    if not enabled or not sys.stdout.isatty():  # no bar (and no blank lines) without a terminal
        return None
    from rich.progress import Progress

    bar = Progress(*Progress.get_default_columns(), transient=True)
    bar.add_task(description, total=total)
    bar.start()
    return bar


def _summarize(result: FitResult) -> None:
    vals = [(row["val_acc"], row["epoch"]) for row in result.history if "val_acc" in row]
    if vals:
        result.best_val_acc, result.best_epoch = max(vals, key=lambda v: (v[0], -v[1]))
        result.final_val_acc = vals[-1][0]
