"""Yield sweep: accuracy vs stuck-cell rate, trained with and without fault injection.

    python benchmarks/device_faults.py --out runs/device_faults                       # digits (bundled)
    python benchmarks/device_faults.py --dataset speech_commands \
        --data-dir /work/shared/data/speech_commands_v0.02_test --out runs/device_faults_kws

A model is trained FP32, then fine-tuned hardware-aware on the pcm preset twice: on the plain
device, and on FaultyDevice(pcm, stuck_on = stuck_off = --train-rate / 2) (fault injection: the
trainer programs the layer's device each batch, so each batch sees a fresh fault map). Both are
evaluated on chips with stuck rates --rates (half stuck-ON at g_max, half stuck-OFF at 0 uS),
--instances chips each, at --times after programming. Prints a table, writes JSON and a plot.

Each trained model is saved as a run directory under OUT/runs/{fp,hwa_plain,hwa_faults} and
reused when present, so the trainings can run as separate (parallel) processes first:

    python benchmarks/device_faults.py ... --stage fp            # then, in parallel:
    python benchmarks/device_faults.py ... --stage hwa_plain
    python benchmarks/device_faults.py ... --stage hwa_faults
    python benchmarks/device_faults.py ... --stage eval          # trains whatever is missing

KWS as measured for docs/results.md (FP32 weights from the pretrain phase of `tinycim train
--model analognet_kws --split-by speaker --hwa`; a second fault-injection rate in its own --out,
evaluated with --only; --merge reports both faults.json files as one table and plot):

    D=/work/shared/data/speech_commands_v0.02_test
    python benchmarks/device_faults.py --dataset speech_commands --data-dir $D \
        --fp-run runs/h15/kws_hwa/pretrain --hwa-epochs 10 --batch-size 64 --out runs/device_faults_kws
    python benchmarks/device_faults.py (same) --train-rate 0.01 --only hwa_faults --out runs/device_faults_kws1
    python benchmarks/device_faults.py --merge runs/device_faults_kws/faults.json \
        runs/device_faults_kws1/faults.json --out runs/device_faults_kws_all
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from tinycim.devices import FaultyDevice

MODEL_NAMES = {"digits": "digits_cnn", "speech_commands": "analognet_kws"}


def faulty(cfg, rate: float):
    return dataclasses.replace(
        cfg, device=FaultyDevice(base=cfg.device, stuck_on_rate=rate / 2, stuck_off_rate=rate / 2)
    )


def train_hwa_logged(
    dataset: str, fp, analog, train, val, epochs: int, seed: int, log_dir: Path, batch_size: int | None
):
    """_digits_hwa.train_hwa, with fit's per-epoch checkpoint and metrics.json in log_dir
    (progress of a long run; resumed from there if the process was stopped)."""
    from _digits_hwa import TASKS

    from tinycim.train import HWAConfig, TrainConfig, fit, prepare

    _, _, _, lr, batch = TASKS[dataset]
    hwa = dataclasses.replace(HWAConfig.preset("pcm"), noise_per="column")
    prepared = prepare(fp, hwa, analog=analog, seed=seed)
    fit(
        prepared,
        train,
        val,
        TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size or batch, seed=seed),
        out_dir=log_dir,
        resume=(log_dir / "metrics.json").is_file(),
        teacher=fp,
        progress=False,
    )
    return prepared


def cached(run_dir: Path, model_name: str, train_fn, cfg, kwargs: dict, hwa: bool, epochs: int):
    """The model saved in run_dir if there, else train_fn() saved there.

    Hardware-aware models as tinycim run directories; the FP32 model (BN folded by to_digital)
    as its state_dict in safetensors, loaded into the same folded skeleton."""
    from tinycim.io import load_state, read_tensors, save_tensors, state_dict_tensors
    from tinycim.models import create_model
    from tinycim.train import HWAConfig, TrainConfig, load_run, prepare, save_run, to_digital

    fp_file = run_dir / "fp.safetensors"
    if (run_dir / "config.json").is_file():
        print(f"reusing {run_dir}")
        return load_run(run_dir)[0]
    if fp_file.is_file():
        print(f"reusing {fp_file}")
        model = to_digital(prepare(create_model(model_name, **kwargs), HWAConfig(), analog="ideal"))
        tensors, _ = read_tensors(fp_file, expected_format="fp-model", readable_as="model", kind="FP model")
        load_state(model, tensors, fp_file)
        return model.eval()
    t0 = time.perf_counter()
    model = train_fn()
    if hwa:
        save_run(
            run_dir,
            model_name,
            model,
            None,
            cfg,
            TrainConfig(epochs=epochs),
            {"train_seconds": time.perf_counter() - t0},
            model_kwargs=kwargs,
        )
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_tensors(fp_file, state_dict_tensors(model), {"format": "fp-model"})
    print(f"trained {run_dir.name} in {time.perf_counter() - t0:.0f} s -> {run_dir}", flush=True)
    return model


def main() -> None:
    from _digits_hwa import pcm_config, splits, train_fp

    from tinycim.train import evaluate_drift, to_analog

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="digits", choices=["digits", "speech_commands"])
    ap.add_argument("--data-dir", default=None, help="dataset folder (digits is bundled: not needed)")
    ap.add_argument("--rates", default="0,0.001,0.003,0.01,0.03,0.1")
    ap.add_argument("--train-rate", type=float, default=0.03)
    ap.add_argument("--times", default="1,86400")
    ap.add_argument("--fp-epochs", type=int, default=15)
    ap.add_argument("--hwa-epochs", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=None, help="hardware-aware fine-tuning batch")
    ap.add_argument(
        "--fp-run",
        default=None,
        help="take the FP32 model from this tinycim run directory (e.g. the pretrain phase of "
        "tinycim train --hwa) instead of training one",
    )
    ap.add_argument("--instances", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0, help="training and chip seed")
    ap.add_argument(
        "--data-seed",
        type=int,
        default=None,
        help="seed of the train/val/test split (default --seed; keep the --fp-run's split)",
    )
    ap.add_argument("--out", default="runs/device_faults")
    ap.add_argument(
        "--stage",
        default="all",
        choices=["all", "fp", "hwa_plain", "hwa_faults", "eval"],
        help="train only this model (saved under OUT/runs) and stop; all/eval: train what is missing, evaluate",
    )
    ap.add_argument(
        "--only", default=None, choices=["hwa_plain", "hwa_faults"], help="all/eval: this model only"
    )
    ap.add_argument(
        "--merge",
        nargs="+",
        default=None,
        help="report these faults.json files together (into --out) and stop",
    )
    args = ap.parse_args()
    if args.merge:
        merge(args.merge, Path(args.out))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rates = [float(r) for r in args.rates.split(",")]
    times = [float(t) for t in args.times.split(",")]
    t0 = time.perf_counter()
    data_seed = args.seed if args.data_seed is None else args.data_seed
    train, val, test = splits(args.dataset, args.data_dir, data_seed)
    cfg = pcm_config()
    name = MODEL_NAMES[args.dataset]
    kwargs: dict = {"num_classes": len(train.classes)}
    if args.dataset == "digits":
        kwargs["layers"] = [{"channels": 32, "kernel": 3, "pool": 2}, {"channels": 64, "kernel": 3}]
    else:
        kwargs["input_norm"] = True
    runs = out / "runs"
    if args.fp_run:
        from tinycim.train import load_run, to_digital
        from tinycim.nn.convert import model_info_or_none

        fp, _, _, fp_meta = load_run(args.fp_run)
        fp = to_digital(fp) if model_info_or_none(fp) is not None else fp
        kwargs = dict(fp_meta["model"].get("kwargs", {}))
        print(f"FP32 model from {args.fp_run} ({fp_meta['model']})")
    else:
        fp = cached(
            runs / "fp",
            name,
            lambda: train_fp(args.dataset, train, val, args.fp_epochs, args.seed),
            cfg,
            kwargs,
            False,
            args.fp_epochs,
        )
    if args.stage == "fp":
        return
    models = {}
    for stage, label, analog in (
        ("hwa_plain", "HWA, no fault injection", cfg),
        ("hwa_faults", f"HWA + stuck cells {args.train_rate:.1%} in training", faulty(cfg, args.train_rate)),
    ):
        if args.stage in ("all", "eval", stage) and args.only in (None, stage):
            models[label] = cached(
                runs / stage,
                name,
                lambda analog=analog, stage=stage: train_hwa_logged(
                    args.dataset,
                    fp,
                    analog,
                    train,
                    val,
                    args.hwa_epochs,
                    args.seed,
                    runs / f"{stage}_log",
                    args.batch_size,
                ),
                cfg,
                kwargs,
                True,
                args.hwa_epochs,
            )
    if args.stage not in ("all", "eval"):
        return
    print(
        f"{args.dataset}: trained in {time.perf_counter() - t0:.0f} s; evaluating {len(rates)} rates x "
        f"{args.instances} chips"
    )
    results: dict[str, dict] = {}
    for label, prepared in models.items():
        results[label] = {}
        for rate in rates:
            dr = evaluate_drift(
                to_analog(prepared, faulty(cfg, rate)),
                test,
                times=times,
                instances=args.instances,
                seed=args.seed,
            )
            results[label][rate] = {"mean": dr.mean, "std": dr.std, "fp": dr.fp_accuracy}
    (out / "faults.json").write_text(
        json.dumps(
            {
                "args": vars(args),
                "results": {k: {str(r): v for r, v in per.items()} for k, per in results.items()},
            },
            indent=1,
        )
    )
    report(results, rates, times, out, args.dataset, args.instances)


def report(results: dict, rates: list, times: list, out: Path, dataset: str, instances: int) -> None:
    """Print the sweep as a table (one row per stuck rate) and write the plot."""
    print(
        f"\naccuracy (%) on {dataset} test, mean +- std over {instances} chips; "
        f"stuck rate = stuck-ON + stuck-OFF (half each)"
    )
    labels = list(results)
    print("| stuck rate | " + " | ".join(f"{k}, {t:g} s" for k in labels for t in times) + " |")
    print("|---" * (len(labels) * len(times) + 1) + "|")
    fp = [f"{next(iter(results[k].values()))['fp']:.2f}" for k in labels for _ in times]
    print("| FP32 weights (digital) | " + " | ".join(fp) + " |")
    for r in rates:
        cells = " | ".join(
            f"{results[k][r]['mean'][i]:.2f} +- {results[k][r]['std'][i]:.2f}"
            for k in labels
            for i in range(len(times))
        )
        print(f"| {r:.1%} | {cells} |")
    plot(results, rates, times, out / "accuracy_vs_stuck_rate.png", dataset)
    print(f"wrote {out / 'accuracy_vs_stuck_rate.png'}")


def merge(paths: list[str], out: Path) -> None:
    """Report several faults.json files (runs of this script) as one table and plot."""
    results: dict[str, dict] = {}
    rates = times = None
    dataset, instances = "", 0
    for path in paths:
        data = json.loads(Path(path).read_text())
        a = data["args"]
        rates = [float(r) for r in a["rates"].split(",")]
        times = [float(t) for t in a["times"].split(",")]
        dataset, instances = a["dataset"], a["instances"]
        for label, per in data["results"].items():
            results.setdefault(label, {float(r): v for r, v in per.items()})
    assert rates is not None and times is not None
    out.mkdir(parents=True, exist_ok=True)
    report(results, rates, times, out, dataset, instances)


def plot(results, rates, times, path: Path, dataset: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    xs = [max(r, rates[1] / 3 if len(rates) > 1 else 1e-4) for r in rates]  # 0 drawn left of the first rate
    for (label, per_rate), colour in zip(results.items(), ("tab:red", "tab:blue", "tab:green", "tab:purple")):
        for i, t in enumerate(times):
            ax.errorbar(
                xs,
                [per_rate[r]["mean"][i] for r in rates],
                yerr=[per_rate[r]["std"][i] for r in rates],
                color=colour,
                ls="-" if i == 0 else "--",
                marker="o",
                ms=3,
                capsize=2,
                label=f"{label}, {t:g} s",
            )
    ax.set_xscale("log")
    ax.set_xlabel("stuck-cell rate (half ON, half OFF; leftmost point: no faults)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{dataset}: accuracy vs stuck cells (pcm)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
