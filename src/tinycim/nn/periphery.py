"""What an analog layer owns besides its weights: its converters (`Converter`: a DAC or a tile
column's ADC, bits and range), their `Periphery` (shared by every layer of a uniform periphery),
and the `InstanceContext` through which a converted model's root runs K programmed chips.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from tinycim.config import AnalogConfig
from tinycim.errors import MappingError

# Smallest range a converter takes (keeps log and divisions finite).
_MIN_RANGE = 1e-8


class InstanceContext:
    """Shared by a converted model's layers and hooked on its root: the batch size of the current
    top-level call, and the programmed chip being run.

    A layer tells a shared input [B, ...] (before any analog layer ran) from per-instance
    activations [K*B, ...] by the batch. At inference (no gradients) with K > 1 chips, the root's
    hooks run the whole network once per chip (`active` = that chip) and concatenate the outputs
    instance-major: each chip's activations stay one batch in size (cache-resident) instead of K
    batches, so K chips cost K single-chip inferences. With gradients on, every layer handles the
    K chips itself (vectorized). Hooks, not a subclass: the model keeps its own class (it pickles).
    """

    def __init__(self) -> None:
        self.batch: int | None = None
        self.active: int | None = None
        self.instances = 1  # set by tc.program

    def before(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        first = next((a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)), None)
        self.batch = None if first is None else first.shape[0]
        if self.instances > 1 and self.active is None and not torch.is_grad_enabled():
            self.active = 0

    def after(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> Any:
        try:
            if self.active is None:
                return output
            outs = [output]
            for k in range(1, self.instances):
                self.active = k
                outs.append(module.forward(*args, **kwargs))
            return _concat_instances(outs)
        finally:
            self.batch, self.active = None, None


def _concat_instances(outs: list) -> Any:
    first = outs[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(outs)
    if isinstance(first, (tuple, list)):
        return type(first)(_concat_instances(list(parts)) for parts in zip(*outs))
    if isinstance(first, dict):
        return {key: _concat_instances([o[key] for o in outs]) for key in first}
    raise MappingError(f"cannot stack per-instance outputs of type {type(first).__name__}")


class Converter(nn.Module):
    """A b-bit signed converter (DAC, or a tile column's ADC) and its full-scale range.

    bits: None = no quantization. fixed: a range set by the config (`dac.range` / `adc.range`);
    otherwise `log_range` holds the calibrated or learned range (NaN until calibrated; an
    uncalibrated converter takes each sample's max|x|: ideal gain control). Units: the DAC's range
    is in input units; the ADC's is normalized (inputs / r_in times weights / s, summed over a
    tile's rows), so the partial sums of inputs x_q saturate at o * r_in.
    """

    def __init__(self, bits: int | None, fixed: float | None, shared: bool = False) -> None:
        super().__init__()
        self.bits = bits
        self.fixed = fixed
        self.shared = shared  # one converter design reused by several layers (uniform periphery)
        self.log_range = nn.Parameter(torch.tensor(math.nan), requires_grad=False)
        self.calibrating: float | None = None  # percentile while tc.calibrate runs
        self._calibrated = False  # whether log_range is finite, kept in Python (no sync, no graph break)

    @property
    def active(self) -> bool:
        return self.bits is not None

    @property
    def calibrated(self) -> bool:
        return self.fixed is not None or self._calibrated

    @torch.no_grad()
    def set_range(self, value: float) -> None:
        """Set the range (NaN = not calibrated)."""
        self.log_range.fill_(math.log(max(value, _MIN_RANGE)) if math.isfinite(value) else math.nan)
        self._calibrated = math.isfinite(value)

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._calibrated = bool(torch.isfinite(self.log_range.detach()))

    def full_scale(self) -> torch.Tensor:
        """The range as a scalar tensor (differentiable when learned)."""
        if self.fixed is not None:
            return self.log_range.new_tensor(self.fixed).detach()
        return self.log_range.exp()

    def range_value(self) -> float:
        """The range as a float (NaN when not calibrated)."""
        return float(self.fixed) if self.fixed is not None else float(self.log_range.detach().exp())

    @torch.no_grad()
    def observe(self, value: float) -> None:
        """Take a calibration value: the max of what this converter saw in the current pass."""
        current = float(self.log_range.detach().exp())
        if math.isfinite(current):
            value = max(value, current)
        self.set_range(value)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, range={self.range_value():.4g}" + (", shared" if self.shared else "")


class Periphery(nn.Module):
    """A layer's converters and (uniform weight range) the |w| mapped to g_max.

    A uniform periphery (seed B: one weight and activation range for all layers) is one instance
    held by every uniform layer, so its ranges are calibrated and learned once for all of them.
    """

    def __init__(self, config: AnalogConfig, shared: bool = False) -> None:
        super().__init__()
        self.dac = Converter(config.dac.bits, config.dac.range, shared)
        self.adc = Converter(config.adc.bits, config.adc.range, shared)
        self.w_max: torch.Tensor
        self.register_buffer("w_max", torch.tensor(math.nan))  # uniform weight range (NaN: per layer)
        self.w_max_value: float | None = None  # the same in Python (no sync, no graph break)

    @torch.no_grad()
    def set_w_max(self, value: float) -> None:
        self.w_max.fill_(value)
        self.w_max_value = value if math.isfinite(value) else None

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        value = float(self.w_max)
        self.w_max_value = value if math.isfinite(value) else None

    @property
    def shared(self) -> bool:
        return self.dac.shared

    def converters(self) -> tuple[Converter, Converter]:
        return self.dac, self.adc
