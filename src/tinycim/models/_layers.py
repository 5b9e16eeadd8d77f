"""Shared building blocks: a conv (or linear) followed directly by its norm and activation.

The external analog converter swaps Conv/Linear modules by type and folds a Conv into the BatchNorm
that immediately follows it, so the norm is always the very next module after the conv it normalises,
and the conv has no bias when a norm follows (the fold produces the bias).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

ModuleFactory = Callable[..., nn.Module]


def same_padding(kernel: int | tuple[int, ...]) -> int | tuple[int, ...]:
    """``k // 2`` per dimension: keeps the size for odd kernels at stride 1 (``ceil(n/s)`` at stride s)."""
    return tuple(int(k) // 2 for k in kernel) if isinstance(kernel, (tuple, list)) else int(kernel) // 2


def conv_norm_act(
    in_channels: int,
    out_channels: int,
    kernel: int | tuple[int, ...],
    stride: int | tuple = 1,
    *,
    groups: int = 1,
    padding: int | tuple | None = None,
    conv_layer: ModuleFactory = nn.Conv2d,
    norm_layer: ModuleFactory | None = nn.BatchNorm2d,
    act_layer: ModuleFactory | None = nn.ReLU,
) -> nn.Sequential:
    """``Sequential(conv, norm, act)``; ``norm_layer=None`` gives the conv a bias instead,
    ``act_layer=None`` ends on the norm (used before a residual add)."""
    kernel = tuple(kernel) if isinstance(kernel, list) else kernel  # lists come from YAML/JSON configs
    if isinstance(padding, list):
        padding = tuple(padding)
    pad = same_padding(kernel) if padding is None else padding
    layers: list[nn.Module] = [
        conv_layer(
            in_channels,
            out_channels,
            kernel,
            stride=stride,
            padding=pad,
            groups=groups,
            bias=norm_layer is None,
        )
    ]
    if norm_layer is not None:
        layers.append(norm_layer(out_channels))
    if act_layer is not None:
        layers.append(act_layer())
    return nn.Sequential(*layers)


def linear_norm_act(
    in_features: int,
    out_features: int,
    *,
    linear_layer: ModuleFactory = nn.Linear,
    norm_layer: ModuleFactory | None = nn.BatchNorm1d,
    act_layer: ModuleFactory | None = nn.ReLU,
) -> nn.Sequential:
    """``Sequential(linear, norm, act)`` for MLP hidden layers (bias only without a norm)."""
    layers: list[nn.Module] = [linear_layer(in_features, out_features, bias=norm_layer is None)]
    if norm_layer is not None:
        layers.append(norm_layer(out_features))
    if act_layer is not None:
        layers.append(act_layer())
    return nn.Sequential(*layers)


def classifier_head(
    in_features: int, num_classes: int, dims: int = 2, linear_layer: ModuleFactory = nn.Linear
) -> nn.Sequential:
    """Global average pool -> flatten -> linear. ``dims`` is 1 for [N, C, T] and 2 for [N, C, H, W];
    global pooling makes the head independent of the input's spatial size."""
    pool = nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1)
    return nn.Sequential(pool, nn.Flatten(1), linear_layer(in_features, num_classes))


def resolve_input_shape(
    default: tuple[int, ...], in_channels: int | None, input_shape: tuple[int, ...] | None
) -> tuple[int, ...]:
    """The model's input shape (no batch): ``input_shape`` if given, else ``default``, with the channel
    count replaced by ``in_channels`` when that is given. A contradiction between the two is an error."""
    from tinycim.errors import ConfigError

    shape = tuple(int(s) for s in (input_shape if input_shape is not None else default))
    if in_channels is not None:
        if input_shape is not None and shape[0] != in_channels:
            raise ConfigError(f"in_channels={in_channels} contradicts input_shape={shape}")
        shape = (int(in_channels), *shape[1:])
    if len(shape) != len(default) or min(shape) < 1:
        raise ConfigError(f"input_shape must be {len(default)} positive ints (no batch), got {shape}")
    return shape


class FeatureNorm(nn.Module):
    """BatchNorm over one axis of the input (``dim``), e.g. the cepstral coefficients of an MFCC
    image [N, 1, T, F] (``dim=-1``) or the channels of a sensor window [N, C, T] (``dim=1``).

    A digital per-feature standardization in front of the first analog layer: raw features with
    large offsets (MFCC c0 spans about -500..+100, accelerometers carry gravity) multiply that
    layer's weight noise. It precedes every layer, so BN folding leaves it digital.
    """

    def __init__(self, num_features: int, dim: int = 1):
        super().__init__()
        self.dim = dim
        self.norm = nn.BatchNorm1d(num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        moved = x.movedim(self.dim, 1)
        shape = moved.shape
        out = self.norm(moved.reshape(shape[0], shape[1], -1))
        return out.reshape(shape).movedim(1, self.dim)
