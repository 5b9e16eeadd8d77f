"""CIFAR-10 in any of its three common on-disk layouts.

`data_dir` may be (or contain) one of:
  * `cifar-10-batches-bin/`: `data_batch_1.bin` .. `data_batch_5.bin`, `test_batch.bin`; each a
    sequence of 3073-byte records: 1 label byte (0..9), then 3072 bytes of 32x32 R, G, B planes;
  * `cifar-10-batches-py/`: `data_batch_1` .. `data_batch_5`, `test_batch`: pickled dicts with
    `data` uint8 [N, 3072] and `labels` (read with a restricted unpickler: plain data only). Pixel
    arrays of another integer dtype are accepted when every value is 0..255; float arrays (e.g.
    already scaled to [0, 1]) and out-of-range integers are bad files, never cast;
  * image folders `train/<class>/*.jpg|png` and `test/<class>/*` (32x32 images).
The official train files are split into train and val (a seeded stratified 10 % for val); the
test files are the test split; `all` is every image present. A missing test set is a
`MissingSplitError` (e.g. a folder with only `train/`).

Output: `x` float32 [N, 3, 32, 32] in [0, 1]; `y` int64 class index into `CLASSES`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from tinycim.data.dataset import BadFiles, Dataset, MissingSplitError, check_split
from tinycim.data.images import UINT8_MAX, read_class_folders
from tinycim.data.safe_pickle import safe_load
from tinycim.data.sources import read_regular
from tinycim.data.splits import stratified_split
from tinycim.errors import DataError

NAME = "cifar10"
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
SIDE = 32
PIXELS = 3 * SIDE * SIDE  # 3072 bytes per image, channel-major (CHW)
RECORD_BYTES = 1 + PIXELS  # label byte + image
VAL_FRACTION = 0.1
TRAIN_FILE = re.compile(r"^data_batch_\d+(\.bin)?$")
TEST_STEM = "test_batch"
MAX_FILE_RECORDS = 60_000  # the whole of CIFAR-10: a larger "batch" is refused before it is read
MAX_FILE_BYTES = MAX_FILE_RECORDS * RECORD_BYTES + (1 << 20)  # python batches: pickle overhead


def _find(root: Path, subdir: str, probe: str) -> Path | None:
    for folder in (root, root / subdir):
        if (folder / probe).is_file() or any(folder.glob(probe.replace("1", "*"))):
            return folder
    return None


def _read(path: Path, bad: BadFiles) -> bytes | None:
    """The file's bytes, or None after reporting why not (FIFO, device, too large, unreadable)."""
    try:
        return read_regular(path, max_bytes=MAX_FILE_BYTES)
    except ValueError as err:
        bad.add(str(path), str(err))
        return None


def _read_bin(path: Path, bad: BadFiles) -> tuple[np.ndarray, np.ndarray]:
    data = _read(path, bad)
    if data is None:
        return _empty()
    if not data:
        bad.add(str(path), "empty file (0 bytes)")
        return _empty()
    if len(data) % RECORD_BYTES:
        bad.add(
            str(path), f"{len(data)} bytes is not a whole number of {RECORD_BYTES}-byte records (truncated?)"
        )
        return _empty()
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    if labels.max() >= len(CLASSES):
        first = int(np.argmax(labels >= len(CLASSES)))
        bad.add(str(path), f"record {first}: label byte {labels[first]} is not a class 0..9")
        return _empty()
    return records[:, 1:].reshape(-1, 3, SIDE, SIDE), labels


def _read_py(path: Path, bad: BadFiles) -> tuple[np.ndarray, np.ndarray]:
    data = _read(path, bad)
    if data is None:
        return _empty()
    if not data:
        bad.add(str(path), "empty file (0 bytes)")
        return _empty()
    batch = safe_load(data, str(path))  # refuses code-running pickles even with skip_bad
    if not isinstance(batch, dict):
        bad.add(str(path), f"expected a dict, got {type(batch).__name__}")
        return _empty()
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    images, labels = batch.get("data"), batch.get("labels")
    if not isinstance(images, np.ndarray) or images.ndim != 2 or images.shape[1] != PIXELS:
        shape = getattr(images, "shape", None)
        bad.add(str(path), f"'data' must be a uint8 array [N, {PIXELS}], got {shape}")
        return _empty()
    problem = _pixel_problem(images)
    if problem:
        bad.add(str(path), f"'data' {problem}")
        return _empty()
    labels, problem = _labels(labels, len(images))
    if problem:
        bad.add(str(path), f"'labels' {problem}")
        return _empty()
    return images.astype(np.uint8).reshape(-1, 3, SIDE, SIDE), labels


