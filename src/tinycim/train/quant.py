"""Fake quantizers for training: converters with learnable full scale, and weight levels.

The converter quantizer is the same b-bit signed symmetric grid as `tiles.periphery`
(2^(b-1) - 1 levels per side, clipping outside), written as one autograd Function so the
training step costs a few elementwise passes:

    forward:  y = round(clamp(x * L / fs, -L, L)) * fs / L              (4 in-place passes)
    backward: dy/dx  = 1 inside [-fs, fs], 0 outside                     (straight-through)
              dy/dfs = (y - x * inside) / fs                             (LSQ, Esser et al. 2020)

The dy/dfs term is LSQ's step-size gradient (rounding error inside, +-1 at saturation), so a
range both grows when clipping hurts and shrinks when resolution does; it needs only two dot
products in backward.
"""
from __future__ import annotations

import math

import torch

from tinycim.tiles.periphery import levels_per_side

# Keeps a learned range strictly positive and divisions finite.
_MIN_RANGE = 1e-8
# Percentiles run on a strided subsample of at most this many values (speed; ~4M as tc.calibrate).
_PERCENTILE_SAMPLES = 1 << 22


class _FakeQuant(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, full_scale: torch.Tensor, levels: int) -> torch.Tensor:  # type: ignore[override]
        fs = full_scale.clamp(min=_MIN_RANGE)
        y = x * (levels / fs)
        y.clamp_(-levels, levels).round_().mul_(fs / levels)
        ctx.save_for_backward(x, y, fs)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        x, y, fs = ctx.saved_tensors
        grad_x = _pass_inside(grad, x, float(fs))
        grad_fs = None
        if ctx.needs_input_grad[1]:
            # sum(grad * (y - x*inside)) / fs, without materializing y - x*inside
            grad_fs = (torch.dot(grad.flatten(), y.flatten()) - torch.dot(grad_x.flatten(), x.flatten())) / fs
        return grad_x, grad_fs, None


class _FakeQuantSum(torch.autograd.Function):
    """ADC on every row tile's partial sums, then their digital sum, in one step:
    p [B, n, ...] -> sum_t q(p[:, t]) [B, ...]. Fusing the two saves a pass over the n-times
    larger tensor in forward and the copy that expands the sum's gradient in backward."""

    @staticmethod
    def forward(ctx, p: torch.Tensor, full_scale: torch.Tensor, levels: int) -> torch.Tensor:  # type: ignore[override]
        fs = full_scale.clamp(min=_MIN_RANGE)
        codes = p * (levels / fs)
        codes.clamp_(-levels, levels).round_()
        out = codes[:, 0].clone() if codes.shape[1] == 1 else codes[:, 0] + codes[:, 1]
        for t in range(2, codes.shape[1]):
            out.add_(codes[:, t])
        out.mul_(fs / levels)
        ctx.save_for_backward(p, out, fs)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        p, out, fs = ctx.saved_tensors
        grad_p = _pass_inside(grad.unsqueeze(1).expand_as(p), p, float(fs))
        grad_fs = None
        if ctx.needs_input_grad[1]:
            # sum_t sum(grad * q(p_t)) = sum(grad * out); LSQ as in _FakeQuant
            grad_fs = (torch.dot(grad.flatten(), out.flatten()) - torch.dot(grad_p.flatten(), p.flatten())) / fs
        return grad_p, grad_fs, None


def _pass_inside(grad: torch.Tensor, x: torch.Tensor, fs: float) -> torch.Tensor:
    """grad where -fs < x < fs, else 0: one fused pass (hardtanh's backward), no mask tensor."""
    return torch.ops.aten.hardtanh_backward(grad, x, -fs, fs)


def fake_quant(x: torch.Tensor, full_scale: torch.Tensor, bits: int) -> torch.Tensor:
    """b-bit signed fake quantization of x over [-full_scale, full_scale] (scalar tensor > 0).

    Values beyond the range saturate; gradients: straight-through to x, LSQ to full_scale.
    """
    return _FakeQuant.apply(x, full_scale, levels_per_side(bits))


def fake_quant_sum(p: torch.Tensor, full_scale: torch.Tensor, bits: int) -> torch.Tensor:
    """fake_quant of each row tile's partial sums p [B, n_tiles, ...], summed over the tiles."""
    return _FakeQuantSum.apply(p, full_scale, levels_per_side(bits))


def quantize_weight_levels(w_n: torch.Tensor, bits: int) -> torch.Tensor:
    """Normalized weights in [-1, 1] onto the 2^bits - 1 magnitude levels of `MappingConfig.weight_bits`
    (the grid `tiles.mapping.magnitude_slices` stores), straight-through gradient inside [-1, 1].

    w_n: any shape, weights / weight range.
    """
    top = (1 << bits) - 1
    clipped = w_n.clamp(-1.0, 1.0)
    return clipped + (torch.round(clipped * top) / top - clipped).detach()


def percentile_abs(x: torch.Tensor, q: float) -> float:
    """q-th percentile of |x| (strided subsample for speed); the initial value of a learned range."""
    flat = x.detach().abs().flatten().float()
    flat = flat[:: max(1, flat.numel() // _PERCENTILE_SAMPLES)]
    if flat.numel() == 0:
        return 1.0
    k = max(1, min(flat.numel(), int(math.ceil(q / 100 * flat.numel()))))
    value = float(flat.kthvalue(k).values)
    return value if value > _MIN_RANGE else max(float(flat.max()), 1.0)
