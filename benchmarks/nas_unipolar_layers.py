"""Per-layer polarity on real HAR: what the `tinyml-unipolar` NAS space trades, measured.

    python benchmarks/nas_unipolar_layers.py --data-dir /work/shared/data/uci_hapt_raw.tar.xz

The `har_cnn` architecture (40-64-64-128 channels) with each conv layer differential (a device pair
per weight) or positive-only (one device), trained and measured exactly as a NAS candidate of the
`tinyml-unipolar` space (TrainEvaluator: FP pre-training, HWA fine-tuning, PCM drift over K chips on
the validation subjects), with several training seeds. Prints the 1-day accuracy, the devices and
the energy per inference (aon-cim) of each pattern. Not a test: minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from tinycim.data import load
from tinycim.nas import EvalSettings, TrainEvaluator, UnipolarSpace, make_executor

LAYERS = [(40, 5, 1), (64, 5, 2), (64, 5, 1), (128, 3, 2)]  # = tinycim.models.HARCNN
PATTERNS = {  # one letter per conv layer: d = differential, p = positive-only
    "dddd": "all differential",
    "pddd": "first layer positive",
    "dppp": "all but the first positive",
    "pppp": "every conv positive",
}


def arch(pattern: str) -> dict:
    polarity = {"d": "differential", "p": "positive"}
    return {
        "layers": [
            {"channels": c, "kernel": k, "stride": s, "polarity": polarity[p]}
            for (c, k, s), p in zip(LAYERS, pattern)
        ]
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--patterns", nargs="+", default=list(PATTERNS))
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--fp-epochs", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--instances", type=int, default=8)
    ap.add_argument("--executor", default="ray", choices=["ray", "local"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.monotonic()
    train, val = (load("hapt", args.data_dir, s, seed=0) for s in ("train", "val"))
    space = UnipolarSpace(
        train.input_shape, len(train.classes), widths=(40, 64, 128), kernels=(3, 5), input_norm=True
    )
    ev = TrainEvaluator(
        space,
        train,
        val,
        EvalSettings(fp_epochs=args.fp_epochs, epochs=args.epochs, instances=args.instances),
    )
    tasks = [{"arch": arch(p), "seed": seed} for p in args.patterns for seed in range(args.seeds)]
    executor = make_executor(args.executor, num_cpus=2)
    try:
        results = dict(executor.map(ev, tasks))
    finally:
        executor.close()
    print(
        f"HAR val subjects, har_cnn layers, {args.fp_epochs} FP + {args.epochs} HWA epochs, K={args.instances}, "
        f"{args.seeds} seeds ({(time.monotonic() - t0) / 60:.1f} min)"
    )
    print("| layers (conv 1-4) | devices | energy (nJ) | acc FP | acc 1 s | acc 1 day | acc 30 days |")
    print("|---|---|---|---|---|---|---|")
    for p in args.patterns:
        runs = [results[i] for i, t in enumerate(tasks) if t["arch"] == arch(p)]
        static = ev.static(arch(p))

        def stat(key: str) -> str:
            v = np.array([r[key] for r in runs], dtype=float)
            return f"{v.mean():.2f} +- {v.std(ddof=1):.2f}" if len(v) > 1 else f"{v[0]:.2f}"

        print(
            f"| {p} ({PATTERNS.get(p, '')}) | {static['devices']:,} | {static['energy_j'] * 1e9:.0f} | "
            f"{stat('acc_fp')} | {stat('acc_1s')} | {stat('acc_1d')} | {stat('acc_30d')} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
