"""A cheap, deterministic stand-in for training: metrics as a closed-form function of the arch.

Used by the tests (search logic, resume, constraints) and by ``tinycim nas --evaluator synthetic`` to
try a search's plumbing in seconds. The formulas only mimic the trends that matter to a search
(more capacity -> more accuracy with diminishing returns; depth and width raise drift sensitivity);
they are not a model of any dataset.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from tinycim.nas.space import Arch, SearchSpace, arch_key

__all__ = ["SyntheticEvaluator"]

ENERGY_PER_MAC_J = 2 * 117e-15  # 2 ops per MAC at AON-CiM's 117 fJ/op for KWS at 8 bit (cost-model.md)


def _unit(key: str, salt: str) -> float:
    """Deterministic pseudo-random number in [0, 1) from an arch key (no global RNG)."""
    return int.from_bytes(hashlib.sha256(f"{salt}:{key}".encode()).digest()[:8], "little") / 2.0**64


class SyntheticEvaluator:
    """``static(arch)`` and ``__call__({"arch", "seed"})`` like the training evaluator, in microseconds.

    ``calls`` lists the arch keys evaluated, in order (tests check nothing runs twice).
    """

    def __init__(self, space: SearchSpace, noise: float = 1.0):
        self.space, self.noise = space, noise
        self.calls: list[str] = []

    def static(self, arch: Arch) -> dict[str, Any]:
        params = self.space.count_params(arch)
        macs = self.space.count_macs(arch) if hasattr(self.space, "count_macs") else 20 * params
        devices = self.space.count_devices(arch) if hasattr(self.space, "count_devices") else 2 * params
        return {
            "params": params,
            "macs": macs,
            "energy_j": macs * ENERGY_PER_MAC_J,
            "area_mm2": devices * 0.05e-6,
            "devices": devices,
        }

    def __call__(self, task: dict[str, Any]) -> dict[str, Any]:
        arch = task["arch"]
        key = arch_key(arch)
        self.calls.append(key)
        st = self.static(arch)
        capacity = math.log10(1 + st["params"])
        depth = float(self.space.encode(arch)[0])  # first feature: depth (tinyml) / OC0 (resnet-like)
        # Accuracies in percent, like tinycim.train.evaluate_drift.
        acc_1s = 50 + 45 * (1 - math.exp(-capacity / 3.0)) + self.noise * (_unit(key, "acc") - 0.5)
        avm = 0.5 + 3.0 * _unit(key, "avm") + 0.2 * min(depth, 10)
        acc_30d = acc_1s - avm
        acc_1d = acc_1s - 0.6 * avm
        return {
            "acc_fp": acc_1s + 0.5,
            "acc_1s": acc_1s,
            "acc_1h": acc_1s - 0.3 * avm,
            "acc_1d": acc_1d,
            "acc_30d": acc_30d,
            "std_1d": 0.2 + 1.0 * _unit(key, "std"),
            "avm": avm,
        }
