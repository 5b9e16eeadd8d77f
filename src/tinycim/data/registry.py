"""Names -> loader modules, and the two uniform entry points `load` and `check`.

Each dataset module exposes `load(data_dir, split, *, seed, bad, **opts) -> Dataset`; modules are
imported only when used, so `import tinycim.data` stays cheap (librosa is slow to import).
"""

from __future__ import annotations

import importlib
import inspect
import stat
from dataclasses import dataclass
from pathlib import Path

import torch

from tinycim.data.dataset import SPLITS, BadFiles, CheckReport, Dataset, MissingSplitError, check_split
from tinycim.data.sources import file_kind
from tinycim.errors import ConfigError, DataError


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset: its name, the module holding its reader, a one-line summary and what
    the loader offers (see the fields)."""

    name: str
    module: str  # module under tinycim.data holding `load`
    summary: str
    needs_dir: bool = True  # False: data ships with a dependency (digits)
    # The digital input standardization a model of this data wants first (PlainCNN's `input_norm`):
    # "channel" (each input channel, e.g. HAR's 9 sensor signals) or "feature" (each entry of the last
    # axis). An MFCC image has one channel, so a per-channel norm would be one global scale, while its
    # coefficients differ by orders of magnitude (c0): speech_commands standardizes each coefficient.
    input_norm: str = "channel"
    # What to do about a degenerate split (an empty train split, a split missing classes), said in
    # the error and in `check`'s problems; "" when the dataset has no split option that helps.
    split_hint: str = ""


_DATASETS = {
    info.name: info
    for info in (
        DatasetInfo(
            "speech_commands",
            "speech_commands",
            "Speech Commands, 12-class KWS; MFCC [1,49,10]; .wav/.flac class folders or .tar.gz",
            input_norm="feature",
            split_hint="split it by speaker instead: --split-by speaker (split_by='speaker')",
        ),
        DatasetInfo("vww", "vww", "Visual Wake Words person/non_person; [3,96,96] in [0,1]"),
        DatasetInfo("cifar10", "cifar10", "CIFAR-10; [3,32,32] in [0,1]; binary, python or image layouts"),
        DatasetInfo("uci_har", "har", "UCI HAR Dataset; raw [9,128] signals or the 561 features"),
        DatasetInfo("hapt", "har", "UCI HAPT raw recordings cut into UCI HAR windows [9,128]"),
        DatasetInfo(
            "digits", "digits", "scikit-learn's bundled 8x8 digits; [1,8,8] in [0,1]", needs_dir=False
        ),
    )
}


def split_record(dataset: str, options: dict | None, seed: int) -> dict:
    """What a saved run records about its data (``save_run(extra=...)``): the dataset, the loader
    options and the seed that drew its split, so ``tinycim drift`` reloads the run's own held-out set."""
    return {"dataset": dataset, "data_options": dict(options or {}), "data_seed": int(seed)}


def list_datasets() -> list[str]:
    """Names accepted by `load` and `check` (and the CLI)."""
    return list(_DATASETS)


def dataset_info(name: str) -> DatasetInfo:
    """The `DatasetInfo` of a registered dataset; ConfigError naming the registered ones otherwise."""
    try:
        return _DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(_DATASETS)}") from None


def _loader(info: DatasetInfo):
    module = importlib.import_module(f"tinycim.data.{info.module}")
    return module.load_hapt if info.name == "hapt" else module.load


def dataset_options(name: str) -> list[str]:
    """The loader options dataset `name` accepts (keyword arguments of `load` besides seed)."""
    params = inspect.signature(_loader(dataset_info(name))).parameters
    return [k for k, p in params.items() if p.kind is p.KEYWORD_ONLY and k not in ("seed", "bad")]


def _check_options(info: DatasetInfo, opts: dict) -> None:
    allowed = dataset_options(info.name)
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{info.name}: unknown loader option(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(allowed) or 'none'}"
        )


def _resolve_dir(info: DatasetInfo, data_dir: str | Path | None) -> Path | None:
    if data_dir is None:
        if info.needs_dir:
            raise DataError(f"{info.name}: a data directory is required (tinycim never downloads data)")
        return None
    path = Path(data_dir).expanduser()
    try:
        mode = path.stat().st_mode
    except OSError:
        raise DataError(f"{path}: no such file or folder") from None
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):  # a FIFO named x.tar.gz would block a reader
        raise DataError(f"{path}: not a folder or regular file (a {file_kind(mode)})")
    return path


