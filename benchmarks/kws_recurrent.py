"""Recurrent and attention keyword spotters on real Speech Commands, plain and hardware-aware (issue 18).

For each model (default ``lstm_kws``, ``gru_kws``, ``kwt_tiny``; ``analognet_kws`` beside them with
``--models ...,analognet_kws``) this drives the CLI a user would run, on the speaker split:

    tinycim train --model M --dataset speech_commands --data-dir DATA --split-by speaker --hwa \\
        --pretrain-epochs E_FP --epochs E_HWA [--config model-options.yaml] --out OUT/M
    tinycim drift OUT/M/pretrain --split test --times 1s,1d,30d --instances 10 --json-out OUT/M/drift_plain.json
    tinycim drift OUT/M          --split test --times 1s,1d,30d --instances 10 --json-out OUT/M/drift_hwa.json

``--hwa`` is the default recipe (FP pre-training with augmentation, then hardware-aware fine-tuning
on the ``pcm`` preset at a quarter of the FP learning rate, distilled from the FP model); its FP
phase, written to ``OUT/M/pretrain``, *is* the plainly trained model (`tinycim drift` calibrates a
plain run's converter ranges on 512 training clips). Drift is evaluated on the held-out test
speakers, 10 independently programmed PCM chips, mean +- std.

``--input-norm`` (default on) passes ``model: {input_norm: true}``: the cepstral coefficients are
standardized digitally before the first DAC, as ``analognet_kws`` does by default (without it the
energy coefficient sets the 8-bit input range, docs/results.md).

Steps already done (a run with ``model.safetensors``, a drift JSON) are skipped, so a killed
benchmark continues where it stopped. Prints a markdown table and writes ``OUT/summary.json``.

``--from-pretrain PREV`` re-runs only the hardware-aware phase: each model's finished FP phase
``PREV/M/pretrain`` (and its test-set drift report ``PREV/M/drift_plain.json``, the same model under
the same command) is copied into ``OUT/M`` first, and ``tinycim train ... --resume`` finds the FP
phase complete (its checkpoint is at the last epoch, settings and data checked) and trains only the
hardware-aware phase from it.

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/kws_recurrent.py \\
        --data-dir /work/shared/data/speech_commands_v0.02_test --out runs/kws_recurrent
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_MODELS = "lstm_kws,gru_kws,kwt_tiny"
TIMES = "1s,1d,30d"


def tinycim_cmd() -> list[str]:
    """The `tinycim` command of this interpreter's environment."""
    exe = Path(sys.executable).with_name("tinycim")
    if exe.is_file():
        return [str(exe)]
    return [sys.executable, "-c", "from tinycim.cli import main; main()"]


def run(cmd: list[str], log: Path) -> float:
    """Run one CLI command, its output appended to ``log``; seconds taken. Raises on failure."""
    print("$ " + " ".join(cmd), flush=True)
    t = time.perf_counter()
    with log.open("a") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, check=False).returncode
    if rc != 0:
        raise SystemExit(f"command failed (exit {rc}), see {log}: {' '.join(cmd)}")
    return time.perf_counter() - t


def reuse_pretrain(prev: Path, model: str, out: Path) -> None:
    """Copy a finished FP phase (``prev/model/pretrain``) and its drift report into ``out``."""
    src = prev / model / "pretrain"
    if not (src / "checkpoint.safetensors").is_file():
        raise SystemExit(f"--from-pretrain: {src} has no checkpoint.safetensors")
    if not (out / "pretrain").exists():
        out.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src, out / "pretrain")
    plain = prev / model / "drift_plain.json"
    if plain.is_file() and not (out / "drift_plain.json").exists():
        shutil.copy2(plain, out / "drift_plain.json")


