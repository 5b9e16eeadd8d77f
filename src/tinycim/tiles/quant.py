"""The one converter quantizer (DAC and ADC, training and inference) and the weight levels.

A b-bit signed symmetric grid, 2^(b-1) - 1 levels per side, clipping outside, written as one
autograd Function so the training step costs a few elementwise passes (the inference fast path
of `nn.layers` computes the same integer codes in place, with `codes_`):

    forward:  y = round(clamp(x * L / fs, -L, L)) * fs / L              (4 in-place passes)
    backward: dy/dx  = 1 inside [-fs, fs], 0 outside                     (straight-through)
              dy/dfs = (y - x * inside) / fs                             (LSQ, Esser et al. 2020)

The dy/dfs term is LSQ's step-size gradient (rounding error inside, +-1 at saturation), so a
range both grows when clipping hurts and shrinks when resolution does; it needs only two dot
products in backward.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch


def levels_per_side(bits: int) -> int:
    """Non-zero levels on each side of a signed symmetric b-bit code (127 for 8 bits)."""
    return (1 << (bits - 1)) - 1 if bits > 1 else 1


# Keeps a learned range strictly positive and divisions finite.
_MIN_RANGE = 1e-8
# Percentiles run on a strided subsample of at most this many values (speed; ~4M as tc.calibrate).
_PERCENTILE_SAMPLES = 1 << 22


def _codes(x: torch.Tensor, fs: torch.Tensor | float, levels: int) -> torch.Tensor:
    """round(clamp(x * L / fs, -L, L)): the converter's integer codes, as a new float tensor."""
    return (x * (levels / fs)).clamp_(-levels, levels).round_()


def codes_(x: torch.Tensor, fs: torch.Tensor | float, levels: int) -> torch.Tensor:
    """`_codes` in place on x (no autograd): the inference path's converter."""
    return x.mul_(levels / fs).clamp_(-levels, levels).round_()


def _pass_inside(
    grad: torch.Tensor, x: torch.Tensor, fs: float, out: torch.Tensor | None = None
) -> torch.Tensor:
    """grad where -fs < x < fs, else 0: one fused pass (hardtanh's backward), no mask tensor;
    written into `out` (which may be `grad` itself) when given."""
    if out is None:
        return torch.ops.aten.hardtanh_backward(grad, x, -fs, fs)
    return torch.ops.aten.hardtanh_backward.grad_input(grad, x, -fs, fs, grad_input=out)


def _range_grad(
    outputs: Iterable[tuple[torch.Tensor, torch.Tensor]],
    inputs: Iterable[tuple[torch.Tensor, torch.Tensor]],
    fs: torch.Tensor,
) -> torch.Tensor:
    """LSQ gradient of the full scale, sum(grad * (y - x * inside)) / fs, as dot products (nothing
    materialized): sum of dot(grad_y, y) over (grad_y, y) in outputs minus sum of
    dot(grad_x, x) over (grad_x, x) in inputs, grad_x being the straight-through input gradient."""
    out_dots = sum(torch.dot(g.flatten(), y.flatten()) for g, y in outputs)
    in_dots = sum(torch.dot(g.flatten(), x.flatten()) for g, x in inputs)
    return (out_dots - in_dots) / fs


class _FakeQuant(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, full_scale: torch.Tensor, levels: int) -> torch.Tensor:  # type: ignore[override]  # autograd.Function's static forward/backward
        fs = full_scale.clamp(min=_MIN_RANGE)
        y = _codes(x, fs, levels).mul_(fs / levels)
        ctx.save_for_backward(x, y, fs)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]  # autograd.Function's static forward/backward
        x, y, fs = ctx.saved_tensors
        if fs.numel() > 1:  # per-sample full scale (ideal gain control): straight-through inside only
            return grad * (x.abs() <= fs), None, None
        grad_x = _pass_inside(grad, x, float(fs))
        grad_fs = _range_grad([(grad, y)], [(grad_x, x)], fs) if ctx.needs_input_grad[1] else None
        return grad_x, grad_fs, None


