"""scikit-learn's bundled 8x8 handwritten digits (1,797 images, shipped with scikit-learn: no download).

The quickstart's default dataset. `x` float32 [N, 1, 8, 8] in [0, 1] (pixel counts 0..16 / 16);
`y` int64 digit 0..9. Splits: a seeded stratified 70 / 10 / 20 % train / val / test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tinycim.data.dataset import BadFiles, Dataset, check_split
from tinycim.data.splits import stratified_split

NAME = "digits"
CLASSES = [str(d) for d in range(10)]
PIXEL_MAX = 16.0  # load_digits pixels count set bits in 4x4 blocks of the 32x32 original: 0..16
VAL_FRACTION = 0.1
TEST_FRACTION = 0.2


def load(data_dir: Path | None, split: str, *, seed: int = 0, bad: BadFiles) -> Dataset:
    """Digits [N, 1, 8, 8] for one split; `data_dir` is ignored (the data ships with scikit-learn)."""
    from sklearn.datasets import load_digits

    check_split(split)
    bunch = load_digits()
    images = bunch.images.astype(np.float32) / PIXEL_MAX
    labels = bunch.target.astype(np.int64)
    index = stratified_split(labels, seed=seed, val_fraction=VAL_FRACTION, test_fraction=TEST_FRACTION)[split]
    x = torch.from_numpy(images[index]).unsqueeze(1)
    return Dataset(x, torch.from_numpy(labels[index]), classes=CLASSES, name=NAME, split=split)
