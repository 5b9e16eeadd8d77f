"""`HWAConfig` (what the hardware-aware layers simulate) and `TrainConfig` (how to train).

Both are frozen, validated dataclasses that round-trip through JSON; a bad value raises
`ConfigError` naming the field and its allowed range. `HWAConfig()` switches everything off:
prepared layers then compute exactly what the plain torch layers compute.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from tinycim.config import MAX_CONVERTER_BITS, AnalogConfig, MappingConfig, known_fields, parse_json
from tinycim.errors import ConfigError

HWA_VERSION = 1

# Drift times the device-faithful noise samples from: 1 s to 1 month after programming (the
# evaluation grid of the PCM note runs 1 s .. 1 month for the training-relevant horizon).
ONE_SECOND_S = 1.0
ONE_MONTH_S = 30 * 86400.0
# Calibration percentile of |x| that initializes the learned converter ranges (tc.calibrate's default).
DEFAULT_RANGE_PERCENTILE = 99.99


def _fail(owner: str, name: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{owner}.{name} = {value!r} is invalid: allowed {allowed}")


def _number(owner: str, name: str, value: Any, lo: float, hi: float, *, lo_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > lo if lo_open else value >= lo) and value <= hi
    if not ok:
        _fail(owner, name, value, f"range {'(' if lo_open else '['}{lo}, {hi}]")


def _integer(owner: str, name: str, value: Any, lo: int, hi: int, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        _fail(owner, name, value, f"range {lo}..{hi}" + (" (or null for off)" if optional else ""))


def _choice(owner: str, name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        _fail(owner, name, value, f"values {', '.join(map(repr, choices))}")


class _JsonMixin:
    """to_dict / to_json / from_dict / from_json with unknown-field checks."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        return cls(**known_fields(cls, cls.__name__, data))

    @classmethod
    def from_json(cls, text: str):
        return cls.from_dict(parse_json(text, cls.__name__))


