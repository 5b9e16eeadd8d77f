"""Analog-aware architecture search: AnalogNAS-style surrogate evolution and unipolar search.

    from tinycim.nas import TinyMLSpace, TrainEvaluator, Constraints, Search, SearchConfig, ResultStore
    space = TinyMLSpace((9, 128), 6)
    evaluator = TrainEvaluator(space, train_ds, val_ds)
    search = Search(space, evaluator, Constraints(max_params=61_000, max_avm=3.0), "out/store",
                    make_executor("local"), SearchConfig(trials=40, seed=0))  # out/store: resumable
    result = search.run_evolution()        # or run_random(): the baseline
    result.best, result.front               # feasible best by 1-day accuracy; accuracy-vs-energy front

Spaces: ``resnet-like`` (AnalogNAS macro space), ``tinyml`` (plain 1-D / 2-D conv nets),
``tinyml-unipolar`` (tinyml + per-layer polarity, seed B). See docs/nas.md.
"""

from tinycim.nas.confirm import confirm_best, reevaluate
from tinycim.nas.constraints import Constraints, pareto_front, record_value
from tinycim.nas.evaluator import DRIFT_TIMES, EvalSettings, TrainEvaluator, seeded_build
from tinycim.nas.executor import LocalExecutor, RayExecutor, make_executor
from tinycim.nas.resnet_space import ResNetSpace
from tinycim.nas.search import Search, SearchConfig, SearchResult, candidate_seed, features
from tinycim.nas.space import MUTATION_KINDS, SearchSpace, arch_key
from tinycim.nas.store import ResultStore
from tinycim.nas.surrogate import Surrogate, cross_val_tau, kendall_tau
from tinycim.nas.synthetic import SyntheticEvaluator
from tinycim.nas.tinyml_space import TinyMLSpace
from tinycim.nas.unipolar_space import UnipolarSpace

SPACES = {"resnet-like": ResNetSpace, "tinyml": TinyMLSpace, "tinyml-unipolar": UnipolarSpace}

__all__ = [
    "Constraints",
    "DRIFT_TIMES",
    "EvalSettings",
    "LocalExecutor",
    "MUTATION_KINDS",
    "RayExecutor",
    "ResNetSpace",
    "ResultStore",
    "SPACES",
    "Search",
    "SearchConfig",
    "SearchResult",
    "SearchSpace",
    "Surrogate",
    "SyntheticEvaluator",
    "TinyMLSpace",
    "TrainEvaluator",
    "UnipolarSpace",
    "arch_key",
    "candidate_seed",
    "confirm_best",
    "cross_val_tau",
    "features",
    "kendall_tau",
    "make_executor",
    "pareto_front",
    "record_value",
    "reevaluate",
    "seeded_build",
]
