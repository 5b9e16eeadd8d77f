"""Tune and check the default hardware-aware recipe (issue 15) on HAR, without the CLI.

    python benchmarks/defaults_har.py --data-dir /work/shared/data/uci_hapt_raw.tar.xz --split val \
        --noise-scales 1 2 3 --lr-fractions 0.25 --warmups 0 0.25

Tuning runs score on `--split val` (held-out *training* subjects); the test subjects are scored
once, by the CLI (`tinycim train ... --hwa` then `tinycim drift RUN --instances 10`). Each row:
an FP model trained with the default FP policy and the default FP window augmentation
(`tinycim.workflow.fp_augmentation`; `--augment none` or JSON `augment_windows` options to vary
it, `--hwa-augment` to fine-tune on it too) (cached per setting in --work), fine-tuned
hardware-aware with one variant of the `pcm` preset, programmed on `--instances` PCM chips.
Columns: the same weights run digitally (FP), on ideal devices with the chip's converters
(ideal), and on PCM at 1 day and 30 days (mean over chips), and the losses against FP.
`--fp-only` stops after the FP model's row. benchmarks/defaults_har_cv.py cross-validates over the
training subjects instead of the 3 validation subjects. Not a test: minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import json
import time
from pathlib import Path

import torch

from tinycim.data import load
from tinycim.data.har_augment import augment_windows
from tinycim.models import create_model
from tinycim.train import evaluate_drift, fit, load_run, prepare, save_run, to_analog, to_digital
from tinycim.train.config import DEFAULT_FP_TRAIN, DEFAULT_HWA_TRAIN, HWA_PRESETS
from tinycim.workflow import fp_augmentation

DAY_S, MONTH_S = 86400.0, 2.592e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--split", default="val", choices=("val", "test"))
    p.add_argument("--model", default="har_cnn")
    p.add_argument("--dataset", default="hapt")
    p.add_argument("--fp-epochs", type=int, default=DEFAULT_FP_TRAIN.epochs)
    p.add_argument("--hwa-epochs", type=int, default=DEFAULT_HWA_TRAIN.epochs)
    p.add_argument("--label-smoothing", type=float, default=DEFAULT_FP_TRAIN.label_smoothing)
    p.add_argument("--weight-decay", type=float, default=DEFAULT_FP_TRAIN.weight_decay)
    p.add_argument("--noise-scales", type=float, nargs="+", default=[HWA_PRESETS["pcm"].noise_scale])
    p.add_argument("--warmups", type=float, nargs="+", default=[HWA_PRESETS["pcm"].noise_warmup])
    p.add_argument(
        "--lr-fractions", type=float, nargs="+", default=[DEFAULT_HWA_TRAIN.lr / DEFAULT_FP_TRAIN.lr]
    )
    p.add_argument("--raw-input", action="store_true", help="input_norm=False (the raw sensor features)")
    p.add_argument(
        "--model-kwargs", default="{}", help="JSON create_model options, e.g. '{\"dropout\": 0.5}'"
    )
    p.add_argument(
        "--augment",
        default=None,
        help="FP-phase window augmentation: 'none', or JSON augment_windows options "
        "(tinycim.data.har_augment), e.g. '{\"max_rotation_deg\": 0}'; default: the default recipe's "
        "(tinycim.workflow.fp_augmentation)",
    )
    p.add_argument("--fp-only", action="store_true", help="score the FP model only (no fine-tuning)")
    p.add_argument("--hwa-augment", action="store_true", help="fine-tune on the FP phase's augmentation too")
    p.add_argument("--no-distill", action="store_true")
    p.add_argument("--instances", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--work", default="runs/defaults_har")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    train, val = (load(args.dataset, args.data_dir, s, seed=args.seed) for s in ("train", "val"))
    scored = val if args.split == "val" else load(args.dataset, args.data_dir, "test", seed=args.seed)
    fp_cfg = dataclasses.replace(
        DEFAULT_FP_TRAIN,
        epochs=args.fp_epochs,
        seed=args.seed,
        label_smoothing=args.label_smoothing,
        weight_decay=args.weight_decay,
    )
    extra = json.loads(args.model_kwargs)
    kwargs = {"num_classes": len(train.classes), "input_norm": not args.raw_input, **extra}
    tag = f"{args.model}-fp{args.fp_epochs}-ls{args.label_smoothing:g}-{'raw' if args.raw_input else 'norm'}"
    if args.weight_decay != DEFAULT_FP_TRAIN.weight_decay:
        tag += f"-wd{args.weight_decay:g}"
    tag += "".join(f"-{k}{v}" for k, v in sorted(extra.items()))
    fp_train, augment, how = fp_augmentation(args.dataset, args.data_dir, args.seed, {}, train)
    if args.augment == "none":
        augment, how = None, None
    elif args.augment is not None:
        options = json.loads(args.augment)
        augment = functools.partial(augment_windows, **options)
        how = f"augment_windows({options})"
        tag += "-aug" + "".join(f"-{k}{v}" for k, v in sorted(options.items()))
    if how is not None and args.augment is None:
        tag += "-augdefault"
    run = Path(args.work) / tag
    if (run / "model.safetensors").is_file():
        fp = load_run(run)[0]
    else:
        torch.manual_seed(args.seed)
        fp = create_model(args.model, **kwargs)
        res = fit(fp, fp_train, val, fp_cfg, progress=False, augment=augment)
        save_run(run, args.model, fp, None, _pcm(), fp_cfg, res.history, kwargs)
    fp = to_digital(fp)
    print(f"{args.model} on {args.dataset}/{args.split} ({len(scored)} samples), FP: {fp_cfg}", flush=True)
    print(f"FP augmentation: {how}; run {run}", flush=True)
    print("| variant | FP | ideal | 1 d | 30 d | 1-d loss | 30-d loss | minutes |")
    print("|---|---|---|---|---|---|---|---|")
    plain = to_analog(fp, "pcm", calibrate_with=train.tensors[0][:512])
    _row("trained plainly", plain, scored, args, 0.0)
    if args.fp_only:
        return
    for scale, warmup, frac in itertools.product(args.noise_scales, args.warmups, args.lr_fractions):
        hwa = dataclasses.replace(HWA_PRESETS["pcm"], noise_scale=scale, noise_warmup=warmup)
        cfg = dataclasses.replace(
            DEFAULT_HWA_TRAIN, epochs=args.hwa_epochs, seed=args.seed, lr=fp_cfg.lr * frac
        )
        t0 = time.perf_counter()
        prepared = prepare(fp, hwa, "pcm", seed=args.seed)
        fit(
            prepared,
            train,
            val,
            cfg,
            teacher=None if args.no_distill else fp,
            progress=False,
            augment=augment if args.hwa_augment else None,
        )
        _row(
            f"noise_scale {scale:g}, warmup {warmup:g}, lr x{frac:g}{', augmented' if args.hwa_augment else ''}",
            to_analog(prepared),
            scored,
            args,
            (time.perf_counter() - t0) / 60,
        )


def _pcm():
    from tinycim.config import AnalogConfig

    return AnalogConfig.preset("pcm")


def _row(label, amodel, ds, args, minutes) -> None:
    dr = evaluate_drift(amodel, ds, times=[DAY_S, MONTH_S], instances=args.instances, seed=args.seed)
    ideal = dr.ideal_accuracy if dr.ideal_accuracy is not None else float("nan")
    print(
        f"| {label} | {dr.fp_accuracy:.2f} | {ideal:.2f} | {dr.mean[0]:.2f} +- {dr.std[0]:.2f} | "
        f"{dr.mean[1]:.2f} +- {dr.std[1]:.2f} | {dr.fp_accuracy - dr.mean[0]:+.2f} | "
        f"{dr.fp_accuracy - dr.mean[1]:+.2f} | {minutes:.1f} |",
        flush=True,
    )


if __name__ == "__main__":
    main()
