"""Builders of tiny datasets in the real on-disk formats, written into tmp_path.

Imported by the tests as `databuilders` (pytest puts this folder on sys.path; no __init__.py).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

RATE = 16_000


def write_clip(path: Path, seed: int, seconds: float = 1.0, fmt: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    audio = (0.3 * rng.standard_normal(int(RATE * seconds))).clip(-1, 1).astype(np.float32)
    sf.write(path, audio, RATE, subtype="PCM_16", format=fmt)


def make_speech(root: Path, words: dict[str, list[str]], noise: bool = True, suffix: str = ".wav") -> Path:
    """`root/<folder>/<name><suffix>` for each folder and clip name, plus `_background_noise_`."""
    for k, (folder, names) in enumerate(words.items()):
        for j, name in enumerate(names):
            write_clip(root / folder / f"{name}{suffix}", seed=100 * k + j, seconds=0.8 if j % 2 else 1.0)
    if noise:
        write_clip(root / "_background_noise_" / "white.wav", seed=7, seconds=5.0)
    return root


def make_cifar_bin(folder: Path, n_per_file: int = 6, n_train_files: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i + 1}.bin" for i in range(n_train_files)] + ["test_batch.bin"]:
        labels = np.arange(n_per_file, dtype=np.uint8) % 10
        pixels = rng.integers(0, 256, (n_per_file, 3072), dtype=np.uint8)
        (folder / name).write_bytes(np.concatenate([labels[:, None], pixels], axis=1).tobytes())
    return folder


def make_cifar_py(folder: Path, n: int = 10) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for name in ("data_batch_1", "test_batch"):
        batch = {
            b"batch_label": b"x",
            b"labels": [i % 10 for i in range(n)],
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [b"a.png"] * n,
        }
        # Protocol 4: like the original protocol-2 files, numpy arrays pickle via _reconstruct.
        (folder / name).write_bytes(pickle.dumps(batch, protocol=4))
    return folder


def write_image(path: Path, size: tuple[int, int], seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).save(path)
