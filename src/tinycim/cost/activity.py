"""What each analog layer does in one inference: MVM count, rows driven, and the input-weighted
sum of the conductances its inputs read (the activity-dependent part of the array energy).

With a real batch (`inputs=`) every layer's input is captured with a forward pre-hook and turned
into pulse-width codes exactly as its DAC would (|x| / range, clipped to 1, rounded to 2^b - 1
steps); then, per sample,

    code_g  = sum over MVMs and rows of  code_fraction(row) * G_row     [uS]
    drives  = number of non-zero inputs over all MVMs (each is one wordline pulse)

    bit_g_us  = sum over MVMs and rows of  popcount(code(row)) * G_row   [uS]   (bit-serial inputs)
    bit_drives = number of 1 bits over all inputs of all MVMs              (bit-serial pulses)

where G_row is the sum of the conductances (all slices, both devices of a pair) on that row: one
convolution of the codes with the per-row conductance sums gives code_g without im2col.
Since the sum over a row's columns is taken, code_g is also the sum over every column conversion of
the column conductance read during it (the ADC current term of `tinycim.cost.events`).
Without inputs a documented default activity is assumed instead (`DEFAULT_*`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from tinycim.errors import MappingError
from tinycim.models.probe import probe

from tinycim.nn.layers import AnalogLayerMixin

# Default input activity when no batch is given. Post-ReLU activations: about half are exactly zero
# (no pulse, no wordline drive), and the mean code is about a quarter of full scale. An assumption
# (typical of ReLU CNNs calibrated at a high percentile), stated so it can be replaced by `inputs=`.
DEFAULT_NONZERO_FRACTION = 0.5
DEFAULT_MEAN_CODE_FRACTION = 0.25
# ASSUMED: the share of an input's b bit-cycles that pulse (mean popcount / b) for such codes.
DEFAULT_BIT_FRACTION = 0.25


@dataclass(frozen=True)
class LayerActivity:
    """One analog layer, per inference (one sample).

    positions:  MVMs per sample (output pixels of a conv, leading positions of a linear).
    out_channels, rows: outputs per MVM and rows driven per MVM (all groups).
    macs:       useful multiply-accumulates (rows per group x outputs x positions).
    code_g_us:  sum over MVMs and rows of input code fraction x row conductance sum (uS).
    drives:     non-zero input pulses over all MVMs.
    devices:    devices holding this layer's weights (slices x polarity x weights).
    polarity_devices: 2 for a differential pair per weight, 1 for unipolar (the layer's own
        `analog_config.mapping.polarity`).
    devices_per_weight: slices x polarity devices.
    slices:     devices per polarity that hold one weight's digits (`mapping.slices`).
    bit_g_us, bit_drives: the bit-serial counterparts of code_g_us and drives (see module doc).
    """

    name: str
    positions: int
    out_channels: int
    rows: int
    macs: int
    code_g_us: float
    drives: float
    devices: int
    polarity_devices: int
    devices_per_weight: int
    slices: int = 1
    bit_g_us: float = 0.0
    bit_drives: float = 0.0

    @property
    def differential(self) -> bool:
        return self.polarity_devices == 2


def _row_conductance(layer: AnalogLayerMixin, cond: torch.Tensor) -> torch.Tensor:
    """Per-row conductance sums as a conv/linear weight: [groups, C_in/groups, *k] (conv) or [C_in] (uS).

    cond: the layer's conductances [S, P, C_out, C_in/groups, *k] (uS)."""
    g = cond.detach().float().sum(dim=(0, 1))  # [C_out, C_in/g, *k]
    if isinstance(layer, nn.Linear):
        return g.sum(dim=0)
    geo = layer.geometry
    return g.reshape(geo.groups, geo.out_per_group, *g.shape[1:]).sum(dim=1)


def _codes(layer: AnalogLayerMixin, x: torch.Tensor, bits: int) -> torch.Tensor:
    """Input code fractions in [0, 1] on the 2^b - 1 step pulse grid (same range rule as the DAC)."""
    x = x.detach().float()
    cfg = layer.analog_config
    r_stored = float(layer.input_range)
    if cfg.dac.range is not None:
        r: torch.Tensor | float = cfg.dac.range
    elif math.isfinite(r_stored) and r_stored > 0:
        r = r_stored
    else:  # per-sample max|x|: the simulator's ideal input gain control
        dims = tuple(range(1, x.dim()))
        r = x.abs().amax(dim=dims, keepdim=True).clamp(min=1e-12) if dims else x.abs().clamp(min=1e-12)
    steps = (1 << bits) - 1
    return torch.round((x.abs() / r).clamp(max=1.0) * steps) / steps


def _conv(layer: nn.Module, x: torch.Tensor, w: torch.Tensor, groups: int) -> torch.Tensor:
    # A torch Conv's stride/padding/dilation are tuples (or a padding string); nn.Module's attributes
    # are typed Tensor | Module, hence the casts.
    stride = cast("tuple[int, ...]", layer.stride)
    padding = cast("Any", layer.padding)
    dilation = cast("tuple[int, ...]", layer.dilation)
    fn = F.conv1d if x.dim() == 3 else F.conv2d
    return fn(x, w, None, stride, padding, dilation, groups)