@dataclass(frozen=True)
class HWAConfig(_JsonMixin):
    """What the hardware-aware layers simulate during training (all off by default).

    noise: "none", "gaussian" (sigma = noise_eta * max|W| per layer or per column, redrawn every
        batch, forward only) or "device" (weights programmed on `noise_preset`'s device model,
        drifted to a log-uniform time in [noise_t_min_s, noise_t_max_s], then drift-compensated).
    noise_scale: multiplies the noise of either mode (1 = as drawn); training somewhat above the
        hardware's noise is AnalogNets' recipe for a flatter, more robust minimum.
    noise_warmup: fraction of the epochs over which the noise ramps linearly from 0 to full.
    clip: "none", "std" (|w| <= clip_value * std(W) per layer) or "fixed" (|w| <= clip_value),
        enforced on the stored weights after every optimizer step.
    remap_every: optimizer steps between refreshes of the weight range (|w| -> g_max); between
        refreshes weights beyond it saturate, as conductances do.
    dac_bits / adc_bits: converter bits (None = off); ranges are learned (log-parametrized,
        LSQ-style gradients) when learn_ranges, else frozen at their calibrated initial value.
    tile_rows / tile_cols: crossbar size; each row tile's partial sum is converted by the ADC
        separately, and unipolar signs are chosen per tile-sized block.
    weight_range: "layer" or "column" (the |w| mapped to g_max); `uniform` (seed B) shares one
        weight range and one DAC and one ADC range across every layer.
    unipolar: None, "positive", "negative" or "auto" (sign of each block's sum in the pretrained
        weights), per "layer" or per "tile" (tile-sized sub-matrix), enforced after every step.
    unipolar_init: what `prepare` does with weights of the wrong sign: "project" sets them to 0
        (fine-tuning a pretrained network), "magnitude" flips them (w -> sign * |w|: a sign-aligned
        copy of the initializer, e.g. |kaiming|, for training a unipolar network from scratch) and
        negates every other channel's scale of each unfolded BatchNorm (digital column signs: half
        the units start inhibitory, which one-signed weights cannot express).
    weight_bits / device_bits: weight magnitude bits (weights trained on the device levels, STE)
        and bits of one device (slicing; as in `MappingConfig`).
    hamq_lambda: weight of the HamQ regularizer (mean ON bit-cells per weight); needs weight_bits.
    fold_bn: fold BatchNorm into the preceding layer before training (needed for fixed ADC ranges).
    """

    noise: str = "none"
    noise_eta: float = 0.0
    noise_per: str = "layer"
    noise_preset: str = "pcm"
    noise_t_min_s: float = ONE_SECOND_S
    noise_t_max_s: float = ONE_MONTH_S
    noise_scale: float = 1.0
    noise_warmup: float = 0.0
    clip: str = "none"
    clip_value: float = 2.5
    remap_every: int = 1
    dac_bits: int | None = None
    adc_bits: int | None = None
    learn_ranges: bool = True
    range_percentile: float = DEFAULT_RANGE_PERCENTILE
    tile_rows: int = 512
    tile_cols: int = 512
    weight_range: str = "layer"
    uniform: bool = False
    unipolar: str | None = None
    unipolar_granularity: str = "tile"
    unipolar_init: str = "project"
    weight_bits: int | None = None
    device_bits: int | None = None
    hamq_lambda: float = 0.0
    fold_bn: bool = False
    version: int = HWA_VERSION

    def __post_init__(self) -> None:
        o = "hwa"
        _choice(o, "noise", self.noise, ("none", "gaussian", "device"))
        _number(o, "noise_eta", self.noise_eta, 0.0, 1.0)
        _choice(o, "noise_per", self.noise_per, ("layer", "column"))
        if self.noise == "device":
            try:
                AnalogConfig.preset(self.noise_preset)
            except ConfigError:
                from tinycim.config import PRESETS
                _fail(o, "noise_preset", self.noise_preset, f"presets {', '.join(sorted(PRESETS))}")
        _number(o, "noise_t_min_s", self.noise_t_min_s, 0.0, 1e10, lo_open=True)
        _number(o, "noise_t_max_s", self.noise_t_max_s, self.noise_t_min_s, 1e10)
        _number(o, "noise_scale", self.noise_scale, 0.0, 10.0)
        _number(o, "noise_warmup", self.noise_warmup, 0.0, 1.0)
        _choice(o, "clip", self.clip, ("none", "std", "fixed"))
        _number(o, "clip_value", self.clip_value, 0.0, 1e6, lo_open=True)
        _integer(o, "remap_every", self.remap_every, 1, 1 << 30)
        _integer(o, "dac_bits", self.dac_bits, 2, MAX_CONVERTER_BITS, optional=True)
        _integer(o, "adc_bits", self.adc_bits, 2, MAX_CONVERTER_BITS, optional=True)
        _choice(o, "learn_ranges", self.learn_ranges, (True, False))
        _number(o, "range_percentile", self.range_percentile, 0.0, 100.0, lo_open=True)
        _integer(o, "tile_rows", self.tile_rows, 1, 1 << 20)
        _integer(o, "tile_cols", self.tile_cols, 1, 1 << 20)
        _choice(o, "weight_range", self.weight_range, ("layer", "column"))
        _choice(o, "uniform", self.uniform, (True, False))
        _choice(o, "unipolar", self.unipolar, (None, "positive", "negative", "auto"))
        _choice(o, "unipolar_granularity", self.unipolar_granularity, ("layer", "tile"))
        _choice(o, "unipolar_init", self.unipolar_init, ("project", "magnitude"))
        _integer(o, "weight_bits", self.weight_bits, 1, MAX_CONVERTER_BITS, optional=True)
        _integer(o, "device_bits", self.device_bits, 1, MAX_CONVERTER_BITS, optional=True)
        if self.device_bits is not None and self.weight_bits is None:
            raise ConfigError("hwa.device_bits needs hwa.weight_bits (the weight precision to store)")
        _number(o, "hamq_lambda", self.hamq_lambda, 0.0, 1e6)
        if self.hamq_lambda > 0 and self.weight_bits is None:
            raise ConfigError("hwa.hamq_lambda > 0 needs hwa.weight_bits (HamQ counts ON cells of quantized weights)")
        if self.uniform and self.weight_range != "layer":
            raise ConfigError("hwa.weight_range must be 'layer' when hwa.uniform is true (one range for all layers)")
        _choice(o, "fold_bn", self.fold_bn, (True, False))
        if self.version != HWA_VERSION:
            _fail(o, "version", self.version, str(HWA_VERSION))

    @property
    def enabled(self) -> bool:
        """True if any piece changes the forward pass or the weights."""
        return self != HWAConfig()

    @classmethod
    def preset(cls, name: str) -> HWAConfig:
        """A named recipe: "off" (plain), "pcm" (the default hardware-aware recipe) or "pcm-gaussian"
        (see `HWA_PRESETS`)."""
        if name not in HWA_PRESETS:
            raise ConfigError(f"unknown HWA preset {name!r}: allowed presets {', '.join(sorted(HWA_PRESETS))}")
        return HWA_PRESETS[name]

    def analog_config(self, base: AnalogConfig | str = "pcm") -> AnalogConfig:
        """The AnalogConfig that runs what this recipe trained for: `base` with this recipe's
        weight range, polarity and weight levels, and, where the recipe simulated them, its
        converter bits and tile size (ranges are set by `to_analog`). BN is never folded again."""
        cfg = AnalogConfig.preset(base) if isinstance(base, str) else base
        mapping = MappingConfig(
            polarity="unipolar" if self.unipolar else "differential",
            unipolar_sign=self.unipolar if self.unipolar in ("positive", "negative") else "auto",
            weight_range="uniform" if self.uniform else self.weight_range,
            weight_bits=self.weight_bits, device_bits=self.device_bits,
        )
        cfg = dataclasses.replace(cfg, mapping=mapping, fold_bn=False)
        if self.adc_bits or self.unipolar:
            cfg = dataclasses.replace(cfg, tile=dataclasses.replace(cfg.tile, rows=self.tile_rows, cols=self.tile_cols))
        if self.dac_bits:
            cfg = dataclasses.replace(cfg, dac=dataclasses.replace(cfg.dac, bits=self.dac_bits))
        if self.adc_bits:
            cfg = dataclasses.replace(cfg, adc=dataclasses.replace(cfg.adc, bits=self.adc_bits))
        return cfg


