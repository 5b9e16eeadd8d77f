"""What programming writes into a layer's arrays, and its state at a time after programming."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

from tinycim.config import AnalogConfig
from tinycim.devices import ProgrammedCells, check_time
from tinycim.errors import MappingError
from tinycim.tiles.geometry import LayerGeometry
from tinycim.tiles.mapping import MappedWeights, effective_weights, map_weights, weight_scale

# Keeps GDC finite when a whole layer reads as zero.
_TINY = 1e-12


def derive_seed(*parts: object) -> int:
    """A stable 63-bit seed from any parts (same parts -> same seed, across runs and machines)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def generator(*parts: object) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(*parts))


@dataclass
class ProgrammedState:
    """K programmed instances of one layer.

    cells:  g_prog and drift exponents, [K, S, P, C_out, C_in/groups, *k] in uS.
    mapped: targets, slice significance and unipolar signs.
    scale:  [C_out] weight magnitude mapped to g_max (digital output scale).
    w_eff:  [K, S, C_out, C_in/groups, *k] normalized weights at time t_inf (what the MVM sees).
    gdc_ref / gdc_scale: [K, 1] (per layer) or [K, C_out] (per column) drift compensation.
    """

    seed: int
    index: int
    cells: ProgrammedCells
    mapped: MappedWeights
    scale: torch.Tensor
    w_eff: torch.Tensor
    gdc_ref: torch.Tensor | None
    gdc_scale: torch.Tensor | None
    t_inf: float
    noise_gen: torch.Generator

    @property
    def instances(self) -> int:
        return self.w_eff.shape[0]


def program_layer(
    name: str,
    weight: torch.Tensor,
    geometry: LayerGeometry,
    config: AnalogConfig,
    *,
    seed: int,
    index: int,
    instances: int,
    uniform_max: float | None,
) -> ProgrammedState:
    """Map and write `instances` independent copies of a layer's weights."""
    w = weight.detach().float()
    if not torch.isfinite(w).all():
        raise MappingError(f"layer {name!r}: weight has NaN or inf values; refusing to program it")
    scale = weight_scale(w, config.mapping, uniform_max)
    mapped = map_weights(w, scale, geometry, config.mapping, config.device.g_max_us)
    targets = mapped.g_target.unsqueeze(0).expand(instances, *mapped.g_target.shape).contiguous()
    cells = config.device.program(targets, generator("program", seed, index))
    state = ProgrammedState(
        seed=seed,
        index=index,
        cells=cells,
        mapped=mapped,
        scale=scale,
        w_eff=targets,  # replaced by set_time below
        gdc_ref=None,
        gdc_scale=None,
        t_inf=0.0,
        noise_gen=generator("adc-noise", seed, index),
    )
    set_time(state, 0.0, config)
    if config.gdc is not None:
        state.gdc_ref = gdc_signal(state.w_eff, state.mapped.significance, config.gdc)
        state.gdc_scale = torch.ones_like(state.gdc_ref)
    return state


def set_time(state: ProgrammedState, seconds: float, config: AnalogConfig) -> None:
    """Read the arrays `seconds` after programming (drift + read noise) and update GDC.

    The read-noise draw depends only on (program seed, layer, time): drifting to the same time
    twice gives identical conductances.
    """
    t = check_time(seconds)
    g = config.device.read(state.cells, t, generator("read", state.seed, state.index, round(t, 6)))
    state.w_eff = effective_weights(g, state.mapped, config.device.g_max_us)
    state.t_inf = t
    if config.gdc is not None and state.gdc_ref is not None:
        signal = gdc_signal(state.w_eff, state.mapped.significance, config.gdc)
        state.gdc_scale = state.gdc_ref / signal.clamp(min=_TINY)


def gdc_signal(w_eff: torch.Tensor, significance: torch.Tensor, mode: str | None) -> torch.Tensor:
    """Array response to the calibration input: [K, 1] (per layer) or [K, C_out] (per column).

    The calibration input is random +-1 on every row; the RMS of a column's response is then
    sqrt(sum_i w_ij^2), computed here in expectation. Unlike one-hot reads (mean |w|), this
    weighs each device by its contribution to real outputs, where large weights dominate and
    drift less than small ones.
    """
    combined = torch.einsum("ks...,s->k...", w_eff, significance)
    k, c_out = combined.shape[:2]
    per_column_sq = combined.square().reshape(k, c_out, -1).sum(dim=2)
    if mode == "column":
        return per_column_sq.sqrt()
    return per_column_sq.mean(dim=1, keepdim=True).sqrt()
