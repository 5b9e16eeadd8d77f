"""MobileNetV1 (Howard et al. 2017) as used by the MLPerf Tiny visual-wake-words reference:
width multiplier alpha = 0.25, 96x96 RGB input, 2 classes."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from tinycim.models._layers import ModuleFactory, classifier_head, conv_norm_act, resolve_input_shape
from tinycim.models._registry import register_model

__all__ = ["MobileNetV1", "mobilenet_v1_025"]

#: (pointwise out_channels at alpha=1, depthwise stride) of the 13 depthwise-separable blocks
_BLOCKS: tuple[tuple[int, int], ...] = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)


class MobileNetV1(nn.Module):
    """[N, 3, 96, 96] -> [N, num_classes].

    Conv3x3(32*alpha, stride 2)-BN-ReLU, 13 x [depthwise 3x3-BN-ReLU, pointwise 1x1-BN-ReLU], global
    average pool, Linear. At 96x96 the last feature map is 3x3. 213,586 parameters and 7.49M MACs for
    2 classes (convs without bias, as in Keras' MobileNet; BN moving statistics are buffers, not counted).
    """

    default_input_shape = (3, 96, 96)

    def __init__(
        self,
        num_classes: int = 2,
        in_channels: int | None = None,
        *,
        alpha: float = 0.25,
        blocks: Sequence[tuple[int, int]] = _BLOCKS,
        input_shape: tuple[int, ...] | None = None,
        act_layer: ModuleFactory = nn.ReLU,
        norm_layer: ModuleFactory | None = nn.BatchNorm2d,
        conv_layer: ModuleFactory = nn.Conv2d,
        linear_layer: ModuleFactory = nn.Linear,
    ):
        super().__init__()
        self.input_shape = resolve_input_shape(self.default_input_shape, in_channels, input_shape)
        self.num_classes = num_classes
        kw: dict[str, Any] = dict(act_layer=act_layer, norm_layer=norm_layer, conv_layer=conv_layer)
        width = max(1, int(32 * alpha))
        layers = [conv_norm_act(self.input_shape[0], width, 3, 2, **kw)]
        for c, s in blocks:
            out = max(1, int(c * alpha))
            layers.append(conv_norm_act(width, width, 3, s, groups=width, **kw))  # depthwise
            layers.append(conv_norm_act(width, out, 1, 1, **kw))  # pointwise
            width = out
        self.features = nn.Sequential(*layers)
        self.num_features = width
        self.head = classifier_head(width, num_classes, 2, linear_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register_model(source="MLPerf Tiny VWW reference (MobileNetV1 alpha 0.25)", target_params=214_000)
def mobilenet_v1_025(**kwargs) -> MobileNetV1:
    """MobileNetV1 alpha=0.25, 3x96x96, 2 classes (~214K params)."""
    return MobileNetV1(**kwargs)