class _FakeQuantSplit(torch.autograd.Function):
    """DAC of a layer whose rows span several tiles: x quantized once, handed to each row tile as
    its own contiguous slice along `dim` (what the tile's MVM reads), so neither the per-tile
    convolutions copy strided slices nor backward scatters each tile's gradient into a zero tensor."""

    @staticmethod
    def forward(
        ctx,
        x: torch.Tensor,
        full_scale: torch.Tensor,
        levels: int,
        dim: int,  # type: ignore[override]  # autograd.Function's static forward/backward
        chunks: tuple[tuple[int, int], ...],
    ) -> tuple[torch.Tensor, ...]:
        fs = full_scale.clamp(min=_MIN_RANGE)
        ys = [_codes(x.narrow(dim, c0, c1 - c0), fs, levels).mul_(fs / levels) for c0, c1 in chunks]
        ctx.dim = dim
        ctx.save_for_backward(x, fs, *ys)
        return tuple(ys)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor):  # type: ignore[override]  # autograd.Function's static forward/backward
        x, fs, *ys = ctx.saved_tensors
        grads = tuple(torch.zeros_like(y) if g is None else g for g, y in zip(grads, ys))
        grad = torch.cat(grads, dim=ctx.dim)
        grad_x = _pass_inside(grad, x, float(fs), out=grad)
        grad_fs = _range_grad(zip(grads, ys), [(grad_x, x)], fs) if ctx.needs_input_grad[1] else None
        return grad_x, grad_fs, None, None, None


class _FakeQuantTiles(torch.autograd.Function):
    """ADC on every row tile's partial sums, then their digital sum, in one step:
    (p_0, ..., p_{n-1}) -> sum_t q(p_t). The tiles stay separate tensors, each the size of the
    layer's output: one stacked [B, n, ...] tensor is n times larger, and above glibc's 32 MiB
    mmap threshold every fresh allocation of it page-faults (measured: 25 ms for 64 MiB vs 1.4 ms
    for 32 MiB), which cost more than the arithmetic."""

    @staticmethod
    def forward(ctx, full_scale: torch.Tensor, levels: int, *parts: torch.Tensor) -> torch.Tensor:  # type: ignore[override]  # autograd.Function's static forward/backward
        fs = full_scale.clamp(min=_MIN_RANGE)
        out = _codes(parts[0], fs, levels)
        for p in parts[1:]:
            out.add_(_codes(p, fs, levels))
        out.mul_(fs / levels)
        ctx.save_for_backward(out, fs, *parts)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]  # autograd.Function's static forward/backward
        out, fs, *parts = ctx.saved_tensors
        bound = float(fs)
        grads = [_pass_inside(grad, p, bound) for p in parts]
        # sum_t sum(grad * q(p_t)) = sum(grad * out)
        grad_fs = _range_grad([(grad, out)], zip(grads, parts), fs) if ctx.needs_input_grad[0] else None
        return (grad_fs, None, *grads)


def fake_quant(x: torch.Tensor, full_scale: torch.Tensor, bits: int) -> torch.Tensor:
    """b-bit signed fake quantization of x over [-full_scale, full_scale] (a scalar tensor > 0,
    or a per-sample tensor broadcastable to x that takes no gradient).

    Values beyond the range saturate; gradients: straight-through to x, LSQ to full_scale.
    """
    return _FakeQuant.apply(x, full_scale, levels_per_side(bits))


def fake_quant_split(
    x: torch.Tensor, full_scale: torch.Tensor, bits: int, dim: int, chunks: Sequence[tuple[int, int]]
) -> list[torch.Tensor]:
    """[fake_quant(x).narrow(dim, c0, c1 - c0) for (c0, c1) in chunks], each contiguous; chunks
    must tile `dim` exactly (the row tiles of one layer). Gradients as fake_quant."""
    size = x.shape[dim]
    if (
        not chunks
        or chunks[0][0] != 0
        or chunks[-1][1] != size
        or any(a[1] != b[0] for a, b in zip(chunks, chunks[1:]))
    ):
        raise ValueError(
            f"fake_quant_split: chunks {list(chunks)} do not cover dim {dim} of size {size} in order"
        )
    return list(_FakeQuantSplit.apply(x, full_scale, levels_per_side(bits), dim % x.dim(), tuple(chunks)))


def fake_quant_tiles(parts: Sequence[torch.Tensor], full_scale: torch.Tensor, bits: int) -> torch.Tensor:
    """sum_t fake_quant(parts[t]): each row tile's partial sums (same shape) through its own ADC,
    then added digitally; gradients as fake_quant."""
    if not parts:
        raise ValueError("fake_quant_tiles needs at least one tile's partial sums")
    return _FakeQuantTiles.apply(full_scale, levels_per_side(bits), *parts)


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