def train(args: argparse.Namespace, model: str, out: Path, log: Path) -> float | None:
    """Train (FP phase + HWA phase) unless the run exists; seconds or None when skipped."""
    if (out / "model.safetensors").is_file():
        return None
    cmd = tinycim_cmd() + [
        "train",
        "--model",
        model,
        "--dataset",
        "speech_commands",
        "--data-dir",
        str(args.data_dir),
        "--split-by",
        "speaker",
        "--hwa",
        "--pretrain-epochs",
        str(args.epochs),
        "--epochs",
        str(args.hwa_epochs),
        "--seed",
        str(args.seed),
        "--no-progress",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    if args.input_norm and model != "analognet_kws":  # analognet_kws standardizes by default
        cfg = out.parent / f"{model}_options.yaml"
        cfg.write_text("model: {input_norm: true}\n")
        cmd += ["--config", str(cfg)]
    if (out / "pretrain").exists() or (out / "checkpoint.safetensors").exists():
        cmd.append("--resume")
    return run(cmd, log)


def drift(args: argparse.Namespace, run_dir: Path, json_out: Path, log: Path) -> dict:
    """`tinycim drift` on the held-out test speakers (cached in ``json_out``)."""
    if not json_out.is_file():
        run(
            tinycim_cmd()
            + [
                "drift",
                str(run_dir),
                "--data-dir",
                str(args.data_dir),
                "--split",
                "test",
                "--times",
                TIMES,
                "--instances",
                str(args.instances),
                "--device",
                "cpu",
                "--json-out",
                str(json_out),
            ],
            log,
        )
    return json.loads(json_out.read_text())


def row(model: str, how: str, rep: dict) -> dict:
    """One table row from a drift report."""
    curve = {
        label: (mean, std) for label, mean, std in zip(rep["labels"], rep["mean"], rep["std"], strict=True)
    }
    return {
        "model": model,
        "training": how,
        "n_test": rep["n_samples"],
        "instances": rep["instances"],
        "fp": rep["fp_accuracy"],
        "ideal": rep["ideal_accuracy"],
        "curve": curve,
        "loss_1d_pp": rep["fp_accuracy"] - curve["1d"][0] if "1d" in curve else None,
    }


def markdown(rows: list[dict]) -> str:
    """The results table."""
    lines = [
        "| model | training | FP32 | ideal chip | 1 s | 1 day | 30 days | 1-day loss vs own FP32 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [f"{r['curve'][t][0]:.2f} +- {r['curve'][t][1]:.2f}" for t in TIMES.split(",")]
        ideal = "-" if r["ideal"] is None else f"{r['ideal']:.2f}"
        loss = "-" if r["loss_1d_pp"] is None else f"{r['loss_1d_pp']:+.2f} pp"
        lines.append(
            f"| `{r['model']}` | {r['training']} | {r['fp']:.2f} | {ideal} | "
            + " | ".join(cells)
            + f" | {loss} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="speech_commands folder")
    parser.add_argument("--out", type=Path, required=True, help="folder of the runs and summary.json")
    parser.add_argument(
        "--models", default=DEFAULT_MODELS, help=f"comma-separated (default {DEFAULT_MODELS})"
    )
    parser.add_argument("--epochs", type=int, default=30, help="FP (plain) epochs [30, the CLI default]")
    parser.add_argument(
        "--hwa-epochs", type=int, default=20, help="hardware-aware fine-tuning epochs [20, the CLI default]"
    )
    parser.add_argument("--instances", type=int, default=10, help="programmed chips per time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--from-pretrain",
        type=Path,
        default=None,
        help="a previous --out: reuse its finished FP phases, train only the hardware-aware phase",
    )
    parser.add_argument(
        "--input-norm",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="standardize the MFCC coefficients digitally (model option input_norm)",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "log.txt"
    rows: list[dict] = []
    seconds: dict[str, float | None] = {}
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        out = args.out / model
        if args.from_pretrain is not None:
            reuse_pretrain(args.from_pretrain, model, out)
        seconds[model] = train(args, model, out, log)
        rows.append(
            row(model, "plain (FP phase)", drift(args, out / "pretrain", out / "drift_plain.json", log))
        )
        rows.append(row(model, "`--hwa`", drift(args, out, out / "drift_hwa.json", log)))
        print(markdown(rows[-2:]), flush=True)
    summary = {
        "rows": rows,
        "train_seconds": seconds,
        "epochs": {"fp": args.epochs, "hwa": args.hwa_epochs},
        "input_norm": args.input_norm,
        "from_pretrain": None if args.from_pretrain is None else str(args.from_pretrain),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}",
        "load_avg_end": os.getloadavg(),
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(markdown(rows))


if __name__ == "__main__":
    main()
