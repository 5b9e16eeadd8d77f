"""Speed of one hardware-aware training step vs one plain FP32 step, measured in one run.

Model: `kws_cnn5` (five 3x3 convs of 64 channels on 49x10 MFCC, ~150K parameters), batch 256,
2 threads: the setting of the aihwkit measurement in the research notes (its HWA step: 23x).
Plain = the model with BatchNorm, AdamW; HWA = `prepare(model, HWAConfig.preset("pcm-gaussian"))`:
BN folded, per-batch Gaussian weight noise (or `--recipe pcm`: noise from the device model),
clipping, 8-bit DAC and per-tile 8-bit ADC with learned ranges (576-row layers span two 512-row tiles). Prints JSON: median seconds per step and their ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from tinycim.models import create_model
from tinycim.train import HWAConfig, build_optimizer, constrain_, init_ranges, prepare
from tinycim.train.config import TrainConfig


def _step(model, optimizer, x, y) -> None:
    loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    constrain_(model)  # no-op for the plain model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--recipe",
        default="pcm-gaussian",
        help="HWA preset: pcm-gaussian (one randn per weight tensor) or pcm (device-model noise)",
    )
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    plain = create_model("kws_cnn5", num_classes=12, seed=0).train().to(args.device)
    hwa = prepare(plain, HWAConfig.preset(args.recipe), "pcm").train()
    x = torch.randn(args.batch, 1, 49, 10, generator=torch.Generator().manual_seed(1)).to(args.device)
    y = torch.randint(0, 12, (args.batch,), generator=torch.Generator().manual_seed(2)).to(args.device)
    init_ranges(hwa, x)
    models = {"fp32": plain, "hwa": hwa}
    opts = {k: build_optimizer(m, TrainConfig()) for k, m in models.items()}
    times: dict[str, list[float]] = {k: [] for k in models}
    for i in range(args.warmup + args.steps):
        for key, model in models.items():  # interleaved, so machine load hits both alike
            _sync(args.device)
            t0 = time.perf_counter()
            _step(model, opts[key], x, y)
            _sync(args.device)
            if i >= args.warmup:
                times[key].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        json.dumps(
            {
                "model": "kws_cnn5",
                "batch": args.batch,
                "threads": args.threads,
                "steps": args.steps,
                "fp32_step_s": med["fp32"],
                "hwa_step_s": med["hwa"],
                "hwa_over_fp32": med["hwa"] / med["fp32"],
                "recipe": args.recipe,
                "device": _device_name(args.device),
            }
        )
    )


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _device_name(device: str) -> str:
    return torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu"


if __name__ == "__main__":
    main()
