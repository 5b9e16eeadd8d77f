"""Which split each Speech Commands clip belongs to: the README's speaker hash (`which_set`), the
validation/testing lists when the folder ships them, the canonical test set as a whole, or a seeded
hold-out of speakers (`split_by="speaker"`). `tinycim.data.speech_commands` reads the clips."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np

from tinycim.errors import DataError

UNKNOWN = "_unknown_"  # the canonical test set's folder of non-keyword clips (a class of the reader)
# Speech Commands README, `which_set`: hash of the speaker id, percentages of the 2**27 - 1 range.
MAX_NUM_WAVS_PER_CLASS = 2**27 - 1
VALIDATION_PERCENTAGE = 10.0
TESTING_PERCENTAGE = 10.0
SPLIT_CODES = ("train", "val", "test")  # how the per-clip split is stored in the cache


def speaker_id(filename: str) -> str:
    """The part of the basename before `_nohash_` (the README's hash name).

    Files named `<word>_<speaker>_nohash_<n>` (the canonical test set's `_unknown_` folder) drop
    the `<word>_` prefix, so a speaker is hashed the same in every class folder.
    """
    hash_name = re.sub(r"_nohash_.*$", "", Path(filename).name)
    return hash_name.rsplit("_", 1)[-1] if "_nohash_" in Path(filename).name else hash_name


def which_set(
    filename: str,
    validation_percentage: float = VALIDATION_PERCENTAGE,
    testing_percentage: float = TESTING_PERCENTAGE,
) -> str:
    """'train', 'val' or 'test' for a clip, as the Speech Commands README's `which_set`."""
    hashed = hashlib.sha1(speaker_id(filename).encode("utf-8")).hexdigest()
    percentage_hash = (int(hashed, 16) % (MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / MAX_NUM_WAVS_PER_CLASS)
    if percentage_hash < validation_percentage:
        return "val"
    if percentage_hash < validation_percentage + testing_percentage:
        return "test"
    return "train"


def is_canonical_test_set(names: list[str], listed: np.ndarray) -> bool:
    """True for the canonical Speech Commands test set: a literal `_unknown_` class folder and no
    validation/testing lists. The full dataset names unknown words by their own folders
    (`backward/`, `marvin/`, ...) and ships the lists; the test set's builder instead gathers
    them in `_unknown_/<word>_<speaker>_nohash_<n>.wav` next to `_silence_/`."""
    if len(listed) and listed[0] >= 0:
        return False
    return any(n.split("/")[-2:-1] == [UNKNOWN] for n in names)


def assign_splits(names: list[str], listed: np.ndarray, split_by: str, seed: int) -> np.ndarray:
    """Split code (index into SPLIT_CODES) per clip.

    The lists win when present. Otherwise `split_by="hash"` is the README's `which_set`
    (seed-independent, the dataset's own split), except on the canonical test set, which is
    `test` as a whole (`is_canonical_test_set`); `split_by="speaker"` shuffles the distinct
    speakers with `seed` and holds out 10 % for val and 10 % for test: use it on a folder whose
    speakers all hash to one split, e.g. the canonical test set.
    """
    if split_by not in ("hash", "speaker"):
        raise DataError(f"split_by={split_by!r}: expected 'hash' or 'speaker'")
    if len(listed) and listed[0] >= 0:
        return listed
    if split_by == "hash":
        if is_canonical_test_set(names, listed):
            return np.full(len(names), SPLIT_CODES.index("test"), dtype=np.int8)
        return np.array([SPLIT_CODES.index(which_set(n)) for n in names], dtype=np.int8)
    speakers = [speaker_id(n) for n in names]
    distinct = sorted(set(speakers))
    order = np.random.default_rng(seed).permutation(len(distinct))
    n_val = int(round(len(distinct) * VALIDATION_PERCENTAGE / 100))
    n_test = int(round(len(distinct) * TESTING_PERCENTAGE / 100))
    code = {}
    for rank, j in enumerate(order):
        code[distinct[j]] = 1 if rank < n_val else 2 if rank < n_val + n_test else 0
    return np.array([code[s] for s in speakers], dtype=np.int8)
