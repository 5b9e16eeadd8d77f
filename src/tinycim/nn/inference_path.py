"""The analog layers' inference path: the programmed chip's forward without autograd, on integer
codes with in-place converters, in cache-sized micro-batches. It computes the same numbers as the
differentiable path (`AnalogLayerMixin._forward_sim`); `AnalogLayerMixin._forward_weights` picks it
when nothing needs gradients, noise or calibration (`_use_fast_path`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from tinycim.tiles.periphery import dynamic_range
from tinycim.tiles.quant import _codes, codes_, levels_per_side

if TYPE_CHECKING:
    from tinycim.nn.layers import AnalogLayerMixin

# Micro-batch size target (elements of a layer's output) for the inference path: ~4 MB of
# float32 fits the L2 caches, so the converter passes run from cache, not DRAM.
_CACHE_ELEMENTS = 1 << 20


@torch.no_grad()
def forward_fast(
    layer: AnalogLayerMixin, parts: list[torch.Tensor], w: torch.Tensor, cols: list[torch.Tensor]
) -> torch.Tensor:
    """Same numbers as `_forward_sim`, for inference: integer codes, in-place converters,
    all row tiles in one call, micro-batches small enough to stay in cache (the converters
    are memory-bound, so cache residency is what makes them nearly free), and every
    instance written straight into one output [K*B, ...].

    parts: K inputs [B, ...]; w: [K, C_out, ...]; cols: K digital output scales [C_out].
    """
    batch = parts[0].shape[0]
    # output elements per sample: its input elements x (tiles x C_out / C_in)
    per_sample = parts[0][0].numel() * max(
        1, w.shape[1] * len(layer.geometry.row_chunks) // max(1, parts[0].shape[layer._channel_dim])
    )
    micro = max(1, _CACHE_ELEMENTS // per_sample)
    out: torch.Tensor | None = None
    for k, x in enumerate(parts):
        for start in range(0, batch, micro):
            xb = x[start : start + micro]
            if out is None:
                first = _fast_block(layer, xb, w[k], cols[k], None)
                out = first.new_empty((len(parts) * batch, *first.shape[1:]))
                out[: first.shape[0]] = first
                continue
            _fast_block(layer, xb, w[k], cols[k], out[k * batch + start : k * batch + start + xb.shape[0]])
    assert out is not None
    return out


def _fast_block(
    layer: AnalogLayerMixin, x: torch.Tensor, w: torch.Tensor, col: torch.Tensor, out: torch.Tensor | None
) -> torch.Tensor:
    dac, adc = layer.periphery.converters()
    factor: torch.Tensor | float = 1.0
    if dac.active:
        levels = levels_per_side(dac.bits)  # type: ignore[arg-type]  # bits is not None on this path
        r_in: torch.Tensor | float = dac.full_scale() if dac.calibrated else dynamic_range(x)
        x = _codes(x, r_in, levels)  # integer input codes (a new tensor: the caller's x is kept)
        factor = r_in / levels
        code_unit = levels  # one normalized unit of partial sum, in code units
    else:
        code_unit = 1
    n = len(layer.geometry.row_chunks)
    part = layer._mvm_all_chunks(x, w)  # [b, n*C_out, ...] or [b, ..., C_out]
    if adc.active:
        levels = levels_per_side(adc.bits)  # type: ignore[arg-type]  # bits is not None on this path
        view = part.view(part.shape[0], n, -1) if layer._channel_dim == 1 else part
        if adc.calibrated:
            full = adc.full_scale() * code_unit
            codes_(view, full, levels)
            factor = factor * (full / levels)
        else:  # ideal gain control: per-sample (and per row tile) full scale
            full_t = view.abs().amax(dim=-1, keepdim=True).clamp_(min=1e-12)
            codes_(view, full_t, levels).mul_(full_t / levels)
    if n > 1:  # digital addition of the row tiles' converted partial sums
        tiles = part.view(part.shape[0], n, -1, *part.shape[2:])
        part = tiles[:, 0] + tiles[:, 1]
        for t in range(2, n):
            part.add_(tiles[:, t])
    if isinstance(factor, torch.Tensor) and factor.numel() > 1:
        factor = factor.view(-1, *([1] * (part.dim() - 1)))
        scale = factor * layer._per_channel(col)
    else:
        scale = layer._per_channel(col * factor)
    bias = layer.bias
    if bias is None:
        return torch.mul(part, scale, out=out) if out is not None else part.mul_(scale)
    if out is not None:
        return torch.addcmul(layer._per_channel(bias), part, scale, out=out)
    return torch.addcmul(layer._per_channel(bias), part, scale)
