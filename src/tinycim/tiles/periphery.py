"""DAC and ADC helpers: the quantizer itself is `tiles.quant` (one grid for training and inference).

Both converters clip to [-full_scale, +full_scale] and round to 2^(b-1) - 1 levels per side
(a symmetric signed code, so 0 is exact).
"""

from __future__ import annotations

import torch

from tinycim.tiles.quant import _codes, levels_per_side

# Guards divisions when a dynamic range meets an all-zero input.
_TINY = 1e-12


def quantize_symmetric(x: torch.Tensor, full_scale: torch.Tensor | float, bits: int) -> torch.Tensor:
    """Clip x to +-full_scale and round to a b-bit signed grid (no gradient; `tiles.quant.fake_quant`
    is the differentiable form of the same grid).

    x: any shape; full_scale: a float or a tensor broadcastable to x (> 0).
    Idempotent (q(q(x)) == q(x)), bounded (|q(x)| <= full_scale) and saturating.
    """
    levels = levels_per_side(bits)
    return _codes(x.detach(), full_scale, levels).mul_(full_scale / levels)


def dynamic_range(x: torch.Tensor, batch_dim: int = 0) -> torch.Tensor:
    """Per-sample max|x|, shaped to broadcast against x ([B, 1, 1, ...]); ideal gain control."""
    dims = [d for d in range(x.dim()) if d != batch_dim]
    if not dims:
        return x.detach().abs().clamp(min=_TINY)
    return x.detach().abs().amax(dim=dims, keepdim=True).clamp(min=_TINY)


def add_output_noise(
    y: torch.Tensor, full_scale: torch.Tensor | float, noise: float, generator: torch.Generator
) -> torch.Tensor:
    """Additive Gaussian ADC-input noise with std = noise * full_scale."""
    eps = torch.randn(y.shape, generator=generator, dtype=y.dtype, device=y.device)
    return y + eps * (noise * full_scale)


__all__ = ["add_output_noise", "dynamic_range", "levels_per_side", "quantize_symmetric"]
