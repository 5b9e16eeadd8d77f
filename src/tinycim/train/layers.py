"""Hardware-aware Linear / Conv1d / Conv2d: the torch layer with the analog tile simulated in the loop.

Each layer *is* its torch layer (subclass): `weight` and `bias` stay ordinary Parameters, so any
optimizer works. Forward (training), in the units of `nn.layers` so the converted model agrees:

    w_n = Q_w(W / s) + noise        s [C_out]: weight range (|w| -> g_max), refreshed at remap
    x_q = DAC(x; r_in)              input units, b bits over [-r_in, r_in], learned r_in
    p_t = x_q[rows of t] @ w_n      per row tile t                  (input units x normalized)
    y   = (sum_t ADC(p_t; o * r_in)) * s + bias                     o: ADC range, normalized units

With every piece off the forward is exactly `F.conv*` / `F.linear` on (weight, bias).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tinycim.tiles.geometry import LayerGeometry
from tinycim.train.config import HWAConfig
from tinycim.train.noise import device_noise, gaussian_noise
from tinycim.train.quant import fake_quant, fake_quant_split, fake_quant_tiles, percentile_abs, quantize_weight_levels


class HWAShared(nn.Module):
    """State every HWA layer of one model shares: noise generator and schedule, step counter,
    and (uniform mode, seed B) the single learned DAC and ADC ranges.

    Registered once, as `hwa_shared` under the first HWA layer, so its tensors live in the state_dict.
    """

    def __init__(self, hwa: HWAConfig, seed: int = 0) -> None:
        super().__init__()
        self.hwa = hwa
        self.generator = torch.Generator().manual_seed(seed)
        self.noise_factor = 1.0  # set by `fit` from the warm-up schedule
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
        self.register_buffer("ready", torch.tensor(False))
        # Uniform mode's shared ranges; -inf (range 0) until the first calibration pass takes the
        # max over every layer.
        shared_range = hwa.uniform and hwa.learn_ranges
        self.log_input_range = nn.Parameter(torch.tensor(-math.inf), requires_grad=shared_range) \
            if hwa.uniform and hwa.dac_bits else None
        self.log_output_range = nn.Parameter(torch.tensor(-math.inf), requires_grad=shared_range) \
            if hwa.uniform and hwa.adc_bits else None
        self.device = None
        if hwa.noise == "device":
            from tinycim.config import AnalogConfig
            self.device = AnalogConfig.preset(hwa.noise_preset).device


class HWALayerMixin:
    """Behaviour shared by the HWA layers (mixed into subclasses of the torch layers)."""

    hwa: HWAConfig
    layer_name: str
    geometry: LayerGeometry
    _channel_dim: int

    def _init_hwa(self, hwa: HWAConfig, name: str, geometry: LayerGeometry, shared: HWAShared) -> None:
        self.hwa = hwa
        self.layer_name = name
        self.geometry = geometry
        object.__setattr__(self, "_shared", shared)  # not a submodule: registered once on the root
        c_out = self.weight.shape[0]  # type: ignore[attr-defined]
        self.register_buffer("w_scale", torch.ones(c_out))  # type: ignore[attr-defined]
        self.register_buffer("ranges_ready", torch.tensor(False))  # type: ignore[attr-defined]
        self.register_buffer("unipolar_sign", None)  # type: ignore[attr-defined]
        own = not hwa.uniform
        self.log_input_range = nn.Parameter(torch.zeros(())) if own and hwa.dac_bits else None
        self.log_output_range = nn.Parameter(torch.zeros(())) if own and hwa.adc_bits else None
        for p in (self.log_input_range, self.log_output_range):
            if p is not None:
                p.requires_grad_(hwa.learn_ranges)
        self._transforms_weight = (hwa.noise != "none" or hwa.dac_bits is not None or hwa.adc_bits is not None
                                   or hwa.weight_bits is not None or hwa.remap_every > 1)

    # ---- ranges ------------------------------------------------------------------------------
    def _range_owner(self) -> nn.Module:
        return self._shared if self.hwa.uniform else self  # type: ignore[return-value]

    @property
    def input_range(self) -> torch.Tensor | None:
        """Learned DAC range in input units (scalar tensor), or None without a DAC."""
        p = self._range_owner().log_input_range
        return None if p is None or not self.hwa.dac_bits else p.exp()

    @property
    def output_range(self) -> torch.Tensor | None:
        """Learned ADC range in normalized units (as `nn.layers`' output_range), or None without an ADC."""
        p = self._range_owner().log_output_range
        return None if p is None or not self.hwa.adc_bits else p.exp()

    def _ready(self) -> bool:
        return bool(self._shared.ready) if self.hwa.uniform else bool(self.ranges_ready)

    @torch.no_grad()
    def _observe(self, attr: str, value: float) -> None:
        """First calibration pass: own ranges take the value; shared ranges the max over layers."""
        p = getattr(self._range_owner(), attr)
        if self.hwa.uniform:
            value = max(value, float(p.detach().exp()))
        p.fill_(math.log(value))

    # ---- weights -----------------------------------------------------------------------------
    def normalized_weight(self) -> torch.Tensor:
        """w_n = Q_w(W / s) plus (training only) noise: [C_out, C_in/groups, *k], in [-1, 1] before noise."""
        hwa = self.hwa
        w = self.weight  # type: ignore[attr-defined]
        w_n = w / self.w_scale.view(-1, *([1] * (w.dim() - 1)))
        if hwa.weight_bits is not None:
            w_n = quantize_weight_levels(w_n, hwa.weight_bits)
        elif hwa.remap_every > 1:
            w_n = w_n.clamp(-1.0, 1.0)  # beyond the last remap's range a conductance saturates
        shared = self._shared
        factor = shared.noise_factor * hwa.noise_scale
        if self.training and hwa.noise != "none" and factor > 0:
            if hwa.noise == "gaussian":
                noise = gaussian_noise(w_n, hwa.noise_eta * factor, hwa.noise_per, shared.generator)
            else:
                noise = device_noise(w_n, shared.device, hwa.noise_t_min_s, hwa.noise_t_max_s, shared.generator,
                                     self.unipolar_sign) * factor
            w_n = w_n + noise
        return w_n

    # ---- forward -----------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._transforms_weight:
            return self._op(x, self.weight, self.bias)  # type: ignore[attr-defined]
        hwa = self.hwa
        w_n = self.normalized_weight()
        observing = (hwa.dac_bits or hwa.adc_bits) and not self._ready()
        r_in: torch.Tensor | None = None
        # several row tiles of a dense layer: each reads its own slice of x (channels / features)
        slices = self._row_slices() if hwa.adc_bits else None
        xs: list[torch.Tensor] | None = None
        if hwa.dac_bits:
            if observing:
                self._observe("log_input_range", percentile_abs(x, hwa.range_percentile))
            r_in = self.input_range
            if slices is None:
                x = fake_quant(x, r_in, hwa.dac_bits)
            else:
                xs = fake_quant_split(x, r_in, hwa.dac_bits, self._channel_dim, slices)
        elif slices is not None:
            xs = [x.narrow(self._channel_dim, c0, c1 - c0) for c0, c1 in slices]
        if hwa.adc_bits:
            # one [B, C_out, ...] / [B, ..., C_out] per row tile
            parts = self._tile_sums(x, w_n) if xs is None else [
                self._op(x_t, w_n[:, c0:c1], None) for x_t, (c0, c1) in zip(xs, slices or ())]
            if observing:
                unit = 1.0 if r_in is None else float(r_in.detach())
                seen = torch.cat([q.detach().flatten() for q in parts])
                self._observe("log_output_range", percentile_abs(seen, hwa.range_percentile) / unit)
            fs = self.output_range if r_in is None else self.output_range * r_in
            # each row tile's ADC, then the digital addition of the converted partial sums
            p = fake_quant(parts[0], fs, hwa.adc_bits) if len(parts) == 1 else fake_quant_tiles(parts, fs, hwa.adc_bits)
        else:
            p = self._op(x, w_n, None)
        if observing and not hwa.uniform:
            self.ranges_ready.fill_(True)
        scale = self._per_channel(self.w_scale)
        bias = self.bias  # type: ignore[attr-defined]
        return p * scale if bias is None else torch.addcmul(self._per_channel(bias), p, scale)

    def _per_channel(self, v: torch.Tensor) -> torch.Tensor:
        if self._channel_dim == -1:
            return v
        return v.view(1, -1, *([1] * (self.weight.dim() - 2)))  # type: ignore[attr-defined]

    def _op(self, x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def _row_slices(self) -> tuple[tuple[int, int], ...] | None:
        """Ranges of x along `_channel_dim` that the row tiles read, for a dense layer over several
        row tiles; None for one row tile or a grouped conv (whose tiles read every group's channels)."""
        chunks = self.geometry.row_chunks
        if len(chunks) == 1 or getattr(self, "groups", 1) != 1:
            return None
        return chunks

    def _tile_sums(self, x: torch.Tensor, w_n: torch.Tensor) -> list[torch.Tensor]:
        """Each row tile's partial sums (the layer's output shape); one entry if the layer fits one
        row tile. Kept as separate tensors, not stacked: see `quant._FakeQuantTiles`."""
        raise NotImplementedError


class _HWAConvNd(HWALayerMixin):
    _channel_dim = 1
    _conv = staticmethod(F.conv2d)

    def _op(self, x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        return self._conv(x, w, bias, self.stride, self.padding, self.dilation, self.groups)  # type: ignore[attr-defined]

    def _tile_sums(self, x: torch.Tensor, w_n: torch.Tensor) -> list[torch.Tensor]:
        """Per row tile partial sums, one conv per tile on its input channels (of every group)."""
        chunks = self.geometry.row_chunks
        if len(chunks) == 1:
            return [self._op(x, w_n, None)]
        ipg = self.geometry.in_per_group
        parts = []
        for c0, c1 in chunks:  # grouped conv over several row tiles: the tile's channels of each group
            idx = torch.cat([torch.arange(g * ipg + c0, g * ipg + c1) for g in range(self.groups)])  # type: ignore[attr-defined]
            parts.append(self._op(x.index_select(1, idx), w_n[:, c0:c1], None))
        return parts


class HWAConv2d(_HWAConvNd, nn.Conv2d):
    """nn.Conv2d with the analog tile (noise, DAC, per-tile ADC) simulated in the forward pass."""

    _conv = staticmethod(F.conv2d)


class HWAConv1d(_HWAConvNd, nn.Conv1d):
    """nn.Conv1d with the analog tile simulated in the forward pass."""

    _conv = staticmethod(F.conv1d)


class HWALinear(HWALayerMixin, nn.Linear):
    """nn.Linear with the analog tile simulated (rows = in_features)."""

    _channel_dim = -1

    def _op(self, x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        return F.linear(x, w, bias)

    def _tile_sums(self, x: torch.Tensor, w_n: torch.Tensor) -> list[torch.Tensor]:
        """Per row tile partial sums [B, ..., C_out]."""
        return [F.linear(x[..., r0:r1], w_n[:, r0:r1]) for r0, r1 in self.geometry.row_chunks]
