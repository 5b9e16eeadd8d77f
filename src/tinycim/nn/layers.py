"""Analog Linear / Conv1d / Conv2d: the digital layer's weight, run through tiles and converters.

Each analog layer *is* its torch layer (subclass), so `weight` and `bias` stay ordinary
Parameters and any optimizer or hook works. Forward, per programmed instance k:

    x_n   = DAC(x / r_in)                          inputs clipped to the range and quantized
    y_t   = ADC(x_n[rows of t] @ W_k[rows of t])   each row tile's partial sum, fixed-gain ADC
    y     = (sum_t y_t) * r_in * scale * gdc_k + bias   digital scale, drift compensation, bias

With K instances programmed, a batch [B, ...] gives [K*B, ...] (instance-major).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tinycim.config import AnalogConfig
from tinycim.errors import MappingError
from tinycim.nn.state import ProgrammedState, generator
from tinycim.tiles.geometry import LayerGeometry, layer_geometry
from tinycim.tiles.mapping import effective_weights, map_weights, weight_scale
from tinycim.tiles.periphery import add_output_noise, dynamic_range, levels_per_side, quantize_symmetric

# Micro-batch size target (elements of a layer's output) for the inference path: ~4 MB of
# float32 fits the L2 caches, so the converter passes run from cache, not DRAM.
_CACHE_ELEMENTS = 1 << 20


class InstanceContext:
    """Shared by a converted model's layers: the batch size of the current top-level call.

    The root module's hooks set it, so a layer can tell a shared input [B, ...] (before any
    analog layer ran) from per-instance activations [K*B, ...].
    """

    def __init__(self) -> None:
        self.batch: int | None = None
        self.active: int | None = None  # instance being run by the root's per-instance loop

    def before(self, module: nn.Module, args: tuple) -> None:
        first = next((a for a in args if isinstance(a, torch.Tensor)), None)
        self.batch = None if first is None else first.shape[0]

    def after(self, module: nn.Module, args: tuple, output: object) -> None:
        self.batch = None


class AnalogLayerMixin:
    """Behaviour shared by the analog layers (mixed into subclasses of the torch layers)."""

    analog_config: AnalogConfig
    geometry: LayerGeometry
    layer_name: str
    _state: ProgrammedState | None
    _ctx: InstanceContext
    _channel_dim: int  # 1 for convs, -1 for linear

    def _init_analog(self, config: AnalogConfig, name: str, ctx: InstanceContext, geometry: LayerGeometry) -> None:
        self.analog_config = config
        self.layer_name = name
        self.geometry = geometry
        self._ctx = ctx
        self._state = None
        self.uniform_max: float | None = None
        # Fixed converter ranges (NaN = not calibrated yet); saved with the state_dict.
        self.register_buffer("input_range", torch.tensor(math.nan))  # type: ignore[attr-defined]
        self.register_buffer("output_range", torch.tensor(math.nan))  # type: ignore[attr-defined]
        self._calibrating: float | None = None  # percentile while tc.calibrate runs
        self._unprogrammed_noise = generator("adc-noise-unprogrammed", name)

    # ---- public read-only views --------------------------------------------------------------
    @property
    def instances(self) -> int:
        return 1 if self._state is None else self._state.instances

    @property
    def programmed(self) -> bool:
        return self._state is not None

    def conductances(self, instance: int = 0) -> torch.Tensor:
        """Device conductances in uS, [S, P, C_out, C_in/groups, *k]: the programmed-and-drifted
        state if programmed, else the mapping targets."""
        cfg = self.analog_config
        if self._state is None:
            w = self.weight.detach().float()  # type: ignore[attr-defined]
            return map_weights(w, weight_scale(w, cfg.mapping, self.uniform_max), self.geometry, cfg.mapping,
                               cfg.device.g_max_us).g_target
        st = self._state
        g = cfg.device.read(st.cells, st.t_inf, generator("read", st.seed, st.index, round(st.t_inf, 6)))
        return g[instance]

    # ---- forward -----------------------------------------------------------------------------
    def _weights_now(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(w [K, S, C_out, ...] normalized, significance [S], scale [C_out], gdc [K, 1|C_out] or None)."""
        cfg = self.analog_config
        st = self._state
        if st is not None:
            return st.w_eff, st.mapped.significance, st.scale, st.gdc_scale
        w = self.weight  # type: ignore[attr-defined]
        scale = weight_scale(w, cfg.mapping, self.uniform_max)
        if cfg.mapping.polarity == "differential" and cfg.mapping.weight_bits is None:
            # Differentiable ideal path: analog weights are just W / scale.
            w_n = w / scale.view(-1, *([1] * (w.dim() - 1)))
            return w_n[None, None], torch.ones(1), scale, None
        mapped = map_weights(w, scale, self.geometry, cfg.mapping, cfg.device.g_max_us)
        g = mapped.g_target.unsqueeze(0)
        return effective_weights(g, mapped, cfg.device.g_max_us), mapped.significance, scale, None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, significance, scale, gdc = self._weights_now()
        active = self._ctx.active
        if active is not None and w.shape[0] > 1:  # the root runs one instance at a time
            w, gdc = w[active:active + 1], None if gdc is None else gdc[active:active + 1]
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
        cols = [scale if gdc is None else scale * gdc[k] for k in range(k_inst)]
        if self._use_fast_path(x, w):
            return self._forward_fast(parts, w[:, 0], cols)
        outs = [self._forward_reference(p, w[k], significance, cols[k]) for k, p in enumerate(parts)]
        return outs[0] if k_inst == 1 else torch.cat(outs)

    def _use_fast_path(self, x: torch.Tensor, w: torch.Tensor) -> bool:
        params = (p for p in (self.weight, self.bias) if p is not None)  # type: ignore[attr-defined]
        needs_grad = torch.is_grad_enabled() and (x.requires_grad or w.requires_grad or any(p.requires_grad for p in params))
        exotic = w.shape[1] > 1 or self.analog_config.adc.noise > 0 or self._calibrating is not None
        return not needs_grad and not exotic and self._fast_path_ok()

    def _forward_reference(self, x: torch.Tensor, w: torch.Tensor, significance: torch.Tensor, col: torch.Tensor) -> torch.Tensor:
        """The readable, differentiable path: one row tile and one slice at a time.

        x: [B, ...] one instance's input; w: [S, C_out, ...] normalized weights per slice;
        col: [C_out] digital output scale (weight range x drift compensation).
        """
        cfg = self.analog_config
        if cfg.dac.bits is None:
            x_n, r_in = x, None
        else:
            r_in = self._input_full_scale(x)
            x_n = quantize_symmetric(x / r_in, 1.0, cfg.dac.bits)
        y: torch.Tensor | None = None
        for s in range(w.shape[0]):
            for chunk in range(len(self.geometry.row_chunks)):
                part = self._adc(self._mvm(x_n, w[s], chunk))
                if w.shape[0] > 1:
                    part = part * significance[s]
                y = part if y is None else y + part
        assert y is not None
        y = y * self._per_channel(col)
        if r_in is not None:
            y = y * r_in
        bias = self.bias  # type: ignore[attr-defined]
        return y if bias is None else y + self._per_channel(bias)

    def _fast_path_ok(self) -> bool:
        return len(self.geometry.row_chunks) == 1

    @torch.no_grad()
    def _forward_fast(self, parts: list[torch.Tensor], w: torch.Tensor, cols: list[torch.Tensor]) -> torch.Tensor:
        """Same numbers as the reference path, for inference: integer codes, in-place converters,
        all row tiles in one call, micro-batches small enough to stay in cache (the converters
        are memory-bound, so cache residency is what makes them nearly free), and every
        instance written straight into one output [K*B, ...].

        parts: K inputs [B, ...]; w: [K, C_out, ...]; cols: K digital output scales [C_out].
        """
        batch = parts[0].shape[0]
        per_sample = parts[0][0].numel() * max(1, w.shape[1] * len(self.geometry.row_chunks) // max(1, parts[0].shape[1]))
        micro = max(1, _CACHE_ELEMENTS // per_sample)
        out: torch.Tensor | None = None
        for k, x in enumerate(parts):
            for start in range(0, batch, micro):
                xb = x[start:start + micro]
                if out is None:
                    first = self._fast_block(xb, w[k], cols[k], None)
                    out = first.new_empty((len(parts) * batch, *first.shape[1:]))
                    out[: first.shape[0]] = first
                    continue
                self._fast_block(xb, w[k], cols[k], out[k * batch + start: k * batch + start + xb.shape[0]])
        assert out is not None
        return out

    def _fast_block(self, x: torch.Tensor, w: torch.Tensor, col: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
        cfg = self.analog_config
        factor: torch.Tensor | float = 1.0
        if cfg.dac.bits is not None:
            levels = levels_per_side(cfg.dac.bits)
            r_in = self._input_full_scale(x)
            x = x * (levels / r_in)  # integer input codes
            x.clamp_(-levels, levels).round_()
            factor = r_in / levels
            code_unit = levels  # one normalized unit of partial sum, in code units
        else:
            code_unit = 1
        n = len(self.geometry.row_chunks)
        part = self._mvm_all_chunks(x, w)  # [b, n*C_out, ...] or [b, ..., C_out]
        if cfg.adc.bits is not None:
            levels = levels_per_side(cfg.adc.bits)
            view = part.view(part.shape[0], n, -1) if self._channel_dim == 1 else part
            r = float(self.output_range) if cfg.adc.range is None else cfg.adc.range  # type: ignore[attr-defined]
            if math.isfinite(r) and r > 0:
                full = r * code_unit
                view.mul_(levels / full).clamp_(-levels, levels).round_()
                factor = factor * (full / levels)
            else:  # ideal gain control: per-sample (and per row tile) full scale
                full_t = view.abs().amax(dim=-1, keepdim=True).clamp_(min=1e-12)
                view.mul_(levels / full_t).clamp_(-levels, levels).round_().mul_(full_t / levels)
        if n > 1:  # digital addition of the row tiles' converted partial sums
            tiles = part.view(part.shape[0], n, -1, *part.shape[2:])
            part = tiles[:, 0] + tiles[:, 1]
            for t in range(2, n):
                part.add_(tiles[:, t])
        if isinstance(factor, torch.Tensor):
            factor = factor.view(-1, *([1] * (part.dim() - 1)))
            scale = factor * self._per_channel(col)
        else:
            scale = self._per_channel(col * factor)
        bias = self.bias  # type: ignore[attr-defined]
        if bias is None:
            return torch.mul(part, scale, out=out) if out is not None else part.mul_(scale)
        if out is not None:
            return torch.addcmul(self._per_channel(bias), part, scale, out=out)
        return torch.addcmul(self._per_channel(bias), part, scale)

    def _per_channel(self, v: torch.Tensor) -> torch.Tensor:
        if self._channel_dim == -1:
            return v
        extra = self.weight.dim() - 2  # type: ignore[attr-defined]
        return v.view(1, -1, *([1] * extra))

    def _input_full_scale(self, x: torch.Tensor) -> torch.Tensor | float:
        cfg = self.analog_config
        if self._calibrating is not None:
            self.input_range.fill_(_percentile(x, self._calibrating))  # type: ignore[attr-defined]
        if cfg.dac.range is not None:
            return cfg.dac.range
        r = float(self.input_range)  # type: ignore[attr-defined]
        return r if math.isfinite(r) and r > 0 else dynamic_range(x)

    def _adc(self, part: torch.Tensor) -> torch.Tensor:
        cfg = self.analog_config.adc
        if self._calibrating is not None:
            current = float(self.output_range)  # type: ignore[attr-defined]
            value = _percentile(part, self._calibrating)
            self.output_range.fill_(value if not math.isfinite(current) else max(current, value))  # type: ignore[attr-defined]
        if cfg.bits is None and cfg.noise == 0:
            return part
        if cfg.range is not None:
            fs: torch.Tensor | float = cfg.range
        else:
            r = float(self.output_range)  # type: ignore[attr-defined]
            fs = r if math.isfinite(r) and r > 0 else dynamic_range(part)
        if cfg.noise > 0:
            gen = self._state.noise_gen if self._state is not None else self._unprogrammed_noise
            part = add_output_noise(part, fs, cfg.noise, gen)
        if cfg.bits is not None:
            part = quantize_symmetric(part, fs, cfg.bits)
        return part

    def _mvm(self, x_n: torch.Tensor, w: torch.Tensor, chunk: int) -> torch.Tensor:
        raise NotImplementedError


def _percentile(x: torch.Tensor, q: float) -> float:
    """q-th percentile of |x| (on a strided subsample of at most ~4M values, for speed)."""
    flat = x.detach().abs().flatten().float()
    step = max(1, flat.numel() // (1 << 22))
    flat = flat[::step]
    if q >= 100:
        return float(flat.max())
    k = max(1, min(flat.numel(), int(math.ceil(q / 100 * flat.numel()))))
    return float(flat.kthvalue(k).values)


class _AnalogConvNd(AnalogLayerMixin):
    _channel_dim = 1
    _conv = staticmethod(F.conv2d)

    def _chunk_input(self, x_n: torch.Tensor, chunk: int) -> torch.Tensor:
        geo = self.geometry
        c0, c1 = geo.row_chunks[chunk]
        if geo.groups == 1:
            return x_n[:, c0:c1]
        idx = torch.cat([torch.arange(g * geo.in_per_group + c0, g * geo.in_per_group + c1) for g in range(geo.groups)])
        return x_n.index_select(1, idx.to(x_n.device))

    def _mvm(self, x_n: torch.Tensor, w: torch.Tensor, chunk: int) -> torch.Tensor:
        geo = self.geometry
        if len(geo.row_chunks) > 1:
            c0, c1 = geo.row_chunks[chunk]
            x_n, w = self._chunk_input(x_n, chunk), w[:, c0:c1]
        return self._conv(x_n, w, None, self.stride, self.padding, self.dilation, self.groups)  # type: ignore[attr-defined]


    def _fast_path_ok(self) -> bool:
        geo = self.geometry
        return len(geo.row_chunks) == 1 or (geo.groups == 1 and geo.equal_row_chunks)

    def _mvm_all_chunks(self, x_c: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Every row tile's partial sums in one call: [b, n_tiles * C_out, ...]. Equal row tiles
        of a dense conv are the groups of a grouped conv over the same input channels."""
        n = len(self.geometry.row_chunks)
        if n == 1:
            return self._conv(x_c, w, None, self.stride, self.padding, self.dilation, self.groups)  # type: ignore[attr-defined]
        stacked = torch.cat([w[:, c0:c1] for c0, c1 in self.geometry.row_chunks])
        return self._conv(x_c, stacked, None, self.stride, self.padding, self.dilation, n)  # type: ignore[attr-defined]


class AnalogConv2d(_AnalogConvNd, nn.Conv2d):
    """nn.Conv2d on analog tiles (grouped and depthwise map block-diagonally)."""

    _conv = staticmethod(F.conv2d)


class AnalogConv1d(_AnalogConvNd, nn.Conv1d):
    """nn.Conv1d on analog tiles."""

    _conv = staticmethod(F.conv1d)


class AnalogLinear(AnalogLayerMixin, nn.Linear):
    """nn.Linear on analog tiles (rows = in_features, columns = out_features)."""

    _channel_dim = -1

    def _mvm(self, x_n: torch.Tensor, w: torch.Tensor, chunk: int) -> torch.Tensor:
        if len(self.geometry.row_chunks) > 1:
            r0, r1 = self.geometry.row_chunks[chunk]
            x_n, w = x_n[..., r0:r1], w[:, r0:r1]
        return F.linear(x_n, w)

    def _mvm_all_chunks(self, x_c: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return F.linear(x_c, w)


ANALOG_FOR = {nn.Conv2d: AnalogConv2d, nn.Conv1d: AnalogConv1d, nn.Linear: AnalogLinear}


def clone_as(module: nn.Module, cls: type, name: str) -> nn.Module:
    """A `cls` layer built like the Linear/Conv1d/Conv2d `module`, with copies of its weight and bias."""
    w = module.weight
    if isinstance(module, nn.Linear):
        new = cls(module.in_features, module.out_features, bias=module.bias is not None)
    else:
        if module.padding_mode != "zeros":
            raise MappingError(f"layer {name!r}: padding_mode {module.padding_mode!r} is not supported (only 'zeros')")
        new = cls(module.in_channels, module.out_channels, module.kernel_size, stride=module.stride,
                  padding=module.padding, dilation=module.dilation, groups=module.groups, bias=module.bias is not None)
    new = new.to(dtype=w.dtype, device=w.device)
    with torch.no_grad():
        new.weight.copy_(w)
        if module.bias is not None:
            new.bias.copy_(module.bias)
    new.weight.requires_grad_(w.requires_grad)
    new.train(module.training)
    return new


def geometry_of(module: nn.Module, name: str, tile_rows: int, tile_cols: int) -> LayerGeometry:
    """How a Linear/Conv layer's weight matrix tiles onto tile_rows x tile_cols arrays."""
    if isinstance(module, nn.Linear):
        groups, kernel_numel, in_per_group = 1, 1, module.in_features
    else:
        groups, kernel_numel = module.groups, math.prod(module.kernel_size)
        in_per_group = module.in_channels // module.groups
    return layer_geometry(name, groups=groups, in_per_group=in_per_group,
                          out_per_group=module.weight.shape[0] // groups, kernel_numel=kernel_numel,
                          tile_rows=tile_rows, tile_cols=tile_cols)


def from_digital(module: nn.Module, config: AnalogConfig, name: str, ctx: InstanceContext) -> AnalogLayerMixin:
    """An analog copy of a Linear/Conv1d/Conv2d (its weight and bias copied, not shared)."""
    new = clone_as(module, ANALOG_FOR[type(module)], name)
    new._init_analog(config, name, ctx, geometry_of(module, name, config.tile.rows, config.tile.cols))
    return new
