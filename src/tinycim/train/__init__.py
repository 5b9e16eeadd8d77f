"""Hardware-aware training, in the manner of QAT: prepare -> train with any optimizer -> program.

from tinycim.train import HWAConfig, TrainConfig, prepare, fit, to_analog, evaluate_drift
prepared = prepare(fp_model, "pcm", analog="pcm")  # how to train (noise, clip) on which hardware
fit(prepared, train_ds, val_ds, TrainConfig(epochs=10, lr=1e-3))
amodel = to_analog(prepared)                      # the same layers, learned ranges frozen
dr = evaluate_drift(amodel, test_ds, times=[86400.0], instances=10)
"""

from tinycim.nn.convert import to_digital
from tinycim.train.analog import to_analog
from tinycim.train.config import HWA_PRESETS, HWAConfig, TrainConfig
from tinycim.evaluate.drift import DriftResult, evaluate, evaluate_drift
from tinycim.train.fit import FitResult, TrainingDivergedError, build_optimizer, fit
from tinycim.train.hamq import hamq_penalty, on_cell_fraction
from tinycim.train.prepare import constrain_, hwa_config, hwa_layers, init_ranges, prepare

__all__ = [
    "DriftResult",
    "FitResult",
    "HWAConfig",
    "HWA_PRESETS",
    "TrainConfig",
    "TrainingDivergedError",
    "build_optimizer",
    "constrain_",
    "evaluate",
    "evaluate_drift",
    "fit",
    "hamq_penalty",
    "hwa_config",
    "hwa_layers",
    "init_ranges",
    "load_run",
    "on_cell_fraction",
    "prepare",
    "save_run",
    "to_analog",
    "to_digital",
]


def __getattr__(name: str):
    """`load_run` / `save_run` live in tinycim.workflow (run directories); kept here, imported on
    first use (tinycim.workflow itself builds on this package)."""
    if name in ("load_run", "save_run"):
        from tinycim.workflow import runs

        return getattr(runs, name)
    raise AttributeError(f"module 'tinycim.train' has no attribute {name!r}")
