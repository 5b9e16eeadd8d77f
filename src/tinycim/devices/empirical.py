"""An empirical device: resample measured conductance distributions, no assumed functional form.

The device stores, for each measured target level L and read time T, `n_quantiles` quantiles of
the measured conductance (at probabilities (k + 1/2) / n), and the normal-score correlation
rho[L, T] between a cell's read at time T and its first read (how much of a cell's deviation
persists: programming error persists, read noise does not).

Programming draws one uniform rank u0 per cell and returns the first-time quantile of its target
at u0 (the cell state is what `tinycim.program` stores: g_prog, and nu = the target in uS, since
an empirical device has no drift exponent); reading at time t recovers u0 from g_prog and draws z = rho z0 + sqrt(1 - rho^2) N(0,1) (a Gaussian copula; the only
modelling assumption, and it only affects how reads of one cell at two times co-vary, not any
single read's distribution) and returns the quantile at Phi(z).

Interpolation (documented assumptions, ASSUMED):
- between levels: the quantile functions of the two neighbouring levels are averaged with
  weights linear in the target (quantile interpolation); below the lowest level (when it is > 0)
  and above the highest, the nearest level's quantiles are scaled by target / level;
- between times: linear in tau = ln(1 + t / time_ref_s) (drift is close to linear in log time);
  after the last measured time: "hold" keeps the last distribution, "extrapolate" continues each
  quantile linearly in tau from the last two times (clamped at 0);
- between quantiles: linear; outside the outermost quantiles: the outermost value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch

from tinycim.devices.base import ProgrammedCells, check_positive
from tinycim.errors import ConfigError

_OWNER = "device(empirical)"


@dataclass(frozen=True)
class EmpiricalDevice:
    """Measured per-level, per-time conductance quantiles, resampled.

    levels_us: [L] ascending target levels (uS); times_s: [T] ascending read times (s, first is
    the programming read); quantiles_us: [L][T][Q] non-decreasing conductance quantiles (uS) at
    probabilities (k + 0.5) / Q; rank_corr: [L][T] normal-score correlation with the first read
    (rank_corr[l][0] = 1). g_max_us: the conductance a weight of max |w| maps to (uS).
    """

    levels_us: tuple[float, ...]
    times_s: tuple[float, ...]
    quantiles_us: tuple[tuple[tuple[float, ...], ...], ...]
    rank_corr: tuple[tuple[float, ...], ...]
    g_max_us: float = 25.0
    time_ref_s: float = 1.0  # ASSUMED: tau = ln(1 + t / 1 s) for interpolation in time
    after_last_time: str = "hold"
    source: str = ""
    kind: str = "empirical"

    def __post_init__(self) -> None:
        check_positive(_OWNER, "g_max_us", self.g_max_us)
        check_positive(_OWNER, "time_ref_s", self.time_ref_s)
        if self.after_last_time not in ("hold", "extrapolate"):
            raise ConfigError(
                f"{_OWNER}.after_last_time = {self.after_last_time!r} is invalid: allowed "
                "'hold', 'extrapolate'"
            )
        levels, times = self.levels_us, self.times_s
        _increasing("levels_us", levels, minimum=0.0, at_least=1)
        _increasing("times_s", times, minimum=0.0, at_least=1)
        if len(self.quantiles_us) != len(levels):
            raise ConfigError(
                f"{_OWNER}.quantiles_us has {len(self.quantiles_us)} levels: allowed exactly "
                f"{len(levels)} (one per levels_us entry)"
            )
        n_q = None
        for li, per_level in enumerate(self.quantiles_us):
            if len(per_level) != len(times):
                raise ConfigError(
                    f"{_OWNER}.quantiles_us[{li}] has {len(per_level)} times: allowed exactly "
                    f"{len(times)} (one per times_s entry)"
                )
            for ti, q in enumerate(per_level):
                n_q = len(q) if n_q is None else n_q
                if len(q) != n_q or n_q < 2:
                    raise ConfigError(
                        f"{_OWNER}.quantiles_us[{li}][{ti}] has {len(q)} quantiles: allowed "
                        f"the same count >= 2 everywhere ({n_q})"
                    )
                if any(not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0) for v in q):
                    raise ConfigError(
                        f"{_OWNER}.quantiles_us[{li}][{ti}] has a value that is not a finite "
                        "conductance >= 0 uS"
                    )
                if any(b < a for a, b in zip(q, q[1:])):
                    raise ConfigError(
                        f"{_OWNER}.quantiles_us[{li}][{ti}] is not non-decreasing (quantiles must be sorted)"
                    )
        if len(self.rank_corr) != len(levels) or any(len(r) != len(times) for r in self.rank_corr):
            raise ConfigError(f"{_OWNER}.rank_corr must be [{len(levels)}][{len(times)}] (levels x times)")
        for li, row in enumerate(self.rank_corr):
            if any(not (isinstance(v, (int, float)) and -1 <= v <= 1) for v in row):
                raise ConfigError(f"{_OWNER}.rank_corr[{li}] has a value outside the allowed range -1..1")

    # ---- JSON ------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmpiricalDevice:
        """Build from JSON data (lists become tuples); ConfigError naming the field on bad input."""
        from tinycim.config import known_fields

        known_fields(cls, "device(empirical)", data)
        fixed = dict(data)
        try:
            for name, depth in (("levels_us", 1), ("times_s", 1), ("quantiles_us", 3), ("rank_corr", 2)):
                if name in fixed:
                    fixed[name] = _tuples(fixed[name], depth)
        except TypeError:
            raise ConfigError(f"{_OWNER}.{name} must be nested lists of numbers ({depth} deep)") from None
        missing = [n for n in ("levels_us", "times_s", "quantiles_us", "rank_corr") if n not in fixed]
        if missing:
            raise ConfigError(f"{_OWNER} is missing field(s) {', '.join(missing)}")
        return cls(**fixed)

    # ---- physics ---------------------------------------------------------------------------------
    @property
    def has_drift(self) -> bool:
        return len(self.times_s) > 1

    @cached_property
    def _table(self) -> torch.Tensor:
        """[L, T, Q] float32 quantiles (uS)."""
        return torch.tensor(self.quantiles_us, dtype=torch.float32)

    @cached_property
    def _corr(self) -> torch.Tensor:
        return torch.tensor(self.rank_corr, dtype=torch.float32)

    def _time_weights(self, t_s: float) -> list[tuple[int, float]]:
        """[(time index, weight)] interpolating time t_s (s) in tau = ln(1 + t / time_ref)."""
        taus = [math.log1p(t / self.time_ref_s) for t in self.times_s]
        tau = math.log1p(max(t_s, 0.0) / self.time_ref_s)
        if len(taus) == 1 or tau <= taus[0]:
            return [(0, 1.0)]
        if tau >= taus[-1]:
            if self.after_last_time == "hold":
                return [(len(taus) - 1, 1.0)]
            w = (tau - taus[-2]) / (taus[-1] - taus[-2])
            return [(len(taus) - 2, 1.0 - w), (len(taus) - 1, w)]
        hi = next(i for i, v in enumerate(taus) if v >= tau)
        w = (tau - taus[hi - 1]) / (taus[hi] - taus[hi - 1])
        return [(hi - 1, 1.0 - w), (hi, w)]

    def _at_time(self, t_s: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(quantiles [L, Q], rank correlation [L]) at time t_s, on `device`."""
        table, corr = self._table, self._corr
        q = torch.stack([w * table[:, i] for i, w in self._time_weights(t_s)]).sum(dim=0).clamp(min=0.0)
        r = torch.stack([w * corr[:, i] for i, w in self._time_weights(min(t_s, self.times_s[-1]))]).sum(
            dim=0
        )
        q, _ = q.sort(dim=1)  # extrapolated quantiles can cross
        return q.to(device), r.clamp(-1.0, 1.0).to(device)

    def _mix(self, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per element (lower level index, upper level index, weight of the upper, multiplier): the
        quantile function of `target` is ((1 - w) Q[lo] + w Q[hi]) * mult."""
        levels = torch.tensor(self.levels_us, dtype=target.dtype, device=target.device)
        n_l = levels.numel()
        one = torch.ones_like(target)
        if n_l == 1:
            zero = torch.zeros_like(target, dtype=torch.long)
            mult = target / levels[0] if self.levels_us[0] > 0 else one
            return zero, zero, torch.zeros_like(target), mult
        hi = torch.searchsorted(levels, target.contiguous()).clamp(1, n_l - 1)
        lo = hi - 1
        w = ((target - levels[lo]) / (levels[hi] - levels[lo])).clamp(0.0, 1.0)
        mult = one
        if self.levels_us[0] > 0:
            mult = torch.where(target < levels[0], target / levels[0], mult)
        mult = torch.where(target > levels[-1], target / levels[-1], mult)
        return lo, hi, w, mult

    @staticmethod
    def _grid_value(q: torch.Tensor, mix, k: torch.Tensor) -> torch.Tensor:
        """Quantile k (long tensor, per element) of each element's interpolated quantile function."""
        lo, hi, w, mult = mix
        n_q = q.shape[1]
        flat = q.reshape(-1)
        return ((1 - w) * flat[lo * n_q + k] + w * flat[hi * n_q + k]) * mult

    def _sample(self, target: torch.Tensor, u: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """Conductance (uS) at rank u in (0, 1) for targets (uS), same shape; q: [L, Q] quantiles."""
        q = q.to(target.dtype)
        mix = self._mix(target)
        n_q = q.shape[1]
        pos = (u * n_q - 0.5).clamp(0.0, n_q - 1.0)
        k0 = pos.floor().long().clamp(max=n_q - 2)
        frac = pos - k0.to(pos.dtype)
        a, b = self._grid_value(q, mix, k0), self._grid_value(q, mix, k0 + 1)
        return a + (b - a) * frac

    def _rank(self, target: torch.Tensor, g: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """Inverse of `_sample`: the rank u in (0, 1) of conductance g among target's quantiles (the
        middle of a flat stretch, e.g. a point mass at 0 uS)."""
        q = q.to(target.dtype)
        mix = self._mix(target)
        n_q = q.shape[1]

        def search(strict: bool) -> torch.Tensor:
            # Largest k with value(k) <= g (or < g when strict); -1 when none.
            lo = torch.full(g.shape, -1, dtype=torch.long, device=g.device)
            hi = torch.full(g.shape, n_q - 1, dtype=torch.long, device=g.device)
            for _ in range(max(1, math.ceil(math.log2(n_q + 1)))):
                mid = (lo + hi + 1) // 2
                v = self._grid_value(q, mix, mid.clamp(min=0))
                ok = (v < g) if strict else (v <= g)
                lo = torch.where(ok, mid, lo)
                hi = torch.where(ok, hi, mid - 1)
            return lo

        k_le, k_lt = search(False), search(True)
        flat = k_le > k_lt + 1  # g equals several grid values: take the middle of the stretch
        k = k_le.clamp(0, n_q - 2)
        a, b = self._grid_value(q, mix, k), self._grid_value(q, mix, k + 1)
        frac = torch.where(b > a, ((g - a) / (b - a).clamp(min=1e-30)).clamp(0.0, 1.0), torch.zeros_like(g))
        pos = k.to(g.dtype) + frac
        pos = torch.where(flat, (k_lt + 1 + k_le).to(g.dtype) / 2, pos)
        pos = torch.where(k_le < 0, torch.zeros_like(pos), pos)
        return ((pos + 0.5) / n_q).clamp(0.5 / n_q, 1 - 0.5 / n_q)

    def _level_corr(self, target: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        lo, hi, w, _ = self._mix(target)
        r = r.to(target.dtype)
        return r[lo] + (r[hi] - r[lo]) * w

    def program(self, g_target: torch.Tensor, generator: torch.Generator) -> ProgrammedCells:
        """Write targets (uS, any shape): each cell draws its rank among the measured first reads.

        The returned `nu` holds each cell's target (uS), not a drift exponent: an empirical cell's
        later reads depend on its target and its rank, and the rank is recovered from g_prog."""
        target = g_target.detach()
        z0 = torch.randn(target.shape, generator=generator, dtype=target.dtype, device=target.device)
        q, _ = self._at_time(self.times_s[0], target.device)
        g = self._sample(target, _phi(z0), q)
        return ProgrammedCells(g_prog=g, nu=target.clone())

    def read(self, cells: ProgrammedCells, t_inf_s: float, generator: torch.Generator) -> torch.Tensor:
        """Conductances (uS) t_inf seconds after programming, resampled from the measured quantiles."""
        if cells.nu is None:
            raise ConfigError(
                "device(empirical).read needs cells programmed by an empirical device "
                "(their nu holds the targets)"
            )
        target, g0 = cells.nu, cells.g_prog
        q0, _ = self._at_time(self.times_s[0], target.device)
        z0 = _phi_inv(self._rank(target, g0, q0))
        q, r = self._at_time(t_inf_s, target.device)
        rho = self._level_corr(target, r)
        eps = torch.randn(target.shape, generator=generator, dtype=target.dtype, device=target.device)
        z = rho * z0 + (1.0 - rho * rho).clamp(min=0.0).sqrt() * eps
        return self._sample(target, _phi(z), q)


def _phi_inv(u: torch.Tensor) -> torch.Tensor:
    """Standard normal quantile function."""
    return math.sqrt(2.0) * torch.erfinv(2.0 * u - 1.0)


def _phi(z: torch.Tensor) -> torch.Tensor:
    """Standard normal CDF."""
    return 0.5 * (1.0 + torch.erf(z / math.sqrt(2.0)))


def _tuples(value: Any, depth: int) -> Any:
    if depth == 0:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError
        return float(value)
    if not isinstance(value, (list, tuple)):
        raise TypeError
    return tuple(_tuples(v, depth - 1) for v in value)


def _increasing(name: str, values: tuple, *, minimum: float, at_least: int) -> None:
    ok = (
        isinstance(values, tuple)
        and len(values) >= at_least
        and all(isinstance(v, (int, float)) and math.isfinite(v) and v >= minimum for v in values)
        and all(b > a for a, b in zip(values, values[1:]))
    )
    if not ok:
        raise ConfigError(
            f"{_OWNER}.{name} = {values!r} is invalid: allowed >= {at_least} finite values "
            f">= {minimum:g}, strictly increasing"
        )
