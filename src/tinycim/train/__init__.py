"""Hardware-aware training, in the manner of QAT: prepare -> train with any optimizer -> convert.

    from tinycim.train import HWAConfig, TrainConfig, prepare, fit, to_analog, evaluate_drift
    hwa = HWAConfig.preset("pcm")                    # noise, clipping, 8-bit DAC/ADC, learned ranges
    prepared = prepare(fp_model, hwa)                # BN folded, HWA layers (weights stay Parameters)
    fit(prepared, train_ds, val_ds, TrainConfig(epochs=10, lr=1e-3))
    amodel = to_analog(prepared)                     # tc.convert + the learned ranges frozen
    dr = evaluate_drift(amodel, test_ds, times=[86400.0], instances=10)
"""
from tinycim.train.analog import to_analog, to_digital
from tinycim.train.config import HWA_PRESETS, HWAConfig, TrainConfig
from tinycim.train.evaluate import DriftResult, evaluate, evaluate_drift
from tinycim.train.fit import FitResult, TrainingDivergedError, build_optimizer, fit
from tinycim.train.hamq import hamq_penalty, on_cell_fraction
from tinycim.train.layers import HWAConv1d, HWAConv2d, HWALayerMixin, HWALinear
from tinycim.train.prepare import constrain_, hwa_config, hwa_layers, init_ranges, prepare
from tinycim.train.run import load_run, save_run

__all__ = [
    "DriftResult", "FitResult", "HWAConfig", "HWAConv1d", "HWAConv2d", "HWALayerMixin", "HWALinear", "HWA_PRESETS",
    "TrainConfig", "TrainingDivergedError", "build_optimizer", "constrain_", "evaluate", "evaluate_drift", "fit",
    "hamq_penalty", "hwa_config", "hwa_layers", "init_ranges", "load_run", "on_cell_fraction", "prepare",
    "save_run", "to_analog", "to_digital",
]
