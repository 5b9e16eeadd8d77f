"""Fit a simulator device to measured conductances (the measurement format of `measurements`).

Three models:
- "pcm": the PCM family of `PCMDevice` (Nandakumar et al., ICECS 2019): programming noise as a
  quadratic in g/g_max, drift exponent mean and spread as clipped lines in ln(g/g_max), read
  noise q / (g/g_max)^e growing as sqrt(ln(t / 2 t_read)). t0_s, t_read_s, the read-noise cap and
  floor are held at the family's published values (not identifiable from a few read times).
- "rram": the `RRAMDevice` family: lognormal programming spread, relative read noise, no drift.
- "empirical": an `EmpiricalDevice` holding the measured quantiles per level and time.

Parametric fits are per-level moment estimates corrected by simulation (indirect inference):
per level, plain statistics (std of the first read; mean and std of each cell's log-conductance
slope against ln(t / t0); RMS residual of that line) are biased by the clamp at 0 uS, the
folding of |nu|, and the log of noisy reads; the fit simulates the fitted device on exactly the
measured design (same cells, levels and read times), measures the same statistics, moves the
per-level parameters by the difference and refits the curves, a few times. Confidence intervals
come from a parametric bootstrap: refit `bootstrap` datasets simulated from the fitted device
on the same design (95 % intervals: estimate +- t(0.975, B - 1) bootstrap std). A clip bound of the
drift lines that no measured level reaches is not identified: its interval is one-sided (beyond
the line's value at the last measured level) and the device holds it at the family's published
value where that is consistent with the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from tinycim.devices.empirical import EmpiricalDevice
from tinycim.devices.families import _PCMFamily, _RRAMFamily, _weights
from tinycim.devices.measurements import Measurements
from tinycim.errors import DataError

MODELS = ("pcm", "rram", "empirical")
MAX_TIMES = 64
_Z95 = 1.959964  # two-sided 95 % normal quantile


@dataclass(frozen=True)
class Estimate:
    """One fitted parameter with its 95 % confidence interval."""

    name: str
    value: float
    low: float
    high: float
    unit: str = ""


@dataclass
class FitResult:
    """A fitted device and how well it fits.

    params: fitted parameters with 95 % CIs; levels: per-level table (dicts: level_us, cells and
    the per-level estimates with CIs); gof: per (level, time) measured and model quantiles
    (probabilities `gof_probs`) and the two-sample KS distance; notes: what was held fixed or left out.
    """

    model: str
    device: Any
    params: list[Estimate] = field(default_factory=list)
    levels: list[dict] = field(default_factory=list)
    gof: list[dict] = field(default_factory=list)
    gof_probs: list[float] = field(default_factory=list)
    g_range_us: tuple[float, float] = (0.0, 0.0)
    notes: list[str] = field(default_factory=list)

    def param(self, name: str) -> Estimate:
        return next(p for p in self.params if p.name == name)

    @property
    def max_ks(self) -> float:
        return max((row["ks"] for row in self.gof), default=0.0)


def fit_device(
    m: Measurements,
    model: str = "pcm",
    *,
    bootstrap: int = 20,
    iterations: int = 6,
    seed: int = 0,
    n_quantiles: int = 100,
) -> FitResult:
    """Fit `model` ("pcm", "rram", "empirical") to measurements; see the module docstring."""
    if model not in MODELS:
        raise DataError(f"unknown device model {model!r}: allowed {', '.join(MODELS)}")
    if np.unique(m.t_s).size > MAX_TIMES:
        raise DataError(
            f"{m.source}: column t_s has {np.unique(m.t_s).size} distinct read times: allowed "
            f"<= {MAX_TIMES} (round the times to the read schedule)"
        )
    if model == "empirical":
        result = _fit_empirical(m, n_quantiles)
    else:
        family = _PCMFamily(m) if model == "pcm" else _RRAMFamily(m)
        result = _fit_parametric(m, family, bootstrap=bootstrap, iterations=iterations, seed=seed)
    result.g_range_us = (float(m.g_us.min()), float(m.g_us.max()))
    goodness_of_fit(result, m, seed=seed + 7919)
    return result


# ---- simulation on the measured design ----------------------------------------------------------
def simulate_like(device, m: Measurements, seed: int, replicas: int = 1) -> Measurements:
    """Simulated measurements with m's design (cells, targets, read times), `replicas` copies of
    each cell; each cell is programmed once and read once per distinct time."""
    targets = np.tile(m.cell_targets(), replicas)  # [R * n_cells]
    gen = torch.Generator().manual_seed(seed)
    cells = device.program(torch.as_tensor(targets, dtype=torch.float64), gen)
    n = m.n_cells
    cell = np.concatenate([m.cell + r * n for r in range(replicas)])
    t_s = np.tile(m.t_s, replicas)
    g = np.empty(cell.shape[0])
    for t in np.unique(t_s):
        rows = t_s == t
        g_all = device.read(cells, float(t), gen).numpy()
        g[rows] = g_all[cell[rows]]
    return Measurements(
        cell=cell,
        cell_ids=tuple(str(i) for i in range(n * replicas)),
        target_us=np.tile(m.target_us, replicas),
        t_s=t_s,
        g_us=g,
        source="simulated",
    )


def _fit_parametric(m: Measurements, family, *, bootstrap: int, iterations: int, seed: int) -> FitResult:
    p_data = family.raw(m)
    w = _weights(m, p_data)
    if isinstance(family, _PCMFamily):
        w[:, 1:3] = family.drift_weights(m, p_data)
    replicas = max(1, math.ceil(200_000 / max(m.rows, 1)))  # keeps simulation noise below the data's

    def corrected(p_raw: np.ndarray, theta: dict, n_iter: int, sim_seed: int) -> tuple[dict, np.ndarray]:
        """Move per-level parameters by (measured - simulated statistics) and refit, n_iter times;
        returns the curves and the last per-level estimates [L, K]."""
        p_corr = p_raw
        for _ in range(n_iter):
            sim = simulate_like(family.device(theta), m, seed=sim_seed, replicas=replicas)
            p_corr = family.curves(theta) + (p_raw - family.raw(sim))
            theta = family.fit_curves(p_corr, w)
        return theta, p_corr

    theta, p_final = corrected(p_data, family.fit_curves(p_data, w), iterations, seed * 1000 + 1)
    shift = np.nan_to_num(p_final - p_data)
    device = family.device(theta)
    point = family.params(theta)
    # Parametric bootstrap of the whole procedure (the correction amplifies the raw statistics'
    # noise where they are weakly sensitive, so it must be inside the bootstrap): each replicate
    # starts from the shifted raw estimate and takes a few correction steps. A clip bound the data
    # do not reach enters the bootstrap as what the data measure: the line's value at the last level.
    boot_params, boot_levels = [], []
    for b in range(bootstrap):
        data_b = simulate_like(device, m, seed=seed * 1000 + 100 + b)
        p_b = family.raw(data_b)
        try:
            th_b, pc_b = corrected(
                p_b, family.fit_curves(p_b + shift, w), max(2, iterations // 2), seed * 1000 + 500 + b
            )
        except DataError:
            continue
        boot_params.append(_measured_values(family.params(th_b), th_b))
        boot_levels.append(pc_b)
    params = []
    sd = (
        np.std(np.asarray(boot_params), axis=0, ddof=1)
        if len(boot_params) >= 2
        else np.full(len(point), np.nan)
    )
    z = _interval_quantile(len(boot_params))
    unreached = theta.get("_unreached", {})
    unreached_notes = []
    for (name, value, unit), s in zip(point, sd):
        if name in unreached:
            # One-sided: the data only say the bound lies beyond the line's end value.
            end = unreached[name]
            if name.endswith("_hi"):
                low, high = end - z * s, math.inf
            else:
                low, high = -math.inf, end + z * s
            params.append(Estimate(name, float(value), float(low), float(high), unit))
            unreached_notes.append(
                f"{name}: not reached by the measured levels (the line ends at {end:.4g}); "
                f"held at {value:.4g} (the family's published value where consistent), interval one-sided"
            )
            continue
        params.append(Estimate(name, float(value), float(value - z * s), float(value + z * s), unit))
    level_sd = _nan_std(np.asarray(boot_levels)) if len(boot_levels) >= 2 else np.full_like(p_data, np.nan)
    counts = np.bincount(np.searchsorted(m.levels_us, m.cell_targets()), minlength=len(m.levels_us))
    levels = []
    for i, g in enumerate(m.levels_us):
        row: dict[str, Any] = {"level_us": float(g), "cells": int(counts[i])}
        for k, name in enumerate(family.names):
            v, s = p_final[i, k], level_sd[i, k]
            row[name] = None if not np.isfinite(v) else float(v)
            row[f"{name}_se"] = None if not np.isfinite(s) else float(s)
            row[f"{name}_model"] = float(family.curves(theta)[i, k])
        levels.append(row)
    notes = (
        list(family.notes)
        + unreached_notes
        + [
            f"{iterations} simulation corrections ({replicas} replica(s) of the design), "
            f"{len(boot_params)} bootstrap refits"
        ]
    )
    model = "pcm" if isinstance(family, _PCMFamily) else "rram"
    return FitResult(model=model, device=device, params=params, levels=levels, notes=notes)


# ---- empirical ----------------------------------------------------------------------------------
def _fit_empirical(m: Measurements, n_quantiles: int) -> FitResult:
    from scipy.stats import norm

    levels, times = m.levels_us, m.times_s
    if levels[-1] <= 0:
        raise DataError(f"{m.source}: column target_us: the highest level must be > 0 uS")
    probs = (np.arange(n_quantiles) + 0.5) / n_quantiles
    cell_level = np.searchsorted(levels, m.cell_targets())
    row_level = cell_level[m.cell]
    table = np.zeros((len(levels), len(times), n_quantiles))
    corr = np.ones((len(levels), len(times)))
    for li, g in enumerate(levels):
        first: dict[int, float] = {}
        for ti, t in enumerate(times):
            rows = np.flatnonzero((row_level == li) & (m.t_s == t))
            if rows.size == 0:
                raise DataError(
                    f"{m.source}: no reads of level {g:g} uS at t_s = {t:g} s: the empirical device "
                    "needs every level read at every time"
                )
            table[li, ti] = np.quantile(m.g_us[rows], probs)
            # One read per cell at this time (the first row); normal scores of ranks within the level.
            cells, idx = np.unique(m.cell[rows], return_index=True)
            vals = m.g_us[rows[idx]]
            scores = dict(zip(cells.tolist(), norm.ppf((_ranks(vals) + 0.5) / vals.size).tolist()))
            if ti == 0:
                first = scores
                continue
            common = [c for c in scores if c in first]
            if len(common) >= 3:
                a = np.array([first[c] for c in common])
                b = np.array([scores[c] for c in common])
                if a.std() > 0 and b.std() > 0:
                    corr[li, ti] = float(np.clip(np.corrcoef(a, b)[0, 1], -1.0, 1.0))
    device = EmpiricalDevice(
        levels_us=tuple(float(v) for v in levels),
        times_s=tuple(float(t) for t in times),
        quantiles_us=tuple(tuple(tuple(float(v) for v in q) for q in per_t) for per_t in table),
        rank_corr=tuple(tuple(float(v) for v in r) for r in corr),
        g_max_us=float(levels[-1]),
        source=str(m.source),
    )
    counts = np.bincount(cell_level, minlength=len(levels))
    level_rows = [
        {
            "level_us": float(g),
            "cells": int(counts[i]),
            "median_us_first": float(table[i, 0, n_quantiles // 2]),
            "median_us_last": float(table[i, -1, n_quantiles // 2]),
        }
        for i, g in enumerate(levels)
    ]
    params = [
        Estimate("g_max_us", float(levels[-1]), float(levels[-1]), float(levels[-1]), "uS"),
        Estimate("levels", float(len(levels)), float(len(levels)), float(len(levels))),
        Estimate("times", float(len(times)), float(len(times)), float(len(times))),
    ]
    notes = [
        f"{n_quantiles} quantiles per level and time; between levels and times the quantiles are "
        "interpolated (see tinycim.devices.empirical)"
    ]
    return FitResult(model="empirical", device=device, params=params, levels=level_rows, notes=notes)


def _interval_quantile(n_boot: int) -> float:
    """Two-sided 95 % quantile for an interval estimate +- q * (bootstrap std from n_boot refits):
    Student's t with n_boot - 1 degrees of freedom (the std itself is estimated from few refits;
    with 1.96, an interval from 10 refits covers about 92 %, not 95 %)."""
    from scipy.stats import t

    return float(t.ppf(0.975, n_boot - 1)) if n_boot >= 2 else _Z95


def _measured_values(params: list[tuple[str, float, str]], theta: dict) -> list[float]:
    """Parameter values with each clip bound the data do not reach replaced by its end value."""
    ends = theta.get("_unreached", {})
    return [float(ends.get(name, value)) for name, value, _ in params]


def _nan_std(a: np.ndarray) -> np.ndarray:
    """Std over axis 0 ignoring NaN; NaN where fewer than 2 values (no numpy warning)."""
    ok = np.isfinite(a)
    n = ok.sum(axis=0)
    filled = np.where(ok, a, 0.0)
    mean = filled.sum(axis=0) / np.maximum(n, 1)
    var = (np.where(ok, (a - mean) ** 2, 0.0)).sum(axis=0) / np.maximum(n, 1)
    return np.where(n >= 2, np.sqrt(var), np.nan)


def _ranks(v: np.ndarray) -> np.ndarray:
    order = np.argsort(v, kind="stable")
    r = np.empty(v.size)
    r[order] = np.arange(v.size)
    return r


# ---- goodness of fit ----------------------------------------------------------------------------
def goodness_of_fit(result: FitResult, m: Measurements, seed: int, probs=None) -> None:
    """Fill result.gof: per (level, time) measured vs model quantiles and the two-sample KS distance
    between the measurements and the fitted device simulated on the same design."""
    probs = np.linspace(0.01, 0.99, 99) if probs is None else np.asarray(probs)
    sim = simulate_like(result.device, m, seed=seed, replicas=max(1, math.ceil(50_000 / max(m.rows, 1))))
    result.gof_probs = [float(p) for p in probs]
    result.gof = []
    for g in m.levels_us:
        for t in m.times_s:
            a = np.sort(m.g_us[(m.target_us == g) & (m.t_s == t)])
            b = np.sort(sim.g_us[(sim.target_us == g) & (sim.t_s == t)])
            if a.size == 0 or b.size == 0:
                continue
            grid = np.concatenate([a, b])
            ks = float(
                np.max(
                    np.abs(
                        np.searchsorted(a, grid, side="right") / a.size
                        - np.searchsorted(b, grid, side="right") / b.size
                    )
                )
            )
            result.gof.append(
                {
                    "level_us": float(g),
                    "t_s": float(t),
                    "n": int(a.size),
                    "ks": ks,
                    "measured_us": np.quantile(a, probs).tolist(),
                    "model_us": np.quantile(b, probs).tolist(),
                }
            )
