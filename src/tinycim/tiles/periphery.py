"""DAC and ADC: b-bit signed uniform quantizers over a fixed full-scale range.

Both converters clip to [-full_scale, +full_scale] and round to 2^(b-1) - 1 levels per side
(a symmetric signed code, so 0 is exact). The same function serves inference (in place, no
autograd) and training (straight-through estimator: gradient 1 inside the range, 0 outside).
"""
from __future__ import annotations

import torch

# Guards divisions when a dynamic range meets an all-zero input.
_TINY = 1e-12


def levels_per_side(bits: int) -> int:
    """Non-zero levels on each side of a signed symmetric b-bit code (127 for 8 bits)."""
    return (1 << (bits - 1)) - 1 if bits > 1 else 1


def quantize_symmetric(x: torch.Tensor, full_scale: torch.Tensor | float, bits: int, *, ste: bool = False) -> torch.Tensor:
    """Clip x to +-full_scale and round to a b-bit signed grid.

    x: any shape; full_scale: a float or a tensor broadcastable to x (> 0).
    Idempotent (q(q(x)) == q(x)), bounded (|q(x)| <= full_scale) and saturating.
    With ste=True the result carries straight-through gradients to x (and to full_scale
    through the clipping bound, as in PACT / LSQ-style learned ranges).
    """
    levels = levels_per_side(bits)
    if ste or torch.is_grad_enabled() and (x.requires_grad or isinstance(full_scale, torch.Tensor) and full_scale.requires_grad):
        fs = full_scale if isinstance(full_scale, torch.Tensor) else torch.tensor(full_scale, dtype=x.dtype)
        clipped = torch.minimum(torch.maximum(x, -fs), fs)
        step = fs / levels
        q = torch.round(clipped / step) * step
        return clipped + (q - clipped).detach()
    step = full_scale / levels
    out = x / step
    out.clamp_(-levels, levels).round_()
    return out.mul_(step)


def dynamic_range(x: torch.Tensor, batch_dim: int = 0) -> torch.Tensor:
    """Per-sample max|x|, shaped to broadcast against x ([B, 1, 1, ...]); ideal gain control."""
    dims = [d for d in range(x.dim()) if d != batch_dim]
    if not dims:
        return x.abs().clamp(min=_TINY)
    return x.detach().abs().amax(dim=dims, keepdim=True).clamp(min=_TINY)


def add_output_noise(y: torch.Tensor, full_scale: torch.Tensor | float, noise: float, generator: torch.Generator) -> torch.Tensor:
    """Additive Gaussian ADC-input noise with std = noise * full_scale (in place when possible)."""
    eps = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
    return y + eps * (noise * full_scale)
