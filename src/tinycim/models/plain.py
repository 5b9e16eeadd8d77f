"""Small plain CNNs used by tinycim's quickstart and speed benchmarks (no residuals, no depthwise)."""

from __future__ import annotations

from typing import Any, Sequence

from tinycim.models._layers import resolve_input_shape
from tinycim.models._registry import register_model
from tinycim.models.builders import PlainCNN

__all__ = ["DigitsCNN", "KWSCNN5", "digits_cnn", "kws_cnn5"]


class DigitsCNN(PlainCNN):
    """scikit-learn digits: [N, 1, 8, 8] -> [N, 10]. conv3x3(16)-BN-ReLU, maxpool 2 (4x4),
    conv3x3(32)-BN-ReLU, global average pool, Linear; ~5K params, trains in seconds on CPU."""

    default_input_shape = (1, 8, 8)
    DEFAULT_LAYERS = ({"channels": 16, "kernel": 3, "pool": 2}, {"channels": 32, "kernel": 3})

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int | None = None,
        *,
        input_shape: tuple[int, ...] | None = None,
        layers: Sequence[dict] = DEFAULT_LAYERS,
        **kwargs: Any,
    ):
        shape = resolve_input_shape(self.default_input_shape, in_channels, input_shape)
        super().__init__(shape, num_classes, layers, **kwargs)


class KWSCNN5(PlainCNN):
    """KWS-sized benchmark CNN: [N, 1, 49, 10] -> [N, 12]. Five conv3x3(64, padding 1)-BN-ReLU at full
    49x10 resolution, global average pool, Linear(64, 12); ~150K params, ~72M MACs - a dense,
    crossbar-friendly workload for speed benchmarks."""

    default_input_shape = (1, 49, 10)
    DEFAULT_LAYERS = tuple({"channels": 64, "kernel": 3} for _ in range(5))

    def __init__(
        self,
        num_classes: int = 12,
        in_channels: int | None = None,
        *,
        input_shape: tuple[int, ...] | None = None,
        layers: Sequence[dict] = DEFAULT_LAYERS,
        **kwargs: Any,
    ):
        shape = resolve_input_shape(self.default_input_shape, in_channels, input_shape)
        super().__init__(shape, num_classes, layers, **kwargs)


@register_model(source="tinycim quickstart (scikit-learn digits)")
def digits_cnn(**kwargs: Any) -> DigitsCNN:
    """Tiny CNN for 8x8 digits, 10 classes."""
    return DigitsCNN(**kwargs)


@register_model(source="tinycim speed benchmark (KWS-sized 5-layer CNN)", target_params=150_000)
def kws_cnn5(**kwargs: Any) -> KWSCNN5:
    """Five 3x3x64 convs on 1x49x10, 12 classes (~150K params)."""
    return KWSCNN5(**kwargs)
