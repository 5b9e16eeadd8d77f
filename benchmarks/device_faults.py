"""Yield sweep: accuracy vs stuck-cell rate, trained with and without fault injection.

    python benchmarks/device_faults.py --out runs/device_faults                       # digits (bundled)
    python benchmarks/device_faults.py --dataset speech_commands \
        --data-dir /work/shared/data/speech_commands_v0.02_test --out runs/device_faults_kws

A model is trained FP32, then fine-tuned hardware-aware on the pcm preset twice: on the plain
device, and on FaultyDevice(pcm, stuck_on = stuck_off = --train-rate / 2) (fault injection: the
trainer programs the layer's device each batch, so each batch sees a fresh fault map). Both are
evaluated on chips with stuck rates --rates (half stuck-ON at g_max, half stuck-OFF at 0 uS),
--instances chips each, at --times after programming. Prints a table, writes JSON and a plot.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from tinycim.devices import FaultyDevice


def faulty(cfg, rate: float):
    return dataclasses.replace(
        cfg, device=FaultyDevice(base=cfg.device, stuck_on_rate=rate / 2, stuck_off_rate=rate / 2)
    )


def main() -> None:
    from _digits_hwa import pcm_config, splits, train_fp, train_hwa

    from tinycim.train import evaluate_drift, to_analog

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="digits", choices=["digits", "speech_commands"])
    ap.add_argument("--data-dir", default=None, help="dataset folder (digits is bundled: not needed)")
    ap.add_argument("--rates", default="0,0.001,0.003,0.01,0.03,0.1")
    ap.add_argument("--train-rate", type=float, default=0.03)
    ap.add_argument("--times", default="1,86400")
    ap.add_argument("--fp-epochs", type=int, default=15)
    ap.add_argument("--hwa-epochs", type=int, default=6)
    ap.add_argument("--instances", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/device_faults")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rates = [float(r) for r in args.rates.split(",")]
    times = [float(t) for t in args.times.split(",")]
    t0 = time.perf_counter()
    train, val, test = splits(args.dataset, args.data_dir, args.seed)
    fp = train_fp(args.dataset, train, val, args.fp_epochs, args.seed)
    cfg = pcm_config()
    models = {
        "HWA, no fault injection": train_hwa(args.dataset, fp, cfg, train, val, args.hwa_epochs, args.seed),
        f"HWA + stuck cells {args.train_rate:.1%} in training": train_hwa(
            args.dataset, fp, faulty(cfg, args.train_rate), train, val, args.hwa_epochs, args.seed
        ),
    }
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
