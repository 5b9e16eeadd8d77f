"""CIFAR-style ResNets (He et al., CVPR 2016, section 4.2), built with :class:`ResNetLike`.

All use 1x1-conv + BN projection shortcuts where the shape changes (option B) rather than option A's
zero-padded identity, so every matrix op is a conv the analog converter can map and every conv is
followed by its BN. That adds 2,560 + 192 params over option A for ResNet-20/32.
"""

from __future__ import annotations

from typing import Any

from tinycim.models._registry import register_model
from tinycim.models.builders import ResNetLike

__all__ = ["cifar_resnet", "resnet8", "resnet20", "resnet32"]


def cifar_resnet(blocks_per_stage: int, num_classes: int = 10, **kwargs: Any) -> ResNetLike:
    """3 stages of ``blocks_per_stage`` basic blocks at 16-32-64 channels, stride 2 entering stages 2
    and 3: [N, 3, 32, 32] -> [N, num_classes], feature maps 32x32 -> 16x16 -> 8x8. Depth is
    ``6 * blocks_per_stage + 2``."""
    stages = [
        {"num_res_blocks": blocks_per_stage, "widen_factor": 1.0, "stride": 1},
        {"num_res_blocks": blocks_per_stage, "widen_factor": 2.0, "stride": 2},
        {"num_res_blocks": blocks_per_stage, "widen_factor": 2.0, "stride": 2},
    ]
    kwargs.setdefault("stem_channels", 16)
    return ResNetLike(num_classes=num_classes, stem_kernel=3, main_blocks=stages, **kwargs)


@register_model(
    source="MLPerf Tiny image classification reference (ResNet-8, CIFAR-10)", target_params=78_000
)
def resnet8(**kwargs: Any) -> ResNetLike:
    """MLPerf Tiny ResNet-8: one basic block per stage, 16-32-64 filters (~78K params). Differs from the
    Keras reference only in having BN after the projection shortcuts and no conv biases."""
    return cifar_resnet(1, **kwargs)


@register_model(source="He et al. 2016, CIFAR ResNet-20 (option-B shortcuts)", target_params=272_000)
def resnet20(**kwargs: Any) -> ResNetLike:
    """ResNet-20 for CIFAR (~0.27M params)."""
    return cifar_resnet(3, **kwargs)


@register_model(source="He et al. 2016, CIFAR ResNet-32 (option-B shortcuts)", target_params=467_000)
def resnet32(**kwargs: Any) -> ResNetLike:
    """ResNet-32 for CIFAR (~0.46M params)."""
    return cifar_resnet(5, **kwargs)


@register_model(
    source="AnalogNAS ResNet-like macro space (Benmeziane et al. 2023): any point of `tinycim nas "
    "--space resnet-like`"
)
def resnet_like(**kwargs: Any) -> ResNetLike:
    """A ResNet-like network from the AnalogNAS macro space, by its genes (stem_channels, stem_kernel,
    main_blocks, ...); with no arguments a 16-channel stem and one main block of 3 basic blocks.
    Registered so a searched architecture's run directory can be rebuilt by `create_model`."""
    return ResNetLike(**kwargs)
