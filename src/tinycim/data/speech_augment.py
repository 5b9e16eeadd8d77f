"""Augmentation of Speech Commands clips and MFCC images (the readers' `augment=True` and the
default FP recipe's per-batch masks; see `tinycim.workflow.fp_augmentation`).

- `augment_clips`: random time shift and background-noise mixing of raw 1-s clips (TensorFlow's
  speech_commands example: shift up to 100 ms, noise on 80 % of clips at volume <= 0.1).
- `spec_augment`: SpecAugment-style frame and coefficient masks of MFCC images, per batch.
- `mix_augmented`: per sample, the augmented or the clean features of the same clips.
"""

from __future__ import annotations

import numpy as np
import torch

# TensorFlow speech_commands example (train.py flags): time_shift_ms, background_frequency,
# background_volume. cited.
TIME_SHIFT_MS = 100
BACKGROUND_FREQUENCY = 0.8
BACKGROUND_VOLUME = 0.1


def augment_clips(
    clips: np.ndarray, noise: list[np.ndarray], generator: torch.Generator, sample_rate_hz: int = 16_000
) -> np.ndarray:
    """Random time shift (zero fill) up to TIME_SHIFT_MS, then background mixing; clipped to [-1, 1]."""
    n, length = clips.shape
    max_shift = TIME_SHIFT_MS * sample_rate_hz // 1000
    shifts = torch.randint(-max_shift, max_shift + 1, (n,), generator=generator).tolist()
    mix = (torch.rand(n, generator=generator) < BACKGROUND_FREQUENCY).tolist()
    volumes = (torch.rand(n, generator=generator) * BACKGROUND_VOLUME).tolist()
    picks = torch.randint(0, max(1, len(noise)), (n,), generator=generator).tolist()
    offsets = torch.rand(n, generator=generator).tolist()
    out = np.zeros_like(clips)
    for i in range(n):
        s = shifts[i]
        if s >= 0:
            out[i, s:] = clips[i, : length - s]
        else:
            out[i, :s] = clips[i, -s:]
        if noise and mix[i]:
            rec = noise[picks[i]]
            start = int(offsets[i] * (len(rec) - length))
            out[i] += volumes[i] * rec[start : start + length]
    return np.clip(out, -1.0, 1.0)


# SpecAugment-style masking (Park et al., Interspeech 2019) for 49x10 MFCC images: widths scaled
# from its LibriSpeech policy (T = 100 of ~1,000 frames, F = 27 of 80 mel bins) to a 1-s clip. ASSUMED.
SPEC_TIME_MASKS = 2
SPEC_TIME_WIDTH = 5  # frames (of 49, 20 ms hop): at most 100 ms each
SPEC_FREQ_MASKS = 1
SPEC_FREQ_WIDTH = 2  # cepstral coefficients (of 10)


def spec_augment(
    x: torch.Tensor,
    generator: torch.Generator,
    *,
    time_masks: int = SPEC_TIME_MASKS,
    time_width: int = SPEC_TIME_WIDTH,
    freq_masks: int = SPEC_FREQ_MASKS,
    freq_width: int = SPEC_FREQ_WIDTH,
) -> torch.Tensor:
    """Mask random frame bands and coefficient bands of MFCC images x [N, 1, T, F] (a new tensor).

    Each sample gets `time_masks` bands of width uniform in [0, time_width] frames and `freq_masks`
    bands of [0, freq_width] coefficients, at uniform offsets, drawn from `generator` (on x's
    device). Masked entries take the batch mean of their coefficient, not 0: these MFCCs are
    un-normalised (c0 about -500..+100), so 0 would be a loud outlier rather than "no information".
    """
    if x.dim() != 4:
        raise ValueError(f"spec_augment expects MFCC images [N, 1, T, F], got shape {tuple(x.shape)}")
    n, _, frames, coeffs = x.shape
    keep = torch.ones(n, 1, frames, coeffs, dtype=torch.bool, device=x.device)
    for count, width, size, axis in (
        (time_masks, time_width, frames, 2),
        (freq_masks, freq_width, coeffs, 3),
    ):
        pos = torch.arange(size, device=x.device)
        for _ in range(count):
            w = torch.randint(0, width + 1, (n,), generator=generator, device=x.device)
            start = (torch.rand(n, generator=generator, device=x.device) * (size - w + 1)).floor().long()
            band = (pos >= start[:, None]) & (pos < (start + w)[:, None])  # [N, size]
            keep &= ~(band[:, None, :, None] if axis == 2 else band[:, None, None, :])
    fill = x.mean(dim=(0, 1, 2), keepdim=True).expand_as(x)  # [1, 1, 1, F] per-coefficient mean
    return torch.where(keep, x, fill)


def mix_augmented(
    clean: torch.Tensor, augmented: torch.Tensor, generator: torch.Generator, fraction: float = 0.5
) -> torch.Tensor:
    """Per sample, the augmented features (time shift + background noise, `load(augment=True)`)
    with probability `fraction`, else the clean ones: [N, ...] from two [N, ...] tensors of the
    same clips in the same order. A training set as large (and as fast to train on) as the clean
    one that still sees the augmentations."""
    if clean.shape != augmented.shape:
        raise ValueError(
            f"mix_augmented: clean {tuple(clean.shape)} and augmented {tuple(augmented.shape)} "
            "must hold the same clips"
        )
    pick = torch.rand(clean.shape[0], generator=generator) < fraction
    return torch.where(pick.view(-1, *([1] * (clean.dim() - 1))), augmented, clean)
