"""Google Speech Commands (v0.01/v0.02) as 12-class MLPerf Tiny keyword spotting MFCCs.

Input: class folders of 1-s 16 kHz mono `.wav` or `.flac` clips (`<dir>/<word>/<speaker>_nohash_<n>.wav`),
or the original `.tar.gz`. Classes: the ten words `yes no up down left right on off stop go`,
`_silence_` and `_unknown_` (every other word folder, and a folder literally named `_unknown_`).

Splits: `validation_list.txt` / `testing_list.txt` when present (everything else is train), else
the dataset README's `which_set` hash of the speaker id (10 % val, 10 % test), so one speaker's
clips never straddle splits; or, with `split_by="speaker"`, a seeded 80/10/10 hold-out of the
speakers present (see `assign_splits`). `all` is every clip present.

The canonical test set (`speech_commands_test_set_v0.02`: class folders including `_silence_` and
`_unknown_`, no list files; see `is_canonical_test_set`) is recognised: by hash it is all `test`
(its speakers all hash there), so `train`/`val` raise `MissingSplitError` saying to split it
with `split_by="speaker"` (`--split-by speaker`). A `train` split without any word clip (e.g. a
folder of test speakers, leaving only `_silence_`) is refused with the same advice, rather than
training a silence detector.

Silence: a `_silence_` folder of clips when present; otherwise 1-s chunks cut from the
`_background_noise_` recordings (in the dataset, or `noise_dir=`): per split, 10 % as many
silence clips as word clips (TF `train.py --silence_percentage` default), each from a seeded
offset in a split-specific region of a noise file (first 80 % of each recording for train,
next 10 % val, last 10 % test) so no noise sample is shared between splits. Chunks are used at
full recorded volume (as TFDS does). Without either source, `_silence_` has no samples.

Output: `x` float32 [N, 1, 49, 10] MFCCs (frames x coefficients; see `audio_features.MfccParams`),
un-normalised (log-mel in dB through an orthonormal DCT-II: c0 is roughly -500..+100, the others
tens): normalise in the model (e.g. BatchNorm) or with train-split statistics. `y` int64 in [0, 12).

Features of the un-augmented clips are cached (see `cache.py`); `augment=True` instead
decodes the raw audio again and applies a random time shift (up to 100 ms) and background-noise
mixing (probability 0.8, volume uniform in [0, 0.1)), the TF `train.py` defaults, drawn from the
`generator` (a `torch.Generator`; default: seeded with `seed`). Augmented features are one draw,
not cached: load again with another seed for another epoch's draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tinycim.data.audio_features import MfccParams, decode_clip, fit_clip, mfcc_batch
from tinycim.data.cache import cache_key, default_cache_dir, load_arrays, save_arrays
from tinycim.data.dataset import BadFiles, Dataset, MissingSplitError, check_split
from tinycim.data.sources import FileTree, Member, open_tree
from tinycim.data.speech_augment import augment_clips
from tinycim.data.speech_splits import (  # re-exported: the reader's split assignment
    MAX_NUM_WAVS_PER_CLASS as MAX_NUM_WAVS_PER_CLASS,
)
from tinycim.data.speech_splits import SPLIT_CODES as SPLIT_CODES
from tinycim.data.speech_splits import TESTING_PERCENTAGE as TESTING_PERCENTAGE
from tinycim.data.speech_splits import UNKNOWN as UNKNOWN
from tinycim.data.speech_splits import VALIDATION_PERCENTAGE as VALIDATION_PERCENTAGE
from tinycim.data.speech_splits import assign_splits as assign_splits
from tinycim.data.speech_splits import is_canonical_test_set as is_canonical_test_set
from tinycim.data.speech_splits import speaker_id as speaker_id
from tinycim.data.speech_splits import which_set as which_set
from tinycim.data.speech_augment import (
    mix_augmented as mix_augmented,
)  # re-export (the reader's augmentation)
from tinycim.data.speech_augment import spec_augment as spec_augment  # re-export
from tinycim.errors import DataError

NAME = "speech_commands"
WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
SILENCE = "_silence_"
CLASSES = [*WORDS, SILENCE, UNKNOWN]
NOISE_FOLDER = "_background_noise_"
AUDIO_SUFFIXES = (".wav", ".flac")
VALIDATION_LIST = "validation_list.txt"
TESTING_LIST = "testing_list.txt"

# TF tensorflow/examples/speech_commands/train.py defaults.
SILENCE_PERCENTAGE = 10.0
NOISE_REGIONS = {"train": (0.0, 0.8), "val": (0.8, 0.9), "test": (0.9, 1.0)}

SPLIT_HINT = "split it by speaker instead: --split-by speaker (split_by='speaker')"
DECODE_CHUNK_CLIPS = 2048  # clips decoded before each MFCC call: bounds memory to ~130 MB


def class_of(folder: str) -> int:
    if folder in WORDS:
        return CLASSES.index(folder)
    if folder == SILENCE:
        return CLASSES.index(SILENCE)
    return CLASSES.index(UNKNOWN)


@dataclass
class _Layout:
    clips: list[Member]  # word/silence/unknown clips, sorted by name
    noise: list[Member]  # _background_noise_ recordings
    lists: dict[str, Member]  # validation/testing list files found


def _scan(members: list[Member]) -> _Layout:
    clips: list[Member] = []
    noise: list[Member] = []
    lists: dict[str, Member] = {}
    for m in members:
        parts = m.name.split("/")
        if parts[-1] in (VALIDATION_LIST, TESTING_LIST):
            if parts[-1] not in lists or len(m.name) < len(lists[parts[-1]].name):
                lists[parts[-1]] = m
            continue
        if len(parts) < 2 or parts[-1].startswith(".") or not parts[-1].lower().endswith(AUDIO_SUFFIXES):
            continue
        (noise if parts[-2] == NOISE_FOLDER else clips).append(m)
    return _Layout(sorted(clips, key=lambda m: m.name), sorted(noise, key=lambda m: m.name), lists)


def _list_key(path: str) -> str:
    """`word/file` without extension: list entries say .wav even when the clips are .flac."""
    parts = path.strip().split("/")
    return "/".join(parts[-2:]).rsplit(".", 1)[0]


def _listed_splits(tree: FileTree, layout: _Layout) -> np.ndarray:
    """Per clip: the split code from the validation/testing lists, or -1 everywhere if no lists."""
    if not layout.lists:
        return np.full(len(layout.clips), -1, dtype=np.int8)
    listed: dict[str, str] = {}
    contents = dict(tree.read([m.name for m in layout.lists.values()]))
    for fname, split in ((VALIDATION_LIST, "val"), (TESTING_LIST, "test")):
        if fname in layout.lists:
            text = contents[layout.lists[fname].name].decode("utf-8", errors="replace")
            listed.update({_list_key(line): split for line in text.splitlines() if line.strip()})
    return np.array(
        [SPLIT_CODES.index(listed.get(_list_key(m.name), "train")) for m in layout.clips], dtype=np.int8
    )


def _decode_all(tree: FileTree, names: list[str], params: MfccParams) -> tuple[np.ndarray, list[str]]:
    """Decode and MFCC `names` in chunks. Returns features [N, frames, coeffs] and per-clip errors."""
    index = {n: i for i, n in enumerate(names)}
    feats = np.zeros((len(names), *params.feature_shape), dtype=np.float32)
    errors = [""] * len(names)
    buf = np.zeros((min(DECODE_CHUNK_CLIPS, max(1, len(names))), params.clip_samples), dtype=np.float32)
    pending: list[int] = []

    def flush() -> None:
        if pending:
            feats[pending] = mfcc_batch(buf[: len(pending)], params)
            pending.clear()

    for name, data in tree.read(names):
        i = index[name]
        try:
            samples = decode_clip(data, params.sample_rate_hz)
        except ValueError as err:
            errors[i] = str(err)
            continue
        buf[len(pending)] = fit_clip(samples, params.clip_samples)
        pending.append(i)
        if len(pending) == len(buf):
            flush()
    flush()
    return feats, errors


def _valid_entry(arrays: dict[str, np.ndarray], params: MfccParams) -> bool:
    """Whether a cache entry holds what `_index_and_features` writes (else it is recomputed)."""
    try:
        names, labels, listed = arrays["names"], arrays["labels"], arrays["listed"]
        feats, errors = arrays["features"], arrays["errors"]
        n = len(names)
        return (
            names.dtype.kind == "U"
            and errors.dtype.kind == "U"
            and len(errors) == n
            and labels.dtype == np.int64
            and labels.shape == (n,)
            and bool(np.all((labels >= 0) & (labels < len(CLASSES))))
            and listed.shape == (n,)
            and bool(np.all((listed >= -1) & (listed < len(SPLIT_CODES))))
            and feats.dtype == np.float32
            and feats.shape == (n, *params.feature_shape)
            and bool(np.isfinite(feats).all())
            and all(
                arrays[k].dtype == np.float32 and arrays[k].ndim == 1
                for k in arrays
                if k.startswith("noise_") and k != "noise_errors"
            )
            and ("noise_errors" not in arrays or arrays["noise_errors"].shape[1:] == (2,))
        )
    except (KeyError, AttributeError, TypeError, ValueError):
        return False


def _index_and_features(tree: FileTree, params: MfccParams, cache_dir: Path | None) -> dict[str, np.ndarray]:
    """Clip names, labels, splits, MFCCs and decode errors for every clip, from cache if possible."""
    if tree.is_archive:
        st = tree.path.stat()
        identity: object = [tree.path.name, st.st_size, st.st_mtime_ns]
        members = None
    else:
        members = tree.members()
        identity = [
            [m.name, m.size, m.mtime] for m in members if m.name.lower().endswith(AUDIO_SUFFIXES + (".txt",))
        ]
    key = cache_key(
        {"dataset": NAME, "mfcc": params.as_key(), "path": str(tree.path.resolve()), "files": identity}
    )
    path = (cache_dir or default_cache_dir()) / NAME / f"mfcc-{key}.npz"
    cached = load_arrays(path)
    if cached is not None and _valid_entry(cached, params):
        return cached

    layout = _scan(members if members is not None else tree.members())
    if not layout.clips:
        raise DataError(
            f"{tree.path}: no .wav/.flac clips in class folders (expected <dir>/<word>/<clip>.wav)"
        )
    names = [m.name for m in layout.clips]
    feats, errors = _decode_all(tree, names, params)
    arrays = {
        "names": np.array(names),
        "labels": np.array([class_of(n.split("/")[-2]) for n in names], dtype=np.int64),
        "listed": _listed_splits(tree, layout),
        "features": feats,
        "errors": np.array(errors),
    }
    if tree.is_archive:  # keep the noise so a cached load never re-reads the archive
        noise = dict(tree.read([m.name for m in layout.noise]))
        noise_errors: list[list[str]] = []
        for j, m in enumerate(layout.noise):
            try:
                arrays[f"noise_{j}"] = decode_clip(noise[m.name], params.sample_rate_hz)
            except ValueError as err:  # reported by _noise_recordings, from the cache too
                noise_errors.append([tree.where(m.name), str(err)])
        arrays["noise_errors"] = np.array(noise_errors, dtype=str).reshape(-1, 2)  # [k, (where, reason)]
    try:
        save_arrays(path, arrays)
    except OSError:
        pass  # an unwritable cache only costs time
    return arrays


def _noise_recordings(
    tree: FileTree, arrays: dict[str, np.ndarray], noise_dir: Path | None, params: MfccParams, bad: BadFiles
) -> list[np.ndarray]:
    """The background-noise recordings, float32 mono, from `noise_dir`, the folder or the cache."""
    if noise_dir is None and tree.is_archive:
        for where, reason in arrays.get("noise_errors", np.zeros((0, 2), dtype=str)).tolist():
            bad.add(where, reason)
        return [arrays[k] for k in sorted(arrays) if k.startswith("noise_") and k != "noise_errors"]
    if noise_dir is None:
        if not (tree.path / NOISE_FOLDER).is_dir():
            return []
        noise_dir = tree.path / NOISE_FOLDER
    source = open_tree(noise_dir)
    members = [m for m in source.members() if m.name.lower().endswith(AUDIO_SUFFIXES)]
    _report_irregular(source, bad)
    out = []
    for name, data in source.read([m.name for m in members]):
        try:
            out.append(decode_clip(data, params.sample_rate_hz))
        except ValueError as err:
            bad.add(source.where(name), str(err))
    return [r for r in out if len(r) >= params.clip_samples]


def _report_irregular(tree: FileTree, bad: BadFiles) -> None:
    """Audio-named entries that are FIFOs, sockets, devices or broken links: never read."""
    for name in tree.irregular:
        if name.lower().endswith(AUDIO_SUFFIXES + (".txt",)):
            bad.add(tree.where(name), "not a regular file (FIFO, socket, device or broken link); not read")


def _silence_clips(
    noise: list[np.ndarray], counts: dict[str, int], seed: int, params: MfccParams
) -> np.ndarray:
    """1-s chunks at seeded offsets inside each split's region of the noise recordings."""
    chunks = []
    for split, count in counts.items():
        rng = np.random.default_rng([seed, SPLIT_CODES.index(split)])
        lo, hi = NOISE_REGIONS[split]
        for k in range(count):
            rec = noise[k % len(noise)]
            first = int(lo * len(rec))
            last = max(first, int(hi * len(rec)) - params.clip_samples)
            start = int(rng.integers(first, last + 1))
            chunks.append(fit_clip(rec[start:], params.clip_samples))
    return np.stack(chunks) if chunks else np.zeros((0, params.clip_samples), dtype=np.float32)


