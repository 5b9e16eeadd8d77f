"""Speed of the Linear-based recurrent layers against torch's fused CPU LSTM / GRU.

Hello Edge sizes (Zhang et al. 2017, arXiv 1711.07128; ARM-software/ML-KWS-for-MCU
train_commands.txt) on 49 steps of 10 MFCCs, batch 256, 2 CPU threads, inference (no_grad):

* basic LSTM-S: 118 cells, no projection (the ``lstm_kws`` zoo model's layer)
* LSTM-S: 144 cells with a 98-wide projection (torch has no peepholes; its oneDNN kernel does not
  take projections, so torch itself runs its slower generic path here)
* GRU-S: 154 cells (``gru_kws``)

For each: torch's module, its `tinycim.nn.recurrent` copy run digitally (``digital``), and the copy
converted to analog with the PCM preset, calibrated, programmed (1 instance) and drifted to one day
(``analog``). A row also gives a training step (forward + backward) of torch vs the digital copy.
Prints JSON with ratios measured in this one run (timings interleaved, best of ``--repeats``;
compare ratios, not seconds, on a shared machine; the load average is printed at start and end).
The issue's target: analog LSTM inference <= 2x torch.

The ``*_adaptive`` timings are the same models with the opt-in `tinycim.nn.recurrent.base.ADAPT_THREADS`
(without autograd, one thread when the 1-minute load average >= cores + 1); ``oversubscribed`` in
the JSON says whether that applied in this run. The plain timings are the library's default (all
of torch's threads), interleaved with the others.

    python benchmarks/recurrent_speed.py [--threads 2] [--batch 256] [--steps 49] [--repeats 5]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
import warnings

import torch
from torch import nn

from tinycim.nn.recurrent import base as recurrent_base
from tinycim.nn.recurrent import decompose

#: name -> (torch module factory, source)
CASES = {
    "basic_lstm_s": (lambda: nn.LSTM(10, 118, batch_first=True), "Hello Edge Basic LSTM-S, 118 cells"),
    "lstm_s": (
        lambda: nn.LSTM(10, 144, proj_size=98, batch_first=True),
        "Hello Edge LSTM-S, 144 cells, projection 98 (no peepholes)",
    ),
    "gru_s": (lambda: nn.GRU(10, 154, batch_first=True), "Hello Edge GRU-S, 154 cells"),
}


class OutputOnly(nn.Module):
    """[B, T, F] -> the recurrent layer's output [B, T, H] (the states are dropped)."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]


def interleaved_best(fns: dict, repeats: int) -> dict:
    """Best-of-`repeats` seconds per function, timed in turns so load from other processes hits
    every candidate alike."""
    for fn in fns.values():
        fn()  # warm-up
    best = {name: float("inf") for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    return best


def analog_copy(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """The model on PCM: converted (`tc.convert` decomposes the recurrent layers onto analog
    Linears), calibrated on ``x``, programmed (one chip, seed 0) and drifted to 1 day."""
    import tinycim as tc

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="BatchNorm not folded")  # fx cannot trace the time loop
        amodel = tc.convert(model, "pcm")
    with torch.no_grad():
        tc.calibrate(amodel, x)
    tc.program(amodel, seed=0, instances=1)
    tc.drift(amodel, seconds=86400.0)
    return amodel


def adaptive(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """model(x) with the opt-in one-thread rule of the recurrent layers on a loaded machine."""
    before = recurrent_base.ADAPT_THREADS
    recurrent_base.ADAPT_THREADS = True
    try:
        return model(x)
    finally:
        recurrent_base.ADAPT_THREADS = before


def train_step(model: nn.Module, x: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)
    model(x).square().mean().backward()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=49)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {sorted(CASES)}")
    parser.add_argument("--no-analog", action="store_true", help="skip the analog (PCM) timing")
    parser.add_argument("--no-train", action="store_true", help="skip the training-step timing")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="LSTM with projections is not supported with oneDNN")
    torch.set_num_threads(args.threads)
    x = torch.randn(args.batch, args.steps, 10, generator=torch.Generator().manual_seed(0))
    results = {
        "threads": args.threads,
        "batch": args.batch,
        "steps": args.steps,
        "load_avg_start": [round(v, 2) for v in os.getloadavg()],  # other jobs on the machine
        "cpus": os.cpu_count(),
        "oversubscribed_start": recurrent_base._oversubscribed(),
        "cases": {},
    }
    for name in args.cases.split(","):
        factory, source = CASES[name]
        torch.manual_seed(0)
        ref = OutputOnly(factory()).eval()
        digital, _ = decompose(copy.deepcopy(ref))
        fns = {"torch": lambda: ref(x), "digital": lambda: digital(x)}
        fns["digital_adaptive"] = lambda: adaptive(digital, x)
        if not args.no_analog:
            amodel = analog_copy(ref, x)
            fns["analog"] = lambda: amodel(x)
            fns["analog_adaptive"] = lambda: adaptive(amodel, x)
        with torch.no_grad():
            inf = interleaved_best(fns, args.repeats)
            err = float((digital(x) - ref(x)).norm() / ref(x).norm())
        row = {
            "source": source,
            "inference_s": {k: round(v, 5) for k, v in inf.items()},
            "digital_over_torch": round(inf["digital"] / inf["torch"], 3),
            "digital_rel_error": err,
        }
        if not args.no_train:
            train = interleaved_best(
                {"torch": lambda: train_step(ref, x), "digital": lambda: train_step(digital, x)},
                max(1, args.repeats // 2),
            )
            row["train_step_s"] = {k: round(v, 5) for k, v in train.items()}
            row["train_digital_over_torch"] = round(train["digital"] / train["torch"], 3)
        row["digital_adaptive_over_torch"] = round(inf["digital_adaptive"] / inf["torch"], 3)
        if "analog" in inf:
            row["analog_over_torch"] = round(inf["analog"] / inf["torch"], 3)
            row["analog_adaptive_over_torch"] = round(inf["analog_adaptive"] / inf["torch"], 3)
        else:
            row["analog"] = "skipped (--no-analog)"
        results["cases"][name] = row
    results["load_avg_end"] = [round(v, 2) for v in os.getloadavg()]
    results["oversubscribed_end"] = recurrent_base._oversubscribed()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