def _hint(info: DatasetInfo, opts: dict) -> str:
    return f"; {info.split_hint}" if info.split_hint and opts.get("split_by") in (None, "hash") else ""


def _check_finite(dataset: Dataset, where: str | Path) -> None:
    """Last guard after the readers' own checks: every input value finite (NaN never trains)."""
    x = dataset.x.flatten(1) if dataset.x.ndim > 1 else dataset.x[:, None]
    finite = torch.isfinite(x).all(dim=1)
    if not bool(finite.all()):
        first = int((~finite).nonzero()[0, 0])
        raise DataError(
            f"{where}: {dataset.name} {dataset.split} sample {first} holds NaN or inf "
            f"({int((~finite).sum())} samples in all)"
        )


def load(
    name: str,
    data_dir: str | Path | None = None,
    split: str = "train",
    *,
    seed: int = 0,
    skip_bad: bool = False,
    **opts,
) -> Dataset:
    """Load one split (`train`, `val`, `test` or `all`) of dataset `name` from `data_dir`.

    Never downloads. Bad files raise `DataError` naming the file, or with `skip_bad=True` are
    skipped with one `DataWarning` giving the count. `seed` fixes every random choice (splits,
    silence offsets, augmentation); dataset-specific options are documented in each module.
    """
    info = dataset_info(name)
    check_split(split)
    _check_options(info, opts)
    bad = BadFiles(name, skip=skip_bad)
    dataset = _loader(info)(_resolve_dir(info, data_dir), split, seed=seed, bad=bad, **opts)
    bad.finish()
    _check_finite(dataset, data_dir if data_dir is not None else name)
    if split == "train" and len(dataset) == 0:
        raise DataError(
            f"{data_dir if data_dir is not None else name}: the train split of {name} is empty; "
            f"nothing to train on{_hint(info, opts)}"
        )
    return dataset


def check(name: str, data_dir: str | Path | None = None, *, seed: int = 0, **opts) -> CheckReport:
    """Load every split, skipping bad files, and report counts per split and class and every problem.

    `opts` are the loader's options (e.g. `split_by="speaker"`), so the splits checked are the
    ones training would use. Problems (the report is not `ok`): bad files, no samples, a missing
    or empty train split, a train split the loader refuses, and a non-empty split missing some
    classes. Notes: a split the folder does not hold besides train (e.g. no test files) and an
    empty val or test split (too few samples to hold any out).
    """
    info = dataset_info(name)
    _check_options(info, opts)
    report = CheckReport(name=name, data_dir=str(data_dir))
    try:
        path = _resolve_dir(info, data_dir)
    except DataError as err:
        report.problems.append(str(err))
        return report
    bad = BadFiles(name, skip=True, quiet=True)
    missing: list[str] = []
    hint = _hint(info, opts)
    for split in SPLITS[:-1]:  # train, val, test; `all` is their union
        try:
            dataset = _loader(info)(path, split, seed=seed, bad=bad, **opts)
        except MissingSplitError as err:
            (report.problems if split == "train" else missing).append(str(err))
            continue
        except DataError as err:
            report.problems.append(str(err))
            continue
        try:
            _check_finite(dataset, path if path is not None else name)
        except DataError as err:
            report.problems.append(str(err))
        report.counts[split] = dataset.class_counts()
    report.problems.extend(p for p in bad.problems if p not in report.problems)
    if missing and not report.counts:
        report.problems.extend(missing)
    else:
        report.notes.extend(missing)
    if report.counts and not any(report.total(s) for s in report.counts):
        report.problems.append(f"{data_dir}: no samples found")
    elif "train" in report.counts and not report.total("train"):
        report.problems.append(f"train: empty split, nothing to train on{hint}")
    nonempty = [s for s in report.counts if report.total(s)]
    absent = [
        c
        for c in (next(iter(report.counts.values())) if report.counts else {})
        if nonempty and all(report.counts[s][c] == 0 for s in nonempty)
    ]
    if absent:
        report.problems.append(f"no samples of class(es) {', '.join(absent)} in any split")
    for split, counts in report.counts.items():
        if not report.total(split):
            if split != "train" and report.total("train"):
                report.notes.append(f"{split}: empty split (too few samples to hold any out)")
            continue
        empty = [c for c, n in counts.items() if n == 0 and c not in absent]
        if empty:
            report.problems.append(
                f"{split}: no samples of class(es) {', '.join(empty)} "
                f"({report.total(split)} samples of the others){hint}"
            )
    return report