def load(
    data_dir: str | Path,
    split: str,
    *,
    seed: int = 0,
    bad: BadFiles,
    feature_params: MfccParams | None = None,
    cache_dir: str | Path | None = None,
    noise_dir: str | Path | None = None,
    silence_percentage: float = SILENCE_PERCENTAGE,
    split_by: str = "hash",
    augment: bool = False,
    generator: torch.Generator | None = None,
) -> Dataset:
    """Speech Commands MFCCs [N, 1, 49, 10] for one split (see the module docstring)."""
    check_split(split)
    params = feature_params or MfccParams()
    tree = open_tree(data_dir)
    arrays = _index_and_features(tree, params, Path(cache_dir).expanduser() if cache_dir else None)
    _report_irregular(tree, bad)
    names, labels, errors = arrays["names"], arrays["labels"], arrays["errors"]
    name_list = [str(n) for n in names]
    splits = assign_splits(name_list, arrays["listed"], split_by, seed)
    if (
        split in ("train", "val")
        and split_by == "hash"
        and is_canonical_test_set(name_list, arrays["listed"])
    ):
        raise MissingSplitError(
            f"{tree.path}: the canonical Speech Commands test set (a _unknown_ folder, no "
            f"validation/testing lists) is all 'test' and has no {split} split; {SPLIT_HINT}"
        )
    wanted = SPLIT_CODES if split == "all" else (split,)
    in_split = np.isin(splits, [SPLIT_CODES.index(s) for s in wanted])
    for i in np.flatnonzero(in_split & (errors != "")):
        bad.add(tree.where(str(names[i])), str(errors[i]))
    keep = np.flatnonzero(in_split & (errors == ""))
    silence_idx = CLASSES.index(SILENCE)
    if split == "train" and not np.any(labels[keep] != silence_idx):
        _refuse_wordless_train(tree.path, labels[keep], split_by, int(np.sum(in_split)))

    x = arrays["features"][keep]
    y = labels[keep]
    noise: list[np.ndarray] = []
    need_noise = augment or not np.any(labels == silence_idx)
    if need_noise:
        noise_path = Path(noise_dir).expanduser() if noise_dir else None
        noise = _noise_recordings(tree, arrays, noise_path, params, bad)
    silence = np.zeros((0, params.clip_samples), dtype=np.float32)
    if not np.any(labels == silence_idx) and noise:
        counts = {
            s: math.ceil(
                silence_percentage / 100.0 * int(np.sum((splits == SPLIT_CODES.index(s)) & (errors == "")))
            )
            for s in wanted
        }
        silence = _silence_clips(noise, counts, seed, params)

    if augment:
        gen = generator if generator is not None else torch.Generator().manual_seed(seed)
        raw = _raw_clips(tree, [str(n) for n in names[keep]], params)
        clips = augment_clips(np.concatenate([raw, silence]), noise, gen, params.sample_rate_hz)
        x = mfcc_batch(clips, params)
    elif len(silence):
        x = np.concatenate([x, mfcc_batch(silence, params)])
    y = np.concatenate([y, np.full(len(silence), silence_idx, dtype=np.int64)])
    return Dataset(
        torch.from_numpy(np.ascontiguousarray(x)).unsqueeze(1),
        torch.from_numpy(y),
        classes=CLASSES,
        name=NAME,
        split=split,
    )


def _refuse_wordless_train(path: Path, kept: np.ndarray, split_by: str, in_split: int) -> None:
    """A train split with no word or unknown clip would train a silence detector: refuse it."""
    held = f"only {len(kept)} {SILENCE} clips" if len(kept) else "no clips"
    if in_split > len(kept):
        held += f" ({in_split - len(kept)} unreadable)"
    if split_by == "hash":
        raise DataError(
            f"{path}: the train split holds {held} and no word clip: its speakers all hash to "
            f"val/test (e.g. a copy of the test set); {SPLIT_HINT}"
        )
    raise DataError(
        f"{path}: the train split holds {held} and no word clip (split_by={split_by!r}); "
        "expected class folders of word clips (<dir>/<word>/<speaker>_nohash_<n>.wav)"
    )


def _raw_clips(tree: FileTree, names: list[str], params: MfccParams) -> np.ndarray:
    """Decoded, padded/cropped clips [N, clip_samples] in the order of `names` (all known good)."""
    index = {n: i for i, n in enumerate(names)}
    out = np.zeros((len(names), params.clip_samples), dtype=np.float32)
    for name, data in tree.read(names):
        out[index[name]] = fit_clip(decode_clip(data, params.sample_rate_hz), params.clip_samples)
    return out
