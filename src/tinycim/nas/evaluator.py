"""Candidate evaluation: short hardware-aware training, PCM drift evaluation, and the cost model.

``TrainEvaluator(space, train_ds, val_ds, settings)`` is what a search calls for each candidate:

* ``static(arch)`` (before training): params, MACs, and from ``tinycim.cost.estimate`` the energy per
  inference, area, TOPS/W and device count on the chosen accelerator;
* ``evaluator({"arch", "seed"})``: ``tinycim.train.prepare`` + ``fit`` for ``settings.epochs``, then
  ``to_analog`` and ``evaluate_drift`` at 1 s, 1 h, 1 day and 30 days over ``instances`` chips, giving
  {acc_fp, acc_1s, acc_1h, acc_1d, acc_30d, std_1d, avm = acc_1s - acc_30d}.

The object is picklable (datasets are plain tensors), so Ray ships it once to every worker.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from tinycim.nas.space import Arch, SearchSpace, arch_key

__all__ = ["EvalSettings", "TrainEvaluator", "DRIFT_TIMES", "seeded_build", "static_cost", "static_seed"]

#: Evaluation grid of AnalogNAS used here: 1 s, 1 h, 1 day, 30 days after programming.
DRIFT_TIMES = {"1s": 1.0, "1h": 3600.0, "1d": 86400.0, "30d": 2.592e6}


@dataclass(frozen=True)
class EvalSettings:
    """How one candidate is trained and measured (short on purpose: a search trains many)."""

    fp_epochs: int = 4
    epochs: int = 2
    lr: float = 2e-3
    batch_size: int = 64
    instances: int = 4
    hwa_preset: str = "pcm"
    analog_preset: str = "pcm"
    accelerator: str = "aon-cim"
    act_bits: int = 8
    threads: int = 1  # torch threads per evaluation: parallelism comes from running candidates side by side
    seeds: int = (
        1  # training runs per candidate (seed, seed + 1, ...); metrics are their mean (less label noise)
    )

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if out["seeds"] == 1:  # stores written before the field existed keep resuming
            del out["seeds"]
        return out


def static_cost(
    model: nn.Module,
    input_shape: tuple[int, ...],
    accelerator: str,
    act_bits: int,
    polarities: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Energy (J/inference), area (mm^2), TOPS/W and devices from ``tinycim.cost.estimate``.

    The cost model takes one polarity for the whole model, so a per-layer mix (unipolar space) is
    costed layer by layer from a differential and a unipolar estimate; area, a whole-chip figure, is
    interpolated by the share of unipolar weights."""
    import tinycim.cost

    diff = tinycim.cost.estimate(
        model, accelerator=accelerator, input_shape=input_shape, act_bits=act_bits, polarity="differential"
    )
    if not polarities or all(p == "differential" for p in polarities.values()):
        return {
            "energy_j": diff.energy_per_inference_j,
            "area_mm2": diff.area_mm2,
            "tops_per_watt": diff.tops_per_watt,
            "devices": diff.devices,
        }
    uni = tinycim.cost.estimate(
        model, accelerator=accelerator, input_shape=input_shape, act_bits=act_bits, polarity="unipolar"
    )
    pick = [
        u if polarities.get(d.name, "differential") != "differential" else d
        for d, u in zip(diff.layers, uni.layers)
    ]
    energy = sum(layer.total_energy_j for layer in pick)
    uni_share = sum(u.devices * 2 for d, u in zip(diff.layers, pick) if u is not d) / max(diff.devices, 1)
    area = diff.area_mm2 + (uni.area_mm2 - diff.area_mm2) * uni_share
    ops = 2 * sum(layer.macs for layer in diff.layers)
    return {
        "energy_j": energy,
        "area_mm2": area,
        "tops_per_watt": ops / energy / 1e12 if energy > 0 else 0.0,
        "devices": sum(layer.devices for layer in pick),
    }


