"""Search logic with the synthetic evaluator: constraints, determinism, kill-and-resume, the store."""

from __future__ import annotations

import json

import pytest

from tinycim.errors import ConfigError
from tinycim.nas import (
    Constraints,
    LocalExecutor,
    ResultStore,
    Search,
    SearchConfig,
    SyntheticEvaluator,
    pareto_front,
    record_value,
)


class Interrupted(Exception):
    """Stands in for a kill: raised from on_result after n finished candidates."""


def _search(space, constraints, out, *, seed=0, trials=30, on_result=None, evaluator=None, **cfg):
    evaluator = evaluator or SyntheticEvaluator(space)
    config = SearchConfig(
        trials=trials, seed=seed, population=4, init=8, batch=3, mutants_per_parent=6, **cfg
    )
    return Search(space, evaluator, constraints, out, LocalExecutor(), config, on_result=on_result), evaluator


@pytest.mark.parametrize("mode", ["random", "evolution"])
def test_constraints_never_violated(tiny_space, constraints, tmp_path, mode):
    s, ev = _search(tiny_space, constraints, tmp_path, trials=40)
    result = getattr(s, f"run_{mode}")()
    assert len(result.records) == 40 and len(set(ev.calls)) == len(ev.calls) == 40
    for rec in result.records:  # static budgets: never even trained when broken
        assert rec["static"]["params"] <= constraints.max_params
    assert any(not constraints.ok(r) for r in result.records)  # the AVM constraint bites in this setup
    for rec in [result.best, *result.front]:
        assert constraints.ok(rec) and record_value(rec, "avm") < constraints.max_avm
    assert result.front == pareto_front([r for r in result.records if constraints.ok(r)])


def test_energy_budget_is_enforced_before_training(tiny_space, tmp_path):
    probe = SyntheticEvaluator(tiny_space)
    budget = sorted(
        probe.static(tiny_space.sample(__import__("numpy").random.default_rng(i)))["energy_j"]
        for i in range(50)
    )[25]
    c = Constraints(max_energy_j=budget)
    s, ev = _search(tiny_space, c, tmp_path, trials=20)
    result = s.run_evolution()
    assert all(r["static"]["energy_j"] <= budget for r in result.records)


def test_random_search_is_deterministic_by_seed(tiny_space, constraints, tmp_path):
    runs = [
        _search(tiny_space, constraints, tmp_path / str(i), seed=seed)[0].run_random()
        for i, seed in enumerate((7, 7, 8))
    ]
    keys = [[r["key"] for r in res.records] for res in runs]
    assert keys[0] == keys[1] and keys[0] != keys[2]


def test_evolution_is_deterministic_and_beats_random_on_synthetic(tiny_space, constraints, tmp_path):
    evo = [
        _search(tiny_space, constraints, tmp_path / f"e{i}", trials=40)[0].run_evolution() for i in range(2)
    ]
    assert [r["key"] for r in evo[0].records] == [r["key"] for r in evo[1].records]
    rnd = _search(tiny_space, constraints, tmp_path / "r", trials=40)[0].run_random()
    assert record_value(evo[0].best, "acc_1d") >= record_value(rnd.best, "acc_1d")


@pytest.mark.parametrize("mode", ["random", "evolution"])
@pytest.mark.parametrize("stop_after", [1, 10, 17])
def test_kill_and_resume_runs_nothing_twice_and_gives_the_same_front(
    tiny_space, constraints, tmp_path, mode, stop_after
):
    full, full_ev = _search(tiny_space, constraints, tmp_path / "full")
    reference = getattr(full, f"run_{mode}")()

    count = {"n": 0}

    def kill(_record):
        count["n"] += 1
        if count["n"] == stop_after:
            raise Interrupted

    first, ev1 = _search(tiny_space, constraints, tmp_path / "resumed", on_result=kill)
    with pytest.raises(Interrupted):
        getattr(first, f"run_{mode}")()
    second, ev2 = _search(tiny_space, constraints, tmp_path / "resumed")  # a fresh process, same folder
    resumed = getattr(second, f"run_{mode}")()
    assert len(ev1.calls) == stop_after
    assert not set(ev1.calls) & set(ev2.calls)  # no finished candidate evaluated twice
    assert sorted(ev1.calls + ev2.calls) == sorted(full_ev.calls)
    assert resumed.evaluated == len(full_ev.calls) - stop_after
    assert [r["key"] for r in resumed.front] == [r["key"] for r in reference.front]
    assert resumed.best["key"] == reference.best["key"]


def test_store_cuts_a_torn_last_line_and_refuses_other_settings(tiny_space, constraints, tmp_path):
    s, _ = _search(tiny_space, constraints, tmp_path, trials=5)
    s.run_random()
    path = tmp_path / "candidates.jsonl"
    good = path.read_bytes()
    path.write_bytes(good + b'{"key": "half a reco')  # killed in the middle of a write
    store = ResultStore(tmp_path)
    assert len(store) == 5 and path.read_bytes() == good
    for line in good.decode().splitlines():
        assert json.loads(line)["metrics"]["acc_1d"] > 0
    with pytest.raises(ConfigError, match="different search"):
        _search(tiny_space, Constraints(max_params=999), tmp_path, trials=5)


def test_impossible_budget_fails_with_a_clear_message(tiny_space, tmp_path):
    s, _ = _search(tiny_space, Constraints(max_params=10), tmp_path, sample_tries=200)
    with pytest.raises(ConfigError, match="loosen the budget"):
        s.run_random()


def test_pareto_front_keeps_only_non_dominated():
    def rec(key, acc, energy):
        return {"key": key, "metrics": {"acc_1d": acc}, "static": {"energy_j": energy}}

    rows = [rec("a", 90, 3.0), rec("b", 80, 1.0), rec("c", 85, 2.0), rec("d", 84, 2.5), rec("e", 90, 4.0)]
    assert [r["key"] for r in pareto_front(rows)] == ["b", "c", "a"]


def test_a_failed_candidate_is_stored_infeasible_and_not_retried(tiny_space, constraints, tmp_path):
    class Flaky(SyntheticEvaluator):
        def __call__(self, task):
            metrics = super().__call__(task)
            if len(task["arch"]["layers"]) == 1:  # "diverged": no accuracy
                return {"acc_1d": None, "avm": None, "std_1d": None, "error": "diverged"}
            return metrics

    s, ev = _search(tiny_space, constraints, tmp_path, trials=25, evaluator=Flaky(tiny_space))
    result = s.run_evolution()
    failed = [r for r in result.records if r["metrics"].get("error")]
    assert failed and not any(constraints.ok(r) for r in failed)
    again, ev2 = _search(tiny_space, constraints, tmp_path, trials=25, evaluator=Flaky(tiny_space))
    assert again.run_evolution().evaluated == 0 and not ev2.calls
