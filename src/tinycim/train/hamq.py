"""HamQ (seed D): penalize the number of ON bit-cells of the quantized weights.

A weight stored with b magnitude bits on binary cells (sign-magnitude; the sign is the column
pair) turns on popcount(q) cells, q = round(|w_n| * (2^b - 1)); the array energy of a MAC is
proportional to input activity times ON cells, so lowering mean popcount lowers bit-line energy.

Loss term: lambda * mean_w popcount(q). Its value is the exact popcount; its gradient is that of
a smooth surrogate: bit k of q is a square wave of period 2^(k+1) in q, replaced by the cosine
of the same period and phase, s_k(x) = (1 - cos(pi (x - (2^k - 1)/2) / 2^k)) / 2, which equals
bit k exactly for k = 0 and within 0.15 for k >= 1 at integer x.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from tinycim.train.prepare import hwa_config, hwa_layers


def popcount(q: torch.Tensor, bits: int) -> torch.Tensor:
    """Number of 1 bits of non-negative integer codes q < 2^bits (float tensor of q's shape)."""
    q = q.to(torch.int64)
    count = torch.zeros_like(q)
    for k in range(bits):
        count += (q >> k) & 1
    return count.to(torch.float32)


def surrogate_popcount(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Exact popcount of round(x) in the forward, the cosine surrogate's gradient in backward.

    x: continuous codes |w_n| * (2^bits - 1) in [0, 2^bits - 1], any shape.
    """
    smooth = torch.zeros_like(x)
    for k in range(bits):
        period_half = float(1 << k)
        smooth = smooth + 0.5 * (1 - torch.cos(math.pi * (x - (period_half - 1) / 2) / period_half))
    exact = popcount(torch.round(x.detach()), bits)
    return smooth + (exact - smooth).detach()


def _codes(layer) -> torch.Tensor:
    bits = layer.hwa.weight_bits
    w = layer.weight
    w_n = (w / layer.w_scale.view(-1, *([1] * (w.dim() - 1)))).abs().clamp(max=1.0)
    return w_n * ((1 << bits) - 1)


def hamq_penalty(model: nn.Module) -> torch.Tensor | None:
    """lambda * mean ON cells per weight over every HWA layer, or None when lambda = 0 (so a
    lambda = 0 run executes exactly the plain computation)."""
    hwa = hwa_config(model)
    if hwa.hamq_lambda == 0 or hwa.weight_bits is None:
        return None
    total, count = None, 0
    for _, layer in hwa_layers(model):
        ones = surrogate_popcount(_codes(layer), hwa.weight_bits).sum()
        total = ones if total is None else total + ones
        count += layer.weight.numel()  # type: ignore[attr-defined]
    if total is None:
        return None
    return hwa.hamq_lambda * total / count


@torch.no_grad()
def on_cell_fraction(model: nn.Module, bits: int | None = None) -> float | None:
    """Fraction of ON bit-cells (mean popcount / bits) of the weights quantized to `bits`
    (default: the model's weight_bits); None when there are no HWA layers or no bits."""
    bits = bits if bits is not None else hwa_config(model).weight_bits
    layers = hwa_layers(model)
    if bits is None or not layers:
        return None
    ones, cells = 0.0, 0
    for _, layer in layers:
        w = layer.weight  # type: ignore[attr-defined]
        w_n = (w / layer.w_scale.view(-1, *([1] * (w.dim() - 1)))).abs().clamp(max=1.0)
        ones += float(popcount(torch.round(w_n * ((1 << bits) - 1)), bits).sum())
        cells += w.numel() * bits
    return ones / cells
