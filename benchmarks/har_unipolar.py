"""HAR with 2-bit positive-only (unipolar) devices (seed B, Garcia-Redondo et al. 2020) vs FP32.

    python benchmarks/har_unipolar.py --data-dir /work/shared/data/uci_hapt_raw.tar.xz

Trains the FP32 `har_cnn` (cached under --work), then each unipolar variant (by default the
recipe of recipes/har_unipolar.yaml: from scratch, |kaiming| init, BN digital with every other
channel's scale negated (digital column signs), per-layer positive,
2-bit device levels, device-model noise, 8-bit DAC/ADC, distilled from the FP32 model), and prints
the accuracy on PCM (GDC on, `instances` chips) 1 s and 1 day after programming. Not a test
(minutes on 2 cores); settings are printed with the results.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import time
from pathlib import Path

import torch

import tinycim as tc
from tinycim.data import load
from tinycim.models import create_model
from tinycim.pipeline.provenance import provenance
from tinycim.train import HWAConfig, TrainConfig, evaluate, evaluate_drift, load_run, to_analog, to_digital
from tinycim.workflow import RunRecord, train_phase

# The recipe's HWA phase (recipes/har_unipolar.yaml): how to train (HWAConfig `pcm` preset + TRAIN)
# and the chip (AnalogConfig `pcm` preset + MAPPING, BatchNorm kept digital).
TRAIN = {"unipolar_init": "magnitude"}
MAPPING = {"polarity": "unipolar", "unipolar_sign": "positive", "weight_bits": 2, "device_bits": 2}
VARIANTS = {  # name: (HWAConfig changes, mapping changes, start from "scratch" or the FP32 model "fp")
    "recipe": ({}, {}, "scratch"),
    "uniform": ({}, {"weight_range": "uniform"}, "scratch"),
    "tile-auto": ({}, {"unipolar_sign": "auto"}, "scratch"),
    "no-noise": ({"noise": "none"}, {}, "scratch"),
    "finetune-fp": ({"unipolar_init": "project"}, {}, "fp"),
}
DAY_S = 86400.0


def fresh(classes: int, seed: int) -> torch.nn.Module:
    """A freshly initialized `har_cnn` (weights drawn from `seed`)."""
    return create_model("har_cnn", num_classes=classes, seed=seed)


def fp_model(train, val, args) -> torch.nn.Module:
    """The FP32 teacher, trained once into a run directory under --work."""
    run = Path(args.work) / f"har-fp{args.fp_epochs}-s{args.seed}"
    if (run / "model.safetensors").is_file():
        return to_digital(load_run(run)[0]).eval()
    cfg = TrainConfig(epochs=args.fp_epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed)
    record = RunRecord("har_cnn", {"num_classes": len(train.classes)})
    net, _ = train_phase(fresh(len(train.classes), args.seed), train, val, cfg, out_dir=run, record=record)
    return to_digital(net).eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--work", default="/tmp/tinycim-har-unipolar")
    ap.add_argument("--variants", nargs="+", default=["recipe"], choices=sorted(VARIANTS))
    ap.add_argument("--fp-epochs", type=int, default=30)
    ap.add_argument("--hwa-epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--instances", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--no-distill", action="store_true", help="train the unipolar model without the FP32 teacher"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(json.dumps(vars(args)))
    print(f"provenance: {json.dumps(provenance())}")
    train, val, test = (load("hapt", args.data_dir, s, seed=args.seed) for s in ("train", "val", "test"))
    fp = fp_model(train, val, args)
    fp_acc = evaluate(fp, test)
    print(
        f"har_cnn: train {len(train)}, val {len(val)}, test {len(test)}; FP32 ({args.fp_epochs} epochs) "
        f"test {fp_acc:.2f} %"
    )
    print("| model | init | HWA epochs | HWA model (digital) | PCM 1 s | PCM 1 day | 1 day vs FP32 |")
    print("|---|---|---|---|---|---|---|")
    print(f"| FP32 | | | {fp_acc:.2f} | | | |")
    for name in args.variants:
        train_changes, mapping_changes, init = VARIANTS[name]
        hwa = dataclasses.replace(HWAConfig.preset("pcm"), **{**TRAIN, **train_changes})
        pcm = tc.AnalogConfig.preset("pcm")
        mapping = dataclasses.replace(pcm.mapping, **{**MAPPING, **mapping_changes})
        analog = dataclasses.replace(pcm, mapping=mapping, fold_bn=False)
        start = fresh(len(train.classes), args.seed) if init == "scratch" else copy.deepcopy(fp)
        cfg = TrainConfig(epochs=args.hwa_epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed)
        t0 = time.perf_counter()
        teacher = None if args.no_distill else fp
        prepared, _ = train_phase(start, train, val, cfg, hwa=hwa, analog=analog, teacher=teacher)
        secs = time.perf_counter() - t0
        prepared.eval()
        dr = evaluate_drift(
            to_analog(prepared, analog), test, times=[1.0, DAY_S], instances=args.instances, seed=args.seed
        )
        print(
            f"| unipolar 2-bit, {name} | {init} | {args.hwa_epochs} ({secs:.0f} s) | {evaluate(prepared, test):.2f} "
            f"| {dr.mean[0]:.2f} +- {dr.std[0]:.2f} | {dr.mean[1]:.2f} +- {dr.std[1]:.2f} "
            f"| {dr.mean[1] - fp_acc:+.2f} pp |",
            flush=True,
        )
        print(f"  hwa = {hwa.to_json(None)}", flush=True)


if __name__ == "__main__":
    main()
