"""Shared image helpers: decode with Pillow, read `<root>/<class>/*` folders, build [N,C,H,W] tensors."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from tinycim.data.dataset import BadFiles
from tinycim.data.sources import read_regular

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
UINT8_MAX = 255.0
MAX_IMAGE_BYTES = 64 << 20  # 64 MiB: far above any dataset image; refused before it is read


class Duplicates:
    """Finds files whose bytes are identical to an earlier file's (a leak across splits, or one
    image under two labels). `first(data, where)`: the earlier file's description, or None."""

    def __init__(self) -> None:
        self._seen: dict[bytes, str] = {}

    def first(self, data: bytes, where: str) -> str | None:
        digest = hashlib.blake2b(data, digest_size=16).digest()
        if digest in self._seen:
            return self._seen[digest]
        self._seen[digest] = where
        return None


def decode_image(data: bytes) -> Image.Image:
    """An RGB Pillow image from encoded bytes; `ValueError` with the reason if unreadable."""
    if not data:
        raise ValueError("empty file (0 bytes)")
    try:
        img = Image.open(io.BytesIO(data))
        img.load()  # force the full decode so truncated files fail here, not later
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"cannot decode image ({err})") from None
    return img.convert("RGB")


def fit_image(img: Image.Image, resolution: int | None, greyscale: bool) -> np.ndarray:
    """uint8 HWC (C = 1 if greyscale else 3), resized bilinearly to resolution x resolution if given."""
    if resolution is not None and img.size != (resolution, resolution):
        img = img.resize((resolution, resolution), Image.Resampling.BILINEAR)
    if greyscale:
        return np.asarray(img.convert("L"), dtype=np.uint8)[:, :, None]
    return np.asarray(img, dtype=np.uint8)


def read_class_folders(
    root: Path,
    classes: list[str],
    bad: BadFiles,
    *,
    resolution: int | None,
    greyscale: bool,
    expect_size: tuple[int, int] | None = None,
    duplicates: Duplicates | None = None,
) -> tuple[list[np.ndarray], list[int]]:
    """Images under `root/<class>/` for each class (sorted names) and their class indices.

    `expect_size` (width, height): images of another size are bad files (e.g. CIFAR's 32x32).
    `duplicates`: a file with the same bytes as one seen before is a bad file (kept once).
    Non-regular files (FIFOs, devices) with an image suffix are bad files, never opened.
    """
    images, labels = [], []
    for label, cls in enumerate(classes):
        folder = root / cls
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                data = read_regular(path, max_bytes=MAX_IMAGE_BYTES)
                earlier = duplicates.first(data, str(path)) if duplicates is not None else None
                if earlier is not None:
                    raise ValueError(f"duplicate: same bytes as {earlier}")
                img = decode_image(data)
                if expect_size is not None and img.size != expect_size:
                    raise ValueError(
                        f"image is {img.size[0]}x{img.size[1]}, expected {expect_size[0]}x{expect_size[1]}"
                    )
            except ValueError as err:
                bad.add(str(path), str(err))
                continue
            images.append(fit_image(img, resolution, greyscale))
            labels.append(label)
    return images, labels


def to_tensor(images: list[np.ndarray] | np.ndarray, channels: int, size: tuple[int, int]) -> torch.Tensor:
    """uint8 HWC images -> float32 [N, C, H, W] in [0, 1]."""
    if len(images) == 0:
        return torch.zeros((0, channels, *size), dtype=torch.float32)
    hwc = torch.from_numpy(np.ascontiguousarray(np.stack(list(images))))
    return hwc.permute(0, 3, 1, 2).float().div_(UINT8_MAX).contiguous()
