"""Programming: what a layer's arrays hold after `tc.program`, and their state at a time after it.

The programmed state of K chips lives on the layer as buffers (so `.to(device)` / `.to(dtype)`
move it): `prog_g` / `prog_nu` [K, S, P, C_out, C_in/groups, *k] conductances (uS) and drift
exponents, `prog_gdc_ref` the drift-compensation references, and at the current time `prog_w`
[K, S, C_out, ...] (the normalized weights the MVM sees), `prog_sig` [S], `prog_scale` [C_out]
and `prog_gdc` [K, 1|C_out]. Hardware-aware training's device noise (`sample_chip`) programs
and reads one chip with the same functions.
"""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING

import torch

from tinycim.config import AnalogConfig
from tinycim.devices import ProgrammedCells, check_time
from tinycim.errors import MappingError

if TYPE_CHECKING:
    from tinycim.nn.layers import AnalogLayerMixin

# Keeps GDC finite when a whole layer reads as zero.
_TINY = 1e-12


def derive_seed(*parts: object) -> int:
    """A stable 63-bit seed from any parts (same parts -> same seed, across runs and machines)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def generator(*parts: object, device: torch.device | str | None = None) -> torch.Generator:
    """A generator on `device` (default cpu) seeded from `derive_seed(*parts)`."""
    return torch.Generator(device=device or "cpu").manual_seed(derive_seed(*parts))


def targets_from_slices(slices: torch.Tensor, sign: torch.Tensor | None, g_max_us: float) -> torch.Tensor:
    """Target conductances (uS) of normalized slice weights: [S, C_out, ...] -> [S, P, C_out, ...].

    A differential pair (P = 2: G+ holds w > 0, G- holds -w for w < 0) or, with a unipolar
    `sign` [C_out, ...], one device (P = 1) holding sign * w."""
    return _targets(slices.unsqueeze(0), sign, g_max_us)[0]


def effective_weights(g: torch.Tensor, sign: torch.Tensor | None, g_max_us: float) -> torch.Tensor:
    """Normalized weights the MVM sees from conductances [K, S, P, C_out, ...] -> [K, S, C_out, ...]."""
    if sign is None:
        return (g[:, :, 0] - g[:, :, 1]) / g_max_us
    return g[:, :, 0] * (sign / g_max_us)


def gdc_signal(w_eff: torch.Tensor, significance: torch.Tensor, mode: str | None) -> torch.Tensor:
    """Array response to the calibration input: [K, 1] (per layer) or [K, C_out] (per column).

    The calibration input is random +-1 on every row; the RMS of a column's response is then
    sqrt(sum_i w_ij^2), computed here in expectation. Unlike one-hot reads (mean |w|), this
    weighs each device by its contribution to real outputs, where large weights dominate and
    drift less than small ones.
    """
    combined = torch.einsum("ks...,s->k...", w_eff, significance.to(w_eff.dtype))
    k, c_out = combined.shape[:2]
    per_column_sq = combined.square().reshape(k, c_out, -1).sum(dim=2)
    if mode == "column":
        return per_column_sq.sqrt()
    return per_column_sq.mean(dim=1, keepdim=True).sqrt()


def log_uniform_time(t_min_s: float, t_max_s: float, gen: torch.Generator) -> float:
    """A time after programming, log-uniform in [t_min_s, t_max_s]: drift is ~ t^-nu, so equal
    weight per decade covers 1 s .. 1 month evenly in effect."""
    u = float(torch.rand((), generator=gen, device=gen.device))
    return math.exp(math.log(t_min_s) + u * (math.log(t_max_s) - math.log(t_min_s)))


def sample_chip(
    slices: torch.Tensor,
    significance: torch.Tensor,
    sign: torch.Tensor | None,
    config: AnalogConfig,
    gen: torch.Generator,
    t_min_s: float,
    t_max_s: float,
) -> torch.Tensor:
    """One chip as hardware-aware training sees it: the slice weights [S, C_out, ...] programmed on
    the layer's device, read at a log-uniform time in [t_min_s, t_max_s] and drift-compensated as
    `config.gdc` says; returns the weights the MVM then sees [S, C_out, ...] (no gradient)."""
    device = config.device
    g_max = device.g_max_us
    targets = _targets(slices.detach().unsqueeze(0), sign, g_max)
    cells = device.program(targets, gen)
    w0 = effective_weights(cells.g_prog, sign, g_max)
    w_t = effective_weights(device.read(cells, log_uniform_time(t_min_s, t_max_s, gen), gen), sign, g_max)
    if config.gdc is not None:
        ref, now = gdc_signal(w0, significance, config.gdc), gdc_signal(w_t, significance, config.gdc)
        w_t = w_t * _gdc_view(ref / now.clamp(min=_TINY), w_t)
    return w_t[0]


def _targets(slices_k: torch.Tensor, sign: torch.Tensor | None, g_max_us: float) -> torch.Tensor:
    """[K, S, C_out, ...] -> [K, S, P, C_out, ...] target conductances (uS)."""
    if sign is None:
        return torch.stack([slices_k.clamp(min=0.0), (-slices_k).clamp(min=0.0)], dim=2) * g_max_us
    return (slices_k * sign).clamp(min=0.0).unsqueeze(2) * g_max_us


def _gdc_view(scale: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """GDC scale [K, 1|C_out] shaped to multiply weights [K, S, C_out, ...]."""
    return scale.view(scale.shape[0], 1, scale.shape[1], *([1] * (w.dim() - 3)))


@torch.no_grad()
def program_layer(layer: AnalogLayerMixin, *, seed: int, index: int, instances: int) -> None:
    """Map and write `instances` independent copies of a layer's weights (seeded by seed and
    the layer's index), then read them at t = 0 s."""
    cfg = layer.analog_config
    w = layer.weight  # type: ignore[attr-defined]  # an analog layer: the mixin is typed without nn.Module
    if not torch.isfinite(w).all():
        raise MappingError(
            f"layer {layer.layer_name!r}: weight has NaN or inf values; refusing to program it"
        )
    was_training = layer.training  # type: ignore[attr-defined]  # an analog layer: the mixin is typed without nn.Module
    scale = layer.weight_scale()
    slices, significance = layer.normalized_weight(scale=scale, as_read=False)
    targets = _targets(
        slices.unsqueeze(0).expand(instances, *slices.shape).contiguous(),
        layer.unipolar_sign,
        cfg.device.g_max_us,
    )
    cells = cfg.device.program(targets, generator("program", seed, index, device=targets.device))
    layer.prog_g, layer.prog_nu = cells.g_prog, cells.nu
    layer.prog_sig, layer.prog_scale = significance.detach(), scale.detach().clone()
    layer.prog_seed, layer.prog_index = seed, index
    layer.prog_gdc_ref, layer.prog_gdc = None, None
    layer.train(was_training)  # type: ignore[attr-defined]  # an analog layer: the mixin is typed without nn.Module
    set_time(layer, 0.0)
    if cfg.gdc is not None:
        assert layer.prog_w is not None
        layer.prog_gdc_ref = gdc_signal(layer.prog_w, significance, cfg.gdc)
        layer.prog_gdc = torch.ones_like(layer.prog_gdc_ref)


