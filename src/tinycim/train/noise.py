"""Weight noise for hardware-aware training, drawn once per batch in the forward pass only.

Both modes return an additive perturbation of the normalized weights (w / weight range, in
[-1, 1]) that carries no gradient: the update sees the noisy forward, as in seed A's recipe.
"""
from __future__ import annotations

import math

import torch

from tinycim.devices import Device

# Keeps drift compensation finite when a layer reads as zero.
_TINY = 1e-12


def gaussian_noise(w_n: torch.Tensor, eta: float, per: str, generator: torch.Generator) -> torch.Tensor:
    """sigma = eta * max|w_n| per layer ("layer") or per output column ("column"); [same shape as w_n].

    One randn over the weight tensor (weights are few: this is negligible next to the MVM).
    """
    w = w_n.detach()
    if per == "column":
        sigma = w.abs().reshape(w.shape[0], -1).amax(dim=1).view(-1, *([1] * (w.dim() - 1)))
    else:
        sigma = w.abs().max()
    eps = torch.randn(w.shape, generator=generator, dtype=w.dtype, device=w.device)
    return eps.mul_(sigma * eta)


def log_uniform_time(t_min_s: float, t_max_s: float, generator: torch.Generator) -> float:
    """A time after programming, log-uniform in [t_min_s, t_max_s]: drift is ~ t^-nu, so equal
    weight per decade covers 1 s .. 1 month evenly in effect."""
    u = float(torch.rand((), generator=generator))
    return math.exp(math.log(t_min_s) + u * (math.log(t_max_s) - math.log(t_min_s)))


def device_noise(w_n: torch.Tensor, device: Device, t_min_s: float, t_max_s: float, generator: torch.Generator,
                 sign: torch.Tensor | None = None) -> torch.Tensor:
    """Perturbation from the device model itself: program, drift to a random time, compensate.

    w_n: normalized weights [C_out, ...] in [-1, 1]; sign: unipolar +-1 per weight (one device per
    weight) or None (differential pair, w > 0 on G+, w < 0 on G-). Drift compensation is the
    per-layer GDC of `nn.state` (RMS of the weights right after programming over RMS now).
    Slicing over several devices is approximated by one device per polarity.
    """
    w = w_n.detach()
    g_max = device.g_max_us
    if sign is None:
        targets = torch.stack([w.clamp(min=0), (-w).clamp(min=0)]) * g_max
    else:
        targets = (w * sign).clamp(min=0).unsqueeze(0) * g_max
    cells = device.program(targets, generator)
    t = log_uniform_time(t_min_s, t_max_s, generator)
    g_t = device.read(cells, t, generator)

    def weights(g: torch.Tensor) -> torch.Tensor:
        return (g[0] - g[1]) / g_max if sign is None else g[0] * sign / g_max

    w0, w_t = weights(cells.g_prog), weights(g_t)
    gdc = w0.square().mean().sqrt() / w_t.square().mean().sqrt().clamp(min=_TINY)
    return w_t * gdc - w
