"""Visual Wake Words (person / no person), as MLPerf Tiny uses it.

Layouts accepted in `data_dir`:
  * image folders `person/` and `non_person/` (any size, any Pillow format), optionally inside
    `train/`, `val/`, `test/` split folders;
  * the MLPerf Tiny raw layout: `<file>.bin` of 96x96x3 uint8 HWC RGB plus `y_labels.csv` with
    rows `file,num_classes,label` (label 1 = person).
Without split folders the samples are split by a seeded stratified shuffle: 10 % val, 10 % test.

Output: `x` float32 [N, 3, R, R] in [0, 1] (R = `resolution`, default 96; bilinear resize), or
[N, 1, R, R] with `greyscale=True` (ITU-R 601-2 luma); `y` 0 = non_person, 1 = person.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tinycim.data.dataset import BadFiles, Dataset, MissingSplitError, check_split
from tinycim.data.images import fit_image, read_class_folders, to_tensor
from tinycim.data.splits import stratified_split
from tinycim.errors import DataError

NAME = "vww"
CLASSES = ["non_person", "person"]
NATIVE_RESOLUTION = 96  # MLPerf Tiny VWW input: 96x96x3
BIN_BYTES = NATIVE_RESOLUTION * NATIVE_RESOLUTION * 3
LABELS_CSV = "y_labels.csv"
VAL_FRACTION = 0.1
TEST_FRACTION = 0.1


def _read_bin_layout(root: Path, bad: BadFiles, resolution: int, greyscale: bool):
    images, labels = [], []
    csv_path = root / LABELS_CSV
    with open(csv_path, newline="") as fh:
        rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    if not rows:
        raise DataError(f"{csv_path}: empty label file (expected rows file,num_classes,label)")
    for line_no, row in enumerate(rows, start=1):
        where = f"{csv_path}:{line_no}"
        if len(row) != 3:
            bad.add(where, f"expected 3 fields file,num_classes,label, got {len(row)}")
            continue
        fname, _, label_text = (c.strip() for c in row)
        if label_text not in ("0", "1"):
            bad.add(where, f"label {label_text!r} is not 0 or 1")
            continue
        path = root / fname
        if not path.is_file():
            bad.add(str(path), f"listed in {LABELS_CSV} but missing")
            continue
        data = path.read_bytes()
        if len(data) != BIN_BYTES:
            bad.add(str(path), f"{len(data)} bytes, expected {BIN_BYTES} (96x96x3 uint8)")
            continue
        hwc = np.frombuffer(data, dtype=np.uint8).reshape(NATIVE_RESOLUTION, NATIVE_RESOLUTION, 3)
        images.append(fit_image(Image.fromarray(hwc), resolution, greyscale))
        labels.append(int(label_text))
    return images, labels


def load(data_dir: Path, split: str, *, seed: int = 0, bad: BadFiles,
         resolution: int = NATIVE_RESOLUTION, greyscale: bool = False) -> Dataset:
    """VWW images [N, 3|1, resolution, resolution] in [0, 1] for one split."""
    check_split(split)
    root = Path(data_dir)
    split_folders = [s for s in ("train", "val", "test") if (root / s / "person").is_dir()]
    if split_folders:
        if split == "all":
            parts = [read_class_folders(root / s, CLASSES, bad, resolution=resolution, greyscale=greyscale)
                     for s in split_folders]
            images = [im for p in parts for im in p[0]]
            labels = [lb for p in parts for lb in p[1]]
        elif split in split_folders:
            images, labels = read_class_folders(root / split, CLASSES, bad, resolution=resolution,
                                                greyscale=greyscale)
        else:
            found = ", ".join(split_folders)
            raise MissingSplitError(f"{root / split}: no such split folder (found {found})")
    else:
        if (root / LABELS_CSV).is_file():
            images, labels = _read_bin_layout(root, bad, resolution, greyscale)
        elif any((root / c).is_dir() for c in CLASSES):
            images, labels = read_class_folders(root, CLASSES, bad, resolution=resolution,
                                                greyscale=greyscale)
        else:
            raise DataError(f"{root}: expected person/ and non_person/ folders, "
                            f"or .bin files with {LABELS_CSV}")
        index = stratified_split(np.array(labels, dtype=np.int64), seed=seed, val_fraction=VAL_FRACTION,
                                 test_fraction=TEST_FRACTION)[split]
        images = [images[i] for i in index]
        labels = [labels[i] for i in index]
    channels = 1 if greyscale else 3
    x = to_tensor(images, channels, (resolution, resolution))
    return Dataset(x, torch.tensor(labels, dtype=torch.int64), classes=CLASSES, name=NAME, split=split)
