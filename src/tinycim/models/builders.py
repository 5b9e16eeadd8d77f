"""Configurable builders other parts of tinycim (architecture search, recipes) construct models from.

* :class:`ResNetLike` - the AnalogNAS ResNet-like macro space (Benmeziane et al. 2023,
  arXiv 2305.10459): stem conv, then main blocks of ``R`` residual blocks, each with ``B`` parallel
  branches (basic or bottleneck) summed, then global average pool + linear.
* :class:`PlainCNN` - a plain conv stack (conv-BN-act per layer, optional max-pool) for 1-D
  ([C, T], e.g. HAR inertial windows) or 2-D ([C, H, W]) inputs.

Both use only standard torch layers, put each norm directly after its conv, and have fx-traceable
``forward`` methods (loops are over a fixed ``ModuleList``, never over data).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from tinycim.errors import ConfigError
from tinycim.models._layers import (
    FeatureNorm,
    ModuleFactory,
    classifier_head,
    conv_norm_act,
    resolve_input_shape,
)

__all__ = [
    "ResNetLike",
    "ResBlock",
    "PlainCNN",
    "resnet_like",
    "BLOCK_TYPES",
    "INPUT_NORMS",
    "input_norm_layer",
    "input_norm_params",
]

BLOCK_TYPES = ("basic", "bottleneck")
#: ``input_norm`` values of PlainCNN besides False / True (True means "channel").
INPUT_NORMS = ("channel", "feature")
_MAIN_BLOCK_KEYS = {"num_res_blocks", "branches", "block_type", "widen_factor", "stride"}


class ResBlock(nn.Module):
    """``act(shortcut(x) + sum_b branch_b(x))``; [N, C_in, H, W] -> [N, C_out, H/stride, W/stride].

    basic branch: conv3x3(stride)-BN-act-conv3x3-BN; bottleneck branch: conv1x1-BN-act-conv3x3(stride)-
    BN-act-conv1x1-BN with ``mid_channels`` inside. The shortcut is identity when the shape is unchanged
    and conv1x1(stride)-BN otherwise (option B), so every matrix op is a conv the converter can map.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        branches: int = 1,
        block_type: str = "basic",
        mid_channels: int | None = None,
        *,
        act_layer: ModuleFactory = nn.ReLU,
        norm_layer: ModuleFactory | None = nn.BatchNorm2d,
        conv_layer: ModuleFactory = nn.Conv2d,
    ):
        super().__init__()
        kw: dict[str, Any] = dict(conv_layer=conv_layer, norm_layer=norm_layer)
        mid = mid_channels or out_channels

        def branch() -> nn.Sequential:
            if block_type == "basic":
                return nn.Sequential(
                    conv_norm_act(in_channels, out_channels, 3, stride, act_layer=act_layer, **kw),
                    conv_norm_act(out_channels, out_channels, 3, 1, act_layer=None, **kw),
                )
            return nn.Sequential(
                conv_norm_act(in_channels, mid, 1, 1, act_layer=act_layer, **kw),
                conv_norm_act(mid, mid, 3, stride, act_layer=act_layer, **kw),
                conv_norm_act(mid, out_channels, 1, 1, act_layer=None, **kw),
            )

        if block_type not in BLOCK_TYPES:
            raise ConfigError(f"block_type must be one of {BLOCK_TYPES}, got {block_type!r}")
        self.branches = nn.ModuleList(branch() for _ in range(branches))
        needs_proj = stride != 1 or in_channels != out_channels
        self.shortcut = (
            conv_norm_act(in_channels, out_channels, 1, stride, padding=0, act_layer=None, **kw)
            if needs_proj
            else nn.Identity()
        )
        self.act = act_layer()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.shortcut(x)
        for branch in self.branches:  # fixed number of branches: unrolled by torch.fx
            out = out + branch(x)
        return self.act(out)


