"""`LinearConvTranspose1d` / `2d`: a transposed convolution as an ordinary ``nn.Conv1d`` /
``nn.Conv2d`` (on tiles once converted) over the zero-upsampled, padded input."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tinycim.errors import ConfigError


class _LinearConvTransposeNd(nn.Module):
    """A transposed convolution written as an ordinary convolution (``self.conv``, on tiles once
    converted) of the zero-upsampled, padded input:

        conv_transpose(x, W, stride s, padding p, dilation d, output_padding q)
          = conv(pad(upsample0(x, s), d*(k-1) - p, d*(k-1) - p + q), W', stride 1, dilation d)

    upsample0 puts s-1 zeros between input samples; W' swaps W's in/out channels per group and flips
    its kernel. Digital: the zero insertion and padding (data movement only). Cost: the array sees
    the inserted zeros, about s^dims times the useful MACs (a sub-pixel split would avoid that).
    """

    _DIMS = 0
    _CONV: Any = nn.Conv1d  # Any: torch types kernel sizes per dimension count, these serve both
    _TORCH: Any = nn.ConvTranspose1d
    conv: nn.Conv1d | nn.Conv2d

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups: int = 1,
        bias: bool = True,
        dilation=1,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        if padding_mode != "zeros":
            raise ConfigError(
                f"{owner}: padding_mode must be 'zeros' (as torch's transposed convs), got {padding_mode!r}"
            )
        if not isinstance(padding, (int, tuple, list)):
            raise ConfigError(f"{owner}: padding must be an int or a tuple of ints, got {padding!r}")

        def tup(v, name: str, minimum: int) -> tuple[int, ...]:
            t = tuple(int(a) for a in v) if isinstance(v, (tuple, list)) else (int(v),) * self._DIMS
            if len(t) != self._DIMS or min(t) < minimum:
                raise ConfigError(f"{owner}: {name} must be {self._DIMS} int(s) >= {minimum}, got {v!r}")
            return t

        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = tup(kernel_size, "kernel_size", 1)
        self.stride = tup(stride, "stride", 1)
        self.padding = tup(padding, "padding", 0)
        self.dilation = tup(dilation, "dilation", 1)
        self.output_padding = tup(output_padding, "output_padding", 0)
        for q, s_, d in zip(self.output_padding, self.stride, self.dilation):
            if q >= max(s_, d):
                raise ConfigError(
                    f"{owner}: output_padding must be smaller than stride or dilation, got "
                    f"output_padding={self.output_padding}, stride={self.stride}, "
                    f"dilation={self.dilation}"
                )
        self.conv = self._CONV(
            in_channels,
            out_channels,
            self.kernel_size,
            stride=1,
            padding=0,
            dilation=self.dilation,
            groups=groups,
            bias=bias,
            device=device,
            dtype=dtype,
        )
        ref = self._TORCH(
            in_channels,
            out_channels,
            self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            output_padding=self.output_padding,
            groups=groups,
            bias=bias,
            dilation=self.dilation,
            device=device,
            dtype=dtype,
        )
        self._load_torch(ref)  # torch's initialisation (global RNG, the same draws as the torch layer)

    # weight layouts: torch [C_in, C_out/g, *k]  <->  conv [C_out, C_in/g, *k], kernel flipped
    def _to_conv_weight(self, w: torch.Tensor) -> torch.Tensor:
        g, k = self.groups, w.shape[2:]
        w = w.reshape(g, self.in_channels // g, self.out_channels // g, *k).transpose(1, 2)
        return w.reshape(self.out_channels, self.in_channels // g, *k).flip(list(range(2, 2 + self._DIMS)))

    def _to_torch_weight(self, w: torch.Tensor) -> torch.Tensor:
        g, k = self.groups, w.shape[2:]
        w = w.flip(list(range(2, 2 + self._DIMS))).reshape(
            g, self.out_channels // g, self.in_channels // g, *k
        )
        return w.transpose(1, 2).reshape(self.in_channels, self.out_channels // g, *k)

    @torch.no_grad()
    def _load_torch(self, module: nn.ConvTranspose1d | nn.ConvTranspose2d) -> None:
        self.conv.weight.copy_(self._to_conv_weight(module.weight))
        self.conv.weight.requires_grad_(module.weight.requires_grad)
        if module.bias is not None and self.conv.bias is not None:
            self.conv.bias.copy_(module.bias)

    @classmethod
    def from_torch(cls, module: nn.ConvTranspose1d | nn.ConvTranspose2d) -> "_LinearConvTransposeNd":
        """An exact copy of a torch ``nn.ConvTranspose1d`` / ``2d`` (weights copied, not shared)."""
        if not isinstance(module, cls._TORCH):
            raise ConfigError(
                f"{cls.__name__}.from_torch expects an {cls._TORCH.__name__}, got {type(module).__name__}"
            )
        w = module.weight
        new = cls(
            module.in_channels,
            module.out_channels,
            module.kernel_size,
            stride=module.stride,
            padding=module.padding,
            output_padding=module.output_padding,
            groups=module.groups,
            bias=module.bias is not None,
            dilation=module.dilation,
            padding_mode=module.padding_mode,
            device=w.device,
            dtype=w.dtype,
        )
        new._load_torch(module)
        return new.train(module.training)

    def to_torch(self) -> nn.ConvTranspose1d | nn.ConvTranspose2d:
        """The equivalent torch transposed convolution, with copies of the weights."""
        w = self.conv.weight
        out = self._TORCH(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            output_padding=self.output_padding,
            groups=self.groups,
            bias=self.conv.bias is not None,
            dilation=self.dilation,
            device=w.device,
            dtype=w.dtype,
        )
        with torch.no_grad():
            out.weight.copy_(self._to_torch_weight(w))
            if self.conv.bias is not None:
                out.bias.copy_(self.conv.bias)
        return out.train(self.training)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, output_padding={self.output_padding}, dilation={self.dilation}, "
            f"groups={self.groups}"
        )

    def _resolve_output_padding(self, spatial: tuple[int, ...], output_size) -> tuple[int, ...]:
        if output_size is None:
            return self.output_padding
        size = [int(s) for s in output_size][-self._DIMS :]
        if len(size) != self._DIMS:
            raise ValueError(
                f"{type(self).__name__}: output_size must give {self._DIMS} spatial sizes, "
                f"got {list(output_size)}"
            )
        pads = []
        for n, want, s_, p, d, k in zip(
            spatial, size, self.stride, self.padding, self.dilation, self.kernel_size
        ):
            smallest = (n - 1) * s_ - 2 * p + d * (k - 1) + 1
            if not smallest <= want < smallest + max(s_, d):
                raise ValueError(
                    f"{type(self).__name__}: requested output size {size}, but valid sizes per "
                    f"dimension run from {smallest} to {smallest + max(s_, d) - 1}"
                )
            pads.append(want - smallest)
        return tuple(pads)

    def forward(self, input: torch.Tensor, output_size=None) -> torch.Tensor:
        """input [B, C_in, *L] (or unbatched [C_in, *L]) -> [B, C_out, *L_out], as torch."""
        n = self._DIMS
        if input.dim() not in (n + 1, n + 2):
            raise ValueError(
                f"{type(self).__name__}: expected a {n + 1}-D or {n + 2}-D input, got shape "
                f"{tuple(input.shape)}"
            )
        batched = input.dim() == n + 2
        x = input if batched else input.unsqueeze(0)
        spatial = tuple(x.shape[2:])
        out_pad = self._resolve_output_padding(spatial, output_size)
        if any(s_ > 1 for s_ in self.stride):  # zero insertion (digital data movement)
            up = x.new_zeros(*x.shape[:2], *[(m - 1) * s_ + 1 for m, s_ in zip(spatial, self.stride)])
            up[(slice(None), slice(None)) + tuple(slice(None, None, s_) for s_ in self.stride)] = x
            x = up
        pads: list[int] = []
        for dim in reversed(range(n)):  # F.pad lists the last dimension first; negative pads crop
            lo = self.dilation[dim] * (self.kernel_size[dim] - 1) - self.padding[dim]
            pads += [lo, lo + out_pad[dim]]
        y = self.conv(F.pad(x, pads))  # on tiles
        return y if batched else y.squeeze(0)


class LinearConvTranspose1d(_LinearConvTransposeNd):
    """Drop-in ``nn.ConvTranspose1d`` computed by an ``nn.Conv1d`` (``self.conv``) on the
    zero-upsampled input; see `_LinearConvTransposeNd`."""

    _DIMS = 1
    _CONV = nn.Conv1d
    _TORCH = nn.ConvTranspose1d


class LinearConvTranspose2d(_LinearConvTransposeNd):
    """Drop-in ``nn.ConvTranspose2d`` computed by an ``nn.Conv2d`` (``self.conv``) on the
    zero-upsampled input; see `_LinearConvTransposeNd`."""

    _DIMS = 2
    _CONV = nn.Conv2d
    _TORCH = nn.ConvTranspose2d
