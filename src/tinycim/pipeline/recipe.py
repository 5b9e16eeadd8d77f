"""Recipes: one YAML file names everything a published result needs.

    name: kws_analognets
    model: analognet_kws            # zoo name (+ model_kwargs)
    dataset: speech_commands        # tinycim.data name (+ dataset_options, splits)
    phases:
      fp:  {epochs: 30, lr: 0.002, batch_size: 128}
      hwa: {epochs: 10, lr: 0.0005, batch_size: 128, preset: pcm, overrides: {...}}   # HWAConfig
      hwa_baseline: {...}          # optional twin (e.g. HamQ lambda = 0) the hwa phase is compared with
    analog: {preset: pcm, overrides: {...}}        # AnalogConfig for evaluation
    drift: {times: [1s, 1h, 1d, 30d, 1y], instances: 10}
    bits_sweep: [4, 6, 8]                          # accuracy vs DAC/ADC bits at 1 day
    cost: {accelerator: aon-cim, act_bits: [8, 6, 4]}
    published: [{metric: acc_drop_1d_pp, value: 0.8, source: "Zhou et al. 2022"}]
    full: {...}                                    # deep-merged over the above by --full

Defaults are CPU-sized (minutes on 2 cores); `full` holds the paper-sized settings.
"""

from __future__ import annotations

import copy
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
    overrides: dict = field(default_factory=dict)
    init: str = "fp"  # hwa phase: start from the trained FP model ("fp") or from fresh weights ("scratch")


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


def _need(data: dict, key: str, kind: type, where: str) -> Any:
    if key not in data:
        raise ConfigError(f"{where}: missing field {key!r}")
    if not isinstance(data[key], kind) or isinstance(data[key], bool) and kind is not bool:
        raise ConfigError(f"{where}: field {key!r} must be {kind.__name__}, got {data[key]!r}")
    return data[key]


def _phase(data: Any, where: str) -> Phase:
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping with epochs and lr")
    unknown = set(data) - {"epochs", "lr", "batch_size", "preset", "overrides", "init"}
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)}")
    epochs = _need(data, "epochs", int, where)
    if epochs < 0:
        raise ConfigError(f"{where}.epochs = {epochs} is invalid: allowed range >= 0")
    lr = float(_need(data, "lr", (int, float), where))
    if not lr > 0:
        raise ConfigError(f"{where}.lr = {lr} is invalid: allowed range > 0")
    batch = data.get("batch_size", 128)
    if not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"{where}.batch_size = {batch!r} is invalid: allowed range >= 1")
    init = data.get("init", "fp")
    if init not in ("fp", "scratch"):
        raise ConfigError(
            f"{where}.init = {init!r} is invalid: allowed 'fp' (start from the FP model) or 'scratch'"
        )
    return Phase(
        epochs=epochs,
        lr=lr,
        batch_size=batch,
        preset=data.get("preset"),
        overrides=data.get("overrides") or {},
        init=init,
    )


def recipe_from_dict(data: dict, *, full: bool = False, source: str = "<dict>") -> Recipe:
    """Validate a recipe mapping (deep-merging its `full` section when asked)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a recipe must be a YAML mapping")
    unknown = set(data) - TOP_LEVEL
    if unknown:
        raise ConfigError(f"{source}: unknown field(s) {sorted(unknown)}; allowed {sorted(TOP_LEVEL)}")
    if full and isinstance(data.get("full"), dict):
        data = deep_merge(data, data["full"])
    where = source
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
    analog = data.get("analog") or {}
    drift = data.get("drift") or {}
    times = tuple(parse_duration(t) for t in drift.get("times", ["1s", "1h", "1d", "30d", "1y"]))
    instances = drift.get("instances", 10)
    if not isinstance(instances, int) or instances < 1:
        raise ConfigError(f"{where}: drift.instances = {instances!r} is invalid: allowed range >= 1")
    cost = data.get("cost") or {}
    published = tuple(data.get("published") or ())
    for item in published:
        if not isinstance(item, dict) or item.get("metric") not in METRICS or "value" not in item:
            raise ConfigError(
                f"{where}: published entries need metric (one of {sorted(METRICS)}) and value; got {item!r}"
            )
    bits = tuple(data.get("bits_sweep") or ())
    for b in bits + tuple(cost.get("act_bits", (8,))):
        if not isinstance(b, int) or not 1 <= b <= 16:
            raise ConfigError(f"{where}: bits {b!r} invalid: allowed range 1..16")
    recipe = Recipe(
        name=_need(data, "name", str, where),
        model=_need(data, "model", str, where),
        dataset=_need(data, "dataset", str, where),
        fp=fp,
        hwa=hwa,
        hwa_baseline=baseline,
        analog_preset=analog.get("preset", "pcm"),
        analog_overrides=analog.get("overrides") or {},
        times=times,
        instances=instances,
        model_kwargs=data.get("model_kwargs") or {},
        dataset_options=data.get("dataset_options") or {},
        splits={"train": "train", "val": "val", "test": "test", **(data.get("splits") or {})},
        seed=int(data.get("seed", 0)),
        bits_sweep=bits,
        accelerator=cost.get("accelerator"),
        act_bits=tuple(cost.get("act_bits", (8,))),
        published=published,
        description=str(data.get("description", "")).strip(),
        source=source,
    )
    _check_configs(recipe, where)
    return recipe


def _check_configs(recipe: Recipe, where: str) -> None:
    """Build every config the recipe will use now, before any training, so a bad field fails at once."""
    from tinycim.pipeline.runner import _hwa_config, analog_base

    try:
        base = analog_base(recipe)
        for name, phase in (("hwa", recipe.hwa), ("hwa_baseline", recipe.hwa_baseline)):
            if phase is not None:
                _hwa_config(phase, base)
    except (ConfigError, TypeError) as err:
        raise ConfigError(f"{where}: {err}") from None


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