def _check_main_block(i: int, cfg: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(cfg) - _MAIN_BLOCK_KEYS
    if unknown:
        raise ConfigError(
            f"main_blocks[{i}]: unknown keys {sorted(unknown)}; allowed {sorted(_MAIN_BLOCK_KEYS)}"
        )
    c = {
        "num_res_blocks": 1,
        "branches": 1,
        "block_type": "basic",
        "widen_factor": 1.0,
        "stride": 1 if i == 0 else 2,
        **cfg,
    }  # real down-sampling from the second main block on
    if not 1 <= int(c["num_res_blocks"]) <= 15:
        raise ConfigError(f"main_blocks[{i}].num_res_blocks must be in 1..15, got {c['num_res_blocks']}")
    if not 1 <= int(c["branches"]) <= 4:
        raise ConfigError(f"main_blocks[{i}].branches must be in 1..4, got {c['branches']}")
    if c["block_type"] not in BLOCK_TYPES:
        raise ConfigError(
            f"main_blocks[{i}].block_type must be one of {BLOCK_TYPES}, got {c['block_type']!r}"
        )
    if not float(c["widen_factor"]) > 0:
        raise ConfigError(f"main_blocks[{i}].widen_factor must be > 0, got {c['widen_factor']}")
    if int(c["stride"]) not in (1, 2):
        raise ConfigError(f"main_blocks[{i}].stride must be 1 or 2, got {c['stride']}")
    return c


class ResNetLike(nn.Module):
    """AnalogNAS ResNet-like macro architecture; [N, C, H, W] -> [N, num_classes].

    ``main_blocks`` is a list of dicts with keys ``num_res_blocks`` (R, 1..15), ``branches`` (B, 1..4),
    ``block_type`` ("basic" | "bottleneck"), ``widen_factor`` (float > 0) and ``stride`` (1 | 2;
    default 1 for the first main block and 2 for the others). A main block's width is the previous
    width times its widen factor (the stem's ``stem_channels`` = OC0 for the first), rounded, at least
    1; only its first residual block carries the stride. Bottleneck branches run at
    ``round(width * bottleneck_ratio)`` channels inside.
    """

    default_input_shape = (3, 32, 32)

    def __init__(
        self,
        in_channels: int | None = 3,
        num_classes: int = 10,
        stem_channels: int = 16,
        stem_kernel: int = 3,
        main_blocks: Sequence[Mapping[str, Any]] = ({"num_res_blocks": 3},),
        *,
        stem_stride: int = 1,
        bottleneck_ratio: float = 0.25,
        input_shape: tuple[int, ...] | None = None,
        act_layer: ModuleFactory = nn.ReLU,
        norm_layer: ModuleFactory | None = nn.BatchNorm2d,
        conv_layer: ModuleFactory = nn.Conv2d,
        linear_layer: ModuleFactory = nn.Linear,
    ):
        super().__init__()
        if not main_blocks:
            raise ConfigError("main_blocks must list at least one main block")
        self.input_shape = resolve_input_shape(self.default_input_shape, in_channels, input_shape)
        self.num_classes = num_classes
        kw: dict[str, Any] = dict(act_layer=act_layer, norm_layer=norm_layer, conv_layer=conv_layer)
        self.stem = conv_norm_act(self.input_shape[0], stem_channels, stem_kernel, stem_stride, **kw)
        self.main_block_configs = [_check_main_block(i, c) for i, c in enumerate(main_blocks)]
        stages, width = [], stem_channels
        for c in self.main_block_configs:
            out = max(1, round(width * float(c["widen_factor"])))
            mid = max(1, round(out * bottleneck_ratio))
            blocks = [
                ResBlock(
                    width if r == 0 else out,
                    out,
                    int(c["stride"]) if r == 0 else 1,
                    int(c["branches"]),
                    c["block_type"],
                    mid,
                    **kw,
                )
                for r in range(int(c["num_res_blocks"]))
            ]
            stages.append(nn.Sequential(*blocks))
            width = out
        self.stages = nn.Sequential(*stages)
        self.num_features = width
        self.head = classifier_head(width, num_classes, 2, linear_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


def resnet_like(**kwargs: Any) -> ResNetLike:
    """Functional alias of :class:`ResNetLike` (for configs that name a builder function)."""
    return ResNetLike(**kwargs)


def _input_norm_kind(input_norm: bool | str) -> str | None:
    if input_norm is False or input_norm is None:
        return None
    if input_norm is True:
        return "channel"
    if input_norm not in INPUT_NORMS:
        raise ConfigError(
            f"input_norm={input_norm!r}: expected false, true or one of {', '.join(INPUT_NORMS)}"
        )
    return str(input_norm)


def input_norm_layer(input_norm: bool | str, input_shape: Sequence[int]) -> nn.Module:
    """The digital input standardization of PlainCNN (see its docstring); ``nn.Identity`` for False."""
    kind = _input_norm_kind(input_norm)
    if kind is None:
        return nn.Identity()
    if kind == "feature":
        return FeatureNorm(int(input_shape[-1]), dim=-1)
    return (nn.BatchNorm1d if len(input_shape) == 2 else nn.BatchNorm2d)(int(input_shape[0]))


def input_norm_params(input_norm: bool | str, input_shape: Sequence[int]) -> int:
    """Trainable parameters of :func:`input_norm_layer` (scale and shift per standardized entry)."""
    kind = _input_norm_kind(input_norm)
    return 0 if kind is None else 2 * int(input_shape[-1] if kind == "feature" else input_shape[0])


class PlainCNN(nn.Module):
    """Plain conv stack for 1-D ([C, T]) or 2-D ([C, H, W]) inputs -> [N, num_classes].

    ``layers`` lists dicts ``{"channels", "kernel", "stride" (1), "padding" (k//2), "pool" (0)}``; each
    becomes conv-norm-act, followed by ``MaxPool(pool)`` when ``pool`` > 1. Then global average pool +
    linear. ``conv_layer``/``norm_layer`` default to the 1-D or 2-D torch layer matching ``input_shape``;
    pass ``norm_layer=None`` for no norm (convs then get a bias).

    ``input_norm``: a digital standardization before the first conv. ``True`` / ``"channel"``: a
    BatchNorm over the input channels (sensor signals, image colours); ``"feature"``: one per entry of
    the last axis (:class:`FeatureNorm`, e.g. the cepstral coefficients of a [1, T, F] MFCC image,
    whose c0 spans about -500..+100 while the others span tens). No layer precedes it, so BN folding
    leaves it digital, and the first analog layer sees centred inputs: with a large offset (gravity in
    accelerometer channels, MFCC c0) the first layer's weight noise is multiplied by the offset, which
    on PCM costs HAR about 2 pp (docs/training.md).
    """

    default_input_shape: tuple[int, ...] = (9, 128)

    def __init__(
        self,
        input_shape: Sequence[int] = (9, 128),
        num_classes: int = 6,
        layers: Sequence[Mapping[str, Any]] = ({"channels": 32, "kernel": 5},),
        *,
        act_layer: ModuleFactory = nn.ReLU,
        norm_layer: ModuleFactory | None | str = "auto",
        conv_layer: ModuleFactory | str = "auto",
        linear_layer: ModuleFactory = nn.Linear,
        input_norm: bool | str = False,
    ):
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        dims = len(self.input_shape) - 1
        if dims not in (1, 2) or min(self.input_shape) < 1:
            raise ConfigError(f"input_shape must be [C, T] or [C, H, W] (positive), got {self.input_shape}")
        if not layers:
            raise ConfigError("layers must list at least one conv layer")
        for name, value in (("conv_layer", conv_layer), ("norm_layer", norm_layer)):
            if isinstance(value, str) and value != "auto":
                raise ConfigError(f"{name} must be a layer class or 'auto', got {value!r}")
        conv: ModuleFactory = (
            (nn.Conv1d if dims == 1 else nn.Conv2d) if isinstance(conv_layer, str) else conv_layer
        )
        norm: ModuleFactory | None = (
            (nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d) if isinstance(norm_layer, str) else norm_layer
        )
        pool = nn.MaxPool1d if dims == 1 else nn.MaxPool2d
        self.num_classes = num_classes
        self.input_norm = input_norm_layer(input_norm, self.input_shape)
        body: list[nn.Module] = []
        width = self.input_shape[0]
        for i, cfg in enumerate(layers):
            unknown = set(cfg) - {"channels", "kernel", "stride", "padding", "pool"}
            if unknown or "channels" not in cfg or "kernel" not in cfg:
                raise ConfigError(
                    f"layers[{i}] needs 'channels' and 'kernel' (optional stride, padding, "
                    f"pool); got keys {sorted(cfg)}"
                )
            body.append(
                conv_norm_act(
                    width,
                    int(cfg["channels"]),
                    cfg["kernel"],
                    cfg.get("stride", 1),
                    padding=cfg.get("padding"),
                    conv_layer=conv,
                    norm_layer=norm,
                    act_layer=act_layer,
                )
            )
            if int(cfg.get("pool", 0)) > 1:
                body.append(pool(int(cfg["pool"])))
            width = int(cfg["channels"])
        self.features = nn.Sequential(*body)
        self.num_features = width
        self.head = classifier_head(width, num_classes, dims, linear_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(self.input_norm(x)))
