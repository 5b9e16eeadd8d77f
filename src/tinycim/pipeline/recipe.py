"""Recipes: one YAML file names everything a published result needs.

    name: kws_analognets
    model: analognet_kws            # zoo name (+ model_kwargs)
    dataset: speech_commands        # tinycim.data name (+ dataset_options, splits)
    phases:
      fp:  {epochs: 30, lr: 0.002, batch_size: 128}
      hwa: {epochs: 10, lr: 0.0005, batch_size: 128, preset: pcm, overrides: {...}, analog: {...}}
      hwa_baseline: {...}          # optional twin (e.g. HamQ lambda = 0) the hwa phase is compared with
    analog: {preset: pcm, overrides: {...}}        # AnalogConfig: the chip (evaluation, plain twin)
    drift: {times: [1s, 1h, 1d, 30d, 1y], instances: 10}
    bits_sweep: [4, 6, 8]                          # accuracy vs DAC/ADC bits at 1 day
    cost: {accelerator: aon-cim, act_bits: [8, 6, 4]}
    published: [{metric: acc_drop_1d_pp, value: 0.8, source: "Zhou et al. 2022"}]
    full: {...}                                    # deep-merged over the above by --full

A hardware-aware phase says how to train in `overrides` (HWAConfig fields: noise_scale, clip,
hamq_lambda, ...) and, in `analog`, what its chip differs in from the recipe's `analog`: AnalogConfig
sections as nested mappings, e.g. ``analog: {mapping: {polarity: unipolar, weight_bits: 2}, dac: {bits: 6}}``
(deep-merged; the phase is trained, drifted and costed on that one description). Recipes of 0.1 wrote
the hardware fields into `overrides` (dac_bits, weight_bits, unipolar, ...); those still load
(tinycim.compat).

Defaults are CPU-sized (minutes on 2 cores); `full` holds the paper-sized settings.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from tinycim.errors import ConfigError
from tinycim.units import parse_duration

TOP_LEVEL = {
    "name",
    "description",
    "model",
    "model_kwargs",
    "dataset",
    "dataset_options",
    "splits",
    "seed",
    "phases",
    "analog",
    "drift",
    "bits_sweep",
    "cost",
    "published",
    "full",
    "notes",
}
METRICS = {
    "fp_accuracy",
    "acc_1d",
    "acc_drop_1d_pp",
    "acc_drop_30d_pp",
    "acc_30d",
    "tops_per_watt",
    "energy_reduction_pct",
    "on_cell_reduction_pct",
    "array_energy_reduction_pct",
    "acc_drop_pp",
}


@dataclass(frozen=True)
class Phase:
    epochs: int
    lr: float
    batch_size: int = 128
    preset: str | None = None  # HWAConfig preset (hwa phase only)
    overrides: dict = field(default_factory=dict)  # HWAConfig fields (0.1 hardware names: tinycim.compat)
    analog: dict = field(default_factory=dict)  # AnalogConfig sections this phase's chip changes
    init: str = "fp"  # hwa phase: start from the trained FP model ("fp") or from fresh weights ("scratch")
    augment: bool = False  # fp phase: the dataset's FP augmentation of the default recipe (workflow)


@dataclass(frozen=True)
class Recipe:
    """A validated recipe: model, dataset, training phases, analog config, drift grid, cost and the
    published figures it is compared with (`load_recipe` reads one from YAML)."""

    name: str
    model: str
    dataset: str
    fp: Phase
    hwa: Phase | None
    hwa_baseline: Phase | None
    analog_preset: str
    analog_overrides: dict
    times: tuple[float, ...]
    instances: int
    model_kwargs: dict = field(default_factory=dict)
    dataset_options: dict = field(default_factory=dict)
    splits: dict = field(default_factory=lambda: {"train": "train", "val": "val", "test": "test"})
    seed: int = 0
    bits_sweep: tuple[int, ...] = ()
    accelerator: str | None = None
    act_bits: tuple[int, ...] = (8,)
    published: tuple[dict, ...] = ()
    description: str = ""
    source: str = ""


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = (
            deep_merge(out[key], value)
            if isinstance(value, dict) and isinstance(out.get(key), dict)
            else value
        )
    return out


SEED_MAX = 2**32 - 1  # numpy's legacy and torch's generators all take seeds in 0 .. 2**32 - 1


def _need(data: dict, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise ConfigError(f"{where}: missing field {key!r}")
    kinds = kind if isinstance(kind, tuple) else (kind,)
    value = data[key]
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise ConfigError(f"{where}: field {key!r} must be {names}, got {value!r}")
    return value


def _section(data: dict, key: str, where: str, allowed: set[str] | None = None) -> dict:
    """``data[key]`` as a mapping ({} when absent or null), with only ``allowed`` fields."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: {key} = {value!r} is invalid: allowed a mapping")
    if allowed is not None:
        unknown = set(value) - allowed
        if unknown:
            raise ConfigError(
                f"{where}: {key}: unknown field(s) {sorted(unknown)}; allowed {sorted(allowed)}"
            )
    return value