def popcount(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Number of 1 bits of each integer code in [0, 2^b - 1] (same shape, float)."""
    n = codes.to(torch.int64)
    out = torch.zeros_like(n)
    for k in range(bits):
        out += (n >> k) & 1
    return out.to(torch.float32)


def measured(
    layer: AnalogLayerMixin, x: torch.Tensor, g_row: torch.Tensor, bits: int
) -> tuple[float, float, float, float]:
    """(code_g_us, drives, bit_g_us, bit_drives) per sample for a captured input batch x [B, ...],
    given the per-row conductances (uS)."""
    codes = _codes(layer, x, bits)
    batch = max(1, x.shape[0])
    nonzero = (codes > 0).float()
    ones = popcount(torch.round(codes * ((1 << bits) - 1)), bits)
    if isinstance(layer, nn.Linear):
        return (
            float((codes * g_row).sum()) / batch,
            float(nonzero.sum()) / batch,
            float((ones * g_row).sum()) / batch,
            float(ones.sum()) / batch,
        )
    groups = layer.geometry.groups
    unit = torch.ones_like(g_row)
    sums = [
        float(_conv(layer, a, w, groups).sum()) / batch  # type: ignore[arg-type]  # the mixin is an nn.Module at run time
        for a, w in ((codes, g_row), (nonzero, unit), (ones, g_row), (ones, unit))
    ]
    return sums[0], sums[1], sums[2], sums[3]


def collect(
    model: nn.Module, layers: dict[str, AnalogLayerMixin], example: torch.Tensor, bits: int, measure: bool
) -> list[LayerActivity]:
    """Run `model` once on `example` [B, ...] and describe every analog layer of `layers` in call order.

    model: the converted model, or (measure=False only) its digital original: the modules of the
        same names give the shapes, and a digital forward is much cheaper than the analog one.
    measure=False: shapes only, default activity; True: activity measured from `example`.
    """
    seen: dict[str, LayerActivity] = {}

    def hook_for(name: str):
        def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            now = _describe(name, layers[name], args[0], output, bits, measure)
            # a layer called several times per inference (a recurrent matrix once per time step, a
            # shared projection per token) costs every call
            seen[name] = now if name not in seen else _add_calls(seen[name], now)

        return hook

    probe(
        model, example, {module: hook_for(name) for name, module in model.named_modules() if name in layers}
    )
    return list(seen.values())


def _add_calls(a: LayerActivity, b: LayerActivity) -> LayerActivity:
    """Two calls of one layer in one inference: MVMs, MACs, pulses and read conductance add up."""
    return dataclasses.replace(
        a,
        positions=a.positions + b.positions,
        macs=a.macs + b.macs,
        code_g_us=a.code_g_us + b.code_g_us,
        drives=a.drives + b.drives,
        bit_g_us=a.bit_g_us + b.bit_g_us,
        bit_drives=a.bit_drives + b.bit_drives,
    )


def _describe(
    name: str, layer: AnalogLayerMixin, x: torch.Tensor, out: torch.Tensor, bits: int, measure: bool
) -> LayerActivity:
    geo = layer.geometry
    per_sample = out[0].numel()
    c_out = geo.groups * geo.out_per_group
    positions = per_sample // c_out
    rows = geo.groups * geo.rows_per_group
    cond = layer.conductances(0)
    g_row = _row_conductance(layer, cond)
    if measure:
        code_g, drives, bit_g, bit_drives = measured(layer, x, g_row, bits)
    else:
        code_g = positions * DEFAULT_MEAN_CODE_FRACTION * float(g_row.sum())
        drives = positions * rows * DEFAULT_NONZERO_FRACTION
        bit_g = positions * DEFAULT_BIT_FRACTION * bits * float(g_row.sum())
        bit_drives = positions * rows * DEFAULT_BIT_FRACTION * bits
    mapping = layer.analog_config.mapping  # this layer's own config (per-layer overrides differ)
    polarity = 2 if mapping.polarity == "differential" else 1
    shape = cond.shape
    if shape[0] != mapping.slices or shape[1] != polarity:
        raise MappingError(
            f"layer {name!r}: conductances {tuple(shape)} do not match its analog_config "
            f"(slices {mapping.slices}, {mapping.polarity})"
        )
    return LayerActivity(
        name=name,
        positions=positions,
        out_channels=c_out,
        rows=rows,
        macs=positions * c_out * geo.rows_per_group,
        code_g_us=code_g,
        drives=drives,
        devices=math.prod(shape),
        polarity_devices=polarity,
        devices_per_weight=mapping.slices * polarity,
        slices=mapping.slices,
        bit_g_us=bit_g,
        bit_drives=bit_drives,
    )
