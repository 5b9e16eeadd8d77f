"""Faults on top of any device: stuck cells, dead tile columns, device-to-device drift variation.

`FaultyDevice(base=PCMDevice(), stuck_on_rate=0.01)` is itself a device (kind "faulty"), so it
goes wherever a device goes: `AnalogConfig(device=...)`, hardware-aware training (the trainer
programs and reads the device each batch, so faults are redrawn each batch: fault-aware
training), and evaluation (a fresh fault map per programmed chip).

Fault model (each independent, drawn at programming with the generator passed in):
- stuck-at-ON / stuck-at-OFF: each device independently, with probability stuck_on_rate /
  stuck_off_rate, reads g_stuck_on_us (default: the base's g_max, ASSUMED: a cell stuck in SET
  reads at the top of the range) or g_stuck_off_us (default 0 uS) at every time: no drift,
  no read noise.
- dead columns: a tile's bit line that delivers no current. Layout assumption (documented in
  docs/devices.md): targets are [K, S, P, C_out, C_in/groups, *k] as `tinycim.program` passes
  them, so the bit line of output c is index c of dim 3; a dead column reads 0 uS on both devices
  of the pair (P, dim 2) for every row of one row tile. Row tiles: with `tile_rows` set, input
  channels are split over ceil(C_in / (tile_rows // kernel)) balanced tiles as
  `tiles.geometry.layer_geometry` does; with tile_rows None the whole column is one tile (every
  TinyML layer whose rows fit one tile). Hardware-aware training passes the same layout
  ([1, S, P, C_out, ...]).
- drift-exponent variation: nu <- |nu + nu_d2d_sigma * N(0,1)| per device; a base without drift
  gains drift g * ((t + t0_s) / t0_s)^(-nu) with nu = |nu_d2d_sigma * N(0,1)| (not allowed on an
  empirical base, whose measured distributions already hold its drift).
The fault map is stored in the cells' `nu` (values >= FAULT_CODE), so programmed chips keep their
faults through `tinycim.save` / `tinycim.load`.
With every rate 0 the wrapper is bit-identical to its base (it draws nothing extra).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from tinycim.devices.base import ProgrammedCells, check_positive
from tinycim.errors import ConfigError

_OWNER = "device(faulty)"


# The fault map travels in ProgrammedCells.nu (what `tinycim.program` stores and `tinycim.save`
# writes: finite values >= 0): a value >= FAULT_CODE marks a faulty cell; below it, the base's own nu
# (drift exponent, or an empirical cell's target) or the drift exponent added to a drift-free base.
FAULT_CODE = 1.0e6
STUCK_ON, STUCK_OFF, DEAD = 1.0e6, 2.0e6, 3.0e6


@dataclass(frozen=True)
class FaultyDevice:
    """A device with manufacturing faults: wraps `base` (any other device kind)."""

    base: Any = None
    stuck_on_rate: float = 0.0  # probability per device
    stuck_off_rate: float = 0.0  # probability per device
    dead_column_rate: float = 0.0  # probability per (chip, slice, output column, row tile)
    nu_d2d_sigma: float = 0.0  # extra std of the drift exponent per device (dimensionless)
    g_stuck_on_us: float | None = None  # None = base.g_max_us (ASSUMED)
    g_stuck_off_us: float = 0.0  # ASSUMED: a stuck-RESET cell conducts nothing
    tile_rows: int | None = None  # rows of the tiles the layer is cut into (None: one row tile)
    t0_s: float = 20.0  # reference time for drift added to a drift-free base (as PCM's t0, Nandakumar 2019)
    kind: str = "faulty"

    def __post_init__(self) -> None:
        from tinycim.devices import DEVICE_KINDS

        if self.base is None:
            object.__setattr__(self, "base", DEVICE_KINDS["pcm"]())
        allowed = tuple(v for k, v in DEVICE_KINDS.items() if k != "faulty")
        if not isinstance(self.base, allowed):
            raise ConfigError(
                f"{_OWNER}.base = {self.base!r} is invalid: allowed kinds "
                f"{', '.join(k for k in DEVICE_KINDS if k != 'faulty')}"
            )
        for name in ("stuck_on_rate", "stuck_off_rate", "dead_column_rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ConfigError(
                    f"{_OWNER}.{name} = {value!r} is invalid: allowed range 0..1 (a probability)"
                )
        if self.stuck_on_rate + self.stuck_off_rate > 1:
            raise ConfigError(
                f"{_OWNER}.stuck_on_rate + stuck_off_rate = "
                f"{self.stuck_on_rate + self.stuck_off_rate!r} is invalid: allowed range 0..1"
            )
        check_positive(_OWNER, "nu_d2d_sigma", self.nu_d2d_sigma, allow_zero=True)
        check_positive(_OWNER, "g_stuck_off_us", self.g_stuck_off_us, allow_zero=True)
        if self.g_stuck_on_us is not None:
            check_positive(_OWNER, "g_stuck_on_us", self.g_stuck_on_us, allow_zero=True)
        if self.tile_rows is not None and (
            isinstance(self.tile_rows, bool)
            or not isinstance(self.tile_rows, int)
            or not 1 <= self.tile_rows <= 1 << 20
        ):
            raise ConfigError(
                f"{_OWNER}.tile_rows = {self.tile_rows!r} is invalid: allowed range 1..{1 << 20} "
                "(or null: one row tile)"
            )
        check_positive(_OWNER, "t0_s", self.t0_s)
        if self.nu_d2d_sigma > 0 and getattr(self.base, "kind", None) == "empirical":
            raise ConfigError(
                f"{_OWNER}.nu_d2d_sigma = {self.nu_d2d_sigma!r} is invalid on an empirical base: "
                "allowed 0 (its measured distributions already hold its drift)"
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultyDevice:
        """From JSON data: `base` is a device object with its own `kind`."""
        from tinycim.config import AnalogConfig, known_fields

        known_fields(cls, _OWNER, data)
        fixed = dict(data)
        if "base" in fixed:
            base = fixed["base"]
            if not isinstance(base, dict) or base.get("kind") == "faulty":
                raise ConfigError(f"{_OWNER}.base must be a device object of another kind, got {base!r}")
            fixed["base"] = AnalogConfig.from_dict({"device": base}).device
        return cls(**fixed)

    # ---- the device interface --------------------------------------------------------------------
    @property
    def g_max_us(self) -> float:
        return self.base.g_max_us

    @property
    def has_drift(self) -> bool:
        return self.base.has_drift or self.nu_d2d_sigma > 0

    @property
    def g_on_us(self) -> float:
        return self.base.g_max_us if self.g_stuck_on_us is None else self.g_stuck_on_us

    def program(self, g_target: torch.Tensor, generator: torch.Generator) -> ProgrammedCells:
        """Program the base device, then draw the fault map (same shape as the targets) into nu."""
        base_cells = self.base.program(g_target, generator)
        if not self._any_fault():
            return base_cells
        shape, dev = g_target.shape, g_target.device
        nu = base_cells.nu
        if self.nu_d2d_sigma > 0:
            eps = torch.randn(shape, generator=generator, dtype=g_target.dtype, device=dev)
            nu = (self.nu_d2d_sigma * eps if nu is None else nu + self.nu_d2d_sigma * eps).abs()
        code = torch.zeros(shape, dtype=g_target.dtype, device=dev)
        if self.stuck_on_rate > 0 or self.stuck_off_rate > 0:
            u = torch.rand(shape, generator=generator, device=dev)
            code = torch.where(u < self.stuck_on_rate, STUCK_ON, code)
            code = torch.where(
                (u >= self.stuck_on_rate) & (u < self.stuck_on_rate + self.stuck_off_rate), STUCK_OFF, code
            )
        if self.dead_column_rate > 0:
            code = torch.where(self._dead_columns(g_target, generator), DEAD, code)
        nu = torch.zeros_like(base_cells.g_prog) if nu is None else nu
        nu = torch.where(code > 0, code.to(nu.dtype), nu)
        return ProgrammedCells(g_prog=self._apply(base_cells.g_prog, nu), nu=nu)

    def read(self, cells: ProgrammedCells, t_inf_s: float, generator: torch.Generator) -> torch.Tensor:
        """Base read, then drift on a drift-free base, then the fault map."""
        if not self._any_fault():
            return self.base.read(cells, t_inf_s, generator)
        nu = cells.nu
        if nu is None:
            raise ConfigError("device(faulty).read needs cells programmed by the same faulty device")
        healthy_nu = torch.where(nu >= FAULT_CODE, torch.zeros_like(nu), nu)
        own_drift = self.nu_d2d_sigma > 0 and not self.base.has_drift
        base_nu = None if own_drift or not _base_uses_nu(self.base) else healthy_nu
        g = self.base.read(ProgrammedCells(g_prog=cells.g_prog, nu=base_nu), t_inf_s, generator)
        if own_drift:
            g = g * torch.pow((t_inf_s + self.t0_s) / self.t0_s, -healthy_nu)
        return self._apply(g, nu)

    # ---- helpers ---------------------------------------------------------------------------------
    def _any_fault(self) -> bool:
        return (
            self.stuck_on_rate > 0
            or self.stuck_off_rate > 0
            or self.dead_column_rate > 0
            or self.nu_d2d_sigma > 0
        )

    def _apply(self, g: torch.Tensor, nu: torch.Tensor) -> torch.Tensor:
        """Conductances with the fault map in `nu` applied (uS)."""
        g = torch.where(nu == STUCK_ON, torch.full_like(g, self.g_on_us), g)
        g = torch.where(nu == STUCK_OFF, torch.full_like(g, self.g_stuck_off_us), g)
        return torch.where(nu == DEAD, torch.zeros_like(g), g)

    def _dead_columns(self, g_target: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Bool mask [same shape as targets]: devices on a dead (column, row tile)."""
        shape = g_target.shape
        if g_target.dim() >= 4:  # [K, S, P, C_out, C_in/g, *k]
            col_dim, pair_dim = 3, 2
        else:
            raise ConfigError(
                f"{_OWNER}: dead columns need targets with a column dimension, got shape {tuple(shape)}"
            )
        row_dim = col_dim + 1
        n_rows_in = shape[row_dim] if g_target.dim() > row_dim else 1
        kernel = math.prod(shape[row_dim + 1 :]) if g_target.dim() > row_dim + 1 else 1
        bounds = _row_tiles(n_rows_in, kernel, self.tile_rows)
        # One draw per (everything except pair and rows) per row tile.
        draw_shape = [1 if d in (pair_dim,) or d >= row_dim else s for d, s in enumerate(shape)]
        dead = torch.zeros(shape, dtype=torch.bool, device=g_target.device)
        for r0, r1 in bounds:
            hit = torch.rand(draw_shape, generator=generator, device=g_target.device) < self.dead_column_rate
            index = [slice(None)] * len(shape)
            if g_target.dim() > row_dim:
                index[row_dim] = slice(r0, r1)
            dead[tuple(index)] |= hit
        return dead


def _row_tiles(channels: int, kernel: int, tile_rows: int | None) -> list[tuple[int, int]]:
    """Input-channel ranges per row tile, balanced as tiles.geometry.layer_geometry cuts them."""
    if tile_rows is None:
        return [(0, channels)]
    per_tile = max(tile_rows // max(kernel, 1), 1)
    n_tiles = -(-channels // per_tile)
    size = -(-channels // n_tiles)
    return [(s, min(s + size, channels)) for s in range(0, channels, size)]


def _base_uses_nu(base) -> bool:
    """Whether the base device reads its cells' nu (drift exponents, or an empirical cell's target)."""
    return base.kind == "empirical" or base.has_drift