def _int(value: Any, name: str, where: str, lo: int, hi: int | None = None) -> int:
    """``value`` if it is an int (not a bool, not a float such as 1.7) in lo..hi."""
    ok = (
        isinstance(value, int) and not isinstance(value, bool) and value >= lo and (hi is None or value <= hi)
    )
    if not ok:
        allowed = f"an integer >= {lo}" if hi is None else f"an integer in {lo}..{hi}"
        raise ConfigError(f"{where}: {name} = {value!r} is invalid: allowed {allowed}")
    return value


def _positive(value: Any, name: str, where: str) -> float:
    """``value`` as a float if it is a finite number > 0 (not a bool or a string)."""
    ok = (
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    )
    if not ok:
        raise ConfigError(f"{where}: {name} = {value!r} is invalid: allowed a finite number > 0")
    return float(value)


def _ints(value: Any, name: str, where: str, lo: int, hi: int) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}: {name} = {value!r} is invalid: allowed a list of integers in {lo}..{hi}")
    return tuple(_int(v, name, where, lo, hi) for v in value)


def _phase(data: Any, where: str) -> Phase:
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping with epochs and lr")
    unknown = set(data) - {"epochs", "lr", "batch_size", "preset", "overrides", "analog", "init", "augment"}
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)}")
    epochs = _need(data, "epochs", int, where)
    if epochs < 0:
        raise ConfigError(f"{where}.epochs = {epochs} is invalid: allowed range >= 0")
    lr = _need(data, "lr", (int, float), where)
    if not (math.isfinite(lr) and lr > 0):
        raise ConfigError(f"{where}.lr = {lr} is invalid: allowed range > 0 (finite)")
    batch = data.get("batch_size", 128)
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise ConfigError(f"{where}.batch_size = {batch!r} is invalid: allowed range >= 1")
    init = data.get("init", "fp")
    if init not in ("fp", "scratch"):
        raise ConfigError(
            f"{where}.init = {init!r} is invalid: allowed 'fp' (start from the FP model) or 'scratch'"
        )
    preset = data.get("preset")
    if preset is not None and not isinstance(preset, str):
        raise ConfigError(f"{where}.preset = {preset!r} is invalid: allowed an HWA preset name")
    overrides = data.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise ConfigError(
            f"{where}.overrides = {overrides!r} is invalid: allowed a mapping of HWAConfig fields"
        )
    analog = data.get("analog") or {}
    if not isinstance(analog, dict):
        raise ConfigError(
            f"{where}.analog = {analog!r} is invalid: allowed a mapping of AnalogConfig sections "
            "(e.g. {mapping: {weight_bits: 6}, dac: {bits: 6}})"
        )
    augment = data.get("augment", False)
    if not isinstance(augment, bool):
        raise ConfigError(f"{where}.augment = {augment!r} is invalid: allowed true or false")
    return Phase(
        epochs=epochs,
        lr=float(lr),
        batch_size=batch,
        preset=preset,
        overrides=overrides,
        analog=analog,
        init=init,
        augment=augment,
    )


