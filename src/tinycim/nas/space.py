"""The search-space interface every space implements, and helpers shared by all of them.

An architecture ("arch") is a plain JSON-able dict, so candidates persist as JSON and travel to Ray
workers without pickling model objects. Each space maps an arch to a fixed-length float vector
(``encode``) and back (``decode``), so surrogates see every candidate as one row of a feature matrix.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any, Sequence

import numpy as np
from torch import nn

from tinycim.errors import ConfigError

__all__ = [
    "Arch",
    "SearchSpace",
    "MUTATION_KINDS",
    "arch_key",
    "check_in",
    "choice",
    "nearest",
    "step_choice",
]

Arch = dict[str, Any]

#: Mutation families of AnalogNAS (Benmeziane et al. 2023): width (widening factor, branches, OC0),
#: depth (blocks, block type) and other (kernel size, stride, polarity).
MUTATION_KINDS = ("width", "depth", "other")


def arch_key(arch: Arch) -> str:
    """Canonical string of an arch (sorted keys, no spaces): its identity in the store and in dedup."""
    return json.dumps(arch, sort_keys=True, separators=(",", ":"))


def choice(rng: np.random.Generator, options: Sequence[Any]) -> Any:
    """One element of ``options`` drawn with ``rng`` (keeps the Python type, unlike ``rng.choice``)."""
    return options[int(rng.integers(len(options)))]


def step_choice(rng: np.random.Generator, options: Sequence[Any], current: Any) -> Any:
    """A neighbour of ``current`` in the ordered ``options`` (one step up or down), never ``current``.

    Small steps keep a mutant close to its parent, which is what makes evolution local search."""
    if len(options) < 2:
        return current
    i = list(options).index(current)
    moves = [j for j in (i - 1, i + 1) if 0 <= j < len(options)]
    return options[choice(rng, moves)]


class SearchSpace(ABC):
    """A family of networks for one task (input shape, number of classes).

    Subclasses define the genes; everything a search needs goes through these methods, so the search,
    surrogates and store never look inside an arch.
    """

    name: str = ""
    input_shape: tuple[int, ...]
    num_classes: int

    @property
    @abstractmethod
    def feature_names(self) -> list[str]:
        """Names of the ``encode`` vector's entries (its length is fixed for the space)."""

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Arch:
        """One arch drawn uniformly over the genes."""

    @abstractmethod
    def mutate(self, arch: Arch, rng: np.random.Generator, kind: str | None = None) -> Arch:
        """A new arch differing from ``arch`` by one ``kind`` mutation (random kind if None)."""

    @abstractmethod
    def validate(self, arch: Arch) -> None:
        """Raise ConfigError unless ``arch`` lies in the space."""

    @abstractmethod
    def encode(self, arch: Arch) -> np.ndarray:
        """Fixed-length float64 vector; unused slots (shallower archs) are zeros."""

    @abstractmethod
    def decode(self, vector: Sequence[float]) -> Arch:
        """Inverse of ``encode`` on encoded archs."""

    @abstractmethod
    def build(self, arch: Arch) -> nn.Module:
        """The torch model of ``arch`` (fresh, untrained)."""

    @abstractmethod
    def count_params(self, arch: Arch) -> int:
        """Parameter count without building the model (huge archs are rejected cheaply)."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """JSON-able description, stored with a search so a resume can check it is the same space."""

    def contains(self, arch: Arch) -> bool:
        try:
            self.validate(arch)
        except (ConfigError, KeyError, TypeError, ValueError):
            return False
        return True

    def _pick_kind(self, rng: np.random.Generator, kind: str | None) -> str:
        if kind is None:
            return choice(rng, MUTATION_KINDS)
        if kind not in MUTATION_KINDS:
            raise ConfigError(f"mutation kind {kind!r} unknown: allowed {MUTATION_KINDS}")
        return kind

    def mutate_new(
        self, arch: Arch, rng: np.random.Generator, kind: str | None = None, tries: int = 20
    ) -> Arch:
        """Like ``mutate`` but retries until the mutant differs from ``arch`` (a no-op mutation, e.g.
        shrinking an already minimal gene, wastes a slot). Returns ``arch`` if nothing changes."""
        key = arch_key(arch)
        for _ in range(tries):
            child = self.mutate(arch, rng, kind)
            if arch_key(child) != key:
                return child
        return arch


def check_in(owner: str, value: Any, options: Sequence[Any]) -> None:
    """ConfigError unless ``value`` is one of ``options``."""
    if value not in options:
        raise ConfigError(f"{owner} = {value!r} is not in the space: allowed {list(options)}")


def nearest(options: Sequence[Any], value: float) -> Any:
    """The option numerically closest to ``value`` (decode tolerates float round-off)."""
    return min(options, key=lambda o: abs(float(o) - float(value)))
