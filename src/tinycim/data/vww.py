"""Visual Wake Words (person / no person), as MLPerf Tiny uses it.

Layouts accepted in `data_dir`:
  * image folders `person/` and `non_person/` (any size, any Pillow format), optionally inside
    `train/`, `val/`, `test/` split folders;
  * the MLPerf Tiny raw layout: `<file>.bin` of 96x96x3 uint8 HWC RGB plus `y_labels.csv` with
    rows `file,num_classes,label` (num_classes 2, label 1 = person).
Without split folders the samples are split by a seeded stratified shuffle: 10 % val, 10 % test.

Bad files (a `DataError` naming the file or `y_labels.csv:<row>`, or skipped with `skip_bad`):
a row whose file is absolute, climbs out with `..` or resolves outside the folder (nothing
outside the dataset is ever read), a file listed twice, a `.bin` in the folder that no row
lists (it has no label), and an image or `.bin` with the same bytes as an earlier one (one
picture under two names leaks across splits, or carries two labels).

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
from tinycim.data.images import Duplicates, fit_image, read_class_folders, to_tensor
from tinycim.data.sources import read_regular, resolve_inside
from tinycim.data.splits import stratified_split
from tinycim.errors import DataError

NAME = "vww"
CLASSES = ["non_person", "person"]
NATIVE_RESOLUTION = 96  # MLPerf Tiny VWW input: 96x96x3
BIN_BYTES = NATIVE_RESOLUTION * NATIVE_RESOLUTION * 3
LABELS_CSV = "y_labels.csv"
NUM_CLASSES = "2"  # the csv's second field, as MLPerf Tiny writes it
MAX_CSV_BYTES = 256 << 20  # 256 MiB: millions of rows; refused before it is read
VAL_FRACTION = 0.1
TEST_FRACTION = 0.1


def _csv_rows(csv_path: Path) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every non-blank row of the label file."""
    try:
        text = read_regular(csv_path, max_bytes=MAX_CSV_BYTES).decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{csv_path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except ValueError as err:
        raise DataError(f"{csv_path}: {err}") from None
    rows = [
        (n, r)
        for n, r in enumerate(csv.reader(text.splitlines()), start=1)
        if r and any(c.strip() for c in r)
    ]
    if not rows:
        raise DataError(f"{csv_path}: empty label file (expected rows file,num_classes,label)")
    return rows


def _read_bin_layout(root: Path, bad: BadFiles, resolution: int, greyscale: bool):
    images, labels = [], []
    csv_path = root / LABELS_CSV
    listed: dict[Path, int] = {}  # resolved file -> first row naming it
    duplicates = Duplicates()
    for line_no, row in _csv_rows(csv_path):
        where = f"{csv_path}:{line_no}"
        if len(row) != 3:
            bad.add(where, f"expected 3 fields file,num_classes,label, got {len(row)}")
            continue
        fname, num_classes, label_text = (c.strip() for c in row)
        if num_classes != NUM_CLASSES:
            bad.add(where, f"num_classes {num_classes!r}, expected {NUM_CLASSES} (person / non_person)")
            continue
        if label_text not in ("0", "1"):
            bad.add(where, f"label {label_text!r} is not 0 or 1")
            continue
        try:
            path = resolve_inside(root, fname)
        except ValueError as err:
            bad.add(where, str(err))
            continue
        real = path.resolve()
        if real in listed:
            bad.add(where, f"{fname} is listed again (first on row {listed[real]})")
            continue
        listed[real] = line_no
        if not path.exists():
            bad.add(str(path), f"listed in {LABELS_CSV} (row {line_no}) but missing")
            continue
        try:
            data = read_regular(path, max_bytes=BIN_BYTES)
            if len(data) != BIN_BYTES:
                raise ValueError(f"{len(data)} bytes, expected {BIN_BYTES} (96x96x3 uint8)")
        except ValueError as err:
            bad.add(str(path), str(err))
            continue
        earlier = duplicates.first(data, str(path))
        if earlier is not None:
            bad.add(str(path), f"duplicate: same bytes as {earlier}")
            continue
        hwc = np.frombuffer(data, dtype=np.uint8).reshape(NATIVE_RESOLUTION, NATIVE_RESOLUTION, 3)
        images.append(fit_image(Image.fromarray(hwc), resolution, greyscale))
        labels.append(int(label_text))
    for path in sorted(root.rglob("*.bin")):
        if path.resolve() not in listed:
            bad.add(str(path), f"not listed in {LABELS_CSV} (a sample without a label)")
    return images, labels


def load(
    data_dir: Path,
    split: str,
    *,
    seed: int = 0,
    bad: BadFiles,
    resolution: int = NATIVE_RESOLUTION,
    greyscale: bool = False,
) -> Dataset:
    """VWW images [N, 3|1, resolution, resolution] in [0, 1] for one split."""
    check_split(split)
    root = Path(data_dir)
    split_folders = [s for s in ("train", "val", "test") if (root / s / "person").is_dir()]
    if split_folders:
        if split == "all":
            duplicates = Duplicates()
            parts = [
                read_class_folders(
                    root / s, CLASSES, bad, resolution=resolution, greyscale=greyscale, duplicates=duplicates
                )
                for s in split_folders
            ]
            images = [im for p in parts for im in p[0]]
            labels = [lb for p in parts for lb in p[1]]
        elif split in split_folders:
            images, labels = read_class_folders(
                root / split,
                CLASSES,
                bad,
                resolution=resolution,
                greyscale=greyscale,
                duplicates=Duplicates(),
            )
        else:
            found = ", ".join(split_folders)
            raise MissingSplitError(f"{root / split}: no such split folder (found {found})")
    else:
        if (root / LABELS_CSV).exists():  # a FIFO in its place is refused by _csv_rows, never opened
            images, labels = _read_bin_layout(root, bad, resolution, greyscale)
        elif any((root / c).is_dir() for c in CLASSES):
            images, labels = read_class_folders(
                root, CLASSES, bad, resolution=resolution, greyscale=greyscale, duplicates=Duplicates()
            )
        else:
            raise DataError(
                f"{root}: expected person/ and non_person/ folders, or .bin files with {LABELS_CSV}"
            )
        index = stratified_split(
            np.array(labels, dtype=np.int64),
            seed=seed,
            val_fraction=VAL_FRACTION,
            test_fraction=TEST_FRACTION,
        )[split]
        images = [images[i] for i in index]
        labels = [labels[i] for i in index]
    channels = 1 if greyscale else 3
    x = to_tensor(images, channels, (resolution, resolution))
    return Dataset(x, torch.tensor(labels, dtype=torch.int64), classes=CLASSES, name=NAME, split=split)
