"""The parametric device families `tinycim.devices.fitting` fits (its indirect-inference loop and
bootstrap): per-level statistics of a measurement (`raw`), the curves through them (`params`) and
the clipped lines of the PCM drift parameters."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinycim.devices.measurements import Measurements
from tinycim.devices.pcm import PCMDevice
from tinycim.devices.rram import RRAMDevice
from tinycim.errors import DataError

# PCM family constants held fixed (Nandakumar et al., ICECS 2019 via PCMDevice defaults).
_PCM = PCMDevice()
# Levels whose relative read noise at the first read exceeds this are too noisy for the per-cell
# log-slope statistics (reads hit 0 uS); they still inform programming noise. ASSUMED.
MAX_REL_READ_NOISE = 0.5
# Fewer usable cells than this in a level: its drift and read-noise statistics are not used. ASSUMED.
MIN_CELLS = 20


# ---- per-cell statistics -----------------------------------------------------------------------
@dataclass
class _CellStats:
    level: np.ndarray  # [n_cells] level index
    first_g: np.ndarray  # [n_cells] conductance at the cell's first read (uS)
    first_f2: np.ndarray  # [n_cells] read-noise time factor^2 at the first read
    usable: np.ndarray  # [n_cells] bool: >= 3 positive reads at >= 2 distinct times
    slope: np.ndarray  # [n_cells] d ln g / d x
    slope_var_unit: np.ndarray  # [n_cells] 1 / Sxx (slope variance per unit residual variance)
    resid_var: np.ndarray  # [n_cells] RSS / (n - 2)
    mean_f2: np.ndarray  # [n_cells] mean read-noise time factor^2 over the cell's reads
    log_mean: np.ndarray  # [n_cells] mean ln g over positive reads
    within_var: np.ndarray  # [n_cells] variance of g / mean(g) over reads (n - 1 denominator)
    n_reads: np.ndarray  # [n_cells]


def _cell_stats(m: Measurements, levels: np.ndarray, t0_s: float, t_read_s: float) -> _CellStats:
    n = m.n_cells
    level = np.searchsorted(levels, m.cell_targets())
    order = np.lexsort((m.t_s, m.cell))
    first_rows = order[np.r_[True, m.cell[order][1:] != m.cell[order][:-1]]]
    first_g = np.empty(n)
    first_g[m.cell[first_rows]] = m.g_us[first_rows]
    t = m.t_s + t0_s
    f2 = np.log((t + t_read_s) / (2 * t_read_s))
    first_f2 = np.empty(n)
    first_f2[m.cell[first_rows]] = f2[first_rows]
    pos = m.g_us > 0
    c = m.cell[pos]
    x = np.log(t[pos] / t0_s)
    y = np.log(m.g_us[pos])

    def s(v):
        return np.bincount(c, weights=v, minlength=n)

    k = s(np.ones_like(x))
    sx, sy, sxx, sxy, syy = s(x), s(y), s(x * x), s(x * y), s(y * y)
    with np.errstate(invalid="ignore", divide="ignore"):
        cxx = sxx - sx * sx / k
        cxy = sxy - sx * sy / k
        cyy = syy - sy * sy / k
        usable = (k >= 3) & (cxx > 1e-9 * np.maximum(sxx, 1e-30))
        slope = np.where(usable, cxy / cxx, np.nan)
        resid = np.where(usable, np.maximum(cyy - slope * cxy, 0.0) / (k - 2), np.nan)
        unit = np.where(usable, 1.0 / cxx, np.nan)
        mean_f2 = s(f2[pos]) / k
        log_mean = sy / k
        # Linear-domain within-cell spread (RRAM read noise): var(g) / mean(g)^2 over all reads.
        kk = np.bincount(m.cell, minlength=n).astype(float)
        g1 = np.bincount(m.cell, weights=m.g_us, minlength=n)
        g2 = np.bincount(m.cell, weights=m.g_us**2, minlength=n)
        mean_g = g1 / kk
        within = np.where((kk >= 2) & (mean_g > 0), (g2 - kk * mean_g**2) / (kk - 1) / mean_g**2, np.nan)
    return _CellStats(level, first_g, first_f2, usable, slope, unit, resid, mean_f2, log_mean, within, kk)


def _group(values: np.ndarray, level: np.ndarray, mask: np.ndarray, n_levels: int, fn) -> np.ndarray:
    out = np.full(n_levels, np.nan)
    for i in range(n_levels):
        v = values[(level == i) & mask]
        if v.size >= 2:
            out[i] = fn(v)
    return out


# ---- families -----------------------------------------------------------------------------------
class _PCMFamily:
    """Per-level parameters P [L, 4] = (sigma_prog uS, mu_nu, sigma_nu, Q_s at the target)."""

    names = ("sigma_prog_us", "mu_nu", "sigma_nu", "read_q")

    def __init__(self, m: Measurements) -> None:
        self.levels = m.levels_us
        self.g_max = float(self.levels[-1])
        if self.g_max <= 0:
            raise DataError(f"{m.source}: column target_us: the highest level must be > 0 uS")
        cs = _cell_stats(m, self.levels, _PCM.t0_s, _PCM.t_read_s)
        if not cs.usable.any() or np.unique(m.t_s).size < 3:
            raise DataError(
                f"{m.source}: column t_s: the pcm fit needs each cell read at >= 3 distinct times "
                "(drift and read noise are separated per cell); use --model empirical otherwise"
            )
        self.x = self.levels / self.g_max
        self.bad: np.ndarray | None = None  # levels without drift/read-noise statistics, fixed by the data
        self.bad = self._bad_levels(m, cs)

    def _bad_levels(self, m: Measurements, cs: _CellStats) -> np.ndarray:
        n_l = len(self.levels)
        ok = cs.usable
        q = np.sqrt(_group(cs.resid_var / cs.mean_f2, cs.level, ok, n_l, np.mean))
        rel_noise = q * np.sqrt(_group(cs.first_f2, cs.level, np.ones_like(ok), n_l, np.mean))
        counts = np.bincount(cs.level[ok], minlength=n_l)
        return (counts < MIN_CELLS) | ~(rel_noise <= MAX_REL_READ_NOISE) | (self.levels <= 0)

    def raw(self, m: Measurements) -> np.ndarray:
        n_l = len(self.levels)
        cs = _cell_stats(m, self.levels, _PCM.t0_s, _PCM.t_read_s)
        ok = cs.usable
        q2 = _group(cs.resid_var / cs.mean_f2, cs.level, ok, n_l, np.mean)
        q = np.sqrt(q2)
        slope_noise = _group(cs.resid_var * cs.slope_var_unit, cs.level, ok, n_l, np.mean)
        mu = _group(-cs.slope, cs.level, ok, n_l, np.mean)
        snu = np.sqrt(np.maximum(_group(cs.slope, cs.level, ok, n_l, np.var) - slope_noise, 0.0))
        allc = np.ones_like(ok)
        var0 = _group(cs.first_g, cs.level, allc, n_l, np.var)
        read0 = _group((cs.first_g**2) * cs.first_f2, cs.level, allc, n_l, np.mean) * np.nan_to_num(q2)
        # Floored at a quarter of the total: keeps the statistic sensitive to the programming noise
        # where read noise dominates (the simulation correction removes the bias).
        # Where read noise is too large to estimate per cell, the plain spread of the first read
        # (programming noise + read noise at t0, no drift yet; the simulation correction removes the latter).
        bad = self.bad if self.bad is not None else np.zeros(n_l, dtype=bool)
        sp = np.where(bad, np.sqrt(var0), np.sqrt(np.maximum(var0 - read0, 0.25 * var0)))
        mu[bad], snu[bad], q[bad] = np.nan, np.nan, np.nan
        return np.stack([sp, mu, snu, q], axis=1)

    def drift_weights(self, m: Measurements, p: np.ndarray) -> np.ndarray:
        """Inverse-variance weights [L, 2] of the per-level mu_nu and sigma_nu estimates, from the
        spread of the cells' measured slopes (read noise included): se(mu) = sd(slope) / sqrt(n),
        se(sigma) = var(slope) sqrt(2 / n) / (2 sigma)."""
        n_l = len(self.levels)
        cs = _cell_stats(m, self.levels, _PCM.t0_s, _PCM.t_read_s)
        ok = cs.usable
        var = _group(cs.slope, cs.level, ok, n_l, np.var)
        n = np.maximum(np.bincount(cs.level[ok], minlength=n_l), 1)
        se_mu = np.sqrt(var / n)
        snu = np.maximum(np.nan_to_num(p[:, 2]), 0.1 * np.sqrt(np.nan_to_num(var)))
        se_snu = var * np.sqrt(2.0 / n) / (2 * np.maximum(snu, 1e-12))
        out = np.stack([1.0 / np.maximum(se_mu, 1e-12) ** 2, 1.0 / np.maximum(se_snu, 1e-12) ** 2], axis=1)
        return np.where(np.isfinite(out), out, 0.0)

    def curves(self, theta: dict) -> np.ndarray:
        x = self.x
        c0, c1, c2 = theta["prog_noise_coeffs_us"]
        sp = c0 + c1 * x + c2 * x * x
        lx = np.log(np.maximum(x, 1e-7))
        mu = np.clip(theta["drift_mu_coeffs"][0] * lx + theta["drift_mu_coeffs"][1], *theta["drift_mu_clip"])
        sn = np.clip(
            theta["drift_sigma_coeffs"][0] * lx + theta["drift_sigma_coeffs"][1], *theta["drift_sigma_clip"]
        )
        rel = np.maximum(np.power(np.abs(x), theta["read_noise_exponent"]), _PCM.read_noise_floor)
        q = np.minimum(theta["read_noise_q"] / rel, _PCM.read_noise_q_max)
        return np.stack([sp, mu, sn, q], axis=1)

    def fit_curves(self, p: np.ndarray, w: np.ndarray) -> dict:
        x = self.x
        lx = np.log(np.maximum(x, 1e-7))
        theta: dict[str, Any] = {}
        ok = np.isfinite(p[:, 0])
        deg = min(2, int(ok.sum()) - 1)
        if deg < 0:
            raise DataError("pcm fit: no level has a programming-noise estimate")
        coef = np.polynomial.polynomial.polyfit(x[ok], p[ok, 0], deg, w=np.sqrt(w[ok, 0]))
        theta["prog_noise_coeffs_us"] = tuple(float(v) for v in np.r_[coef, np.zeros(3 - coef.size)])
        ends: dict[str, float] = {}
        for col, key, published in (
            (1, "drift_mu", _PCM.drift_mu_clip),
            (2, "drift_sigma", _PCM.drift_sigma_clip),
        ):
            line = _clipped_line(lx, p[:, col], w[:, col])
            theta[f"{key}_coeffs"] = (line.a, line.b)
            theta[f"{key}_clip"], unreached = _clip_bounds(line, published)
            ends.update({f"{key}_{role}": v for role, v in unreached.items()})
        theta["_unreached"] = ends
        ok = np.isfinite(p[:, 3]) & (x > 0) & (p[:, 3] > 0) & (p[:, 3] < 0.9 * _PCM.read_noise_q_max)
        if ok.sum() >= 2:
            wl = w[ok, 3] * p[ok, 3] ** 2  # var(ln Q) = var(Q) / Q^2
            slope, icpt = np.polynomial.polynomial.polyfit(np.log(x[ok]), np.log(p[ok, 3]), 1, w=np.sqrt(wl))[
                ::-1
            ]
            theta["read_noise_q"], theta["read_noise_exponent"] = float(math.exp(icpt)), float(-slope)
        elif ok.sum() == 1:
            e = _PCM.read_noise_exponent
            theta["read_noise_q"], theta["read_noise_exponent"] = float(p[ok, 3][0] * x[ok][0] ** e), e
        else:
            raise DataError(
                "pcm fit: no level has a read-noise estimate (every level too noisy or too few cells)"
            )
        return theta

    def device(self, theta: dict) -> PCMDevice:
        return PCMDevice(
            g_max_us=self.g_max,
            prog_noise_reference_g_max_us=self.g_max,
            **{k: v for k, v in theta.items() if not k.startswith("_")},
        )

    def params(self, theta: dict) -> list[tuple[str, float, str]]:
        c = theta["prog_noise_coeffs_us"]
        out = [(f"prog_noise_c{i}", c[i], "uS") for i in range(3)]
        out += [
            ("drift_mu_a", theta["drift_mu_coeffs"][0], ""),
            ("drift_mu_b", theta["drift_mu_coeffs"][1], ""),
            ("drift_mu_lo", theta["drift_mu_clip"][0], ""),
            ("drift_mu_hi", theta["drift_mu_clip"][1], ""),
            ("drift_sigma_a", theta["drift_sigma_coeffs"][0], ""),
            ("drift_sigma_b", theta["drift_sigma_coeffs"][1], ""),
            ("drift_sigma_lo", theta["drift_sigma_clip"][0], ""),
            ("drift_sigma_hi", theta["drift_sigma_clip"][1], ""),
            ("read_noise_q", theta["read_noise_q"], ""),
            ("read_noise_exponent", theta["read_noise_exponent"], ""),
            ("g_max_us", self.g_max, "uS"),
        ]
        return out

    notes = (
        f"held at the PCM family's published values (Nandakumar et al. 2019): t0_s = {_PCM.t0_s:g} s, "
        f"t_read_s = {_PCM.t_read_s:g} s, read_noise_q_max = {_PCM.read_noise_q_max:g}, "
        f"read_noise_floor = {_PCM.read_noise_floor:g}",
        "g_max_us = the highest target level; programming-noise coefficients are in uS at that g_max",
    )


class _RRAMFamily:
    """Per-level parameters P [L, 2] = (lognormal programming sigma, relative read noise)."""

    names = ("prog_sigma_log", "read_noise_rel")
    notes = (
        "RRAM family: lognormal programming spread and relative read noise, constant across levels; "
        "no drift (a drift in the data shows up as read noise)",
    )

    def __init__(self, m: Measurements) -> None:
        self.levels = m.levels_us
        self.g_max = float(self.levels[-1])
        if self.g_max <= 0:
            raise DataError(f"{m.source}: column target_us: the highest level must be > 0 uS")

    def raw(self, m: Measurements) -> np.ndarray:
        n_l = len(self.levels)
        cs = _cell_stats(m, self.levels, _PCM.t0_s, _PCM.t_read_s)
        ok = np.isfinite(cs.log_mean) & (cs.n_reads >= 1)
        rel = _group(cs.within_var, cs.level, np.isfinite(cs.within_var), n_l, np.mean)
        read = np.sqrt(np.maximum(rel, 0.0))
        # ln of the cell's mean read: the programming error plus read noise / sqrt(reads).
        log_var = _group(
            cs.log_mean - np.log(np.maximum(self.levels[cs.level], 1e-30)), cs.level, ok, n_l, np.var
        )
        mean_reads = _group(cs.n_reads, cs.level, ok, n_l, np.mean)
        sig = np.sqrt(np.maximum(log_var - np.nan_to_num(rel) / mean_reads, 0.0))
        bad = self.levels <= 0
        sig[bad], read[bad] = np.nan, np.nan
        return np.stack([sig, read], axis=1)

    def curves(self, theta: dict) -> np.ndarray:
        n_l = len(self.levels)
        return np.stack(
            [np.full(n_l, theta["prog_sigma_log"]), np.full(n_l, theta["read_noise_rel"])], axis=1
        )

    def fit_curves(self, p: np.ndarray, w: np.ndarray) -> dict:
        out = {}
        for col, name in enumerate(self.names):
            ok = np.isfinite(p[:, col])
            if not ok.any():
                raise DataError(f"rram fit: no level has a {name} estimate (are all levels 0 uS?)")
            out[name] = float(max(np.average(p[ok, col], weights=w[ok, col]), 0.0))
        return out

    def device(self, theta: dict) -> RRAMDevice:
        return RRAMDevice(g_max_us=self.g_max, **theta)

    def params(self, theta: dict) -> list[tuple[str, float, str]]:
        return [
            ("prog_sigma_log", theta["prog_sigma_log"], "ln units"),
            ("read_noise_rel", theta["read_noise_rel"], ""),
            ("g_max_us", self.g_max, "uS"),
        ]


def _weights(m: Measurements, p: np.ndarray) -> np.ndarray:
    """Inverse-variance weights [L, K] from per-level cell counts (SE ~ value / sqrt(2 n) for
    spreads, ~ spread / sqrt(n) for means), floored to stay finite."""
    counts = np.bincount(np.searchsorted(m.levels_us, m.cell_targets()), minlength=len(m.levels_us))
    scale = np.nanmax(np.abs(p), axis=0, keepdims=True)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    n = np.maximum(counts, 1)[:, None]
    se = (np.nan_to_num(np.abs(p)) + 0.01 * scale) / np.sqrt(2 * n)
    if p.shape[1] == 4:  # PCM: the mean drift exponent's SE is its spread / sqrt(n)
        se[:, 1] = (np.nan_to_num(p[:, 2]) + 0.05 * np.nan_to_num(np.abs(p[:, 1])) + 1e-4) / np.sqrt(n[:, 0])
    return 1.0 / se**2


@dataclass(frozen=True)
class _Line:
    """A clipped line y = clip(a lx + b, lo, hi) fitted to per-level estimates.

    low_end / high_end: the line's value at the lowest / highest measured lx; low_reached /
    high_reached: whether >= MIN_CLIP_LEVELS measured levels sit on the clip at that end (else the
    clip there is not identified by the data: it lies beyond the end value, in the line's direction)."""

    a: float
    b: float
    lo: float
    hi: float
    low_end: float
    high_end: float
    low_reached: bool
    high_reached: bool


# A clip is kept only if it lowers the weighted squared error by more than this (the 99 % point of
# chi-square with 1 degree of freedom; AIC's 2 before). With the penalty of 2 and weights from the
# cell counts alone, noise put a clip on the two lowest levels of the drift spread in 2 of 5 small
# round-trip samples (seeds 0..4, 400 cells per level), and the bootstrap, simulating from that fit,
# kept it; with this penalty and the slope-spread weights (drift_weights), in none of 12. ASSUMED.
CLIP_PENALTY = 6.63
# A clip must rest on at least this many measured levels: a clip through one level fits that level
# exactly (it is not told apart from the line), and let noise at the last level bend the line. ASSUMED.
MIN_CLIP_LEVELS = 2


def _clipped_line(lx: np.ndarray, y: np.ndarray, w: np.ndarray) -> _Line:
    """Fit y = clip(a lx + b, lo, hi) by weighted least squares over which end levels sit on a clip
    (a penalized fit picks how many: CLIP_PENALTY per clip, each on >= MIN_CLIP_LEVELS levels);
    without a clip the bounds are the line's values at the measured ends."""
    ok = np.isfinite(y)
    lx, y, w = lx[ok], y[ok], w[ok]
    if lx.size == 0:
        raise DataError("pcm fit: no level has drift statistics (each level too noisy or too few cells)")
    order = np.argsort(lx)
    lx, y, w = lx[order], y[order], w[order]
    n = lx.size
    best: tuple[float, _Line] | None = None
    allowed = [0, *range(MIN_CLIP_LEVELS, n + 1)]
    for j in allowed:  # j lowest-lx levels on one clip
        for k in allowed:  # k highest-lx levels on the other
            if j + k > n:
                continue
            mid = slice(j, n - k)
            m_lx, m_y, m_w = lx[mid], y[mid], w[mid]
            if m_lx.size >= 2 and np.ptp(m_lx) > 0:
                a, b = np.polynomial.polynomial.polyfit(m_lx, m_y, 1, w=np.sqrt(m_w))[::-1]
            elif m_lx.size >= 1:
                a, b = 0.0, float(np.average(m_y, weights=m_w))
            else:
                continue
            line = a * lx + b
            left = float(np.average(y[:j], weights=w[:j])) if j else float(line[0])
            right = float(np.average(y[n - k :], weights=w[n - k :])) if k else float(line[-1])
            lo, hi = min(left, right), max(left, right)
            pred = np.clip(line, lo, hi)
            aic = float(np.sum(w * (y - pred) ** 2)) + 4 + CLIP_PENALTY * ((j > 0) + (k > 0))
            if best is None or aic < best[0]:
                fit = _Line(float(a), float(b), lo, hi, left, right, j > 0, k > 0)
                best = (aic, fit)
    if best is None:  # one level only: a flat line through it
        v = float(y[0])
        return _Line(0.0, v, v, v, v, v, False, False)
    return best[1]


def _clip_bounds(line: _Line, published: tuple[float, float]) -> tuple[tuple[float, float], dict[str, float]]:
    """(lo, hi) for the device, and {"lo"/"hi": end value} for each bound the data do not reach.

    A bound the data do not reach is only known to lie beyond the line's value at the last measured
    level (in the direction the line runs); the device holds it at the family's published value
    when that is consistent (beyond the end value), else at the end value."""
    lo, hi = line.lo, line.hi
    unreached: dict[str, float] = {}
    for end, reached, outward in (
        (line.low_end, line.low_reached, -line.a),  # going to lower lx, y moves by -a per unit
        (line.high_end, line.high_reached, line.a),
    ):
        if reached:
            continue
        role = "hi" if outward > 0 else "lo"
        if role in unreached:  # a flat line: both ends unreached, same bound (cannot happen for a != 0)
            continue
        unreached[role] = end
        if role == "hi":
            hi = max(end, published[1])
        else:
            lo = min(end, published[0])
    return (min(lo, hi), max(lo, hi)), unreached
