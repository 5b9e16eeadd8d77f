"""Random search and the surrogate-guided evolutionary search of AnalogNAS, resumable.

Both proceed in batches. A batch is a deterministic function of the seed, the generation number and
the results of earlier batches (sorted by proposal order, not completion order), so a search that
was killed and restarted proposes the same candidates again; those already in the store are read
back instead of trained. That is what makes "resume" exact: no finished candidate runs twice and the
final front equals the uninterrupted one.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable

import numpy as np

from tinycim.errors import ConfigError
from tinycim.nas.constraints import Constraints, pareto_front, record_value
from tinycim.nas.space import Arch, SearchSpace, arch_key
from tinycim.nas.surrogate import TARGETS, Surrogate

__all__ = ["SearchConfig", "SearchResult", "Search", "candidate_seed", "features"]

Record = dict[str, Any]


def candidate_seed(search_seed: int, key: str) -> int:
    """Training seed of a candidate: a hash of (search seed, arch), so it does not depend on when or
    where the candidate runs, and random search and evolution train a shared arch identically."""
    return int.from_bytes(hashlib.sha256(f"{search_seed}:{key}".encode()).digest()[:4], "little")


def features(space: SearchSpace, arch: Arch, static: dict[str, Any]) -> np.ndarray:
    """Surrogate input: the space's fixed-length encoding plus log10 params and MACs (known before
    training; they summarize the capacity that trees would otherwise have to rebuild from genes)."""
    extra = [math.log10(1 + float(static.get(k) or 0)) for k in ("params", "macs")]
    return np.concatenate([space.encode(arch), extra])


@dataclass(frozen=True)
class SearchConfig:
    """``trials``: candidates to train (unique archs). Evolution: ``init`` random candidates first,
    then generations of ``batch`` candidates picked from ``mutants_per_parent`` mutants of each of the
    ``population`` parents (by the surrogate once ``surrogate`` is on and ``init`` results exist)."""

    trials: int = 32
    seed: int = 0
    population: int = 8
    init: int = 16
    batch: int = 4
    mutants_per_parent: int = 16
    surrogate: bool = True
    sample_tries: int = 20000

    def __post_init__(self) -> None:
        for name in ("trials", "population", "init", "batch", "mutants_per_parent", "sample_tries"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"search.{name} = {getattr(self, name)!r} is invalid: allowed >= 1")


@dataclass
class SearchResult:
    """Every candidate of the search (proposal order), the feasible best and the Pareto front."""

    records: list[Record]
    best: Record | None
    front: list[Record]
    evaluated: int  # trained in this run (not read back from the store)


class Search:
    """One search over ``space``: ``evaluator`` has ``static(arch) -> dict`` (params, macs, energy_j,
    ...; cheap, before training) and ``__call__({"arch", "seed"}) -> dict`` (acc_1d, avm, ...).

    ``on_result(record)`` runs after each finished candidate is stored (raise in it to stop);
    ``store`` is a :class:`ResultStore` or a folder (opened with ``settings()`` plus ``header`` as its
    header). ``progress`` is a callable ``(done, total, best)`` for bars; ``deadline`` (``time.monotonic()``
    value) ends the search early at a batch boundary, so a time-capped run is not reproducible.
    """

    def __init__(
        self,
        space: SearchSpace,
        evaluator: Any,
        constraints: Constraints,
        store: Any,
        executor: Any,
        config: SearchConfig,
        on_result: Callable[[Record], None] | None = None,
        progress: Callable[[int, int, Record | None], None] | None = None,
        deadline: float | None = None,
        header: dict[str, Any] | None = None,
    ):
        self.space, self.evaluator, self.constraints = space, evaluator, constraints
        self.executor, self.config = executor, config
        if isinstance(store, (str, os.PathLike)):  # a folder: open it, checking it holds this search
            from tinycim.nas.store import ResultStore

            store = ResultStore(store, {**self.settings(), **(header or {})})
        self.store = store
        self.on_result, self.progress = on_result, progress
        self.deadline = deadline  # time.monotonic() after which no new batch starts (a wall-clock budget)
        self.records: list[Record] = []
        self._seen: set[str] = set()
        self._static: dict[str, dict[str, Any]] = {}
        self.evaluated = 0
        self.surrogate_log: list[dict[str, Any]] = []

    # ---- candidates --------------------------------------------------------------------------
    def static(self, arch: Arch) -> dict[str, Any]:
        key = arch_key(arch)
        if key not in self._static:
            self._static[key] = dict(self.evaluator.static(arch))
        return self._static[key]

    def cheap_static(self, arch: Arch) -> dict[str, Any]:
        """Params and MACs only (what the surrogate features need): evolution scores ~100 mutants per
        generation, and running the cost model on each would cost more than the surrogate itself."""
        fn = getattr(self.evaluator, "cheap_static", None)
        return self.static(arch) if fn is None else fn(arch)

    def feasible_before_training(self, arch: Arch) -> bool:
        # Parameters first: analytic, so oversized archs are rejected without building a model.
        limit = self.constraints.max_params
        if limit is not None and self.space.count_params(arch) > limit:
            return False
        if self.constraints.needs() <= {"params"}:
            return True
        return not self.constraints.static_violations(self.static(arch))

    def _sample(self, rng: np.random.Generator, taken: set[str]) -> Arch:
        for _ in range(self.config.sample_tries):
            arch = self.space.sample(rng)
            if arch_key(arch) not in taken and self.feasible_before_training(arch):
                return arch
        raise ConfigError(
            f"no new arch meeting {self.constraints} in {self.config.sample_tries} random "
            "draws; loosen the budget or narrow the space"
        )

    def _evaluate(self, archs: list[Arch], origin: str, generation: int) -> list[Record]:
        """Train the batch (or read stored results back); results return in proposal order."""
        out: list[Record | None] = [None] * len(archs)
        todo = []
        for i, arch in enumerate(archs):
            key = arch_key(arch)
            stored = self.store.get(key)
            if stored is not None:
                out[i] = stored
            else:
                todo.append((i, {"arch": arch, "seed": candidate_seed(self.config.seed, key)}))
        for j, metrics in self.executor.map(self.evaluator, [t for _, t in todo]):
            i, task = todo[j]
            rec = {
                "key": arch_key(task["arch"]),
                "arch": task["arch"],
                "seed": task["seed"],
                "origin": origin,
                "generation": generation,
                "static": self.static(task["arch"]),
                "metrics": dict(metrics),
            }
            self.store.add(rec)  # durable before anything else can fail
            self.evaluated += 1
            out[i] = rec
            self._note(rec, [r for r in out if r is not None])
        done = [rec for rec in out if rec is not None]
        if len(done) != len(out):  # pragma: no cover - every task of the executor returns a result
            raise RuntimeError("the executor returned fewer results than candidates")
        for rec in done:
            self._seen.add(rec["key"])
            self.records.append(rec)
        return done

    def _note(self, rec: Record, batch_done: list[Record]) -> None:
        if self.on_result is not None:
            self.on_result(rec)
        if self.progress is not None:
            self.progress(
                len(self._seen) + len(batch_done), self.config.trials, self.best(self.records + batch_done)
            )

    def best(self, records: Iterable[Record] | None = None) -> Record | None:
        ok = [r for r in (self.records if records is None else records) if self.constraints.ok(r)]
        return max(ok, key=lambda r: (record_value(r, "acc_1d"), r["key"]), default=None)

    def _result(self) -> SearchResult:
        feasible = [r for r in self.records if self.constraints.ok(r)]
        return SearchResult(list(self.records), self.best(), pareto_front(feasible), self.evaluated)

    def _remaining(self) -> int:
        if self.deadline is not None and time.monotonic() > self.deadline:
            return 0
        return self.config.trials - len(self._seen)

    # ---- random search -----------------------------------------------------------------------
    def run_random(self) -> SearchResult:
        """Uniform samples meeting the static constraints, ``trials`` of them (the baseline)."""
        rng = np.random.default_rng(np.random.SeedSequence([self.config.seed, 0]))
        generation = 0
        while self._remaining() > 0:
            taken = set(self._seen)
            batch = []
            for _ in range(min(self.config.batch, self._remaining())):
                batch.append(self._sample(rng, taken))
                taken.add(arch_key(batch[-1]))
            self._evaluate(batch, "random", generation)
            generation += 1
        return self._result()

    # ---- evolution ---------------------------------------------------------------------------
    def _select(self, pool: list[Record]) -> list[Record]:
        """Best ``population`` feasible records; if none are feasible, the least AVM-violating ones,
        so evolution can still move (they are parents only, never answers)."""
        feasible = [r for r in pool if self.constraints.ok(r)]
        if feasible:
            feasible.sort(key=lambda r: (-record_value(r, "acc_1d"), r["key"]))
            return feasible[: self.config.population]
        rest = [r for r in pool if math.isfinite(record_value(r, "acc_1d"))]

        def violation(r: Record) -> float:
            avm = record_value(r, "avm")
            return avm if math.isfinite(avm) else math.inf

        rest.sort(key=lambda r: (violation(r), -record_value(r, "acc_1d"), r["key"]))
        return rest[: self.config.population]

    def _fit_surrogate(self) -> Surrogate | None:
        rows = [
            r
            for r in sorted(self.records, key=lambda r: r["key"])
            if math.isfinite(record_value(r, "acc_1d"))
        ]
        if not self.config.surrogate or len(rows) < 4:
            return None
        X = np.stack([features(self.space, r["arch"], r["static"]) for r in rows])
        targets = {name: [record_value(r, name) for r in rows] for name in TARGETS}
        return Surrogate(seed=self.config.seed).fit(X, targets)

    def _mutants(self, parents: list[Record], rng: np.random.Generator) -> list[Arch]:
        pool, keys = [], set(self._seen)
        for parent in parents:
            for _ in range(self.config.mutants_per_parent):
                child = self.space.mutate_new(parent["arch"], rng)
                key = arch_key(child)
                if key not in keys and self.feasible_before_training(child):
                    keys.add(key)
                    pool.append(child)
        return pool

    def _choose(
        self, pool: list[Arch], k: int, rng: np.random.Generator, model: Surrogate | None, generation: int
    ) -> list[Arch]:
        if model is None or "acc_1d" not in model.models:
            return [pool[i] for i in rng.permutation(len(pool))[:k]]
        X = np.stack([features(self.space, a, self.cheap_static(a)) for a in pool])
        pred = model.predict(X)
        score = pred["acc_1d"].copy()
        if self.constraints.max_avm is not None and "avm" in pred:
            # Predicted to break AVM < T: rank them last rather than drop them, so a surrogate that is
            # wrong about AVM cannot starve the search.
            score[pred["avm"] >= self.constraints.max_avm] -= 1e6
        order = sorted(range(len(pool)), key=lambda i: (-score[i], arch_key(pool[i])))[:k]
        self.surrogate_log.append(
            {
                "generation": generation,
                "pool": len(pool),
                "picked": [arch_key(pool[i]) for i in order],
                "predicted": [float(pred["acc_1d"][i]) for i in order],
            }
        )
        return [pool[i] for i in order]

    def run_evolution(self) -> SearchResult:
        """AnalogNAS evolution: ``init`` random candidates, then per generation mutate every parent
        (width / depth / other), let the surrogate pick the ``batch`` most promising mutants, train
        them, and keep the best ``population`` of parents union children under the constraints."""
        cfg = self.config
        init_rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0]))  # = random search's stream
        taken: set[str] = set()
        first = []
        for _ in range(min(cfg.init, cfg.trials)):
            first.append(self._sample(init_rng, taken))
            taken.add(arch_key(first[-1]))
        for start in range(0, len(first), cfg.batch):
            self._evaluate(first[start : start + cfg.batch], "init", 0)
        population = self._select(self.records)
        generation = 0
        while self._remaining() > 0:
            generation += 1
            rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 1, generation]))
            k = min(cfg.batch, self._remaining())
            pool = self._mutants(population, rng)
            keys = set(self._seen) | {arch_key(a) for a in pool}
            while len(pool) < k:  # population stuck in a corner of the space: refill with random archs
                pool.append(self._sample(rng, keys))
                keys.add(arch_key(pool[-1]))
            children = self._evaluate(
                self._choose(pool, k, rng, self._fit_surrogate(), generation), "mutant", generation
            )
            population = self._select(population + children)
        return self._result()

    def settings(self) -> dict[str, Any]:
        """JSON header identifying this search (resume refuses a store written with other settings)."""
        search = {k: v for k, v in asdict(self.config).items() if k != "trials"}  # more trials = continue
        return {"space": self.space.to_dict(), "constraints": asdict(self.constraints), "search": search}
