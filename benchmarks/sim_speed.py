"""Analog inference speed vs plain FP32 on the KWS-sized CNN of the anchors note.

Five 3x3 convs of 64 channels on 1x49x10 (about 150K parameters), batch 256, 2 CPU threads.
PCM preset (calibrated devices, 8-bit DAC/ADC, 512x512 tiles, GDC), programmed and drifted
to one day. Prints JSON with ratios measured in this one run (machines are noisy; compare
ratios, not seconds). aihwkit 1.2.0 measured 8.1x-19.9x on the same model (anchors.md).

    python benchmarks/sim_speed.py [--threads 2] [--batch 256] [--instances 16] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import tinycim as tc
from tinycim.models import create_model


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def interleaved_best(fns: dict, repeats: int) -> dict:
    """Best-of-`repeats` seconds per function, timing them in turns so that load from other
    processes hits every candidate alike (the ratios are what we report)."""
    for fn in fns.values():
        fn()  # warm-up (allocator, oneDNN primitive cache)
    best = {name: float("inf") for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            _sync()
            t = time.perf_counter()
            fn()
            _sync()
            best[name] = min(best[name], time.perf_counter() - t)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--instances", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = create_model("kws_cnn5", num_classes=12, seed=0).eval().to(args.device)
    x = torch.randn(args.batch, 1, 49, 10, generator=torch.Generator().manual_seed(0)).to(args.device)

    amodel = tc.convert(model, tc.AnalogConfig.preset("pcm"))
    tc.calibrate(amodel, x)
    t = time.perf_counter()
    tc.program(amodel, seed=0, instances=1)
    tc.drift(amodel, seconds=86400.0)
    program_drift_1 = time.perf_counter() - t
    tc.unprogram(amodel)

    single = tc.convert(model, tc.AnalogConfig.preset("pcm"))
    tc.calibrate(single, x)
    tc.program(single, seed=0, instances=1)
    tc.drift(single, seconds=86400.0)
    t = time.perf_counter()
    tc.program(amodel, seed=0, instances=args.instances)
    tc.drift(amodel, seconds=86400.0)
    program_drift_k = time.perf_counter() - t
    with torch.inference_mode():
        best = interleaved_best(
            {"fp32": lambda: model(x), "analog": lambda: single(x), "analog_k": lambda: amodel(x)},
            args.repeats,
        )
    fp32, analog, analog_k = best["fp32"], best["analog"], best["analog_k"]

    result = {
        "model": "kws_cnn5 (5x conv3x3x64, 1x49x10)",
        "params": sum(p.numel() for p in model.parameters()),
        "batch": args.batch,
        "threads": args.threads,
        "device": torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "cpu",
        "fp32_s": round(fp32, 4),
        "analog_s": round(analog, 4),
        "analog_over_fp32": round(analog / fp32, 3),
        "instances": args.instances,
        "analog_k_s": round(analog_k, 4),
        "analog_k_per_instance_over_fp32": round(analog_k / args.instances / fp32, 3),
        "program_plus_drift_s": round(program_drift_1, 4),
        f"program_plus_drift_{args.instances}_instances_s": round(program_drift_k, 4),
        "aihwkit_reference_over_fp32": "8.1x (torch tile) to 19.9x (C++ tile), anchors.md",
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
