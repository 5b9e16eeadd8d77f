"""Human-activity recognition (UCI HAR: 6 activities) models.

* ``har_cnn``: 1-D CNN on raw inertial windows, 9 channels (body acc xyz, gyro xyz, total acc xyz)
  x 128 samples (2.56 s at 50 Hz) -> 6 classes; ~61K params. Standardizes its input channels
  digitally by default (``input_norm=True``, issue 15): the total-acceleration channels carry
  gravity (about 1 g) while sitting and standing differ by a few hundredths of a g, so on analog
  hardware the first layer's weight noise times that offset cost about 2 pp (docs/training.md).
* ``har_mlp``: MLP on the dataset's 561 engineered features -> 6 classes.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from tinycim.errors import ConfigError
from tinycim.models._layers import ModuleFactory, linear_norm_act, resolve_input_shape
from tinycim.models._registry import register_model
from tinycim.models.builders import PlainCNN

__all__ = ["HARCNN", "HARMLP", "har_cnn", "har_mlp"]


class HARCNN(PlainCNN):
    """[N, 9, 128] -> [N, 6]: conv1d k5 (40) -> k5 s2 (64) -> k5 (64) -> k3 s2 (128), each BN-ReLU
    (time 128 -> 64 -> 32), global average pool, Linear. Strides halve the time axis twice so the
    wider layers run on fewer steps. ``dropout``: on the pooled features before the classifier
    (training only)."""

    default_input_shape = (9, 128)
    DEFAULT_LAYERS = (
        {"channels": 40, "kernel": 5},
        {"channels": 64, "kernel": 5, "stride": 2},
        {"channels": 64, "kernel": 5},
        {"channels": 128, "kernel": 3, "stride": 2},
    )

    def __init__(
        self,
        num_classes: int = 6,
        in_channels: int | None = None,
        *,
        input_shape: tuple[int, ...] | None = None,
        layers: Sequence[dict] = DEFAULT_LAYERS,
        dropout: float = 0.0,
        **kwargs: Any,
    ):
        shape = resolve_input_shape(self.default_input_shape, in_channels, input_shape)
        super().__init__(shape, num_classes, layers, **kwargs)
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout = {dropout!r} is invalid: allowed range [0, 1)")
        # training only, no weights: the inference graph and the saved tensors are unchanged
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pool, flatten, linear = self.head
        return linear(self.dropout(flatten(pool(self.features(self.input_norm(x))))))


class HARMLP(nn.Module):
    """[N, 561] -> [N, 6]: ``hidden`` x [Linear-BN1d-ReLU], then Linear."""

    default_input_shape = (561,)

    def __init__(
        self,
        num_classes: int = 6,
        in_features: int | None = None,
        *,
        hidden: Sequence[int] = (128, 64),
        input_shape: tuple[int, ...] | None = None,
        act_layer: ModuleFactory = nn.ReLU,
        norm_layer: ModuleFactory | None = nn.BatchNorm1d,
        linear_layer: ModuleFactory = nn.Linear,
    ):
        super().__init__()
        self.input_shape = resolve_input_shape(self.default_input_shape, in_features, input_shape)
        self.num_classes = num_classes
        layers, width = [], self.input_shape[0]
        for h in hidden:
            layers.append(
                linear_norm_act(
                    width, h, linear_layer=linear_layer, norm_layer=norm_layer, act_layer=act_layer
                )
            )
            width = h
        self.features = nn.Sequential(*layers)
        self.num_features = width
        self.head = linear_layer(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register_model(source="tinycim HAR baseline (UCI HAR raw inertial signals)", target_params=61_000)
def har_cnn(input_norm: bool | str = True, **kwargs: Any) -> HARCNN:
    """1-D CNN, 9x128 inertial windows, 6 classes (~61K params); ``input_norm=False`` for the raw
    sensor input (the model as before issue 15). ``norm_layer=None`` builds it without any
    normalization, the default input standardization included (``input_norm="channel"`` keeps it)."""
    if input_norm is True and "norm_layer" in kwargs and kwargs["norm_layer"] is None:
        input_norm = False
    return HARCNN(input_norm=input_norm, **kwargs)


@register_model(source="tinycim HAR baseline (UCI HAR 561 features)")
def har_mlp(**kwargs: Any) -> HARMLP:
    """MLP 561-128-64-6 with BN (~81K params)."""
    return HARMLP(**kwargs)