def read_conductances(layer: AnalogLayerMixin, seconds: float | None = None) -> torch.Tensor:
    """The programmed conductances [K, S, P, C_out, ...] (uS) read `seconds` after programming
    (default: the layer's current time). The read-noise draw depends only on (program seed,
    layer, time): reading the same time twice gives identical conductances."""
    t = layer.prog_t if seconds is None else check_time(seconds)
    assert t is not None and layer.prog_g is not None
    cells = ProgrammedCells(g_prog=layer.prog_g, nu=layer.prog_nu)
    gen = generator("read", layer.prog_seed, layer.prog_index, round(t, 6), device=layer.prog_g.device)
    return layer.analog_config.device.read(cells, t, gen)


@torch.no_grad()
def set_time(layer: AnalogLayerMixin, seconds: float) -> None:
    """Put a programmed layer in its state `seconds` after programming (drift, read noise, GDC)."""
    t = check_time(seconds)
    layer.prog_t = t
    cfg = layer.analog_config
    layer.prog_w = effective_weights(read_conductances(layer, t), layer.unipolar_sign, cfg.device.g_max_us)
    if cfg.gdc is not None and layer.prog_gdc_ref is not None:
        assert layer.prog_sig is not None
        signal = gdc_signal(layer.prog_w, layer.prog_sig, cfg.gdc)
        layer.prog_gdc = layer.prog_gdc_ref / signal.clamp(min=_TINY)


def restore_programmed(
    layer: AnalogLayerMixin,
    g_prog: torch.Tensor,
    nu: torch.Tensor | None,
    gdc_ref: torch.Tensor | None,
    t: float,
) -> None:
    """Put saved programmed tensors back (tc.load): checked for shape and values first."""
    name = layer.layer_name or "<root>"
    expect = tuple(layer.prog_g.shape) if layer.prog_g is not None else None
    for label, value in (("g_prog", g_prog), ("nu", nu)):
        if value is None:
            continue
        if expect is not None and tuple(value.shape) != expect:
            raise MappingError(
                f"layer {name!r}: saved {label} has shape {list(value.shape)}, expected {list(expect)}"
            )
        if not torch.isfinite(value).all() or bool((value < 0).any()):
            raise MappingError(f"layer {name!r}: saved {label} holds NaN, inf or negative values")
    g_max = layer.analog_config.device.g_max_us
    if float(g_prog.max()) > 10 * g_max:
        raise MappingError(
            f"layer {name!r}: saved g_prog reaches {float(g_prog.max()):.4g} uS, beyond 10 x g_max = "
            f"{10 * g_max:.4g} uS"
        )
    dtype = layer.weight.dtype  # type: ignore[attr-defined]  # an analog layer: the mixin is typed without nn.Module
    layer.prog_g = g_prog.to(dtype)
    layer.prog_nu = None if nu is None else nu.to(dtype)
    if gdc_ref is not None:
        if layer.prog_gdc_ref is not None and tuple(gdc_ref.shape) != tuple(layer.prog_gdc_ref.shape):
            raise MappingError(
                f"layer {name!r}: saved gdc_ref has shape {list(gdc_ref.shape)}, expected "
                f"{list(layer.prog_gdc_ref.shape)}"
            )
        layer.prog_gdc_ref = gdc_ref.to(dtype)
    set_time(layer, t)


def clear_programmed(layer: AnalogLayerMixin) -> None:
    for name in ("prog_g", "prog_nu", "prog_gdc_ref", "prog_w", "prog_sig", "prog_scale", "prog_gdc"):
        setattr(layer, name, None)
    layer.prog_seed, layer.prog_t = None, None
