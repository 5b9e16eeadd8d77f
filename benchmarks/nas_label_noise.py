"""How rankable is a NAS label? Two training seeds of N random `tinyml` archs (HAR or KWS).

    python benchmarks/nas_label_noise.py --data-dir /work/shared/data/uci_hapt_raw.tar.xz --archs 20
    python benchmarks/nas_label_noise.py --data-dir ... --archs 20 --fp-epochs 14     # longer training
    python benchmarks/nas_label_noise.py --task kws --data-dir /work/shared/data/speech_commands_v0.02_test \
        --archs 12 --seed 5 --fp-epochs 6 --hwa-epochs 3      # the search's label: 1-day PCM accuracy

With ``--hwa-epochs 0`` (default) each run is FP training only and scored digitally; otherwise it is
the search's recipe (``TrainEvaluator``: FP, then HWA fine-tuning) scored at 1 day on PCM (K = 4).

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

from nas_search import TASKS  # the NAS benchmark's tasks: dataset, loader options, zoo model (the budget)
from tinycim.data import dataset_info, load
from tinycim.models import count_params, create_model
from tinycim.nas import DRIFT_TIMES, EvalSettings, TinyMLSpace, TrainEvaluator, seeded_build
from tinycim.train import HWAConfig, TrainConfig, evaluate, evaluate_drift, fit, prepare, to_analog

SEEDS = (11, 22)


def train_one(job: tuple) -> tuple[int, int, float, float, int, int]:
    """(arch index, seed, val acc, test acc, val size, test size) of one training run."""
    index, arch, seed, task, data_dir, fp_epochs, hwa_epochs, lr = job
    torch.set_num_threads(1)
    dataset, opts, _ = TASKS[task]
    train, val, test = (load(dataset, data_dir, split, seed=0, **opts) for split in ("train", "val", "test"))
    space = TinyMLSpace(train.input_shape, len(train.classes), input_norm=dataset_info(dataset).input_norm)
    net = seeded_build(lambda: space.build(arch), seed)
    if hwa_epochs == 0:
        model = prepare(net, HWAConfig(), seed=seed)
        fit(
            model,
            train,
            None,
            TrainConfig(epochs=fp_epochs, lr=lr, batch_size=64, seed=seed),
            out_dir=None,
            progress=False,
        )
        return index, seed, evaluate(model, val), evaluate(model, test), len(val), len(test)
    ev = TrainEvaluator(
        space, train, val, EvalSettings(fp_epochs=fp_epochs, epochs=hwa_epochs, lr=lr, instances=4)
    )
    metrics, artifacts = ev.train_and_measure(net, seed)
    on_test = evaluate_drift(
        to_analog(artifacts["prepared"], artifacts["analog"]),
        test,
        times=[DRIFT_TIMES["1d"]],
        instances=4,
        seed=seed,
    )
    return index, seed, metrics["acc_1d"], float(on_test.mean[0]), len(val), len(test)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--archs", type=int, default=20)
    ap.add_argument("--task", default="har", choices=sorted(TASKS))
    ap.add_argument("--fp-epochs", type=int, default=6)
    ap.add_argument("--hwa-epochs", type=int, default=0, help="0: FP only, scored digitally")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=123, help="draws the archs")
    args = ap.parse_args()

    dataset, opts, (zoo_name, zoo_kwargs) = TASKS[args.task]
    train = load(dataset, args.data_dir, "train", seed=0, **opts)
    # the NAS benchmark's parameter budget: its zoo model's size
    budget = count_params(create_model(zoo_name, num_classes=len(train.classes), **zoo_kwargs))
    space = TinyMLSpace(train.input_shape, len(train.classes), input_norm=dataset_info(dataset).input_norm)
    rng, archs = np.random.default_rng(args.seed), []
    while len(archs) < args.archs:
        arch = space.sample(rng)
        if space.count_params(arch) <= budget:
            archs.append(arch)
    jobs = [
        (i, arch, seed, args.task, args.data_dir, args.fp_epochs, args.hwa_epochs, args.lr)
        for i, arch in enumerate(archs)
        for seed in SEEDS
    ]
    with ProcessPoolExecutor(2) as pool:
        runs = list(pool.map(train_one, jobs))

    val, test = np.zeros((len(archs), 2)), np.zeros((len(archs), 2))
    for index, seed, acc_val, acc_test, n_val, n_test in runs:
        val[index, SEEDS.index(seed)], test[index, SEEDS.index(seed)] = acc_val, acc_test
    pooled = (val * n_val + test * n_test) / (n_val + n_test)
    scored = (
        "FP accuracy" if args.hwa_epochs == 0 else f"1-day PCM accuracy after {args.hwa_epochs} HWA epochs"
    )
    print(
        f"{args.task}: {args.archs} random archs <= {budget:,} params, {args.fp_epochs} FP epochs, lr {args.lr}, "
        f"seeds {SEEDS}; {scored}"
    )
    for name, acc in (("val", val), ("test", test), ("val + test", pooled)):
        r = pearsonr(acc[:, 0], acc[:, 1]).statistic
        tau = kendalltau(acc[:, 0], acc[:, 1]).statistic
        seed_sd = np.abs(acc[:, 0] - acc[:, 1]).mean() / 1.128
        print(
            f"{name:<14} r {r:.3f}  tau {tau:.3f}  seed sd {seed_sd:.2f} pp  spread of archs sd "
            f"{acc.mean(axis=1).std():.2f} pp"
        )


if __name__ == "__main__":
    main()
