"""HamQ (seed D): penalize the number of ON bit-cells of the quantized weights.

A weight stored with b magnitude bits on binary cells (sign-magnitude; the sign is the column
pair) turns on popcount(q) cells, q = round(|w_n| * (2^b - 1)); the array energy of a MAC is
proportional to input activity times ON cells, so lowering mean popcount lowers bit-line energy.

Loss term: lambda * mean_w popcount(q). Its value is the exact popcount; its gradient is that of
a surrogate built from the exact popcount itself (`surrogate_popcount`):

* H(x), the piecewise-linear interpolation of popcount between the two neighbouring integer
  codes, H(x) = (1 - frac x) HW(floor x) + frac x HW(ceil x): exact at every integer code, and
  its slope HW(ceil) - HW(floor) moves a weight toward its lower-popcount neighbour
  (31 = 011111 -> 32 = 100000 is a slope of -4; a local minimum of popcount gets slope 0 from
  both sides' secants, so weights settle there instead of drifting past it).
* "Steepest secant" within `radius` codes: the gradient at x is the slope of the line from
  (x, H(x)) to the integer code j, |j - x| <= radius, whose popcount lies *furthest below per code
  of distance*, or 0 when no code in reach has a lower popcount. radius = 1 is exactly H's slope;
  a wider radius lets a weight several codes away from a low-popcount code (36 -> 32, 47 -> 48)
  feel its pull, which H's slope alone does not give (H is flat or rising on the way there).

The earlier cosine surrogate (bit k replaced by a cosine of the same period) levelled off at
-21 % ON cells on KWS at 6 bits, and so does radius 1; radius 4 reached -36 % (4 epochs, lambda 3,
-1.4 pp) and -39 % (8 epochs, lambda 3, -0.85 pp): see docs/training.md, HamQ section.

Which cells: a weight's ON cells cost energy every time the weight is read, i.e. once per output
position of its layer (a conv weight of a 32 x 32 feature map is read 1024 times per inference, a
weight of an 8 x 8 one 64 times). With `WEIGHT_BY_REUSE` the penalty is the mean ON cells per weight
READ (each layer's popcount sum weighted by its output positions, measured by a forward hook), the
quantity the bit-line energy is proportional to, instead of the mean per stored weight; the two are
the same when every layer has the same number of positions (KWS DS-CNN), and the reuse weighting
stops a network with small early layers (ResNet on CIFAR) from buying its ON-cell cut in the big late
layers whose weights are read least.

lambda ramps in with the hardware-aware noise (`LAMBDA_WARMUP`: lambda x the layers' noise_factor, which
`fit` raises over the hwa.noise_warmup epochs), so the penalty does not hit the FP minimum at full
strength, and keep-best (full-noise epochs only) chooses among epochs trained at full lambda. On KWS
(12 epochs, the twin of docs/results.md) lambda 5 with the ramp reached -39.0 % ON cells for -3.37 pp
at 1 day, lambda 3 constant -38.1 % for -2.46 pp (10 chips): the cut grows little with lambda; the
trained codes sit about where moving each of the twin's codes to the lowest popcount within +-2 codes
would put them (docs/results.md, "Cost model: unipolar and HamQ hardware", third pass).

The weight range s (= max|W| per layer, refreshed after every step) keeps its value inside the
penalty, but the gradient also flows through max|W| (`_live_scale`, `RANGE_GRAD`): otherwise the
top codes (63 = 111111 -> 62) pull the largest weight down and the next remap re-inflates every code.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tinycim.train.prepare import hwa_config, hwa_layers

# Codes (of 2^b - 1) within which a weight feels the pull of a lower-popcount code; chosen on KWS
# at 6 bits (docs/training.md, HamQ section).
SURROGATE_RADIUS = 4
# Differentiate the penalty through the weight range max|W| (see `_live_scale`).
RANGE_GRAD = True
# Weight each layer's ON cells by how often they are read (output positions per inference); see module doc.
WEIGHT_BY_REUSE = True
# Weight each stored weight's ON cells by how many 1 bits its row's bit-serial input carries per inference
# (measured by the forward hook, exponential average over steps): the penalty is then the mean ON cells per
# *input bit read*, the quantity the bit-line energy (cost.activity bit_g) is proportional to, so rows whose
# inputs are mostly 0 (ReLU, padding) are not pushed at the accuracy's expense. Needs WEIGHT_BY_REUSE.
# Off by default: on KWS (lambda 5 with the ramp, 12 epochs) it gave bit-line -39.3 % for -4.41 pp against
# -39.0 % for -3.37 pp without it (docs/results.md, issue 17 third pass): no measured gain.
WEIGHT_BY_INPUT_BITS = False
INPUT_BITS_MOMENTUM = 0.9  # exponential average of the per-row input bits over training steps
# lambda ramps in with the hardware-aware noise (hwa.noise_warmup; the layers' noise_factor goes 1/n, 2/n,
# ..., 1 over the warm-up epochs), so the penalty does not hit the FP minimum at full strength in the
# first step and keep-best (which only considers epochs at full noise) chooses among full-lambda epochs.
LAMBDA_WARMUP = True


def popcount(q: torch.Tensor, bits: int) -> torch.Tensor:
    """Number of 1 bits of non-negative integer codes q < 2^bits (float tensor of q's shape)."""
    q = q.to(torch.int64)
    count = torch.zeros_like(q)
    for k in range(bits):
        count += (q >> k) & 1
    return count.to(torch.float32)


def interpolated_popcount(x: torch.Tensor, bits: int) -> torch.Tensor:
    """H(x) = (1 - frac) HW(floor x) + frac HW(ceil x), x clamped to [0, 2^bits - 1]; exact at integers."""
    x = x.clamp(0.0, float((1 << bits) - 1))
    lo = torch.floor(x)
    frac = x - lo
    hi = torch.clamp(lo + 1, max=float((1 << bits) - 1))
    return (1 - frac) * popcount(lo, bits) + frac * popcount(hi, bits)


def secant_slope(x: torch.Tensor, bits: int, radius: int | None = None) -> torch.Tensor:
    """dHW/dx of the surrogate: the steepest descending secant from (x, H(x)) to an integer code
    within `radius` codes (signed: negative when the lower-popcount code lies above x), 0 when none."""
    radius = SURROGATE_RADIUS if radius is None else radius
    if radius < 1:
        raise ValueError(f"radius must be >= 1, got {radius}")
    top = float((1 << bits) - 1)
    x = x.detach().clamp(0.0, top)
    h = interpolated_popcount(x, bits)
    lo = torch.floor(x)
    best = torch.zeros_like(x)  # largest popcount drop per code of distance
    direction = torch.zeros_like(x)
    for d in range(-radius, radius + 1):  # j = floor(x) + d covers every integer with |j - x| <= radius
        j = lo + d
        dist = (j - x).abs()
        valid = (j >= 0) & (j <= top) & (dist > 1e-6) & (dist <= radius)
        rate = (h - popcount(j.clamp(0.0, top), bits)) / dist.clamp(min=1e-6)
        take = valid & (rate > best)
        best = torch.where(take, rate, best)
        direction = torch.where(take, torch.sign(j - x), direction)
    return -best * direction


class _SurrogatePopcount(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, bits, radius):  # type: ignore[override]  # autograd.Function's static forward/backward
        ctx.save_for_backward(x)
        ctx.bits, ctx.radius = bits, radius
        return popcount(torch.round(x.detach()).clamp(0, (1 << bits) - 1), bits)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]  # autograd.Function's static forward/backward
        (x,) = ctx.saved_tensors
        return grad * secant_slope(x, ctx.bits, ctx.radius), None, None


