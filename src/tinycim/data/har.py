"""Human activity recognition from a waist-worn smartphone: UCI HAR and UCI HAPT.

Both give the six UCI HAR classes (`CLASSES`, labels 1..6 on disk -> 0..5) and 2.56-s windows of
128 samples at 50 Hz with 9 channels in UCI HAR order: body_acc x y z (g), body_gyro x y z
(rad/s), total_acc x y z (g) -> `x` float32 [N, 9, 128].

`uci_har` reads the standard "UCI HAR Dataset" folder (`train/`, `test/`, each with
`Inertial Signals/<signal>_<split>.txt`, `X_<split>.txt`, `y_<split>.txt`, `subject_<split>.txt`).
`features="561"` returns the 561 engineered features, `x` float32 [N, 561], instead.

`hapt` cuts the HAPT raw recordings (`RawData/acc_expXX_userYY.txt`, `gyro_...`, `labels.txt`),
as a folder or as the .tar.xz / .zip itself, into UCI HAR windows with the UCI HAR pipeline:
per axis a 3rd-order median filter, a 3rd-order 20 Hz Butterworth low-pass (noise), and the
gravity component as a 3rd-order 0.3 Hz Butterworth low-pass of the total acceleration (all
zero-phase, `sosfiltfilt`); body = total - gravity. Windows of 128 samples step 64 lie inside one
labelled segment: `labels.txt` start/end are 1-based inclusive sample numbers, so a segment of
L = end - start + 1 samples gives floor((L - 128) / 64) + 1 windows (none if L < 128). Only
activities 1..6 are kept (7..12 are postural transitions).

Every table is checked as it is read: numeric, the expected columns, every value finite and in
range (sensor signals within +-SENSOR_LIMIT, the 561 features within [-1, 1], labels, subjects and
segment bounds whole numbers in range); a bad value is a `DataError` naming the file, line and
column.

Splits are by subject (`split_by="subject"`, the only choice: windows overlap, so a random window
split would leak). `uci_har`: test = the `test/` folder, and val = a seeded hold-out of 20 % of the
training subjects. `hapt`: test = the UCI HAR test subjects (2, 4, 9, 10, 12, 13, 18, 20, 24) that
are present; if none are (the copy with only the 21 UCI HAR training subjects), test = a seeded
hold-out of 30 % of the subjects (UCI HAR's own 70/30 proportion); val = a seeded 20 % of the
remaining subjects. `all` = every window.
"""

from __future__ import annotations

import io
import re
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from tinycim.data.dataset import BadFiles, Dataset, MissingSplitError, check_split
from tinycim.data.sources import FileTree, find_root, open_tree, read_regular
from tinycim.data.splits import holdout_subjects
from tinycim.errors import DataError

CLASSES = ["WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING"]
SIGNALS = [
    "body_acc_x",
    "body_acc_y",
    "body_acc_z",
    "body_gyro_x",
    "body_gyro_y",
    "body_gyro_z",
    "total_acc_x",
    "total_acc_y",
    "total_acc_z",
]
WINDOW_SAMPLES = 128  # 2.56 s at 50 Hz
WINDOW_STEP = 64  # 50 % overlap
N_FEATURES = 561
SAMPLE_RATE_HZ = 50.0
MEDIAN_KERNEL = 3
NOISE_FILTER_ORDER = 3
NOISE_CUTOFF_HZ = 20.0
GRAVITY_FILTER_ORDER = 3
GRAVITY_CUTOFF_HZ = 0.3
UCI_HAR_TEST_SUBJECTS = (2, 4, 9, 10, 12, 13, 18, 20, 24)
VAL_SUBJECT_FRACTION = 0.2
FALLBACK_TEST_SUBJECT_FRACTION = 0.3
VAL_SEED_STREAM, TEST_SEED_STREAM = 1, 2  # separate random streams from one user seed
# Largest |value| accepted in a sensor signal, in g (acc) or rad/s (gyro). ASSUMED: a generous
# bound, ~6x a phone accelerometer's +-16 g full scale and ~3x a +-2000 deg/s (34.9 rad/s) gyro;
# it only catches values that cannot come from a sensor (1e30, a mis-parsed column).
SENSOR_LIMIT = 100.0
# UCI HAR README: "Features are normalized and bounded within [-1,1]."
FEATURE_LIMIT = 1.0
N_ACTIVITIES_HAPT = 12  # HAPT labels.txt activities 1..12 (7..12: postural transitions)
LABEL_MAX = 2**31 - 1  # labels.txt ids and sample numbers: whole numbers that fit an int32


