"""Weights -> target conductances: range, polarity, multi-level quantization and bit slicing.

Layout: a layer's weight keeps its torch shape W [C_out, C_in/groups, *k]; targets are
[S, P, C_out, C_in/groups, *k] for S slices (devices holding one weight's digits) and P devices
per polarity (2 for a differential pair G+/G-, 1 for unipolar).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tinycim.config import MappingConfig
from tinycim.tiles.geometry import LayerGeometry

# Below this, a layer is treated as all-zero and mapped with unit scale.
_TINY = 1e-12


@dataclass
class MappedWeights:
    """Target conductances and the digital constants that undo the mapping.

    g_target:     [S, P, C_out, C_in/groups, *k] in uS.
    significance: [S] weight of each slice in the shift-and-add (sums the slices to full scale 1).
    sign:         unipolar only: +-1 per weight ([C_out, C_in/groups, *k]), the tile's digital sign.
    clipped_fraction: unipolar only: share of sum|W| lost because it had the tile's other sign.
    """

    g_target: torch.Tensor
    significance: torch.Tensor
    sign: torch.Tensor | None
    clipped_fraction: float = 0.0


def weight_scale(
    weight: torch.Tensor, mapping: MappingConfig, uniform_max: float | None = None
) -> torch.Tensor:
    """The |w| mapped to g_max, per output column: [C_out] (constant for per-layer and uniform ranges)."""
    w = weight.detach()
    c_out = w.shape[0]
    if mapping.weight_range == "column":
        scale = w.abs().reshape(c_out, -1).amax(dim=1)
    elif mapping.weight_range == "uniform":
        value = mapping.weight_max if mapping.weight_max is not None else uniform_max
        if value is None:
            value = float(w.abs().max())
        scale = torch.full((c_out,), float(value), dtype=w.dtype, device=w.device)
    else:
        scale = w.abs().amax().expand(c_out)
    return torch.where(scale > _TINY, scale, torch.ones_like(scale))


def unipolar_signs(weight: torch.Tensor, geometry: LayerGeometry, mode: str) -> torch.Tensor:
    """+-1 per weight [C_out, C_in/groups, *k]: "positive", "negative", "auto-layer" (the sign of the
    layer's weight sum) or "auto" (one sign for each tile-sized sub-matrix: group x row chunk x
    column chunk, the sign of its weight sum)."""
    w = weight.detach()
    sign = torch.ones_like(w)
    if mode == "negative":
        return -sign
    if mode == "positive":
        return sign
    if mode == "auto-layer":
        return sign if float(w.sum()) >= 0 else -sign
    opg = geometry.out_per_group
    for g in range(geometry.groups):
        for r0, r1 in geometry.row_chunks:
            for c0, c1 in geometry.col_chunks:
                rows = slice(g * opg + c0, g * opg + c1)
                block = w[rows, r0:r1]
                sign[rows, r0:r1] = 1.0 if float(block.sum()) >= 0 else -1.0
    return sign


def magnitude_slices(
    magnitude: torch.Tensor, mapping: MappingConfig
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Split normalized magnitudes in [0, 1] into per-device levels in [0, 1] and their significance.

    Analog (weight_bits None): one continuous device. With weight_bits b and device_bits d:
    q = round(m * (2^b - 1)); digit s = floor(q / 2^(s d)) mod 2^d stored as level digit/(2^d - 1);
    significance_s = 2^(s d) (2^d - 1) / (2^b - 1), so sum_s level_s * significance_s = q / (2^b - 1).
    """
    if mapping.weight_bits is None:
        return [magnitude], torch.ones(1, dtype=magnitude.dtype, device=magnitude.device)
    wmax = (1 << mapping.weight_bits) - 1
    q = torch.round(magnitude.clamp(0, 1) * wmax)
    if mapping.slices == 1:
        return [q / wmax], torch.ones(1, dtype=magnitude.dtype, device=magnitude.device)
    d = mapping.device_bits
    assert d is not None  # guaranteed by slices > 1
    base, dmax = 1 << d, (1 << d) - 1
    levels, significance = [], []
    for s in range(mapping.slices):
        digit = torch.remainder(torch.div(q, base**s, rounding_mode="floor"), base)
        levels.append(digit / dmax)
        significance.append(base**s * dmax / wmax)
    return levels, torch.tensor(significance, dtype=magnitude.dtype, device=magnitude.device)


def map_weights(
    weight: torch.Tensor,
    scale: torch.Tensor,
    geometry: LayerGeometry,
    mapping: MappingConfig,
    g_max_us: float,
    sign: torch.Tensor | None = None,
) -> MappedWeights:
    """Target conductances (uS) for a weight tensor, given the per-column scale [C_out].

    sign: a unipolar layer's +-1 per weight (the layer's `unipolar_sign`); None derives it from
    the weights with `unipolar_signs(weight, geometry, mapping.unipolar_sign)`."""
    w = weight.detach()
    w_norm = (w / scale.view(-1, *([1] * (w.dim() - 1)))).clamp(-1.0, 1.0)
    if mapping.polarity == "differential":
        pos, _ = magnitude_slices(w_norm.clamp(min=0), mapping)
        neg, significance = magnitude_slices((-w_norm).clamp(min=0), mapping)
        g = torch.stack([torch.stack([p, n]) for p, n in zip(pos, neg)]) * g_max_us
        return MappedWeights(g_target=g, significance=significance, sign=None)
    if sign is None:
        sign = unipolar_signs(w, geometry, mapping.unipolar_sign)
    aligned = w_norm * sign
    lost = float(aligned.clamp(max=0).abs().sum())
    total = float(w_norm.abs().sum())
    levels, significance = magnitude_slices(aligned.clamp(min=0), mapping)
    g = torch.stack([lvl.unsqueeze(0) for lvl in levels]) * g_max_us
    return MappedWeights(
        g_target=g, significance=significance, sign=sign, clipped_fraction=lost / total if total else 0.0
    )


def effective_weights(g: torch.Tensor, mapped: MappedWeights, g_max_us: float) -> torch.Tensor:
    """Normalized weights seen by the MVM from conductances g [K, S, P, ...] -> [K, S, ...]."""
    if mapped.sign is None:
        return (g[:, :, 0] - g[:, :, 1]) / g_max_us
    return g[:, :, 0] * (mapped.sign / g_max_us)