def surrogate_popcount(x: torch.Tensor, bits: int, radius: int | None = None) -> torch.Tensor:
    """Exact popcount of round(x) in the forward, the steepest-secant gradient (`secant_slope`) in backward.

    x: continuous codes |w_n| * (2^bits - 1) in [0, 2^bits - 1], any shape; radius: codes of reach
    (default `SURROGATE_RADIUS`; 1 = the slope of the interpolated popcount).
    """
    return _SurrogatePopcount.apply(x, bits, radius)


def _live_scale(layer) -> torch.Tensor:
    """The weight range as the penalty sees it: the layer's s = max|W| (per layer or column), with
    its gradient, so the largest weight carries the pull of every other code (raising it lowers
    them all) instead of being pulled down itself, which the next step's range would turn into
    larger codes everywhere. A uniform range (shared by the model) takes no gradient."""
    s = layer.weight_scale()
    mapping = layer.analog_config.mapping
    if not RANGE_GRAD or mapping.weight_range == "uniform":
        return s
    w = layer.weight
    flat = w.abs().reshape(w.shape[0], -1)
    m = flat.amax(dim=1) if mapping.weight_range == "column" else flat.amax().expand(w.shape[0])
    return s + (m - m.detach())


def _codes(layer) -> torch.Tensor:
    bits = layer.analog_config.mapping.weight_bits
    w = layer.weight
    w_n = (w / _live_scale(layer).view(-1, *([1] * (w.dim() - 1)))).abs().clamp(max=1.0)
    return w_n * ((1 << bits) - 1)