def _pixel_problem(images: np.ndarray) -> str:
    """Why `images` are not 0..255 integer pixels ('' if they are): never cast them silently."""
    if images.dtype == np.uint8:
        return ""
    if images.dtype.kind not in "iu":
        hint = (
            " (already scaled to [0, 1]?)"
            if images.dtype.kind == "f" and images.size and images.max() <= 1
            else ""
        )
        return f"is {images.dtype}{hint}; expected uint8 pixels 0..255"
    if images.size and (images.min() < 0 or images.max() > 255):
        row, col = (int(i) for i in np.argwhere((images < 0) | (images > 255))[0])
        return (
            f"is {images.dtype} with value {images[row, col]} at image {row}, byte {col}; "
            "expected uint8 pixels 0..255"
        )
    return ""


def _labels(labels, n: int) -> tuple[np.ndarray, str]:
    """(labels int64 [n], '') or (empty, why not): whole numbers 0..9, one per image."""
    arr = np.asarray(labels if labels is not None else [])
    if arr.shape != (n,):
        return np.zeros(0, np.int64), f"must be {n} class indices 0..9, got shape {arr.shape}"
    if n and arr.dtype.kind not in "iu":
        return np.zeros(0, np.int64), f"are {arr.dtype}; expected whole class indices 0..9"
    arr = arr.astype(np.int64)
    wrong = np.flatnonzero((arr < 0) | (arr >= len(CLASSES)))
    if len(wrong):
        return np.zeros(0, np.int64), f"entry {wrong[0]}: {arr[wrong[0]]} is not a class 0..9"
    return arr, ""


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((0, 3, SIDE, SIDE), np.uint8), np.zeros(0, np.int64)


def _read_files(paths: list[Path], reader, bad: BadFiles):
    parts = [reader(p, bad) for p in paths]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _read_image_split(folder: Path, bad: BadFiles):
    images, labels = read_class_folders(
        folder, CLASSES, bad, resolution=None, greyscale=False, expect_size=(SIDE, SIDE)
    )
    chw = np.stack(images).transpose(0, 3, 1, 2) if images else _empty()[0]
    return chw, np.array(labels, dtype=np.int64)


def _sources(root: Path, bad: BadFiles) -> dict[str, tuple[np.ndarray, np.ndarray] | None]:
    """{'train': (chw uint8, labels) | None, 'test': ... | None} from whichever layout is present."""
    for subdir, reader, suffix in (
        ("cifar-10-batches-bin", _read_bin, ".bin"),
        ("cifar-10-batches-py", _read_py, ""),
    ):
        folder = _find(root, subdir, f"data_batch_1{suffix}") or _find(root, subdir, f"{TEST_STEM}{suffix}")
        if folder is None:
            continue
        train = sorted(p for p in folder.iterdir() if TRAIN_FILE.match(p.name) and p.suffix == suffix)
        test = [p for p in (folder / f"{TEST_STEM}{suffix}",) if p.is_file()]
        return {
            "train": _read_files(train, reader, bad) if train else None,
            "test": _read_files(test, reader, bad) if test else None,
        }
    image_splits = {s: root / s for s in ("train", "test") if any((root / s / c).is_dir() for c in CLASSES)}
    if image_splits:
        return {
            s: _read_image_split(image_splits[s], bad) if s in image_splits else None
            for s in ("train", "test")
        }
    raise DataError(
        f"{root}: no CIFAR-10 files found (expected cifar-10-batches-bin/, cifar-10-batches-py/ "
        "or train/<class>/ image folders)"
    )


def load(data_dir: Path, split: str, *, seed: int = 0, bad: BadFiles) -> Dataset:
    """CIFAR-10 images [N, 3, 32, 32] in [0, 1] for one split."""
    check_split(split)
    root = Path(data_dir)
    sources = _sources(root, bad)
    if split == "test" or (split == "all" and sources["train"] is None):
        if sources["test"] is None:
            raise MissingSplitError(f"{root}: no CIFAR-10 test files (test_batch / test/<class>/)")
        x, y = sources["test"]
    elif sources["train"] is None:
        raise MissingSplitError(f"{root}: no CIFAR-10 training files (data_batch_* / train/<class>/)")
    elif split == "all":
        parts = [s for s in (sources["train"], sources["test"]) if s is not None]
        x, y = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    else:
        x, y = sources["train"]
        index = stratified_split(y, seed=seed, val_fraction=VAL_FRACTION, test_fraction=0.0)[split]
        x, y = x[index], y[index]
    tensor = torch.from_numpy(np.ascontiguousarray(x)).float().div_(UINT8_MAX)
    return Dataset(tensor, torch.from_numpy(np.ascontiguousarray(y)), classes=CLASSES, name=NAME, split=split)
