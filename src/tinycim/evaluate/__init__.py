"""Evaluation of analog models: drift sweeps over Monte-Carlo chips, per-layer sensitivity,
simulation summaries and deployment export (and its re-import).

    from tinycim.evaluate import evaluate_drift, layer_sensitivity, export_analog, load_export
"""

from tinycim.evaluate.export import export_analog, load_export
from tinycim.evaluate.sensitivity import layer_sensitivity, on_one_layer
from tinycim.evaluate.simulate import simulate_model
from tinycim.evaluate.drift import DriftResult, evaluate, evaluate_drift

__all__ = [
    "DriftResult",
    "evaluate",
    "evaluate_drift",
    "export_analog",
    "layer_sensitivity",
    "load_export",
    "on_one_layer",
    "simulate_model",
]
