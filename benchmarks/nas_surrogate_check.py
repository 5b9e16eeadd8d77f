"""The NAS surrogate against labels it can be judged by: fresh random archs labelled with many seeds.

    python benchmarks/nas_surrogate_check.py --data-dir /work/shared/data/uci_hapt_raw.tar.xz \
        --store runs/nas_benchmark_seeds2/store --archs 16 --seeds 6

Cross-validated tau against 2-seed labels is capped by those labels' own noise (docs/nas.md). Here
the surrogate is fitted on every candidate of a finished search's store, then asked to rank ``--archs``
new uniform random archs of the same space and budget, each labelled with the mean of ``--seeds``
training runs (the search's recipe: pass the benchmark's --fp-epochs / --epochs / --instances). Prints the tau
against those labels and the labels' split-half reliability (first half of the seeds vs the second).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from tinycim.data import load
from tinycim.nas import (
    EvalSettings,
    ResultStore,
    Surrogate,
    TinyMLSpace,
    TrainEvaluator,
    arch_key,
    features,
    kendall_tau,
    make_executor,
    record_value,
)
from tinycim.nas.surrogate import TARGETS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--store", required=True, help="a finished search's store folder")
    ap.add_argument("--archs", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--fp-epochs", type=int, default=6, help="the search's recipe (benchmark flags)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--instances", type=int, default=8)
    ap.add_argument("--seed", type=int, default=7, help="draws the new archs and their training seeds")
    ap.add_argument("--executor", default="ray", choices=["ray", "local"])
    args = ap.parse_args()
    t0 = time.monotonic()

    store = ResultStore(args.store)
    header = json.loads((Path(args.store) / "search.json").read_text())
    space = TinyMLSpace(**{k: v for k, v in header["space"].items() if k != "name"})
    settings = EvalSettings(fp_epochs=args.fp_epochs, epochs=args.epochs, instances=args.instances)
    budget = header["constraints"]["max_params"]
    rows = [r for r in store.records.values() if np.isfinite(record_value(r, "acc_1d"))]

    rng = np.random.default_rng(args.seed)
    seen, archs = {r["key"] for r in rows}, []
    while len(archs) < args.archs:
        arch = space.sample(rng)
        if space.count_params(arch) <= budget and arch_key(arch) not in seen:
            seen.add(arch_key(arch))
            archs.append(arch)

    train, val = (load("hapt", args.data_dir, split, seed=0) for split in ("train", "val"))
    evaluator = TrainEvaluator(space, train, val, settings)
    tasks = [
        {"arch": arch, "seed": args.seed * 1000 + 10 * i + s}
        for i, arch in enumerate(archs)
        for s in range(args.seeds)
    ]
    executor = make_executor(args.executor, num_cpus=2)
    try:
        results = dict(executor.map(evaluator, tasks))
    finally:
        executor.close()
    runs = np.array(
        [[results[i * args.seeds + s]["acc_1d"] for s in range(args.seeds)] for i in range(len(archs))]
    )
    labels = runs.mean(axis=1)
    half = args.seeds // 2
    split_half = kendall_tau(runs[:, :half].mean(axis=1), runs[:, half:].mean(axis=1))

    X = np.stack([features(space, r["arch"], r["static"]) for r in rows])
    model = Surrogate(seed=0).fit(X, {k: [record_value(r, k) for r in rows] for k in TARGETS})
    new = np.stack([features(space, a, evaluator.cheap_static(a)) for a in archs])
    tau = kendall_tau(labels, model.predict(new)["acc_1d"])
    print(
        f"surrogate fitted on {len(rows)} candidates of {args.store}; {len(archs)} new random archs, "
        f"{args.seeds} training runs each ({(time.monotonic() - t0) / 60:.1f} min)"
    )
    print(
        f"labels: mean {labels.mean():.2f}, spread sd {labels.std():.2f} pp, seed sd "
        f"{runs.std(axis=1, ddof=1).mean():.2f} pp; split-half tau ({half} vs {args.seeds - half} runs) "
        f"{split_half:.3f}"
    )
    print(f"surrogate Kendall tau against the {args.seeds}-run labels: {tau:.3f}")


if __name__ == "__main__":
    main()
