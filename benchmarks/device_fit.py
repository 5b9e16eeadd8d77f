"""Bring your own device, checked end to end on a device we know: the `pcm` preset.

    python benchmarks/device_fit.py --cells 100000 --out runs/device_fit
    python benchmarks/device_fit.py --dataset speech_commands --data-dir /work/shared/data/speech_commands_v0.02_test
    python benchmarks/device_fit.py --dataset speech_commands --data-dir ... \
        --model-run runs/device_faults_kws/runs/hwa_plain --measurements runs/device_fit/pcm_measurements.csv

1. Round trip: sample --cells cells from the pcm preset at --levels (uS) and --times (s), write
   them in the measurement format (CSV), read them back, fit the pcm family; print every fitted
   parameter against the preset with its 95 % interval, and per level the fitted curves against
   the preset in units of the bootstrap std (z).
2. Empirical device from the same file; a model trained hardware-aware on the preset is
   evaluated on the preset and on the empirical device (same weights, same converter ranges):
   accuracy vs time, mean +- std over --instances chips.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from tinycim.devices import PCMDevice, save_device
from tinycim.devices.fitting import _PCMFamily, fit_device
from tinycim.devices.measurements import read_measurements, sample_measurements, write_measurements

PRESET_FIELDS = (
    "prog_noise_coeffs_us",
    "drift_mu_coeffs",
    "drift_mu_clip",
    "drift_sigma_coeffs",
    "drift_sigma_clip",
    "read_noise_q",
    "read_noise_exponent",
)
EVAL_TIMES = [1.0, 3600.0, 86400.0, 2.592e6, 3.1536e7]


def round_trip(args) -> Path:
    preset = PCMDevice()
    levels = [float(v) for v in args.levels.split(",")]
    times = [float(v) for v in args.times.split(",")]
    per_level = max(1, args.cells // len(levels))
    t0 = time.perf_counter()
    m = sample_measurements(preset, levels, times, per_level, seed=args.seed)
    path = write_measurements(Path(args.out) / "pcm_measurements.csv", m)
    m = read_measurements(path)
    print(
        f"sampled {m.n_cells} cells x {len(times)} reads from the pcm preset -> {path} "
        f"({time.perf_counter() - t0:.1f} s)"
    )
    t0 = time.perf_counter()
    result = fit_device(m, "pcm", bootstrap=args.bootstrap, seed=args.seed)
    print(f"pcm fit: {time.perf_counter() - t0:.1f} s, worst KS per level and time {result.max_ks:.3f}")
    truth = {
        "prog_noise_c0": preset.prog_noise_coeffs_us[0],
        "prog_noise_c1": preset.prog_noise_coeffs_us[1],
        "prog_noise_c2": preset.prog_noise_coeffs_us[2],
        "drift_mu_a": preset.drift_mu_coeffs[0],
        "drift_mu_b": preset.drift_mu_coeffs[1],
        "drift_mu_lo": preset.drift_mu_clip[0],
        "drift_mu_hi": preset.drift_mu_clip[1],
        "drift_sigma_a": preset.drift_sigma_coeffs[0],
        "drift_sigma_b": preset.drift_sigma_coeffs[1],
        "drift_sigma_lo": preset.drift_sigma_clip[0],
        "drift_sigma_hi": preset.drift_sigma_clip[1],
        "read_noise_q": preset.read_noise_q,
        "read_noise_exponent": preset.read_noise_exponent,
        "g_max_us": preset.g_max_us,
    }
    print("\n| parameter | preset | fitted | 95 % interval | preset inside |")
    print("|---|---|---|---|---|")
    for p in result.params:
        inside = "yes" if p.low <= truth[p.name] <= p.high else "no"
        print(f"| {p.name} | {truth[p.name]:.5g} | {p.value:.5g} | {p.low:.5g} .. {p.high:.5g} | {inside} |")
    family = _PCMFamily(m)
    expected = family.curves({k: getattr(preset, k) for k in PRESET_FIELDS})
    print("\nper level: fitted curve vs preset, z = (fitted - preset) / bootstrap std of the level estimate")
    print("| level (uS) | " + " | ".join(family.names) + " |")
    print("|---" * (len(family.names) + 1) + "|")
    zs = []
    for i, row in enumerate(result.levels):
        cells = []
        for k, name in enumerate(family.names):
            se = row[f"{name}_se"]
            if row[name] is None or se is None or se == 0:
                cells.append(f"{row[f'{name}_model']:.4g} vs {expected[i, k]:.4g} (not measured)")
                continue
            z = (row[f"{name}_model"] - expected[i, k]) / se
            zs.append(z)
            cells.append(f"{row[f'{name}_model']:.4g} vs {expected[i, k]:.4g} (z {z:+.1f})")
        print(f"| {row['level_us']:g} | " + " | ".join(cells) + " |")
    zs = np.abs(np.asarray(zs))
    print(
        f"|z| over {zs.size} level estimates: median {np.median(zs):.2f}, max {zs.max():.2f}, "
        f"share within 2: {np.mean(zs <= 2):.0%}"
    )
    save_device(result.device, Path(args.out) / "pcm_fitted.json")
    return path


def accuracy(args, path: Path) -> None:
    from _digits_hwa import pcm_config, splits, train_fp, train_hwa

    from tinycim.train import evaluate_drift, to_analog

    m = read_measurements(path)
    t0 = time.perf_counter()
    emp = fit_device(m, "empirical").device
    save_device(emp, Path(args.out) / "pcm_empirical.json")
    print(
        f"\nempirical device from {path.name}: {len(emp.levels_us)} levels x {len(emp.times_s)} times "
        f"({time.perf_counter() - t0:.1f} s)"
    )
    train, val, test = splits(args.dataset, args.data_dir, args.seed)
    cfg = pcm_config()
    if args.model_run:  # a model already trained hardware-aware on the preset (a tinycim run directory)
        from tinycim.train import load_run

        prepared, _, run_cfg, _ = load_run(args.model_run)
        cfg = dataclasses.replace(run_cfg, device=cfg.device)
        print(f"model: {args.model_run} (trained hardware-aware on the pcm preset)")
    else:
        fp = train_fp(args.dataset, train, val, args.fp_epochs, args.seed)
        prepared = train_hwa(args.dataset, fp, cfg, train, val, args.hwa_epochs, args.seed)
    rows = {}
    for label, device in (("pcm preset", cfg.device), ("empirical (from samples)", emp)):
        amodel = to_analog(prepared, dataclasses.replace(cfg, device=device))
        rows[label] = evaluate_drift(amodel, test, times=EVAL_TIMES, instances=args.instances, seed=args.seed)
    print(
        f"\n{args.dataset}: accuracy (%) vs time after programming, mean +- std over {args.instances} chips "
        f"(FP32 {rows['pcm preset'].fp_accuracy:.2f} %)"
    )
    print("| device | " + " | ".join(f"{t:g} s" for t in EVAL_TIMES) + " |")
    print("|---" * (len(EVAL_TIMES) + 1) + "|")
    for label, dr in rows.items():
        print(f"| {label} | " + " | ".join(f"{a:.2f} +- {s:.2f}" for a, s in zip(dr.mean, dr.std)) + " |")
    a, b = rows["pcm preset"], rows["empirical (from samples)"]
    diff = [f"{y - x:+.2f} (spread {max(sx, sy):.2f})" for x, y, sx, sy in zip(a.mean, b.mean, a.std, b.std)]
    print("| empirical - preset | " + " | ".join(diff) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", type=int, default=100_000)
    ap.add_argument("--levels", default="0,0.78,1.56,3.13,4.69,6.25,9.38,12.5,15.6,18.75,21.9,25")
    ap.add_argument("--times", default="0,1,60,3600,86400,2592000,31536000")
    ap.add_argument("--bootstrap", type=int, default=10)
    ap.add_argument("--dataset", default="digits", choices=["digits", "speech_commands"])
    ap.add_argument("--data-dir", default=None, help="dataset folder (digits is bundled: not needed)")
    ap.add_argument("--fp-epochs", type=int, default=15)
    ap.add_argument("--hwa-epochs", type=int, default=6)
    ap.add_argument(
        "--model-run",
        default=None,
        help="evaluate this trained run (hardware-aware on the pcm preset) instead of training one",
    )
    ap.add_argument(
        "--measurements", default=None, help="skip the round trip: build the empirical device from this file"
    )
    ap.add_argument("--instances", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--out", default="runs/device_fit")
    args = ap.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    path = Path(args.measurements) if args.measurements else round_trip(args)
    if not args.skip_accuracy:
        accuracy(args, path)


if __name__ == "__main__":
    main()
