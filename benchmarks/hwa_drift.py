"""Hardware-aware training on real data: accuracy under PCM drift, unipolar devices, HamQ.

    python benchmarks/hwa_drift.py har  --data-dir /work/shared/data/uci_hapt_raw.tar.xz
    python benchmarks/hwa_drift.py kws  --data-dir /work/shared/data/speech_commands_v0.02_test
    python benchmarks/hwa_drift.py har-unipolar --data-dir ...
    python benchmarks/hwa_drift.py kws-hamq --data-dir ...

Each task trains an FP32 model (a run directory cached under --work), then the hardware-aware
variant from it, through the library workflow (`tinycim.workflow.train_phase`), and prints a table
stamped with the commit and threads; not a test (minutes on 2 cores). Settings are printed with the
results.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

import tinycim as tc
from tinycim.data import Dataset, load
from tinycim.evaluate.drift import ideal_config
from tinycim.models import create_model
from tinycim.pipeline.provenance import provenance
from tinycim.train import (
    HWAConfig,
    TrainConfig,
    evaluate,
    evaluate_drift,
    load_run,
    on_cell_fraction,
    to_analog,
    to_digital,
)
from tinycim.workflow import RunRecord, train_phase

TIMES = [("1s", 1.0), ("1h", 3600.0), ("1d", 86400.0), ("30d", 2.592e6), ("1y", 3.1536e7)]
TASKS = {  # dataset, model, loader options, FP lr
    "har": ("hapt", "har_cnn", {}, 2e-3),
    "kws": ("speech_commands", "analognet_kws", {"split_by": "speaker"}, 2e-3),
}
CALIBRATION = 512  # training samples that calibrate a plainly trained model's converter ranges


def data(task: str, data_dir: str, seed: int):
    name, _, opts, _ = TASKS[task]
    train, val, test = (load(name, data_dir, s, seed=seed, **opts) for s in ("train", "val", "test"))
    if task == "kws":  # 338 test clips only: score on the held-out speakers of val + test (704 clips)
        test = Dataset(
            torch.cat([val.x, test.x]),
            torch.cat([val.y, test.y]),
            classes=test.classes,
            name=test.name,
            split="val+test",
        )
    return train, val, test


def hardware(**sections: dict) -> tc.AnalogConfig:
    """The `pcm` preset with some fields of its sections changed, e.g. mapping={"weight_bits": 4}."""
    cfg = tc.AnalogConfig.preset("pcm")
    for name, fields in sections.items():
        cfg = dataclasses.replace(cfg, **{name: dataclasses.replace(getattr(cfg, name), **fields)})
    return cfg


def fp_model(task, train, val, args):
    """The plainly trained FP32 model of `task` (digital), trained once into a run directory."""
    run = Path(args.work) / (f"{task}-fp" if args.raw_input else f"{task}-fp-input-norm")
    if (run / "model.safetensors").is_file():
        return to_digital(load_run(run)[0])
    _, model_name, _, lr = TASKS[task]
    # input_norm: digital per-feature standardization before the first analog layer (False: raw input)
    kwargs = {"num_classes": len(train.classes), "input_norm": not args.raw_input}
    net = create_model(model_name, seed=args.seed, **kwargs)
    cfg = TrainConfig(epochs=args.fp_epochs, lr=lr, batch_size=args.batch_size, seed=args.seed)
    net, _ = train_phase(net, train, val, cfg, out_dir=run, record=RunRecord(model_name, kwargs))
    return to_digital(net)


def hwa_finetune(fp, hwa, train, val, args, lr=5e-4, analog="pcm"):
    """Hardware-aware fine-tuning of `fp` on `analog`, distilled from it; (model, FitResult, seconds)."""
    analog = tc.AnalogConfig.preset(analog) if isinstance(analog, str) else analog
    cfg = TrainConfig(epochs=args.hwa_epochs, lr=lr, batch_size=args.batch_size, seed=args.seed)
    t0 = time.perf_counter()
    prepared, res = train_phase(fp, train, val, cfg, hwa=hwa, analog=analog, teacher=fp)
    return prepared, res, time.perf_counter() - t0


def drift_row(label, amodel, test, args):
    dr = evaluate_drift(
        amodel,
        test,
        times=[t for _, t in TIMES],
        instances=args.instances,
        seed=args.seed,
        batch_size=args.eval_batch,
    )
    cells = " | ".join(f"{m:.2f} +- {s:.2f}" for m, s in zip(dr.mean, dr.std))
    one_day = [t for _, t in TIMES].index(86400.0)
    # the figure: 1-day loss against the same weights run digitally (target <= 0.5 pp)
    print(
        f"| {label} | {dr.fp_accuracy:.2f} | {cells} | {dr.fp_accuracy - dr.mean[one_day]:+.2f} pp |",
        flush=True,
    )
    return dr


def recipe(args) -> HWAConfig:
    """The `pcm` preset, optionally with another noise mode / level (see --noise, --eta)."""
    hwa = HWAConfig.preset(args.recipe)
    if args.noise is not None:
        hwa = dataclasses.replace(hwa, noise=args.noise)
    if args.eta is not None:
        hwa = dataclasses.replace(hwa, noise_eta=args.eta)
    if args.noise_per is not None:
        hwa = dataclasses.replace(hwa, noise_per=args.noise_per)
    if args.noise_scale is not None:
        hwa = dataclasses.replace(hwa, noise_scale=args.noise_scale)
    return hwa


def drift_task(task, args):
    train, val, test = data(task, args.data_dir, args.seed)
    fp = fp_model(task, train, val, args)
    print(
        f"{task}: train {len(train)}, val {len(val)}, test {len(test)}; FP32 test {evaluate(fp, test):.2f} %"
    )
    hwa = recipe(args)
    prepared, res, secs = hwa_finetune(fp, hwa, train, val, args)
    print(f"HWA recipe {hwa.to_json(None)}; {args.hwa_epochs} epochs in {secs:.0f} s")
    print("| model | FP32 | " + " | ".join(label for label, _ in TIMES) + " | 1d loss vs FP32 |")
    print("|---" * (len(TIMES) + 3) + "|")
    if not args.skip_plain:
        drift_row(
            "trained plainly (calibrated 8-bit DAC/ADC)",
            to_analog(fp, "pcm", calibrate_with=train.x[:CALIBRATION]),
            test,
            args,
        )
    pcm = tc.AnalogConfig.preset("pcm")
    ideal = evaluate(to_analog(prepared, ideal_config(pcm)), test)
    print(f"(hardware-aware model on ideal devices, the chip's {pcm.dac.bits}-bit DAC/ADC: {ideal:.2f} %)")
    drift_row(
        f"hardware-aware ({hwa.noise} noise x {hwa.noise_scale})", to_analog(prepared, "pcm"), test, args
    )


def unipolar_task(args):
    train, val, test = data("har", args.data_dir, args.seed)
    fp = fp_model("har", train, val, args)
    fp_acc = evaluate(fp, test)
    print(f"har: FP32 test {fp_acc:.2f} %")
    print("| weights | HWA model | analog, ideal device | analog, PCM 1 s | analog, PCM 1 d |")
    print("|---|---|---|---|---|")
    for bits in args.unipolar_bits:
        for sign in args.unipolar_signs:
            # BatchNorm stays digital after the unipolar layer (a per-column signed scale and
            # shift: seed B's digital periphery), clipping at 2 std spreads weights over the levels.
            analog = dataclasses.replace(
                hardware(mapping={"polarity": "unipolar", "unipolar_sign": sign, "weight_bits": bits}),
                fold_bn=False,
            )
            hwa = HWAConfig(clip="std", clip_value=2.0)
            prepared, _, _ = hwa_finetune(fp, hwa, train, val, args, lr=2e-3, analog=analog)
            ideal = evaluate(to_analog(prepared, ideal_config(analog)), test)
            pcm = evaluate_drift(
                to_analog(prepared, analog), test, times=[1.0, 86400.0], instances=args.instances
            )
            print(
                f"| {bits}-bit {sign} | {evaluate(prepared, test):.2f} | {ideal:.2f} ({ideal - fp_acc:+.2f} pp) "
                f"| {pcm.mean[0]:.2f} +- {pcm.std[0]:.2f} | {pcm.mean[1]:.2f} +- {pcm.std[1]:.2f} |",
                flush=True,
            )


def hamq_task(args):
    from tinycim.train import hamq

    if args.hamq_radius is not None:
        hamq.SURROGATE_RADIUS = args.hamq_radius
    hamq.RANGE_GRAD = not args.hamq_fixed_range
    train, val, test = data("kws", args.data_dir, args.seed)
    fp = fp_model("kws", train, val, args)
    print(
        f"kws: FP32 test {evaluate(fp, test):.2f} %; HamQ surrogate radius {hamq.SURROGATE_RADIUS}, "
        f"gradient through the weight range: {hamq.RANGE_GRAD}"
    )
    pcm = " | PCM 1 d |" if args.hamq_pcm else ""
    print(
        "| HamQ lambda | ON cells (% of bit-cells) | vs lambda 0 | accuracy, 6-bit ideal analog | vs lambda 0 |"
        + pcm
    )
    print("|---|---|---|---|---|" + ("---|" if pcm else ""))
    base = HWAConfig.preset(args.recipe)
    analog = hardware(dac={"bits": 6}, adc={"bits": 6}, mapping={"weight_bits": 6})
    if args.clip is not None:  # the clip pins the weight range, which caps what HamQ can reach
        base = dataclasses.replace(base, clip=args.clip)
    ref = tuple(args.hamq_reference) if args.hamq_reference else None  # (ON %, accuracy) of a lambda-0 run
    for lam in ([] if ref else [0.0]) + list(args.hamq_lambdas):
        prepared, _, _ = hwa_finetune(
            fp, dataclasses.replace(base, hamq_lambda=lam), train, val, args, analog=analog
        )
        on = on_cell_fraction(prepared) * 100
        acc = evaluate(to_analog(prepared, ideal_config(analog)), test)
        ref = ref or (on, acc)
        extra = ""
        if args.hamq_pcm:
            dr = evaluate_drift(
                to_analog(prepared, analog),
                test,
                times=[86400.0],
                instances=args.instances,
                seed=args.seed,
                batch_size=args.eval_batch,
            )
            extra = f" {dr.mean[0]:.2f} +- {dr.std[0]:.2f} |"
        print(
            f"| {lam} | {on:.1f} | {100 * (on / ref[0] - 1):+.1f} % | {acc:.2f} | {acc - ref[1]:+.2f} pp |{extra}",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("task", choices=["har", "kws", "har-unipolar", "kws-hamq"])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--work", default="/tmp/tinycim-hwa-bench")
    ap.add_argument("--fp-epochs", type=int, default=20)
    ap.add_argument("--hwa-epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--instances", type=int, default=10)
    ap.add_argument("--eval-batch", type=int, default=2560)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--recipe", default="pcm", help="HWA preset: pcm (device noise) or pcm-gaussian")
    ap.add_argument("--noise", choices=["gaussian", "device"], default=None)
    ap.add_argument("--eta", type=float, default=None)
    ap.add_argument("--noise-per", choices=["layer", "column"], default=None)
    ap.add_argument(
        "--noise-scale", type=float, default=None, help="multiply the training noise (HWAConfig.noise_scale)"
    )
    ap.add_argument("--skip-plain", action="store_true")
    ap.add_argument(
        "--raw-input",
        action="store_true",
        help="models without input_norm (the first analog layer sees raw features; earlier runs)",
    )
    ap.add_argument("--unipolar-bits", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--unipolar-signs", nargs="+", default=["positive", "auto"])
    ap.add_argument("--hamq-lambdas", type=float, nargs="+", default=[0.1, 1.0, 3.0])
    ap.add_argument(
        "--hamq-reference",
        type=float,
        nargs=2,
        default=None,
        metavar=("ON_PCT", "ACC"),
        help="skip the lambda = 0 run: its ON-cell %% and accuracy from an earlier identical run",
    )
    ap.add_argument(
        "--hamq-radius", type=int, default=None, help="HamQ surrogate reach in codes (default: hamq's)"
    )
    ap.add_argument(
        "--hamq-fixed-range",
        action="store_true",
        help="HamQ: no gradient through the weight range max|W| (the earlier behaviour)",
    )
    ap.add_argument(
        "--clip",
        choices=["none", "std", "fixed"],
        default=None,
        help="kws-hamq: override the recipe's weight clipping (for the lambda = 0 twin too)",
    )
    ap.add_argument("--hamq-pcm", action="store_true", help="kws-hamq: also PCM accuracy after 1 day")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(json.dumps(vars(args)))
    print(f"provenance: {json.dumps(provenance())}")
    if args.task in ("har", "kws"):
        drift_task(args.task, args)
    elif args.task == "har-unipolar":
        unipolar_task(args)
    else:
        hamq_task(args)


if __name__ == "__main__":
    main()