def _bit_layers(model: nn.Module) -> list:
    return [layer for _, layer in hwa_layers(model) if layer.analog_config.mapping.weight_bits is not None]


def _record_positions(layer, inputs, output) -> None:
    """Forward hook: the layer's output positions per sample (MVMs per inference), as the cost model
    counts them (`tinycim.cost.activity`), and (`WEIGHT_BY_INPUT_BITS`) each row's input 1 bits."""
    out = output[0] if isinstance(output, tuple) else output
    if isinstance(out, torch.Tensor) and out.dim() >= 1 and out.shape[0] > 0:
        geo = layer.geometry
        layer._hamq_positions = max(1, out[0].numel() // (geo.groups * geo.out_per_group))
        x = inputs[0] if inputs else None
        if WEIGHT_BY_INPUT_BITS and layer.training and isinstance(x, torch.Tensor):
            rows = row_input_bits(layer, x)
            if rows is not None:
                old = getattr(layer, "_hamq_rows", None)
                m = INPUT_BITS_MOMENTUM
                layer._hamq_rows = (
                    rows if old is None or old.shape != rows.shape else m * old + (1 - m) * rows
                )


@torch.no_grad()
def row_input_bits(layer, x: torch.Tensor) -> torch.Tensor | None:
    """1 bits per sample that each weight's row receives over the layer's positions when its input x is
    coded bit-serially by the layer's DAC (b = analog_config.dac.bits; the cost model's bit_g rule,
    `tinycim.cost.activity`), shaped to broadcast against the layer's weight; None when the DAC has no
    bits, is uncalibrated, or the layer is not a Linear / 1-d or 2-d conv."""
    from torch.nn import functional as F

    from tinycim.cost.activity import _codes, popcount as input_popcount

    bits = layer.analog_config.dac.bits
    r = float(layer.input_range)
    if bits is None or not (r > 0 and r < float("inf")) or x.shape[0] == 0:
        return None
    ones = input_popcount(torch.round(_codes(layer, x, bits) * ((1 << bits) - 1)), bits)
    batch = x.shape[0]
    if isinstance(layer, nn.Linear):
        return (ones.reshape(-1, ones.shape[-1]).sum(dim=0) / batch).unsqueeze(0)
    if not isinstance(layer, (nn.Conv1d, nn.Conv2d)) or isinstance(layer.padding, str):
        return None
    conv: Any = layer  # an analog conv: torch's conv attributes plus `geometry`
    if isinstance(layer, nn.Conv1d):  # as a 2-d conv of height 1
        ones = ones.unsqueeze(2)
        k, st, pd, dl = (1, *conv.kernel_size), (1, *conv.stride), (0, *conv.padding), (1, *conv.dilation)
    else:
        k, st, pd, dl = conv.kernel_size, conv.stride, conv.padding, conv.dilation
    cols = F.unfold(ones, k, dilation=dl, padding=pd, stride=st)  # [B, C_in * k, L]
    per_row = cols.sum(dim=(0, 2)) / batch  # [C_in * k]: channel-major, as the weight's (C_in/g, *k)
    geo = conv.geometry
    per_row = per_row.reshape(geo.groups, 1, *layer.weight.shape[1:])
    return per_row.expand(geo.groups, geo.out_per_group, *layer.weight.shape[1:]).reshape(layer.weight.shape)


def layer_reuse(layers: list) -> list[float]:
    """Each layer's reads per inference (output positions) as last seen by the forward hook, which is
    attached here on first use; all 1 (the plain mean per weight) until every layer has run once."""
    for layer in layers:
        if not getattr(layer, "_hamq_hooked", False):
            layer.register_forward_hook(_record_positions)
            layer._hamq_hooked = True
    seen: list[int] = [getattr(layer, "_hamq_positions", 0) for layer in layers]
    if not all(seen):
        return [1.0] * len(layers)
    return [float(p) for p in seen]


def hamq_penalty(model: nn.Module) -> torch.Tensor | None:
    """lambda * mean ON cells per weight read (per weight when `WEIGHT_BY_REUSE` is off, or until
    every layer has run once) over every hardware-aware layer with weight levels, or None when
    lambda = 0 (so a lambda = 0 run executes exactly the plain computation)."""
    hwa = hwa_config(model)
    layers = _bit_layers(model)
    if hwa is None or hwa.hamq_lambda == 0 or not layers:
        return None
    reuse = layer_reuse(layers) if WEIGHT_BY_REUSE else [1.0] * len(layers)
    ramp = lambda_ramp(layers)
    if ramp <= 0:
        return None
    total, count = None, 0.0
    rows = [getattr(layer, "_hamq_rows", None) for layer in layers]
    by_bits = WEIGHT_BY_REUSE and WEIGHT_BY_INPUT_BITS and all(r is not None for r in rows)
    for layer, r, a in zip(layers, reuse, rows):
        pops = surrogate_popcount(_codes(layer), layer.analog_config.mapping.weight_bits)
        if (
            by_bits and a is not None
        ):  # ON cells x the 1 bits their row reads per inference (positions included)
            ones = (pops * a).sum()
            count += float(a.expand_as(pops).sum())
        else:
            ones = r * pops.sum()
            count += r * layer.weight.numel()
        total = ones if total is None else total + ones
    assert total is not None
    return ramp * hwa.hamq_lambda * total / max(count, 1e-12)


def lambda_ramp(layers: list) -> float:
    """The fraction of lambda in force: the layers' training-noise ramp (`noise_factor`, 1 after the
    hwa.noise_warmup epochs and outside `fit`) when `LAMBDA_WARMUP`, else 1."""
    if not LAMBDA_WARMUP:
        return 1.0
    return min(1.0, max(0.0, float(getattr(layers[0], "noise_factor", 1.0))))


@torch.no_grad()
def on_cell_fraction(model: nn.Module, bits: int | None = None) -> float | None:
    """Fraction of ON bit-cells (mean popcount / bits) of the weights quantized to `bits`
    (default: each layer's mapping.weight_bits); None when no analog layer has weight levels."""
    from tinycim.nn.convert import analog_layers

    ones, cells = 0.0, 0
    for _, layer in analog_layers(model):
        b = bits if bits is not None else layer.analog_config.mapping.weight_bits
        if b is None:
            continue
        w = layer.weight
        w_n = (w / layer.weight_scale().view(-1, *([1] * (w.dim() - 1)))).abs().clamp(max=1.0)
        ones += float(popcount(torch.round(w_n * ((1 << b) - 1)), b).sum())
        cells += w.numel() * b
    return ones / cells if cells else None
