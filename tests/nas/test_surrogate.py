"""XGBoost surrogates: they learn a ranking, and cross-validated Kendall tau is computed on held-out rows."""

from __future__ import annotations

import numpy as np
import pytest

from tinycim.errors import ConfigError
from tinycim.nas import Surrogate, SyntheticEvaluator, cross_val_tau, features, kendall_tau


def _dataset(space, n=80, seed=0):
    rng = np.random.default_rng(seed)
    ev = SyntheticEvaluator(space, noise=0.2)
    archs = [space.sample(rng) for _ in range(n)]
    X = np.stack([features(space, a, ev.static(a)) for a in archs])
    metrics = [ev({"arch": a, "seed": 0}) for a in archs]
    return X, {k: [m[k] for m in metrics] for k in ("acc_1d", "avm", "std_1d")}


def test_surrogate_ranks_held_out_candidates(tiny_space):
    X, targets = _dataset(tiny_space)
    tau = cross_val_tau(X, targets, folds=5, seed=0)
    assert tau["acc_1d"] >= 0.7  # accuracy tracks capacity: the ranker must find that
    assert set(tau) == {"acc_1d", "avm", "std_1d"}


def test_surrogate_fit_predict_shapes_and_determinism(tiny_space):
    X, targets = _dataset(tiny_space, n=30)
    a = Surrogate(seed=3).fit(X, targets).predict(X[:5])
    b = Surrogate(seed=3).fit(X, targets).predict(X[:5])
    assert {k: v.shape for k, v in a.items()} == {"acc_1d": (5,), "avm": (5,), "std_1d": (5,)}
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    reg = Surrogate(seed=3, ranker=False).fit(X, targets).predict(X)
    assert kendall_tau(targets["acc_1d"], reg["acc_1d"]) > 0.8  # in-sample regressor sanity


def test_ranker_orders_the_whole_list_not_only_its_top():
    """The search needs a global order of ~100 mutants; XGBoost's default pairing (top-k of the group)
    learned only the top: held-out tau 0.57 on this task, against 0.89 with pairs over the whole list."""
    rng = np.random.default_rng(0)
    X = rng.random((160, 6))
    y = 3 * X[:, 0] + X[:, 1] + 0.1 * rng.standard_normal(160)
    zeros = {"avm": np.zeros(120), "std_1d": np.zeros(120)}
    model = Surrogate(seed=0).fit(X[:120], {"acc_1d": y[:120], **zeros})
    assert kendall_tau(y[120:], model.predict(X[120:])["acc_1d"]) >= 0.8


def test_kendall_tau_edge_cases():
    assert kendall_tau([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert np.isnan(kendall_tau([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ConfigError):
        cross_val_tau(np.zeros((4, 2)), {"acc_1d": [1, 2, 3, 4], "avm": [0] * 4, "std_1d": [0] * 4})


def test_cross_val_tau_scores_only_the_held_out_rows(tiny_space):
    """held_out: only masked rows are predicted and scored; the rest always train. Scoring on rows
    whose labels were scrambled gives ~0, while the same rows with true labels rank well: the mask
    decides what is scored, not what is trained on."""
    X, targets = _dataset(tiny_space)
    everything = cross_val_tau(X, targets, folds=5, seed=0)
    assert cross_val_tau(X, targets, folds=5, seed=0, held_out=[True] * len(X)) == everything
    mask = np.arange(len(X)) < 40
    clean = cross_val_tau(X, targets, folds=5, seed=0, held_out=mask)
    scrambled = {k: list(v) for k, v in targets.items()}
    scrambled["acc_1d"][:40] = list(np.random.default_rng(1).permutation(scrambled["acc_1d"][:40]))
    noise = cross_val_tau(X, scrambled, folds=5, seed=0, held_out=mask)
    assert clean["acc_1d"] >= 0.6 and abs(noise["acc_1d"]) < 0.3
    with pytest.raises(ConfigError, match="held_out has shape"):
        cross_val_tau(X, targets, held_out=[True, False])
    with pytest.raises(ConfigError, match="at least 10 held-out"):
        cross_val_tau(X, targets, held_out=np.arange(len(X)) < 6)
