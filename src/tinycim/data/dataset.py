"""The object every loader returns, the split names, and the bad-file policy they share."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
from torch.utils.data import TensorDataset

from tinycim.errors import DataError

SPLITS = ("train", "val", "test", "all")
"""`all` is every sample present in the folder, whatever split it would belong to."""


class DataWarning(UserWarning):
    """Files were skipped because the user asked for `skip_bad=True`."""


class MissingSplitError(DataError):
    """The folder holds no data for the requested split (e.g. only `train/` exists)."""


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    return split


class Dataset(TensorDataset):
    """A `TensorDataset` of (x float32, y int64) plus what a model needs to know about it.

    Attributes: `x` [N, *input_shape] float32, `y` [N] int64 class indices into `classes`,
    `classes` (class names), `name` (registry name), `split`, `input_shape` (without batch).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, *, classes: list[str], name: str, split: str):
        x = torch.as_tensor(x, dtype=torch.float32)
        y = torch.as_tensor(y, dtype=torch.int64)
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"{name}: {x.shape[0]} inputs but {y.shape[0]} labels")
        super().__init__(x, y)
        self.classes = list(classes)
        self.name = name
        self.split = split

    @property
    def x(self) -> torch.Tensor:
        return self.tensors[0]

    @property
    def y(self) -> torch.Tensor:
        return self.tensors[1]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def class_counts(self) -> dict[str, int]:
        counts = torch.bincount(self.y, minlength=len(self.classes)).tolist()
        return dict(zip(self.classes, counts))

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, split={self.split!r}, n={len(self)}, "
            f"input_shape={self.input_shape}, classes={len(self.classes)})"
        )


class BadFiles:
    """What to do with a truncated, empty or wrongly shaped file.

    Strict (the default): raise a `DataError` naming the file at once. With `skip=True` the file
    is recorded and skipped, and `finish()` emits one `DataWarning` with the count (unless `quiet`,
    which `check` uses because it reports the problems itself).
    """

    def __init__(self, dataset: str, *, skip: bool = False, quiet: bool = False):
        self.dataset = dataset
        self.skip = skip
        self.quiet = quiet
        self.problems: list[str] = []

    def add(self, where: str, reason: str) -> None:
        message = f"{where}: {reason}"
        if not self.skip:
            raise DataError(message)
        if message not in self.problems:
            self.problems.append(message)

    def finish(self) -> None:
        if self.problems and not self.quiet:
            warnings.warn(
                f"{self.dataset}: skipped {len(self.problems)} bad file(s); first: {self.problems[0]}",
                DataWarning,
                stacklevel=3,
            )


@dataclass
class CheckReport:
    """What `tinycim.data.check` found: sample counts per split and class, and every problem.

    `problems` are things that are wrong (unreadable files, wrong shapes, missing data);
    `notes` are facts worth knowing that are not errors (e.g. no `test/` folder present).
    """

    name: str
    data_dir: str
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def total(self, split: str) -> int:
        return sum(self.counts.get(split, {}).values())
