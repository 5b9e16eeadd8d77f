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
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/device_faults")
    ap.add_argument(
        "--stage",
        default="all",
        choices=["all", "fp", "hwa_plain", "hwa_faults", "eval"],
        help="train only this model (saved under OUT/runs) and stop; all/eval: train what is missing, evaluate",
    )
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rates = [float(r) for r in args.rates.split(",")]
    times = [float(t) for t in args.times.split(",")]
    t0 = time.perf_counter()
    train, val, test = splits(args.dataset, args.data_dir, args.seed)
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
        if args.stage in ("all", "eval", stage):
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
    print(
        f"\naccuracy (%) on {args.dataset} test, mean +- std over {args.instances} chips; "
        f"stuck rate = stuck-ON + stuck-OFF (half each)"
    )
    header = " | ".join(f"{r:.1%} @ {t:g} s" for r in rates for t in times)
    print(f"| training | FP32 | {header} |")
    print("|---" * (len(rates) * len(times) + 2) + "|")
    for label, per_rate in results.items():
        fp_acc = next(iter(per_rate.values()))["fp"]
        cells = " | ".join(
            f"{per_rate[r]['mean'][i]:.2f} +- {per_rate[r]['std'][i]:.2f}"
            for r in rates
            for i in range(len(times))
        )
        print(f"| {label} | {fp_acc:.2f} | {cells} |")
    (out / "faults.json").write_text(
        json.dumps(
            {
                "args": vars(args),
                "results": {k: {str(r): v for r, v in per.items()} for k, per in results.items()},
            },
            indent=1,
        )
    )
    plot(results, rates, times, out / "accuracy_vs_stuck_rate.png", args.dataset)
    print(f"wrote {out / 'faults.json'} and {out / 'accuracy_vs_stuck_rate.png'}")


def plot(results, rates, times, path: Path, dataset: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    xs = [max(r, rates[1] / 3 if len(rates) > 1 else 1e-4) for r in rates]  # 0 drawn left of the first rate
    for (label, per_rate), colour in zip(results.items(), ("tab:red", "tab:blue")):
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
