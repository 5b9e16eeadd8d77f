"""Deterministic train/val/test partitions: stratified by class, or held out by subject.

All randomness comes from `numpy.random.default_rng(seed)`; the global RNG is never touched.
"""

from __future__ import annotations

import numpy as np


def stratified_split(
    labels: np.ndarray, *, seed: int, val_fraction: float, test_fraction: float
) -> dict[str, np.ndarray]:
    """Sample indices per split, the same fraction of every class in each, sorted ascending.

    Each class is shuffled with the seeded generator; its first `round(n*test_fraction)` samples go
    to test, the next `round(n*val_fraction)` to val, the rest to train. `all` is every index.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n_test = int(round(len(idx) * test_fraction))
        n_val = int(round(len(idx) * val_fraction))
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    out = {k: np.sort(np.concatenate(v)) if v else np.zeros(0, dtype=np.int64) for k, v in parts.items()}
    out["all"] = np.arange(len(labels))
    return out


def holdout_subjects(subjects: list[int], *, fraction: float, seed: int | list[int]) -> list[int]:
    """A seeded choice of `max(1, round(fraction * len(subjects)))` subjects, sorted (empty if <2)."""
    subjects = sorted(set(int(s) for s in subjects))
    if len(subjects) < 2:
        return []
    n = min(len(subjects) - 1, max(1, int(round(fraction * len(subjects)))))
    rng = np.random.default_rng(seed)
    return sorted(int(s) for s in rng.choice(subjects, size=n, replace=False))
