"""How rankable is a NAS label on HAR? Two training seeds of N random `tinyml` archs (FP training only).

    python benchmarks/nas_label_noise.py --data-dir /work/shared/data/uci_hapt_raw.tar.xz --archs 20
    python benchmarks/nas_label_noise.py --data-dir ... --archs 20 --fp-epochs 14     # longer training

For the validation subjects (what the search's label is measured on), the test subjects, and both
pooled, prints the correlation r and Kendall tau between the two seeds' accuracies, the seed-to-seed
sd (mean |difference| / 1.128) and the spread (sd) of the archs' mean accuracies. No surrogate can
rank candidates better than their labels agree with themselves. 2 worker processes; minutes.
"""
from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from scipy.stats import kendalltau, pearsonr

from tinycim.data import load
from tinycim.nas import TinyMLSpace
from tinycim.train import HWAConfig, TrainConfig, evaluate, fit, prepare

SEEDS = (11, 22)
BUDGET = 61_040  # har_cnn(input_norm=True), the NAS benchmark's parameter budget


def train_one(job: tuple) -> tuple[int, int, float, float, int, int]:
    """(arch index, seed, val acc, test acc, val size, test size) of one FP training run."""
    index, arch, seed, data_dir, epochs = job
    torch.set_num_threads(1)
    train, val, test = (load("hapt", data_dir, split, seed=0) for split in ("train", "val", "test"))
    space = TinyMLSpace(train.input_shape, len(train.classes), input_norm=True)
    torch.manual_seed(seed)
    model = prepare(space.build(arch), HWAConfig(), seed=seed)
    fit(model, train, None, TrainConfig(epochs=epochs, lr=2e-3, batch_size=64, seed=seed), out_dir=None,
        progress=False)
    return index, seed, evaluate(model, val), evaluate(model, test), len(val), len(test)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--archs", type=int, default=20)
    ap.add_argument("--fp-epochs", type=int, default=6)
    ap.add_argument("--seed", type=int, default=123, help="draws the archs")
    args = ap.parse_args()

    space = TinyMLSpace((9, 128), 6, input_norm=True)
    rng, archs = np.random.default_rng(args.seed), []
    while len(archs) < args.archs:
        arch = space.sample(rng)
        if space.count_params(arch) <= BUDGET:
            archs.append(arch)
    jobs = [(i, arch, seed, args.data_dir, args.fp_epochs) for i, arch in enumerate(archs) for seed in SEEDS]
    with ProcessPoolExecutor(2) as pool:
        runs = list(pool.map(train_one, jobs))

    val, test = np.zeros((len(archs), 2)), np.zeros((len(archs), 2))
    for index, seed, acc_val, acc_test, n_val, n_test in runs:
        val[index, SEEDS.index(seed)], test[index, SEEDS.index(seed)] = acc_val, acc_test
    pooled = (val * n_val + test * n_test) / (n_val + n_test)
    print(f"{args.archs} random archs <= {BUDGET:,} params, {args.fp_epochs} FP epochs, seeds {SEEDS}")
    for name, acc in (("val subjects", val), ("test subjects", test), ("val + test", pooled)):
        r = pearsonr(acc[:, 0], acc[:, 1]).statistic
        tau = kendalltau(acc[:, 0], acc[:, 1]).statistic
        seed_sd = np.abs(acc[:, 0] - acc[:, 1]).mean() / 1.128
        print(f"{name:<14} r {r:.3f}  tau {tau:.3f}  seed sd {seed_sd:.2f} pp  spread of archs sd "
              f"{acc.mean(axis=1).std():.2f} pp")


if __name__ == "__main__":
    main()
