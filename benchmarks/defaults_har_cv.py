"""Subject-wise cross-validation of the HAR defaults (issue 15) inside the training subjects.

    python benchmarks/defaults_har_cv.py --data-dir /work/shared/data/uci_hapt_raw.tar.xz --fold 0

The 3 validation subjects of the standard split are a noisy guide (one model's validation accuracy
swings 91-94.6 % between epochs). Here the subjects that are not test subjects (seed 0: the same
test subjects as `tinycim train`) are cut into `--folds` groups; fold k validates on group k and
trains on the others. The test subjects are never read. Per fold and variant: the FP model with and
without the FP window augmentation (`tinycim.data.har_augment`), then the default hardware-aware
phase on the augmented FP model, on clean windows (the default) or augmented ones; scored on the
fold's subjects digitally (FP) and on `--instances` PCM chips at 1 day and 30 days.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
import torch

from tinycim.data import Dataset, load
from tinycim.data.har import hapt_subject_split, hapt_subjects
from tinycim.data.har_augment import augment_windows
from tinycim.evaluate.drift import evaluate
from tinycim.models import create_model
from tinycim.train import evaluate_drift, fit, prepare, to_analog, to_digital
from tinycim.train.config import DEFAULT_FP_TRAIN, DEFAULT_HWA_TRAIN, HWA_PRESETS

DAY_S, MONTH_S = 86400.0, 2.592e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--fold", type=int, required=True)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--instances", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--variants", nargs="+", default=["plain", "aug", "aug+hwa", "aug+hwa-aug"])
    p.add_argument("--json-out", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    full = load("hapt", args.data_dir, "all")
    subjects = hapt_subjects(args.data_dir)
    test, _ = hapt_subject_split(list(subjects), args.seed)
    rest = sorted(set(int(s) for s in subjects) - set(test))
    order = np.random.default_rng([args.seed, 7]).permutation(rest)
    fold = sorted(int(s) for s in np.array_split(order, args.folds)[args.fold])
    keep_val, keep_train = np.isin(subjects, fold), ~np.isin(subjects, fold + list(test))
    x, y = full.tensors
    part = {
        name: Dataset(x[k], y[k], classes=full.classes, name="hapt", split=name)
        for name, k in (("train", torch.from_numpy(keep_train)), ("val", torch.from_numpy(keep_val)))
    }
    train, val = part["train"], part["val"]
    print(
        f"fold {args.fold}: validation subjects {fold} ({len(val)} windows), train {len(train)}", flush=True
    )
    fp_cfg = dataclasses.replace(DEFAULT_FP_TRAIN, seed=args.seed)
    tune_cfg = dataclasses.replace(DEFAULT_HWA_TRAIN, seed=args.seed)
    rows, fps = {}, {}
    for variant in args.variants:
        t0 = time.perf_counter()
        base, _, hwa = variant.partition("+")
        if base not in fps:
            torch.manual_seed(args.seed)
            model = create_model("har_cnn", num_classes=len(full.classes))
            fit(model, train, val, fp_cfg, progress=False, augment=augment_windows if base == "aug" else None)
            fps[base] = to_digital(model)
        fp = fps[base]
        if not hwa:
            analog = to_analog(fp, "pcm", calibrate_with=train.tensors[0][:512])
        else:
            prepared = prepare(fp, HWA_PRESETS["pcm"], "pcm", seed=args.seed)
            augment = augment_windows if hwa == "hwa-aug" else None
            fit(prepared, train, val, tune_cfg, teacher=fp, progress=False, augment=augment)
            analog = to_analog(prepared)
        dr = evaluate_drift(analog, val, times=[DAY_S, MONTH_S], instances=args.instances, seed=args.seed)
        rows[variant] = {
            "fp": dr.fp_accuracy,
            "fp_phase": evaluate(fp, val),
            "day": dr.mean[0],
            "month": dr.mean[1],
            "minutes": (time.perf_counter() - t0) / 60,
        }
        print(f"{variant}: {json.dumps(rows[variant])}", flush=True)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"fold": args.fold, "subjects": fold, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