def recipe_from_dict(data: dict, *, full: bool = False, source: str = "<dict>") -> Recipe:
    """Validate a recipe mapping (deep-merging its `full` section when asked). Every field is
    type- and range-checked here, before any work; errors name the file and the field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a recipe must be a YAML mapping")
    unknown = set(data) - TOP_LEVEL
    if unknown:
        raise ConfigError(f"{source}: unknown field(s) {sorted(unknown)}; allowed {sorted(TOP_LEVEL)}")
    where = source
    full_section = _section(data, "full", where)
    if full and full_section:
        unknown = set(full_section) - TOP_LEVEL
        if unknown:
            raise ConfigError(
                f"{where}: full: unknown field(s) {sorted(unknown)}; allowed {sorted(TOP_LEVEL)}"
            )
        data = deep_merge(data, full_section)
    name = _need(data, "name", str, where)
    model = _need(data, "model", str, where)
    dataset = _need(data, "dataset", str, where)
    _check_names(model, dataset, where)
    phases = _need(data, "phases", dict, where)
    fp = _phase(phases.get("fp"), f"{where}: phases.fp")
    unknown_phases = set(phases) - {"fp", "hwa", "hwa_baseline"}
    if unknown_phases:
        raise ConfigError(
            f"{where}: unknown phase(s) {sorted(unknown_phases)}; allowed fp, hwa, hwa_baseline"
        )
    hwa = _phase(phases["hwa"], f"{where}: phases.hwa") if phases.get("hwa") else None
    baseline = (
        _phase(phases["hwa_baseline"], f"{where}: phases.hwa_baseline")
        if phases.get("hwa_baseline")
        else None
    )
    if baseline is not None and hwa is None:
        raise ConfigError(
            f"{where}: phases.hwa_baseline needs phases.hwa (it is the twin the hwa phase is compared with)"
        )
    analog = _section(data, "analog", where, {"preset", "overrides"})
    preset = analog.get("preset", "pcm")
    if not isinstance(preset, str):
        raise ConfigError(f"{where}: analog.preset = {preset!r} is invalid: allowed a preset name")
    analog_overrides = _section(analog, "overrides", f"{where}: analog")
    drift = _section(data, "drift", where, {"times", "instances"})
    raw_times = drift.get("times", ["1s", "1h", "1d", "30d", "1y"])
    if not isinstance(raw_times, (list, tuple)) or not raw_times:
        raise ConfigError(f"{where}: drift.times = {raw_times!r} is invalid: allowed a list such as [1s, 1d]")
    try:
        times = tuple(parse_duration(t) for t in raw_times)
    except ConfigError as err:
        raise ConfigError(f"{where}: drift.times: {err}") from None
    instances = _int(drift.get("instances", 10), "drift.instances", where, 1)
    cost = _section(data, "cost", where, {"accelerator", "act_bits"})
    accelerator = cost.get("accelerator")
    if accelerator is not None:
        _check_accelerator(accelerator, where)
    act_bits = _ints(cost.get("act_bits", [8]), "cost.act_bits", where, 1, 16)
    raw_published = data.get("published") or ()
    if not isinstance(raw_published, (list, tuple)):
        raise ConfigError(f"{where}: published = {raw_published!r} is invalid: allowed a list of entries")
    published = tuple(raw_published)
    for item in published:
        if not isinstance(item, dict) or item.get("metric") not in METRICS or "value" not in item:
            raise ConfigError(
                f"{where}: published entries need metric (one of {sorted(METRICS)}) and value; got {item!r}"
            )
        value = item["value"]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise ConfigError(
                f"{where}: published {item['metric']}: value = {value!r} is invalid: allowed a finite number"
            )
    bits = _ints(data.get("bits_sweep") or [], "bits_sweep", where, 1, 16)
    splits = _section(data, "splits", where, {"train", "val", "test"})
    for key, value in splits.items():
        if not isinstance(value, str):
            raise ConfigError(f"{where}: splits.{key} = {value!r} is invalid: allowed a split name")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{where}: description = {description!r} is invalid: allowed a string")
    recipe = Recipe(
        name=name,
        model=model,
        dataset=dataset,
        fp=fp,
        hwa=hwa,
        hwa_baseline=baseline,
        analog_preset=preset,
        analog_overrides=analog_overrides,
        times=times,
        instances=instances,
        model_kwargs=_section(data, "model_kwargs", where),
        dataset_options=_section(data, "dataset_options", where),
        splits={"train": "train", "val": "val", "test": "test", **splits},
        seed=_int(data.get("seed", 0), "seed", where, 0, SEED_MAX),
        bits_sweep=bits,
        accelerator=accelerator,
        act_bits=act_bits,
        published=published,
        description=description.strip(),
        source=source,
    )
    _check_configs(recipe, where)
    return recipe


def _check_names(model: str, dataset: str, where: str) -> None:
    """The model and dataset exist (the registries are cheap to ask; nothing is built or loaded)."""
    from tinycim.data import list_datasets
    from tinycim.models import list_models

    if model not in list_models():
        raise ConfigError(f"{where}: model = {model!r} is unknown: see `tinycim models`")
    if dataset not in list_datasets():
        raise ConfigError(f"{where}: dataset = {dataset!r} is unknown: allowed {', '.join(list_datasets())}")


def _check_accelerator(name: Any, where: str) -> None:
    from tinycim.cost.presets import ACCELERATORS

    if not isinstance(name, str) or name not in ACCELERATORS:
        raise ConfigError(
            f"{where}: cost.accelerator = {name!r} is invalid: allowed {', '.join(sorted(ACCELERATORS))}"
        )


def _check_configs(recipe: Recipe, where: str) -> None:
    """Build every config the recipe will use now, before any training, so a bad field fails at once:
    the analog config, the HWA configs of its phases, the model (with `model_kwargs`) and the memory
    `drift.instances` programmed chips of it take."""
    from tinycim.pipeline.hardware import phase_configs, recipe_chip

    try:
        base = recipe_chip(recipe)
    except (ConfigError, TypeError, ValueError) as err:
        raise ConfigError(f"{where}: analog: {err}") from None
    for name, phase in (("hwa", recipe.hwa), ("hwa_baseline", recipe.hwa_baseline)):
        if phase is not None:
            try:
                phase_configs(phase, base)
            except (ConfigError, TypeError, ValueError) as err:
                raise ConfigError(f"{where}: phases.{name}: {err}") from None
    import tinycim as tc
    from tinycim.models import create_model
    from tinycim.nn.api import _check_memory

    try:
        model = create_model(recipe.model, seed=recipe.seed, **recipe.model_kwargs)
    except (ConfigError, TypeError, ValueError) as err:
        raise ConfigError(
            f"{where}: model_kwargs {recipe.model_kwargs!r} for {recipe.model}: {err}"
        ) from None
    try:
        _check_memory(tc.convert(model, base), recipe.instances)
    except ConfigError as err:
        raise ConfigError(f"{where}: drift.{err}") from None


def load_recipe(path: str | Path, *, full: bool = False) -> Recipe:
    """Read and validate a recipe YAML file (a bare name looks in the bundled recipes)."""
    p = Path(path)
    if not p.is_file():
        bundled = Path(__file__).parent / "recipes" / f"{p.stem}.yaml"
        if not bundled.is_file():
            raise ConfigError(f"{path}: recipe file not found")
        p = bundled
    from tinycim.io import read_config_text, safe_yaml

    data = safe_yaml(read_config_text(p, "recipe"), f"{p}")
    return recipe_from_dict(data, full=full, source=str(p))
