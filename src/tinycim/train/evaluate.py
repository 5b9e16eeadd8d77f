"""Accuracy of digital, prepared and analog models, and Monte-Carlo drift sweeps.

An analog model programmed with K instances maps a batch [B, ...] to [K*B, C] (instance-major),
so its outputs are reshaped to [K, B, C] and each instance is scored on its own.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn


@dataclass
class DriftResult:
    """Accuracy (%) over time after programming, over `instances` programmed chips.

    times: seconds after programming; mean / std: over instances, one per time (std with
    Bessel's correction, 0 for one instance); per_instance: [len(times)][instances];
    fp_accuracy: the same weights run digitally in FP32.
    """

    fp_accuracy: float
    times: list[float] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    per_instance: list[list[float]] = field(default_factory=list)
    instances: int = 1
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    def at(self, seconds: float) -> tuple[float, float]:
        """(mean, std) at the evaluated time closest to `seconds`."""
        i = min(range(len(self.times)), key=lambda j: abs(self.times[j] - seconds))
        return self.mean[i], self.std[i]


@torch.no_grad()
def _correct_per_instance(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Number of correct predictions per programmed instance: [K] (K = 1 for non-analog models)."""
    total: torch.Tensor | None = None
    for start in range(0, x.shape[0], batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        out = model(xb)
        k = out.shape[0] // xb.shape[0]
        pred = out.reshape(k, xb.shape[0], -1).argmax(dim=2)
        hits = (pred == yb.unsqueeze(0)).sum(dim=1)
        total = hits if total is None else total + hits
    return total if total is not None else torch.zeros(1, dtype=torch.int64)


def evaluate(model: nn.Module, dataset, batch_size: int = 512) -> float:
    """Top-1 accuracy in % of any model on a TensorDataset (mean over instances if programmed K > 1)."""
    was_training = model.training
    model.eval()
    try:
        x, y = dataset.tensors[0], dataset.tensors[1]
        correct = _correct_per_instance(model, x, y, batch_size)
    finally:
        model.train(was_training)
    return float(correct.double().mean()) * 100.0 / max(1, y.shape[0])


def evaluate_drift(amodel: nn.Module, dataset, times=(1.0, 3600.0, 86400.0, 2.592e6, 3.15e7), instances: int = 10,
                   seed: int = 0, batch_size: int = 512) -> DriftResult:
    """Program `amodel` (a converted model, e.g. from `to_analog`) `instances` times with `seed`,
    and score every instance at every time after programming (drift, read noise, GDC).

    batch_size counts outputs per call: each call runs batch_size // instances samples through
    all instances, which bounds memory. Leaves the model programmed at the last time.
    """
    import tinycim as tc
    from tinycim.nn.convert import to_digital

    x, y = dataset.tensors[0], dataset.tensors[1]
    fp = evaluate(to_digital(amodel), dataset, batch_size=batch_size)
    tc.program(amodel, seed=seed, instances=instances)
    result = DriftResult(fp_accuracy=fp, instances=instances, seed=seed)
    chunk = max(1, batch_size // instances)
    amodel.eval()
    for t in times:
        tc.drift(amodel, float(t))
        accs = (_correct_per_instance(amodel, x, y, chunk).double() * 100.0 / max(1, y.shape[0]))
        result.times.append(float(t))
        result.mean.append(float(accs.mean()))
        result.std.append(float(accs.std()) if instances > 1 else 0.0)
        result.per_instance.append([float(a) for a in accs])
    return result