class TrainEvaluator:
    """Train and measure candidates of ``space`` on (``train_ds``, ``val_ds``).

    ``runs_dir``: if given, each candidate's trained model is saved there with
    ``tinycim.train.save_run`` (directory named by a hash of its key), so the best one needs no retraining.
    ``data``: how the datasets were loaded, ``tinycim.data.split_record(dataset, options, seed)``;
    saved in each run's ``extra`` so ``tinycim drift`` evaluates on the same held-out split (a
    candidate's training seed is a hash, not the split seed).
    """

    def __init__(
        self,
        space: SearchSpace,
        train_ds: Any,
        val_ds: Any,
        settings: EvalSettings = EvalSettings(),
        runs_dir: str | Path | None = None,
        data: dict[str, Any] | None = None,
    ):
        self.space, self.train_ds, self.val_ds, self.settings = space, train_ds, val_ds, settings
        self.runs_dir = None if runs_dir is None else str(runs_dir)
        self.data = dict(data or {})

    # ---- before training ---------------------------------------------------------------------
    def static(self, arch: Arch) -> dict[str, Any]:
        from tinycim.models import count_macs

        # The cost model reads the weights (conductance-dependent energy), so the model it costs is
        # built, and costed, under a seed fixed by the arch: the same figures in every run, fresh or
        # resumed, whatever ran before; the global RNG is left as it was.
        with torch.random.fork_rng():
            torch.manual_seed(static_seed(arch_key(arch)))
            model = self.space.build(arch)
            out: dict[str, Any] = {
                "params": self.space.count_params(arch),
                "macs": count_macs(model, self.space.input_shape),
            }
            out.update(self.static_model(model, self._polarities(arch)))
        return out

    def cheap_static(self, arch: Arch) -> dict[str, Any]:
        """Params and MACs without the cost model (analytic where the space can count them)."""
        from tinycim.models import count_macs

        count = getattr(self.space, "count_macs", None)
        if count is not None:
            return {"params": self.space.count_params(arch), "macs": count(arch)}
        macs = count_macs(self.space.build(arch), self.space.input_shape)
        return {"params": self.space.count_params(arch), "macs": macs}

    def static_model(self, model: nn.Module, polarities: dict[str, str] | None = None) -> dict[str, Any]:
        """Cost-model figures of any model of this task (e.g. a zoo baseline)."""
        return static_cost(
            model, self.space.input_shape, self.settings.accelerator, self.settings.act_bits, polarities
        )

    def _polarities(self, arch: Arch) -> dict[str, str] | None:
        layer_polarities = getattr(self.space, "layer_polarities", None)
        return layer_polarities(arch) if layer_polarities is not None else None

    # ---- training and drift ------------------------------------------------------------------
    def __call__(self, task: dict[str, Any]) -> dict[str, Any]:
        arch, seed = task["arch"], int(task["seed"])
        torch.set_num_threads(self.settings.threads)
        from tinycim.train import TrainingDivergedError

        start = time.perf_counter()
        runs, first = [], None
        for offset in range(max(1, self.settings.seeds)):
            run_seed = (seed + offset) % 2**32
            model = seeded_build(lambda: self.space.build(arch), run_seed)
            try:
                metrics, artifacts = self.train_and_measure(model, run_seed, self._polarities(arch))
            except TrainingDivergedError as err:
                # A diverged candidate is a result (infeasible: no accuracy), not a crash of the search;
                # stored like any other, so a resume does not retry it.
                return {
                    "acc_1d": None,
                    "avm": None,
                    "std_1d": None,
                    "error": str(err),
                    "train_s": time.perf_counter() - start,
                }
            runs.append(metrics)
            first = first or (model, artifacts)
        metrics = mean_metrics(runs)
        metrics["train_s"] = time.perf_counter() - start
        if self.runs_dir is not None and first is not None:
            self.save(arch, first[0], first[1], metrics)  # the first seed's model, the mean metrics
        return metrics

    def train_and_measure(
        self, model: nn.Module, seed: int, polarities: dict[str, str] | None = None, eval_ds: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """HWA-train ``model`` (in a prepared copy), convert it, measure drift on ``eval_ds`` (default
        the validation set). Returns (metrics, {"prepared", "hwa", "analog", "train"})."""
        from tinycim.config import AnalogConfig
        from tinycim.train import HWAConfig, TrainConfig, evaluate_drift, to_analog
        from tinycim.workflow import train_default, train_phase

        s = self.settings
        analog = AnalogConfig.preset(s.analog_preset)
        if polarities is not None:
            # A space with polarity genes (unipolar) keeps BatchNorm digital in every candidate: its signed
            # per-channel scale is the digital column sign a one-signed crossbar needs (seed B). Each
            # unipolar layer is a per-layer override of the one hardware description.
            analog = dataclasses.replace(analog, fold_bn=False, layers=polarity_overrides(polarities))
        hwa = HWAConfig.preset(s.hwa_preset)
        tcfg = TrainConfig(
            epochs=s.epochs, lr=s.lr / 4 if s.fp_epochs > 0 else s.lr, batch_size=s.batch_size, seed=seed
        )
        if s.fp_epochs > 0:
            # The library's default recipe (FP pre-training, then HWA fine-tuning; AnalogNets, seed A):
            # trained from scratch with BN folded and noise on, a short budget leaves small nets far from
            # converged. Unipolar layers train one-signed from the start (projecting later kills them):
            # the FP phase runs on ideal devices with the same per-layer polarity. No distillation and no
            # FP validation, to keep a candidate's budget.
            fp_hw = dataclasses.replace(AnalogConfig.preset("ideal"), fold_bn=False, layers=analog.layers)
            pre = TrainConfig(epochs=s.fp_epochs, lr=s.lr, batch_size=s.batch_size, seed=seed)
            prepared = train_default(
                model,
                self.train_ds,
                self.val_ds,
                pre,
                tcfg,
                hwa,
                analog,
                distill=False,
                validate_fp=False,
                fp_hardware=fp_hw,
            ).model
        else:
            hwa = dataclasses.replace(hwa, unipolar_init="magnitude")
            prepared, _ = train_phase(model, self.train_ds, self.val_ds, tcfg, hwa=hwa, analog=analog)
        amodel = to_analog(prepared)  # the same layers: a unipolar layer is programmed one device per weight
        dr = evaluate_drift(
            amodel,
            eval_ds if eval_ds is not None else self.val_ds,
            times=list(DRIFT_TIMES.values()),
            instances=s.instances,
            seed=seed,
        )
        metrics = drift_metrics(dr)
        return metrics, {"prepared": prepared, "hwa": hwa, "analog": analog, "train": tcfg}

    def save(self, arch: Arch, model: nn.Module, artifacts: dict[str, Any], metrics: dict[str, Any]) -> Path:
        """Save one trained candidate with ``tinycim.train.save_run`` (loadable by ``tinycim drift``)."""
        from tinycim.nas.report import run_dir_name
        from tinycim.train import save_run

        out = Path(self.runs_dir or ".") / run_dir_name(arch_key(arch))
        zoo_spec = getattr(self.space, "zoo_spec", None)
        # Without a zoo factory for the space (resnet-like: none is registered) the run keeps the arch
        # in `extra` but cannot be rebuilt by load_run; see docs/nas.md.
        model_name, kwargs = zoo_spec(arch) if zoo_spec is not None else (f"nas-{self.space.name}", {})
        save_run(
            out,
            model_name,
            artifacts["prepared"],
            artifacts["hwa"],
            artifacts["analog"],
            artifacts["train"],
            metrics,
            model_kwargs=kwargs,
            extra={**self.data, "nas": {"space": self.space.name, "arch": arch}},
        )
        return out


def static_seed(key: str) -> int:
    """Seed of the untrained model an arch's static figures (energy, area, ...) are costed on: a hash
    of its key alone, so they depend neither on the search seed nor on what ran before."""
    return int.from_bytes(hashlib.sha256(f"static:{key}".encode()).digest()[:4], "little")


def seeded_build(build: Callable[[], nn.Module], seed: int) -> nn.Module:
    """``build()`` with its weight init drawn from ``seed``; the global torch RNG is restored after,
    so a candidate's numbers do not depend on what ran before it in the same worker."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return build()


def mean_metrics(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean of several training runs' metrics (one run: unchanged); ``acc_1d_runs`` lists each run's
    1-day accuracy when there are several."""
    if len(runs) == 1:
        return dict(runs[0])
    out: dict[str, Any] = {k: float(sum(r[k] for r in runs) / len(runs)) for k in runs[0]}
    out["acc_1d_runs"] = [float(r["acc_1d"]) for r in runs]
    return out


def drift_metrics(dr: Any) -> dict[str, Any]:
    """{acc_fp, acc_<t>, std_<t>, avm} from a ``DriftResult`` (per-time mean/std over instances)."""
    out: dict[str, Any] = {"acc_fp": float(dr.fp_accuracy)}
    for label, t in DRIFT_TIMES.items():
        mean, std = _at(dr, t)
        out[f"acc_{label}"], out[f"std_{label}"] = mean, std
    out["avm"] = out["acc_1s"] - out["acc_30d"]
    return out


def _at(dr: Any, t: float) -> tuple[float, float]:
    """Mean and std of accuracy at time ``t`` from a DriftResult (tolerant of list or dict layouts)."""
    times = [float(x) for x in dr.times]
    i = min(range(len(times)), key=lambda j: abs(math.log(times[j]) - math.log(t)))
    return float(dr.mean[i]), float(dr.std[i])


def polarity_overrides(polarities: dict[str, str]) -> dict[str, Any]:
    """The `AnalogConfig.layers` entries of a candidate's per-layer polarity genes: one device per
    weight, of a fixed sign, for every "positive" / "negative" layer."""
    return {
        name: {"mapping": {"polarity": "unipolar", "unipolar_sign": p}}
        for name, p in polarities.items()
        if p != "differential"
    }