# The default hardware-aware recipe for the `pcm` preset (AnalogNets-style, seed A): weight noise
# drawn from the PCM device model itself (programming noise + drift to a log-uniform time in
# [1 s, 1 month] + GDC; it beat Gaussian noise on both HAR and KWS in docs/training.md), clipping
# at 2.5 std (aihwkit's tutorial recipe), 8-bit DAC and per-tile 8-bit ADC with learned fixed-gain
# ranges, 512-row tiles like the `pcm` AnalogConfig, BatchNorm folded first.
# "pcm-gaussian": the same with Gaussian noise of 4 % of max|W| per column (seed A uses 2-5 %; PCM
# programming noise at g_max is 1.06 uS / 25 uS = 4.2 %).
PCM_NOISE_ETA = 0.04
PCM_CLIP_STD = 2.5
_PCM_COMMON = dict(clip="std", clip_value=PCM_CLIP_STD, dac_bits=8, adc_bits=8, tile_rows=512, fold_bn=True)
HWA_PRESETS = {
    "off": HWAConfig(),
    "pcm": HWAConfig(noise="device", noise_preset="pcm", **_PCM_COMMON),
    "pcm-gaussian": HWAConfig(noise="gaussian", noise_eta=PCM_NOISE_ETA, noise_per="column", **_PCM_COMMON),
}


@dataclass(frozen=True)
class TrainConfig(_JsonMixin):
    """How to train: optimizer, schedule, batch size, seed, distillation.

    optimizer: "adamw", "adam" or "sgd" (momentum `momentum`, Nesterov); weight decay never applies
        to biases, 1-D parameters or learned converter ranges.
    scheduler: "cosine" (per step, to 0 at the end) or "constant".
    distill_alpha: weight of the KL term to the teacher's softened outputs (temperature
        distill_temperature); only used when `fit` gets a teacher.
    """

    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 128
    seed: int = 0
    optimizer: str = "adamw"
    weight_decay: float = 1e-4
    momentum: float = 0.9
    scheduler: str = "cosine"
    grad_clip: float | None = None
    distill_alpha: float = 0.5
    distill_temperature: float = 4.0
    label_smoothing: float = 0.0
    eval_batch_size: int = 512

    def __post_init__(self) -> None:
        o = "train"
        _integer(o, "epochs", self.epochs, 0, 1 << 20)
        _number(o, "lr", self.lr, 0.0, 10.0, lo_open=True)
        _integer(o, "batch_size", self.batch_size, 1, 1 << 24)
        _integer(o, "seed", self.seed, 0, (1 << 63) - 1)
        _choice(o, "optimizer", self.optimizer, ("adamw", "adam", "sgd"))
        _number(o, "weight_decay", self.weight_decay, 0.0, 1.0)
        _number(o, "momentum", self.momentum, 0.0, 1.0)
        _choice(o, "scheduler", self.scheduler, ("cosine", "constant"))
        if self.grad_clip is not None:
            _number(o, "grad_clip", self.grad_clip, 0.0, 1e6, lo_open=True)
        _number(o, "distill_alpha", self.distill_alpha, 0.0, 1.0)
        _number(o, "distill_temperature", self.distill_temperature, 0.0, 100.0, lo_open=True)
        _number(o, "label_smoothing", self.label_smoothing, 0.0, 1.0)
        _integer(o, "eval_batch_size", self.eval_batch_size, 1, 1 << 24)