def _check_split_by(split_by: str) -> None:
    if split_by != "subject":
        raise DataError(f"split_by={split_by!r}: only 'subject' is supported (windows overlap)")


def _select(
    split: str, subjects: np.ndarray, test_subjects: list[int], val_subjects: list[int]
) -> np.ndarray:
    if split == "all":
        return np.ones(len(subjects), dtype=bool)
    in_test = np.isin(subjects, test_subjects)
    in_val = np.isin(subjects, val_subjects)
    return {"test": in_test, "val": in_val & ~in_test, "train": ~in_val & ~in_test}[split]


def _loadtxt(source, dtype) -> np.ndarray:
    with warnings.catch_warnings():
        # An empty file is reported by the caller as a DataError; numpy's own warning is noise.
        warnings.filterwarnings("ignore", message="loadtxt: input contained no data")
        return np.loadtxt(source, dtype=dtype, ndmin=2)


def _line_number(data: bytes, row: int) -> int:
    """1-based line of table row `row` (np.loadtxt skips blank and '#' comment lines)."""
    seen = -1
    for number, line in enumerate(data.splitlines(), start=1):
        text = line.split(b"#", 1)[0].strip()
        if text:
            seen += 1
            if seen == row:
                return number
    return row + 1


def parse_table(
    data: bytes,
    columns: int,
    *,
    limit: float | None = None,
    integer: bool = False,
    low: float | None = None,
    high: float | None = None,
) -> np.ndarray:
    """A whitespace-separated numeric table [rows, columns] as float64, checked value by value.

    `limit`: every |value| <= limit; `integer`: whole numbers only; `low`/`high`: inclusive bounds.
    `ValueError` naming the line and column of the first bad value (the caller adds the file).
    Parsed as float64 so an out-of-range value (1e39) is reported as itself, not as float32 inf.
    """
    try:
        arr = _loadtxt(io.BytesIO(data), np.float64)
    except ValueError as err:
        raise ValueError(f"not a numeric table ({err})") from None
    if arr.size == 0:
        raise ValueError("empty file")
    if arr.shape[1] != columns:
        raise ValueError(f"{arr.shape[1]} columns, expected {columns}")
    checks = [(~np.isfinite(arr), "is not finite")]
    if limit is not None:
        checks.append((np.abs(arr) > limit, f"is outside [-{limit:g}, {limit:g}]"))
    if integer:
        checks.append((arr != np.round(arr), "is not a whole number"))
    if low is not None:
        checks.append((arr < low, f"is below {low:g}"))
    if high is not None:
        checks.append((arr > high, f"is above {high:g}"))
    for wrong, why in checks:
        if wrong.any():
            row, col = (int(i) for i in np.argwhere(wrong)[0])
            raise ValueError(
                f"line {_line_number(data, row)}, column {col + 1}: value {arr[row, col]:.6g} {why}"
            )
    return arr


# ---------------------------------------------------------------- UCI HAR (pre-windowed)


def _read_matrix(path: Path, columns: int, **checks) -> np.ndarray:
    """`parse_table` of a file; `DataError` naming the file (never blocks on a FIFO)."""
    try:
        return parse_table(read_regular(path), columns, **checks)
    except ValueError as err:
        raise DataError(f"{path}: {err}") from None


def _uci_har_root(data_dir: Path) -> Path:
    for root in (data_dir, data_dir / "UCI HAR Dataset"):
        if (root / "train").is_dir() or (root / "test").is_dir():
            return root
    raise DataError(f"{data_dir}: expected a 'UCI HAR Dataset' folder with train/ and test/")


