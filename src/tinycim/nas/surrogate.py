"""Gradient-boosted-tree surrogates (AnalogNAS): rank 1-day accuracy, regress AVM and its std.

AnalogNAS found XGBoost ahead of MLPs (Kendall tau 0.98 vs 0.85-0.89) on this kind of small tabular
data. The accuracy model is a pairwise ranker (``XGBRanker``, ``rank:pairwise``), because the search
only needs the order of candidates; AVM and std get regressors because the AVM constraint compares
against an absolute threshold. ``nthread=1`` and a fixed seed keep the fits deterministic.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from tinycim.errors import ConfigError

__all__ = ["Surrogate", "kendall_tau", "cross_val_tau", "TARGETS"]

#: What the surrogate models: metric name -> "rank" (XGBRanker) or "regress" (XGBRegressor).
TARGETS = {"acc_1d": "rank", "avm": "regress", "std_1d": "regress"}


def kendall_tau(truth: Sequence[float] | np.ndarray, pred: Sequence[float] | np.ndarray) -> float:
    """Kendall's tau-b between measured and predicted values (nan if either is constant)."""
    from scipy.stats import kendalltau

    a, b = np.asarray(truth, float), np.asarray(pred, float)
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(kendalltau(a, b).statistic)


class Surrogate:
    """One model per target of :data:`TARGETS`; ``fit(X, targets)``, ``predict(X) -> {name: [N]}``."""

    def __init__(
        self,
        seed: int = 0,
        n_estimators: int = 200,
        max_depth: int = 3,
        learning_rate: float = 0.1,
        ranker: bool = True,
    ):
        self.seed, self.ranker = int(seed), ranker
        self.params = dict(
            n_estimators=n_estimators,
            max_depth=max_depth,
            learning_rate=learning_rate,
            subsample=0.9,
            colsample_bytree=0.9,
            min_child_weight=1.0,
            random_state=self.seed,
            n_jobs=1,
            tree_method="hist",
        )
        self.models: dict[str, Any] = {}

    def _model(self, kind: str) -> Any:
        import xgboost as xgb

        if kind == "rank" and self.ranker:
            # Pairs drawn across the whole list ("mean"): XGBoost >= 2's default ("topk") pairs only the
            # top of each group, which orders the best few and leaves the rest of the list unranked; on
            # the KWS search's 216 candidates it cut held-out tau from 0.73 to 0.62 (docs/nas.md).
            return xgb.XGBRanker(
                objective="rank:pairwise",
                lambdarank_pair_method="mean",
                lambdarank_num_pair_per_sample=8,
                **self.params,
            )
        return xgb.XGBRegressor(objective="reg:squarederror", **self.params)

    def fit(self, X: np.ndarray, targets: Mapping[str, Sequence[float] | np.ndarray]) -> Surrogate:
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or len(X) < 2:
            raise ConfigError(f"surrogate needs at least 2 rows of features, got shape {X.shape}")
        self.models = {}
        for name, kind in TARGETS.items():
            y = np.asarray(targets[name], dtype=float)
            keep = np.isfinite(y)
            if keep.sum() < 2:
                continue
            model = self._model(kind)
            if kind == "rank" and self.ranker:
                # One query group: every candidate is compared with every other of the same task.
                model.fit(X[keep], y[keep], qid=np.zeros(int(keep.sum()), dtype=int))
            else:
                model.fit(X[keep], y[keep])
            self.models[name] = model
        return self

    def predict(self, X: np.ndarray) -> dict[str, np.ndarray]:
        """Scores per target; the ranker's accuracy score orders candidates but is not an accuracy."""
        X = np.asarray(X, dtype=float)
        return {name: np.asarray(m.predict(X), dtype=float) for name, m in self.models.items()}


def cross_val_tau(
    X: np.ndarray,
    targets: Mapping[str, Sequence[float]],
    folds: int = 5,
    seed: int = 0,
    held_out: Sequence[bool] | None = None,
    **kwargs: Any,
) -> dict[str, float]:
    """Kendall tau of each target on held-out candidates: ``folds``-fold cross-validation, each
    candidate predicted by a surrogate that never saw it; the held-out predictions are pooled.

    ``held_out`` (a mask over the rows): only these rows are split into folds and scored; the others
    always train (e.g. score on a uniform sample of the space while the search's mutants, which crowd
    around its best region, only add training data)."""
    X = np.asarray(X, dtype=float)
    n = len(X)
    mask = np.ones(n, bool) if held_out is None else np.asarray(held_out, bool)
    if mask.shape != (n,):
        raise ConfigError(f"cross_val_tau: held_out has shape {mask.shape}, expected ({n},)")
    scored = np.flatnonzero(mask)
    if len(scored) < 2 * folds:
        raise ConfigError(
            f"cross_val_tau needs at least {2 * folds} held-out candidates for {folds} folds, "
            f"got {len(scored)}"
        )
    order = scored[np.random.default_rng(seed).permutation(len(scored))]
    pred = {name: np.full(n, np.nan) for name in TARGETS}
    for f in range(folds):
        test = order[f::folds]
        train = np.setdiff1d(np.arange(n), test)
        fold_targets = {k: np.asarray(v)[train] for k, v in targets.items()}
        model = Surrogate(seed=seed, **kwargs).fit(X[train], fold_targets)
        for name, values in model.predict(X[test]).items():
            pred[name][test] = values
    return {
        name: kendall_tau(np.asarray(targets[name], float)[scored], pred[name][scored]) for name in TARGETS
    }
