"""Recurrent and attention keyword-spotting models on 49x10 MFCC: ordinary torch models.

* ``lstm_kws``, ``gru_kws``, ``crnn_kws``: Hello Edge (Zhang et al., "Hello Edge: Keyword Spotting
  on Microcontrollers", 2017, arXiv 1711.07128), the small ("-S") sizes of its training commands
  (ARM-software/ML-KWS-for-MCU, train_commands.txt): Basic LSTM-S 118 cells, GRU-S one layer of 154
  cells, CRNN-S conv 48x(10x4) stride 2 + two GRU layers of 60 + FC 84.
* ``kwt_tiny``: the Keyword Transformer (Berg et al., "Keyword Transformer: A Self-Attention Model
  for Keyword Spotting", Interspeech 2021, arXiv 2104.00769) scaled down: KWT-1's width (dim 64,
  MLP 256, 1 head, post-norm) with 2 of its 12 layers, one token per 10-MFCC frame (KWT-1 uses 40).

They use ``nn.LSTM`` / ``nn.GRU`` / ``nn.MultiheadAttention``, so they train and run as plain torch;
`tinycim.nn.recurrent.decompose` turns those into Linear-based copies whose matrices map onto tiles
(gate nonlinearities, cell state and the attention products QK^T, attention x V stay digital).
Every weight matrix fits one 512x512 array (largest: crnn_kws's GRU input 192x180, kwt_tiny's MLP
64x256 / 256x64). ``act_layer`` / ``norm_layer`` / ``linear_layer`` / ``conv_layer`` are honoured
where such layers exist; the pure recurrent models have no activation or norm layer and accept the
arguments for a uniform zoo interface.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tinycim.errors import ConfigError
from tinycim.models._layers import FeatureNorm, ModuleFactory, conv_norm_act, resolve_input_shape
from tinycim.models._registry import register_model

__all__ = ["RecurrentKWS", "CRNNKWS", "KWT", "lstm_kws", "gru_kws", "crnn_kws", "kwt_tiny"]

_HELLO_EDGE = "Zhang et al., Hello Edge, arXiv 1711.07128 (ML-KWS-for-MCU train_commands.txt)"
_KWT = "Berg et al., Keyword Transformer, Interspeech 2021 (arXiv 2104.00769), scaled down"


def _frames(x: torch.Tensor) -> torch.Tensor:
    """[N, C, T, F] -> [N, T, C*F]: one feature vector per time frame."""
    return x.permute(0, 2, 1, 3).flatten(2)


class RecurrentKWS(nn.Module):
    """[N, 1, 49, 10] MFCC -> [N, 12]: an LSTM or GRU over the 49 frames; the last step's output
    (the top layer's final hidden state) -> Linear.

    ``cell``: "lstm" or "gru"; ``proj_size`` (LSTM only) gives Hello Edge's projected LSTM (without
    its peephole connections, which torch does not have). ``input_norm``: standardize each cepstral
    coefficient digitally first (`FeatureNorm` over the last axis).
    """

    default_input_shape = (1, 49, 10)

    def __init__(
        self,
        num_classes: int = 12,
        in_channels: int | None = None,
        *,
        cell: str = "lstm",
        hidden_size: int = 118,
        num_layers: int = 1,
        proj_size: int = 0,
        input_shape: tuple[int, ...] | None = None,
        act_layer: ModuleFactory | None = None,
        norm_layer: ModuleFactory | None = None,
        linear_layer: ModuleFactory = nn.Linear,
        input_norm: bool = False,
    ):
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise ConfigError(f"cell must be 'lstm' or 'gru', got {cell!r}")
        self.input_shape = resolve_input_shape(self.default_input_shape, in_channels, input_shape)
        self.num_classes = num_classes
        self.input_norm = FeatureNorm(self.input_shape[-1], dim=-1) if input_norm else nn.Identity()
        features = self.input_shape[0] * self.input_shape[2]
        if cell == "lstm":
            self.rnn: nn.Module = nn.LSTM(
                features, hidden_size, num_layers=num_layers, batch_first=True, proj_size=proj_size
            )
        else:
            if proj_size:
                raise ConfigError(f"proj_size is only supported for cell='lstm', got proj_size={proj_size}")
            self.rnn = nn.GRU(features, hidden_size, num_layers=num_layers, batch_first=True)
        self.num_features = proj_size or hidden_size
        self.head = linear_layer(self.num_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.rnn(_frames(self.input_norm(x)))[0]  # [N, T, H]
        return self.head(out[:, -1])


class CRNNKWS(nn.Module):
    """Hello Edge CRNN: [N, 1, 49, 10] -> Conv(48, 10x4, stride 2, no padding)-BN-ReLU (to 20x4)
    -> GRU over the 20 frames (48*4 = 192 features each) -> last output -> Linear-ReLU -> Linear.

    The reference has a conv bias and no BatchNorm; here a BatchNorm follows the conv (zoo rule:
    it folds into the conv on conversion, giving the same inference graph). Dropout is left out.
    """

    default_input_shape = (1, 49, 10)

    def __init__(
        self,
        num_classes: int = 12,
        in_channels: int | None = None,
        *,
        conv_channels: int = 48,
        kernel: tuple[int, int] = (10, 4),
        stride: tuple[int, int] = (2, 2),
        hidden_size: int = 60,
        num_layers: int = 2,
        fc_size: int = 84,
        input_shape: tuple[int, ...] | None = None,
        act_layer: ModuleFactory = nn.ReLU,
        norm_layer: ModuleFactory | None = nn.BatchNorm2d,
        conv_layer: ModuleFactory = nn.Conv2d,
        linear_layer: ModuleFactory = nn.Linear,
        input_norm: bool = False,
    ):
        super().__init__()
        self.input_shape = resolve_input_shape(self.default_input_shape, in_channels, input_shape)
        self.num_classes = num_classes
        self.input_norm = FeatureNorm(self.input_shape[-1], dim=-1) if input_norm else nn.Identity()
        kernel = (int(kernel[0]), int(kernel[1]))  # lists from YAML configs too
        stride = (int(stride[0]), int(stride[1]))
        self.features = conv_norm_act(
            self.input_shape[0],
            conv_channels,
            kernel,
            stride,
            padding=0,
            conv_layer=conv_layer,
            norm_layer=norm_layer,
            act_layer=act_layer,
        )
        t, f = self.input_shape[1], self.input_shape[2]
        out_f = (f - kernel[1]) // stride[1] + 1
        if (t - kernel[0]) // stride[0] + 1 < 1 or out_f < 1:
            raise ConfigError(f"input_shape {self.input_shape} is smaller than the conv kernel {kernel}")
        self.rnn = nn.GRU(conv_channels * out_f, hidden_size, num_layers=num_layers, batch_first=True)
        self.num_features = hidden_size
        self.head = nn.Sequential(
            linear_layer(hidden_size, fc_size), act_layer(), linear_layer(fc_size, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(self.input_norm(x))  # [N, C, T', F']
        out = self.rnn(_frames(h))[0]  # [N, T', H]
        return self.head(out[:, -1])


class KWTBlock(nn.Module):
    """Post-norm transformer encoder block: x = norm1(x + MHA(x)); x = norm2(x + MLP(x))."""

    def __init__(
        self,
        dim: int,
        heads: int,
        mlp_dim: int,
        *,
        act_layer: ModuleFactory = nn.GELU,
        norm_layer: ModuleFactory | None = nn.LayerNorm,
        linear_layer: ModuleFactory = nn.Linear,
    ):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm1 = norm_layer(dim) if norm_layer is not None else nn.Identity()
        self.mlp = nn.Sequential(linear_layer(dim, mlp_dim), act_layer(), linear_layer(mlp_dim, dim))
        self.norm2 = norm_layer(dim) if norm_layer is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, L, dim]
        x = self.norm1(x + self.attn(x, x, x, need_weights=False)[0])
        return self.norm2(x + self.mlp(x))


class KWT(nn.Module):
    """Keyword Transformer: [N, 1, 49, 10] -> one token per frame (Linear 10 -> dim), a learned
    class token and position embedding (50 tokens), ``depth`` post-norm blocks, the class token's
    output -> norm -> Linear -> [N, 12]."""

    default_input_shape = (1, 49, 10)

    def __init__(
        self,
        num_classes: int = 12,
        in_channels: int | None = None,
        *,
        dim: int = 64,
        depth: int = 2,
        heads: int = 1,
        mlp_dim: int = 256,
        input_shape: tuple[int, ...] | None = None,
        act_layer: ModuleFactory = nn.GELU,
        norm_layer: ModuleFactory | None = nn.LayerNorm,
        linear_layer: ModuleFactory = nn.Linear,
        input_norm: bool = False,
    ):
        super().__init__()
        self.input_shape = resolve_input_shape(self.default_input_shape, in_channels, input_shape)
        if dim % heads:
            raise ConfigError(f"dim ({dim}) must be divisible by heads ({heads})")
        self.num_classes = num_classes
        self.input_norm = FeatureNorm(self.input_shape[-1], dim=-1) if input_norm else nn.Identity()
        self.embed = linear_layer(self.input_shape[0] * self.input_shape[2], dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.randn(1, self.input_shape[1] + 1, dim) * 0.02)
        self.blocks = nn.Sequential(
            *[
                KWTBlock(
                    dim, heads, mlp_dim, act_layer=act_layer, norm_layer=norm_layer, linear_layer=linear_layer
                )
                for _ in range(depth)
            ]
        )
        self.num_features = dim
        self.head = nn.Sequential(
            norm_layer(dim) if norm_layer is not None else nn.Identity(), linear_layer(dim, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(_frames(self.input_norm(x)))  # [N, T, dim]
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        tokens = torch.cat([cls, tokens], dim=1) + self.pos_embedding  # [N, T+1, dim]
        return self.head(self.blocks(tokens)[:, 0])


def _input_norm(requested: bool, kwargs: dict[str, Any]) -> bool:
    """The KWS zoo standardizes each MFCC coefficient digitally by default (as ``analognet_kws``):
    otherwise the energy coefficient c0 sets the first DAC's range. ``norm_layer=None`` builds a
    model without any normalization, this one included."""
    return requested and not ("norm_layer" in kwargs and kwargs["norm_layer"] is None)


@register_model(source=_HELLO_EDGE + ": Basic LSTM-S, 118 cells", target_params=62_788, param_tol=0.01)
def lstm_kws(input_norm: bool = True, **kwargs: Any) -> RecurrentKWS:
    """Hello Edge Basic LSTM-S: one LSTM layer of 118 cells on 49x10 MFCC, 12 classes (62,788
    params; TensorFlow's single gate bias gives 62,316). Standardizes each cepstral coefficient
    digitally by default (see `_input_norm`)."""
    return RecurrentKWS(
        **{"cell": "lstm", "hidden_size": 118, **kwargs, "input_norm": _input_norm(input_norm, kwargs)}
    )


@register_model(source=_HELLO_EDGE + ": GRU-S, 1 layer of 154 cells", target_params=78_552, param_tol=0.01)
def gru_kws(input_norm: bool = True, **kwargs: Any) -> RecurrentKWS:
    """Hello Edge GRU-S: one GRU layer of 154 cells on 49x10 MFCC, 12 classes (78,552 params).
    Standardizes each cepstral coefficient digitally by default (see `_input_norm`)."""
    return RecurrentKWS(
        **{"cell": "gru", "hidden_size": 154, **kwargs, "input_norm": _input_norm(input_norm, kwargs)}
    )


@register_model(source=_HELLO_EDGE + ": CRNN-S", target_params=75_840, param_tol=0.01)
def crnn_kws(input_norm: bool = True, **kwargs: Any) -> CRNNKWS:
    """Hello Edge CRNN-S: conv 48x(10x4)/2, GRU 2x60, FC 84, on 49x10 MFCC (75,840 params).
    Standardizes each cepstral coefficient digitally by default (see `_input_norm`)."""
    return CRNNKWS(**kwargs, input_norm=_input_norm(input_norm, kwargs))


@register_model(source=_KWT, target_params=104_844, param_tol=0.01)
def kwt_tiny(input_norm: bool = True, **kwargs: Any) -> KWT:
    """KWT-1's width (dim 64, MLP 256, 1 head) at depth 2, 49 frame tokens + class token.
    Standardizes each cepstral coefficient digitally by default (see `_input_norm`)."""
    return KWT(**kwargs, input_norm=_input_norm(input_norm, kwargs))