def _read_uci_part(root: Path, part: str, features: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    folder = root / part
    if not folder.is_dir():
        raise MissingSplitError(f"{folder}: missing")
    labels = _read_matrix(folder / f"y_{part}.txt", 1, integer=True, low=1, high=len(CLASSES))
    labels = labels[:, 0].astype(np.int64)
    subjects = _read_matrix(folder / f"subject_{part}.txt", 1, integer=True, low=1)[:, 0].astype(np.int64)
    if features == "561":
        x = _read_matrix(folder / f"X_{part}.txt", N_FEATURES, limit=FEATURE_LIMIT).astype(np.float32)
        files = [folder / f"X_{part}.txt"]
    else:
        files = [folder / "Inertial Signals" / f"{s}_{part}.txt" for s in SIGNALS]
        x = np.stack(
            [_read_matrix(f, WINDOW_SAMPLES, limit=SENSOR_LIMIT).astype(np.float32) for f in files], axis=1
        )
    for f, n in [*((f, len(x)) for f in files), (folder / f"subject_{part}.txt", len(subjects))]:
        if n != len(labels):
            raise DataError(f"{f}: {n} rows but y_{part}.txt has {len(labels)}")
    return x, labels - 1, subjects


def load(
    data_dir: Path,
    split: str,
    *,
    seed: int = 0,
    bad: BadFiles,
    features: str = "raw",
    split_by: str = "subject",
) -> Dataset:
    """UCI HAR windows [N, 9, 128] (`features="raw"`) or features [N, 561] (`features="561"`).

    Malformed files always raise `DataError` (a table cannot be half-read); `bad` is unused.
    """
    check_split(split)
    _check_split_by(split_by)
    if features not in ("raw", "561"):
        raise DataError(f"features={features!r}: expected 'raw' or '561'")
    root = _uci_har_root(Path(data_dir))
    parts = {}
    for part in ("train", "test"):
        if split in (part, "all") or (part == "train" and split == "val"):
            try:
                parts[part] = _read_uci_part(root, part, features)
            except MissingSplitError:
                if split != "all":
                    raise
    if not parts:
        raise MissingSplitError(f"{root}: neither train/ nor test/ present")
    if split in ("train", "val"):
        x, y, subjects = parts["train"]
        val = holdout_subjects(list(subjects), fraction=VAL_SUBJECT_FRACTION, seed=[seed, VAL_SEED_STREAM])
        keep = _select(split, subjects, [], val)
        x, y = x[keep], y[keep]
    else:
        x = np.concatenate([p[0] for p in parts.values()])
        y = np.concatenate([p[1] for p in parts.values()])
    return Dataset(torch.from_numpy(x), torch.from_numpy(y), classes=CLASSES, name="uci_har", split=split)


# ---------------------------------------------------------------- HAPT (raw recordings)


def segment_windows(length: int) -> int:
    """Windows of WINDOW_SAMPLES, step WINDOW_STEP, that fit in a segment of `length` samples."""
    return 0 if length < WINDOW_SAMPLES else (length - WINDOW_SAMPLES) // WINDOW_STEP + 1


def uci_har_channels(acc: np.ndarray, gyro: np.ndarray) -> np.ndarray:
    """Raw acc [T, 3] (g) and gyro [T, 3] (rad/s) at 50 Hz -> the 9 UCI HAR channels [9, T]."""
    from scipy.signal import butter, medfilt, sosfiltfilt

    noise_sos = butter(NOISE_FILTER_ORDER, NOISE_CUTOFF_HZ, btype="low", fs=SAMPLE_RATE_HZ, output="sos")
    gravity_sos = butter(
        GRAVITY_FILTER_ORDER, GRAVITY_CUTOFF_HZ, btype="low", fs=SAMPLE_RATE_HZ, output="sos"
    )

    def denoise(sig: np.ndarray) -> np.ndarray:
        med = np.stack([medfilt(sig[:, k], MEDIAN_KERNEL) for k in range(3)])
        return sosfiltfilt(noise_sos, med, axis=1)

    total_acc = denoise(acc.astype(np.float64))
    body_gyro = denoise(gyro.astype(np.float64))
    gravity = sosfiltfilt(gravity_sos, total_acc, axis=1)
    return np.concatenate([total_acc - gravity, body_gyro, total_acc]).astype(np.float32)


@lru_cache(maxsize=1)  # `check` loads three splits; parse and filter the recordings once
def _hapt_windows(path: str, stamp: tuple, skip: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    """All windows [N, 9, 128], labels 0..5, subjects, and the problems met (when skipping)."""
    bad = BadFiles("hapt", skip=skip, quiet=True)
    tree: FileTree = open_tree(path)
    members = tree.members()
    try:
        prefix = find_root(members, "RawData/labels.txt")
    except KeyError:
        raise DataError(f"{path}: no RawData/labels.txt (expected the UCI HAPT raw data)") from None
    labels_name = f"{prefix}RawData/labels.txt"
    recordings = {
        m.name
        for m in members
        if re.fullmatch(re.escape(prefix) + r"RawData/(acc|gyro)_exp\d+_user\d+\.txt", m.name)
    }
    contents = dict(tree.read(recordings | {labels_name}))
    try:
        segments = parse_table(contents[labels_name], 5, integer=True, low=1, high=LABEL_MAX).astype(np.int64)
        _check_segments(segments, contents[labels_name])
    except ValueError as err:
        raise DataError(f"{tree.where(labels_name)}: {err}") from None

    windows, labels, subjects = [], [], []
    for exp, user in sorted({(int(e), int(u)) for e, u, a, _, _ in segments if 1 <= a <= len(CLASSES)}):
        names = [f"{prefix}RawData/{kind}_exp{exp:02d}_user{user:02d}.txt" for kind in ("acc", "gyro")]
        try:
            arrays = []
            for name in names:
                if name not in contents:
                    raise _Bad(name, "missing (listed in labels.txt)")
                try:
                    arrays.append(parse_table(contents[name], 3, limit=SENSOR_LIMIT))
                except ValueError as err:
                    raise _Bad(name, str(err)) from None
            if len(arrays[0]) != len(arrays[1]):
                raise _Bad(names[1], f"{len(arrays[1])} samples but {names[0]} has {len(arrays[0])}")
        except _Bad as err:
            bad.add(tree.where(err.name), err.reason)
            continue
        channels = uci_har_channels(*arrays)
        for _, _, activity, start, end in segments[(segments[:, 0] == exp) & (segments[:, 1] == user)]:
            if not 1 <= activity <= len(CLASSES):
                continue
            first, stop = start - 1, min(end, channels.shape[1])  # 1-based inclusive -> [first, stop)
            for k in range(segment_windows(stop - first)):
                lo = first + k * WINDOW_STEP
                windows.append(channels[:, lo : lo + WINDOW_SAMPLES])
                labels.append(activity - 1)
                subjects.append(user)
    x = np.stack(windows) if windows else np.zeros((0, len(SIGNALS), WINDOW_SAMPLES), np.float32)
    return x, np.array(labels, np.int64), np.array(subjects, np.int64), tuple(bad.problems)


def _check_segments(segments: np.ndarray, data: bytes) -> None:
    """labels.txt rows (exp, user, activity, start, end): activity 1..12, start <= end."""
    for row, (_, _, activity, start, end) in enumerate(segments):
        if activity > N_ACTIVITIES_HAPT:
            raise ValueError(f"line {_line_number(data, row)}, column 3: activity {activity} is not 1..12")
        if end < start:
            raise ValueError(f"line {_line_number(data, row)}: segment end {end} is before its start {start}")


class _Bad(Exception):
    def __init__(self, name: str, reason: str):
        super().__init__(name, reason)
        self.name, self.reason = name, reason


def hapt_subject_split(subjects: list[int], seed: int) -> tuple[list[int], list[int]]:
    """(test subjects, val subjects) as described in the module docstring."""
    present = sorted(set(int(s) for s in subjects))
    test = [s for s in UCI_HAR_TEST_SUBJECTS if s in present]
    if not test:
        test = holdout_subjects(
            present, fraction=FALLBACK_TEST_SUBJECT_FRACTION, seed=[seed, TEST_SEED_STREAM]
        )
    rest = [s for s in present if s not in test]
    return test, holdout_subjects(rest, fraction=VAL_SUBJECT_FRACTION, seed=[seed, VAL_SEED_STREAM])


def _hapt_all(data_dir: Path, skip: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    path = Path(data_dir).resolve()
    if path.is_dir():  # a folder's own mtime misses edits to the files inside it
        stamp: tuple = tuple((m.name, m.size, m.mtime) for m in open_tree(path).members())
    else:
        stamp = (path.stat().st_size, path.stat().st_mtime_ns)
    return _hapt_windows(str(path), stamp, skip)


def hapt_subjects(data_dir: Path) -> np.ndarray:
    """The subject of every window of `load("hapt", data_dir, "all")`, in its order (for
    subject-wise cross-validation inside the training subjects, benchmarks/defaults_har_cv.py)."""
    return _hapt_all(data_dir, False)[2].copy()


def load_hapt(
    data_dir: Path, split: str, *, seed: int = 0, bad: BadFiles, split_by: str = "subject"
) -> Dataset:
    """HAPT raw recordings cut into UCI HAR windows [N, 9, 128] for one split."""
    check_split(split)
    _check_split_by(split_by)
    x, y, subjects, problems = _hapt_all(data_dir, bad.skip)
    for problem in problems:
        where, _, reason = problem.rpartition(": ")
        bad.add(where, reason)
    test, val = hapt_subject_split(list(subjects), seed)
    keep = _select(split, subjects, test, val)
    return Dataset(
        torch.from_numpy(x[keep]), torch.from_numpy(y[keep]), classes=CLASSES, name="hapt", split=split
    )
