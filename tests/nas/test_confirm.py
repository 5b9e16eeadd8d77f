"""confirm_best: the top candidates are retrained with fresh seeds and the best mean wins; resumable."""

from __future__ import annotations

import pytest

from tinycim.errors import ConfigError
from tinycim.nas import Constraints, LocalExecutor, confirm_best, reevaluate


class NoisyEvaluator:
    """acc_1d = a true value per arch + a seed-dependent offset (training noise), like a real label."""

    def __init__(self, truth: dict[str, float], luck: dict[int, float]):
        self.truth, self.luck, self.calls = truth, luck, []

    def __call__(self, task):
        self.calls.append((task["arch"]["name"], task["seed"]))
        acc = self.truth[task["arch"]["name"]] + self.luck.get(task["seed"], 0.0)
        return {"acc_1d": acc, "avm": 0.5, "std_1d": 1.0}


def _record(name: str, seed: int, label: float, avm: float = 0.5) -> dict:
    return {
        "key": name,
        "arch": {"name": name},
        "seed": seed,
        "metrics": {"acc_1d": label, "avm": avm, "std_1d": 1.0},
        "static": {"params": 10},
    }


def test_a_lucky_label_loses_to_the_better_candidate_after_retraining(tmp_path):
    # "lucky" got +3 from its label's seed (10); "solid" is truly better by 1 pp.
    ev = NoisyEvaluator({"lucky": 90.0, "solid": 91.0, "weak": 85.0}, luck={10: 3.0})
    records = [
        _record("lucky", 10, 93.0),
        _record("solid", 20, 91.0),
        _record("weak", 30, 85.0),
        _record("broken", 40, 99.0, avm=9.0),
    ]  # best label, but breaks AVM < 3: never a finalist
    best = confirm_best(
        records, ev, LocalExecutor(), Constraints(max_avm=3.0), tmp_path / "c", top=2, rounds=2
    )
    assert best["key"] == "solid"
    assert best["confirmed"] == {"acc_1d": pytest.approx(91.0), "runs": [91.0, 91.0, 91.0]}
    # only the top 2 feasible ones ran, at seed + r (the evaluator's stride is 1 without settings)
    assert sorted(ev.calls) == [("lucky", 11), ("lucky", 12), ("solid", 21), ("solid", 22)]
    assert best["metrics"]["acc_1d"] == 91.0  # the stored record itself is not changed


def test_confirmation_resumes_without_retraining(tmp_path):
    ev = NoisyEvaluator({"a": 90.0, "b": 89.0}, luck={})
    records = [_record("a", 1, 90.0), _record("b", 2, 89.0)]
    first = confirm_best(records, ev, LocalExecutor(), Constraints(), tmp_path / "c", top=2, rounds=1)
    again = NoisyEvaluator({"a": 90.0, "b": 89.0}, luck={})
    second = confirm_best(records, again, LocalExecutor(), Constraints(), tmp_path / "c", top=2, rounds=1)
    assert len(ev.calls) == 2 and again.calls == [] and first == second


def test_confirm_best_edge_cases(tmp_path):
    ev = NoisyEvaluator({"a": 90.0}, luck={})
    assert (
        confirm_best(
            [_record("a", 1, 90.0, avm=5.0)], ev, LocalExecutor(), Constraints(max_avm=3.0), tmp_path / "c"
        )
        is None
    )
    with pytest.raises(ConfigError, match="top >= 1"):
        confirm_best([], ev, LocalExecutor(), Constraints(), tmp_path / "d", top=0)


class _Settings:
    seeds = 2

    def to_dict(self):
        return {"seeds": 2}


def test_reevaluate_uses_seeds_the_label_did_not_and_a_shared_store_trains_nothing_twice(tmp_path):
    """With 2-seed labels (seeds s, s+1) round r runs at s + 2r: no training run is shared with the
    label. A second caller on the same store (a retest after a confirmation) reads round 1 back."""
    ev = NoisyEvaluator({"a": 90.0, "b": 89.0}, luck={})
    ev.settings, ev.runs_dir = _Settings(), tmp_path / "runs"
    records = [_record("a", 10, 90.0), _record("b", 20, 89.0)]
    more = reevaluate(records, ev, LocalExecutor(), tmp_path / "re", rounds=2)
    assert sorted(ev.calls) == [("a", 12), ("a", 14), ("b", 22), ("b", 24)]
    assert [m["seed"] for m in more["a"]] == [12, 14] and more["b"][0]["metrics"]["acc_1d"] == 89.0
    assert ev.runs_dir == tmp_path / "runs"  # the caller's evaluator is not changed
    again = NoisyEvaluator({"a": 90.0, "b": 89.0}, luck={})
    again.settings = _Settings()
    assert confirm_best(records, again, LocalExecutor(), Constraints(), tmp_path / "re", top=2)["key"] == "a"
    assert again.calls == []
