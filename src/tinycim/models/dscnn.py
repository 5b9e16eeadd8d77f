"""DS-CNN for keyword spotting: the MLPerf Tiny KWS reference (Banbury et al., "MLPerf Tiny
Benchmark", NeurIPS Datasets & Benchmarks 2021; after Zhang et al., "Hello Edge", 2017).

Kept as the digital baseline: its depthwise layers are exactly what AnalogNets avoid on crossbars
(see :mod:`tinycim.models.analognet`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tinycim.models._layers import (
    FeatureNorm,
    ModuleFactory,
    classifier_head,
    conv_norm_act,
    resolve_input_shape,
)
from tinycim.models._registry import register_model

__all__ = ["DSCNN", "dscnn_s"]


class DSCNN(nn.Module):
    """[N, 1, 49, 10] MFCC -> [N, 12].

    Conv(64, 10x4, stride 2)-BN-ReLU (to 25x5), ``num_blocks`` x [depthwise 3x3-BN-ReLU, pointwise
    1x1-BN-ReLU], global average pool, Linear. The reference's dropout is left out (inference graph).

    Parameters: 23,180 here (PyTorch, convs without bias since BN follows); the Keras reference has
    conv biases, giving 23,756 trainable / 24,908 total with BN moving statistics. The ~38.6K figure
    sometimes quoted is not reproduced by this architecture (2.66M MACs does match).

    ``input_norm``: standardize each cepstral coefficient digitally before the stem (`FeatureNorm`
    over the last axis, +20 parameters), as ``analognet_kws(input_norm=True)``; off in the reference.
    """

    default_input_shape = (1, 49, 10)

    def __init__(
        self,
        num_classes: int = 12,
        in_channels: int | None = None,
        *,
        width: int = 64,
        num_blocks: int = 4,
        input_shape: tuple[int, ...] | None = None,
        act_layer: ModuleFactory = nn.ReLU,
        norm_layer: ModuleFactory | None = nn.BatchNorm2d,
        conv_layer: ModuleFactory = nn.Conv2d,
        linear_layer: ModuleFactory = nn.Linear,
        input_norm: bool = False,
    ):
        super().__init__()
        self.input_shape = resolve_input_shape(self.default_input_shape, in_channels, input_shape)
        self.input_norm = FeatureNorm(self.input_shape[-1], dim=-1) if input_norm else nn.Identity()
        self.num_classes = num_classes
        kw: dict[str, Any] = dict(act_layer=act_layer, norm_layer=norm_layer, conv_layer=conv_layer)
        # Keras padding="same" with stride 2 on 49x10 pads (4, 5) x (1, 2); symmetric (5, 1) gives the
        # same 25x5 output size.
        layers = [conv_norm_act(self.input_shape[0], width, (10, 4), 2, padding=(5, 1), **kw)]
        for _ in range(num_blocks):
            layers.append(conv_norm_act(width, width, 3, 1, groups=width, **kw))  # depthwise
            layers.append(conv_norm_act(width, width, 1, 1, **kw))  # pointwise
        self.features = nn.Sequential(*layers)
        self.num_features = width
        self.head = classifier_head(width, num_classes, 2, linear_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.input_norm(x)))


@register_model(source="MLPerf Tiny KWS reference (DS-CNN)", target_params=23_180, param_tol=0.01)
def dscnn_s(**kwargs: Any) -> DSCNN:
    """MLPerf Tiny DS-CNN (64 channels, 4 DS blocks), 1x49x10, 12 classes."""
    return DSCNN(**kwargs)
