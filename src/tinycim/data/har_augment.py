"""Augmentation of raw inertial windows (UCI HAR / HAPT, `x` [N, 9, 128]) for the FP phase (issue 15).

`augment_windows(x, generator)` returns a new batch where each window, independently:

* is turned by one small random rotation applied to its three 3-axis groups alike (body acc,
  gyro, total acc: the phone sits a little differently on each subject's waist), by an angle
  uniform in [-max_rotation_deg, max_rotation_deg] about a uniformly random axis;
* is scaled by one factor per 3-axis group, drawn from N(1, scale_std) (sensor gain and body
  differences), clamped to [0.5, 1.5];
* is shifted in time by an integer uniform in [-max_shift, max_shift] samples (circularly: the
  activities are quasi-periodic, and the window boundaries carry no meaning);
* gets Gaussian jitter of jitter_std times each channel's standard deviation over the batch.

Rotation and per-group scaling keep the geometry of each 3-axis vector; the window stays in the
reader's units (the model standardizes its input itself). The defaults were chosen on the
validation subjects (docs/results.md, "Defaults that win (issue 15)").
"""

from __future__ import annotations

import math

import torch

__all__ = ["augment_windows", "random_rotations"]

GROUPS = 3  # body acc, body gyro, total acc: 3 axes each (tinycim.data.har.SIGNALS order)
MAX_ROTATION_DEG = 10.0
SCALE_STD = 0.1
MAX_SHIFT = 16  # samples, 0.32 s at 50 Hz
JITTER_STD = 0.05
SCALE_CLAMP = (0.5, 1.5)


def random_rotations(n: int, max_deg: float, generator: torch.Generator, device=None) -> torch.Tensor:
    """[n, 3, 3] rotation matrices about uniformly random axes by angles uniform in [-max_deg, max_deg]
    (Rodrigues' formula)."""
    axis = torch.randn(n, 3, generator=generator, device=device)
    axis = axis / axis.norm(dim=1, keepdim=True).clamp_min(1e-12)
    angle = (torch.rand(n, generator=generator, device=device) * 2 - 1) * math.radians(max_deg)
    kx, ky, kz = axis.unbind(1)
    zero = torch.zeros_like(kx)
    k = torch.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], dim=1).view(n, 3, 3)
    eye = torch.eye(3, device=device).expand(n, 3, 3)
    s, c = angle.sin()[:, None, None], angle.cos()[:, None, None]
    return eye + s * k + (1 - c) * (k @ k)


def augment_windows(
    x: torch.Tensor,
    generator: torch.Generator,
    *,
    max_rotation_deg: float = MAX_ROTATION_DEG,
    scale_std: float = SCALE_STD,
    max_shift: int = MAX_SHIFT,
    jitter_std: float = JITTER_STD,
) -> torch.Tensor:
    """Rotate, scale, shift and jitter inertial windows x [N, 9, T] (a new tensor; see the module
    docstring), drawing from `generator` (on x's device). A zero setting turns its step off."""
    if x.dim() != 3 or x.shape[1] != 3 * GROUPS:
        raise ValueError(f"augment_windows expects inertial windows [N, 9, T], got shape {tuple(x.shape)}")
    n, channels, steps = x.shape
    out = x.view(n, GROUPS, 3, steps)
    if max_rotation_deg > 0:
        rot = random_rotations(n, max_rotation_deg, generator, x.device).to(x.dtype)
        out = torch.einsum("nij,ngjt->ngit", rot, out)
    if scale_std > 0:
        gain = 1 + scale_std * torch.randn(n, GROUPS, 1, 1, generator=generator, device=x.device)
        out = out * gain.clamp(*SCALE_CLAMP).to(x.dtype)
    out = out.reshape(n, channels, steps)
    if max_shift > 0:
        shift = torch.randint(-max_shift, max_shift + 1, (n,), generator=generator, device=x.device)
        index = (torch.arange(steps, device=x.device)[None, :] - shift[:, None]) % steps
        out = out.gather(2, index[:, None, :].expand(n, channels, steps))
    if jitter_std > 0:
        std = x.std(dim=(0, 2), keepdim=True) if n * steps > 1 else torch.zeros_like(x[:1, :, :1])
        noise = torch.randn(out.shape, generator=generator, device=x.device, dtype=x.dtype)
        out = out + jitter_std * std * noise
    return out if out is not x else x.clone()
