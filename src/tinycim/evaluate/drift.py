"""Accuracy of digital, prepared and analog models, and Monte-Carlo drift sweeps.

An analog model programmed with K instances maps a batch [B, ...] to [K*B, C] (instance-major),
so its outputs are reshaped to [K, B, C] and each instance is scored on its own.

A drift sweep gives two references for a loss: the same weights run digitally (`fp_accuracy`) and
the same model on ideal devices with its own converters, tiles and weight levels
(`ideal_accuracy`: quantization and clipping only, no device noise or drift). The gap between the
two is what the converters cost; the loss below `ideal_accuracy` is drift and noise.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

# A converter cost (fp_accuracy - ideal_accuracy) above this many percentage points is reported as
# a warning: the loss on the chip is then not (only) drift and noise. ASSUMED (a few points).
REFERENCE_DISAGREE_PP = 3.0


@dataclass
class DriftResult:
    """Accuracy (%) over time after programming, over `instances` programmed chips.

    times: seconds after programming; mean / std: over instances, one per time (std with
    Bessel's correction, 0 for one instance); per_instance: [len(times)][instances];
    fp_accuracy: the same weights run digitally in FP32;
    ideal_accuracy: the same analog model on ideal devices (no programming noise, drift or read
        noise, no ADC noise) with its converters, tiles and weight levels: quantization and
        clipping only (None when not measured).
    """

    fp_accuracy: float
    times: list[float] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    per_instance: list[list[float]] = field(default_factory=list)
    instances: int = 1
    seed: int = 0
    ideal_accuracy: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def converter_loss(self) -> float | None:
        """fp_accuracy - ideal_accuracy in pp: what quantization and clipping cost (None if unmeasured)."""
        return None if self.ideal_accuracy is None else self.fp_accuracy - self.ideal_accuracy

    @property
    def reference_warning(self) -> str | None:
        """A one-line warning when the two references disagree by more than REFERENCE_DISAGREE_PP
        (the converters, not drift, then cost the accuracy), else None."""
        gap = self.converter_loss
        if gap is None or gap <= REFERENCE_DISAGREE_PP:
            return None
        return (
            f"the converters alone cost {gap:.2f} pp (digital {self.fp_accuracy:.2f} %, ideal devices with the "
            f"chip's DAC/ADC {self.ideal_accuracy:.2f} %): losses against the digital model are not only "
            "drift and noise; compare against ideal_accuracy"
        )

    def at(self, seconds: float) -> tuple[float, float]:
        """(mean, std) at the evaluated time closest to `seconds`."""
        i = min(range(len(self.times)), key=lambda j: abs(self.times[j] - seconds))
        return self.mean[i], self.std[i]


@torch.no_grad()
def _correct_per_instance(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int
) -> torch.Tensor:
    """Number of correct predictions per programmed instance: [K] (K = 1 for non-analog models)."""
    total: torch.Tensor | None = None
    for start in range(0, x.shape[0], batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        param = next(model.parameters(), None)
        if param is not None and xb.device != param.device:  # batches move to the model's device
            xb, yb = xb.to(param.device), yb.to(param.device)
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


def ideal_config(cfg: Any) -> Any:
    """`cfg` (an AnalogConfig) on ideal devices: the same tiles, mapping (weight levels,
    polarity) and DAC/ADC bits and ranges, with no device noise, drift or ADC noise, and no drift
    compensation. Per-layer overrides keep their converter and mapping changes; their device
    and gdc entries are dropped."""
    from tinycim.devices import IdealDevice

    layers = {}
    for pattern, override in cfg.layers.items():
        layers[pattern] = (
            {k: v for k, v in override.items() if k not in ("device", "gdc")}
            if isinstance(override, dict)
            else override
        )
    return dataclasses.replace(
        cfg, device=IdealDevice(), gdc=None, adc=dataclasses.replace(cfg.adc, noise=0.0), layers=layers
    )


def ideal_accuracy(amodel: nn.Module, dataset, batch_size: int = 512, seed: int = 0) -> float | None:
    """Accuracy (%) of a converted model re-targeted to `ideal_config` of its own config (learned or
    calibrated converter ranges carried over), programmed once; None for a model `tc.convert` did
    not make."""
    import tinycim as tc
    from tinycim.nn.convert import model_info_or_none
    from tinycim.train.analog import to_analog

    info = model_info_or_none(amodel)
    if info is None:
        return None
    with warnings.catch_warnings():  # ranges the model does not carry take each sample's range
        warnings.simplefilter("ignore")
        ideal = to_analog(amodel, ideal_config(info.config))
    tc.program(ideal, seed=seed, instances=1)
    return evaluate(ideal, dataset, batch_size=batch_size)


def evaluate_drift(
    amodel: nn.Module,
    dataset,
    times=(1.0, 3600.0, 86400.0, 2.592e6, 3.15e7),
    instances: int = 10,
    seed: int = 0,
    batch_size: int = 512,
    ideal: bool = True,
    warn: bool = False,
) -> DriftResult:
    """Program `amodel` (a converted model, e.g. from `to_analog`) `instances` times with `seed`,
    and score every instance at every time after programming (drift, read noise, GDC).

    batch_size counts outputs per call: each call runs batch_size // instances samples through
    all instances, which bounds memory. ideal: also score the model on ideal devices with its
    converters (`DriftResult.ideal_accuracy`); when that is more than REFERENCE_DISAGREE_PP below
    the digital accuracy, `DriftResult.reference_warning` says so (and, with warn=True, a
    UserWarning). Leaves the model programmed at the last time.
    """
    import tinycim as tc
    from tinycim.nn.convert import to_digital

    x, y = dataset.tensors[0], dataset.tensors[1]
    fp = evaluate(to_digital(amodel), dataset, batch_size=batch_size)
    result = DriftResult(fp_accuracy=fp, instances=instances, seed=seed)
    if ideal:
        result.ideal_accuracy = ideal_accuracy(amodel, dataset, batch_size=batch_size, seed=seed)
        if warn and result.reference_warning is not None:
            warnings.warn(result.reference_warning, stacklevel=2)
    tc.program(amodel, seed=seed, instances=instances)
    chunk = max(1, batch_size // instances)
    amodel.eval()
    for t in times:
        tc.drift(amodel, float(t))
        accs = _correct_per_instance(amodel, x, y, chunk).double() * 100.0 / max(1, y.shape[0])
        result.times.append(float(t))
        result.mean.append(float(accs.mean()))
        result.std.append(float(accs.std()) if instances > 1 else 0.0)
        result.per_instance.append([float(a) for a in accs])
    return result
