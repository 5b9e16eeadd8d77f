"""FP32 accuracy of the reference models on the real data, with epochs and training time.

    python benchmarks/baselines.py --data-dir ../shared/data [--tasks har kws cifar vww] [--epochs-scale 1.0]

Each task: (dataset, folder under --data-dir, loader options, model, epochs, lr). Trains plainly in
FP32, no converters in the loop (tinycim.workflow.train_phase, AdamW, cosine), reports test accuracy (CIFAR-10 / VWW here hold one labelled
folder: their held-out split is `val` / `test` as the loaders define). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from tinycim.data import load
from tinycim.models import count_macs, count_params, create_model
from tinycim.pipeline.provenance import provenance
from tinycim.train import TrainConfig, evaluate
from tinycim.workflow import train_phase

TASKS = {  # name: (dataset, folder, loader options, model, epochs, lr, eval split)
    "har": ("hapt", "uci_hapt_raw.tar.xz", {}, "har_cnn", 20, 2e-3, "test"),
    "kws": (
        "speech_commands",
        "speech_commands_v0.02_test",
        {"split_by": "speaker"},
        "dscnn_s",
        20,
        3e-3,
        "test",
    ),
    "kws-analognet": (
        "speech_commands",
        "speech_commands_v0.02_test",
        {"split_by": "speaker"},
        "analognet_kws",
        20,
        2e-3,
        "test",
    ),
    "cifar": ("cifar10", "cifar10_jpeg", {}, "resnet8", 10, 3e-3, "val"),
    "vww": ("vww", "vww01", {}, "mobilenet_v1_025", 20, 3e-3, "test"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True, type=Path)
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--epochs-scale", type=float, default=1.0, help="multiply every task's epochs")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    stamp = provenance()  # the code as it was when the run started
    rows = []
    for task in args.tasks:
        dataset, folder, opts, model_name, epochs, lr, split = TASKS[task]
        epochs = max(1, round(epochs * args.epochs_scale))
        train = load(dataset, args.data_dir / folder, "train", seed=args.seed, **opts)
        val = load(dataset, args.data_dir / folder, "val", seed=args.seed, **opts)
        test = load(dataset, args.data_dir / folder, split, seed=args.seed, **opts)
        model = create_model(model_name, num_classes=len(train.classes), seed=args.seed)
        t0 = time.perf_counter()
        cfg = TrainConfig(epochs=epochs, lr=lr, batch_size=128, seed=args.seed)
        net, _ = train_phase(model, train, val, cfg)
        seconds = time.perf_counter() - t0
        net.eval()
        acc = evaluate(net, test)
        rows.append(
            (
                task,
                dataset,
                model_name,
                count_params(net),
                count_macs(net, tuple(train.input_shape)),
                f"{len(train)}/{len(test)}",
                epochs,
                seconds,
                acc,
            )
        )
        print(f"{task}: {acc:.2f} % in {seconds:.0f} s", flush=True)
    print(f"\ncommit {stamp['commit']}, {stamp['threads']} threads: {stamp['command']}")
    print("| task | dataset | model | params | MACs | train/test | epochs | train s | test acc (%) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:,} | {r[4]:,} | {r[5]} | {r[6]} | {r[7]:.0f} | {r[8]:.2f} |"
        )


if __name__ == "__main__":
    main()
