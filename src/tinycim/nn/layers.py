"""Analog Linear / Conv1d / Conv2d: one layer type for hardware-aware training and for the chip.

Each analog layer *is* its torch layer (subclass), so `weight` and `bias` stay ordinary
Parameters and any optimizer or hook works. The hardware lives in what the layer owns:

* `analog_config`: the layer's own `AnalogConfig` (the model's, with its `layers` overrides applied);
* `periphery`: a `Periphery` module with the DAC and the per-tile ADC (`Converter`s, each with its
  range) and, for a uniform weight range, the shared |w| -> g_max; layers with a uniform range
  (seed B) all hold the *same* `Periphery`, so one range serves every layer;
* `unipolar_sign`: +-1 per weight for a unipolar layer (a buffer saved with the state_dict);
* after `tc.program`: the programmed conductances, drift exponents and drift compensation of K
  chips, as (non-persistent) buffers that `.to(device)` and `.to(dtype)` move;
* `hwa`: how to train (`HWAConfig`: noise, clipping) once `tinycim.train.prepare` set it.

Forward, per programmed instance k (one instance, the mapping targets, before programming):

    w_s   = Q_w(W / s)[slice s] (+ training noise)  or  the programmed, drifted weights
    x_q   = DAC(x; r_in)                            inputs clipped to the range and quantized
    y_ts  = ADC(x_q[rows of t] @ w_s[rows of t]; o * r_in)   each row tile t and weight slice s
    y     = (sum_s sig_s sum_t y_ts) * s * gdc_k + bias      digital shift-and-add, scale, bias

One quantizer (`tiles.quant`) with one gradient (straight-through to x, LSQ to the range), one
weight mapping (`normalized_weight`) serve training, calibration, programming and inference.
With K instances programmed, a batch [B, ...] gives [K*B, ...] (instance-major).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from tinycim.config import AnalogConfig
from tinycim.errors import MappingError
from tinycim.nn.inference_path import forward_fast
from tinycim.nn.periphery import Converter, InstanceContext, Periphery
from tinycim.nn.state import _targets, derive_seed, effective_weights, sample_chip
from tinycim.tiles.geometry import LayerGeometry
from tinycim.tiles.mapping import magnitude_slices, unipolar_signs, weight_scale
from tinycim.tiles.periphery import add_output_noise, dynamic_range
from tinycim.tiles.quant import (
    fake_quant,
    fake_quant_split,
    fake_quant_tiles,
    percentile_abs,
    quantize_weight_levels,
)

if TYPE_CHECKING:
    from tinycim.train.config import HWAConfig


class AnalogLayerMixin:
    """Behaviour of the analog layers (mixed into subclasses of the torch layers)."""

    analog_config: AnalogConfig
    geometry: LayerGeometry
    layer_name: str
    periphery: Periphery
    hwa: HWAConfig | None
    _ctx: InstanceContext
    _channel_dim: int  # 1 for convs, -1 for linear
    # from the torch layer this is mixed into, and the buffers `_init_analog` registers
    weight: torch.Tensor
    bias: torch.Tensor | None
    training: bool
    unipolar_sign: torch.Tensor | None
    prog_g: torch.Tensor | None
    prog_nu: torch.Tensor | None
    prog_gdc_ref: torch.Tensor | None
    prog_w: torch.Tensor | None
    prog_sig: torch.Tensor | None
    prog_scale: torch.Tensor | None
    prog_gdc: torch.Tensor | None

    if TYPE_CHECKING:

        def register_buffer(
            self, name: str, tensor: torch.Tensor | None, persistent: bool = True
        ) -> None: ...
        def train(self, mode: bool = True) -> Any: ...

    def _init_analog(
        self,
        config: AnalogConfig,
        name: str,
        ctx: InstanceContext,
        geometry: LayerGeometry,
        periphery: Periphery,
    ) -> None:
        self.analog_config = config
        self.layer_name = name
        self.geometry = geometry
        self._ctx = ctx
        self.periphery = periphery
        self.hwa = None
        self.noise_factor = 1.0  # warm-up schedule of the training noise (set by fit)
        self.noise_seed = derive_seed("noise", name)
        self._noise_gen: torch.Generator | None = None
        sign = None
        if config.mapping.polarity == "unipolar":
            sign = unipolar_signs(self.weight, geometry, config.mapping.unipolar_sign)
        self.register_buffer("unipolar_sign", sign)
        for name_ in _PROGRAMMED:
            self.register_buffer(name_, None, persistent=False)
        self.prog_seed: int | None = None
        self.prog_index = 0
        self.prog_t: float | None = None

    # ---- public read-only views --------------------------------------------------------------
    @property
    def instances(self) -> int:
        return 1 if self.prog_w is None else self.prog_w.shape[0]

    @property
    def programmed(self) -> bool:
        return self.prog_w is not None

    @property
    def input_range(self) -> torch.Tensor:
        """The DAC range in input units (scalar tensor, NaN when uncalibrated)."""
        return (
            self.periphery.dac.log_range.detach().exp()
            if self.periphery.dac.fixed is None
            else self.periphery.dac.full_scale()
        )

    @property
    def output_range(self) -> torch.Tensor:
        """The ADC range in normalized units (scalar tensor, NaN when uncalibrated)."""
        return (
            self.periphery.adc.log_range.detach().exp()
            if self.periphery.adc.fixed is None
            else self.periphery.adc.full_scale()
        )

    def weight_scale(self) -> torch.Tensor:
        """s [C_out]: the |w| mapped to g_max (per layer, per column or uniform), no gradient."""
        return weight_scale(self.weight, self.analog_config.mapping, self.periphery.w_max_value)

    def normalized_weight(
        self, noise: bool = False, scale: torch.Tensor | None = None, as_read: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(w [S, C_out, C_in/groups, *k], significance [S]): the weights each slice of devices
        holds, normalized to [-1, 1] (W / s, saturated, on the unipolar sign, on the weight levels
        with straight-through gradients), plus the training noise when `noise`.

        `as_read=False` gives the targets `tc.program` writes (`targets_from_slices`); the default
        passes them through the conductances once (w -> g -> w, exact up to float rounding), so
        that on ideal devices the training forward is bit for bit the programmed chip's."""
        mapping = self.analog_config.mapping
        w = self.weight
        s = self.weight_scale() if scale is None else scale
        w_n = (w / s.view(-1, *([1] * (w.dim() - 1)))).clamp(-1.0, 1.0)
        sign = self.unipolar_sign
        if sign is not None:
            w_n = (w_n * sign).clamp(min=0.0) * sign
        if mapping.weight_bits is None:
            slices, significance = w_n.unsqueeze(0), w_n.new_ones(1)
        else:
            q = quantize_weight_levels(w_n, mapping.weight_bits)
            if mapping.slices == 1:
                slices, significance = q.unsqueeze(0), q.new_ones(1)
            else:
                levels, significance = magnitude_slices(q.detach().abs(), mapping)
                direction, ste = torch.sign(q.detach()), q - q.detach()
                slices = torch.stack([direction * level + ste for level in levels])
        if as_read:
            g_max = self.analog_config.device.g_max_us
            read = effective_weights(_targets(slices.detach().unsqueeze(0), sign, g_max), sign, g_max)[0]
            slices = slices + (read - slices.detach())
        if noise:
            slices = self._add_training_noise(slices, significance)
        return slices, significance

    def _generator(self) -> torch.Generator:
        device = self.weight.device
        if self._noise_gen is None or self._noise_gen.device != device:
            self._noise_gen = torch.Generator(device=device).manual_seed(self.noise_seed)
        return self._noise_gen

    def seed_noise(self, seed: int) -> torch.Generator:
        """Restart the layer's noise stream from (seed, layer name)."""
        self.noise_seed = derive_seed("noise", seed, self.layer_name)
        self._noise_gen = None
        return self._generator()

    def _add_training_noise(self, slices: torch.Tensor, significance: torch.Tensor) -> torch.Tensor:
        hwa = self.hwa
        factor = 0.0 if hwa is None else self.noise_factor * hwa.noise_scale
        if not self.training or hwa is None or hwa.noise == "none" or factor <= 0:
            return slices
        gen = self._generator()
        w = slices.detach()
        if hwa.noise == "gaussian":
            if hwa.noise_per == "column":
                sigma = w.abs().flatten(2).amax(dim=2).view(*w.shape[:2], *([1] * (w.dim() - 2)))
            else:
                sigma = w.abs().flatten(1).amax(dim=1).view(-1, *([1] * (w.dim() - 1)))
            eps = torch.randn(w.shape, generator=gen, dtype=w.dtype, device=w.device)
            return slices + eps * (sigma * hwa.noise_eta * factor)
        noisy = sample_chip(
            w, significance, self.unipolar_sign, self.analog_config, gen, hwa.noise_t_min_s, hwa.noise_t_max_s
        )
        return slices + (noisy - w) * factor

    def conductances(self, instance: int = 0) -> torch.Tensor:
        """Device conductances in uS, [S, P, C_out, C_in/groups, *k]: the programmed-and-drifted
        state if programmed, else the mapping targets."""
        from tinycim.nn.state import read_conductances, targets_from_slices

        if self.prog_w is None:
            with torch.no_grad():
                slices, _ = self.normalized_weight(as_read=False)
            return targets_from_slices(slices, self.unipolar_sign, self.analog_config.device.g_max_us)
        return read_conductances(self)[instance]

    # ---- forward -----------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward_weights(x, self._mvm_weights())

    def _mvm_weights(self) -> tuple:
        """(w [K, S, C_out, ...], significance [S], scale [C_out], gdc [K, 1|C_out] or None) that a
        forward multiplies by: the programmed chips', or the mapped weights with one draw of the
        training noise. A recurrent layer resolves them once per sequence (one chip's programming
        noise serves every time step) and runs `_forward_weights` per step."""
        if self.prog_w is not None:
            return self.prog_w, self.prog_sig, self.prog_scale, self.prog_gdc
        slices, significance = self.normalized_weight(noise=True)
        return slices.unsqueeze(0), significance, self.weight_scale(), None

    def _forward_weights(self, x: torch.Tensor, weights: tuple) -> torch.Tensor:
        """The forward with the weights of `_mvm_weights` already resolved."""
        w, significance, scale, gdc = weights
        active = self._ctx.active
        if active is not None and w.shape[0] > 1:  # the root runs one chip at a time
            w, gdc = w[active : active + 1], None if gdc is None else gdc[active : active + 1]
        k_inst = w.shape[0]
        batch = self._ctx.batch
        if k_inst == 1:
            parts = [x]
        elif batch is None or x.shape[0] == batch:
            parts = [x] * k_inst  # input shared by every instance (first analog layer)
        elif x.shape[0] == k_inst * batch:
            parts = list(x.chunk(k_inst))
        else:
            raise MappingError(
                f"layer {self.layer_name!r}: batch of {x.shape[0]} is neither the call's batch {batch} "
                f"nor {k_inst} instances x {batch}"
            )
        assert scale is not None and significance is not None
        cols = [scale if gdc is None else scale * gdc[k] for k in range(k_inst)]
        if self._use_fast_path(x, w):
            return forward_fast(self, parts, w[:, 0], cols)
        outs = [self._forward_sim(p, w[k], significance, cols[k]) for k, p in enumerate(parts)]
        return outs[0] if k_inst == 1 else torch.cat(outs)

    def _use_fast_path(self, x: torch.Tensor, w: torch.Tensor) -> bool:
        params = (p for p in (self.weight, self.bias) if p is not None)
        if torch.is_grad_enabled() and (
            x.requires_grad or w.requires_grad or any(p.requires_grad for p in params)
        ):
            return False
        dac, adc = self.periphery.converters()
        exotic = (
            w.shape[1] > 1
            or self.analog_config.adc.noise > 0
            or dac.calibrating is not None
            or adc.calibrating is not None
            or self._observing()
        )
        return not exotic and self._fast_path_ok()

    def _observing(self) -> bool:
        """Training a prepared layer whose converters are not calibrated yet: calibrate on this batch."""
        if self.hwa is None or not self.training:
            return False
        return any(c.active and not c.calibrated for c in self.periphery.converters())

    def _percentile(self, conv: Converter) -> float | None:
        if conv.calibrating is not None:
            return conv.calibrating
        if self.hwa is not None and self.training and conv.active and not conv.calibrated:
            return self.hwa.range_percentile
        return None

    def _forward_sim(
        self, x: torch.Tensor, w: torch.Tensor, significance: torch.Tensor, col: torch.Tensor
    ) -> torch.Tensor:
        """The differentiable path (training, calibration, gradients through a chip).

        x: [B, ...] one instance's input; w: [S, C_out, ...] normalized weights per slice;
        col: [C_out] digital output scale (weight range x drift compensation).
        """
        dac, adc = self.periphery.converters()
        chunks = self._row_slices()
        r_in: torch.Tensor | None = None
        xs: list[torch.Tensor] | None = None
        if dac.active:
            q = self._percentile(dac)
            if q is not None:
                dac.observe(percentile_abs(x, q))
            r_in = dac.full_scale() if dac.calibrated else dynamic_range(x)
            if chunks is not None and r_in.numel() == 1:
                xs = fake_quant_split(x, r_in, dac.bits, self._channel_dim, chunks)  # type: ignore[arg-type]  # bits is not None on this path
            else:
                x = fake_quant(x, r_in, dac.bits)  # type: ignore[arg-type]  # active: bits set
        if xs is None and chunks is not None:
            xs = [x.narrow(self._channel_dim, c0, c1 - c0) for c0, c1 in chunks]
        noise = self.analog_config.adc.noise
        y: torch.Tensor | None = None
        for s in range(w.shape[0]):
            if xs is None:
                parts = self._tile_sums(x, w[s])
            else:
                parts = [self._op(x_t, w[s][:, c0:c1], None) for x_t, (c0, c1) in zip(xs, chunks or ())]
            if adc.active or noise > 0:
                unit = r_in if r_in is not None else 1.0
                q = self._percentile(adc)
                if q is not None:
                    seen = torch.cat([p.detach().flatten() for p in parts])
                    if r_in is None or r_in.numel() == 1:
                        adc.observe(percentile_abs(seen, q) / (1.0 if r_in is None else float(r_in.detach())))
                    else:
                        adc.observe(
                            percentile_abs(torch.cat([(p.detach() / r_in).flatten() for p in parts]), q)
                        )
                if adc.calibrated:
                    fs: torch.Tensor | None = adc.full_scale() * unit
                else:
                    fs = None  # ideal gain control, per sample and row tile
                if noise > 0:
                    gen = self._generator()
                    parts = [
                        add_output_noise(p, fs if fs is not None else dynamic_range(p), noise, gen)
                        for p in parts
                    ]
                adc_bits = adc.bits or 0
                if not adc.active:
                    p_sum = parts[0] if len(parts) == 1 else torch.stack(parts).sum(0)
                elif fs is not None and fs.numel() == 1:
                    p_sum = (
                        fake_quant(parts[0], fs, adc_bits)
                        if len(parts) == 1
                        else fake_quant_tiles(parts, fs, adc_bits)
                    )
                else:
                    quantized = [
                        fake_quant(p, fs if fs is not None else dynamic_range(p), adc_bits) for p in parts
                    ]
                    p_sum = quantized[0] if len(quantized) == 1 else torch.stack(quantized).sum(0)
            else:
                p_sum = parts[0] if len(parts) == 1 else torch.stack(parts).sum(0)
            if w.shape[0] > 1:
                p_sum = p_sum * significance[s]
            y = p_sum if y is None else y + p_sum
        assert y is not None
        scale = self._per_channel(col)
        bias = self.bias
        return y * scale if bias is None else torch.addcmul(self._per_channel(bias), y, scale)

    def _row_slices(self) -> tuple[tuple[int, int], ...] | None:
        """Ranges of x along `_channel_dim` that the row tiles read, for a dense layer over several
        row tiles; None for one row tile or a grouped conv (whose tiles read every group's channels)."""
        chunks = self.geometry.row_chunks
        if len(chunks) == 1 or self.geometry.groups != 1:
            return None
        return chunks

    def _fast_path_ok(self) -> bool:
        return len(self.geometry.row_chunks) == 1

    def _per_channel(self, v: torch.Tensor) -> torch.Tensor:
        if self._channel_dim == -1:
            return v
        extra = self.weight.dim() - 2
        return v.view(1, -1, *([1] * extra))

    def _op(self, x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def _tile_sums(self, x: torch.Tensor, w: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def _mvm_all_chunks(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:  # noqa: D102
        base = super().extra_repr()  # type: ignore[misc]  # the torch layer's extra_repr, next in the MRO
        m = self.analog_config.mapping
        bits = f", weight_bits={m.weight_bits}" if m.weight_bits else ""
        return f"{base}, {m.polarity}{bits}, tiles={len(self.geometry.tiles)}"


# Programmed state of K chips (set by tc.program, moved by .to()): conductances and drift
# exponents [K, S, P, C_out, ...], GDC references, then at the current time the weights the MVM
# sees [K, S, C_out, ...], slice significance [S], digital scale [C_out], GDC scale [K, 1|C_out].
_PROGRAMMED = ("prog_g", "prog_nu", "prog_gdc_ref", "prog_w", "prog_sig", "prog_scale", "prog_gdc")


class _AnalogConvNd(AnalogLayerMixin):
    _channel_dim = 1
    _conv: Any = staticmethod(F.conv2d)

    def _op(self, x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        return self._conv(x, w, bias, self.stride, self.padding, self.dilation, self.groups)  # type: ignore[attr-defined]  # stride, padding, ... come from the torch conv base

    def _tile_sums(self, x: torch.Tensor, w: torch.Tensor) -> list[torch.Tensor]:
        """Per row tile partial sums, one conv per tile on its input channels (of every group)."""
        chunks = self.geometry.row_chunks
        if len(chunks) == 1:
            return [self._op(x, w, None)]
        ipg = self.geometry.in_per_group
        parts = []
        for c0, c1 in chunks:  # grouped conv over several row tiles: the tile's channels of each group
            idx = torch.cat([torch.arange(g * ipg + c0, g * ipg + c1) for g in range(self.geometry.groups)])
            parts.append(self._op(x.index_select(1, idx.to(x.device)), w[:, c0:c1], None))
        return parts

    def _fast_path_ok(self) -> bool:
        geo = self.geometry
        return len(geo.row_chunks) == 1 or (geo.groups == 1 and geo.equal_row_chunks)

    def _mvm_all_chunks(self, x_c: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Every row tile's partial sums in one call: [b, n_tiles * C_out, ...]. Equal row tiles
        of a dense conv are the groups of a grouped conv over the same input channels."""
        n = len(self.geometry.row_chunks)
        if n == 1:
            return self._op(x_c, w, None)
        stacked = torch.cat([w[:, c0:c1] for c0, c1 in self.geometry.row_chunks])
        return self._conv(x_c, stacked, None, self.stride, self.padding, self.dilation, n)  # type: ignore[attr-defined]  # stride, padding, ... come from the torch conv base


class AnalogConv2d(_AnalogConvNd, nn.Conv2d):
    """nn.Conv2d on analog tiles (grouped and depthwise map block-diagonally)."""

    _conv = staticmethod(F.conv2d)


class AnalogConv1d(_AnalogConvNd, nn.Conv1d):
    """nn.Conv1d on analog tiles."""

    _conv = staticmethod(F.conv1d)


class AnalogLinear(AnalogLayerMixin, nn.Linear):  # type: ignore[misc]  # nn.Linear types bias as Tensor
    """nn.Linear on analog tiles (rows = in_features, columns = out_features)."""

    _channel_dim = -1

    def _op(self, x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        return F.linear(x, w, bias)

    def _tile_sums(self, x: torch.Tensor, w: torch.Tensor) -> list[torch.Tensor]:
        """Per row tile partial sums [B, ..., C_out]."""
        return [F.linear(x[..., r0:r1], w[:, r0:r1]) for r0, r1 in self.geometry.row_chunks]

    def _mvm_all_chunks(self, x_c: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return F.linear(x_c, w)


ANALOG_FOR: dict[type, type] = {nn.Conv2d: AnalogConv2d, nn.Conv1d: AnalogConv1d, nn.Linear: AnalogLinear}
DIGITAL_FOR: dict[type, type] = {v: k for k, v in ANALOG_FOR.items()}
