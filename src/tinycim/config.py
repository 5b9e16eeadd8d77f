"""`AnalogConfig`: the typed, validated description of the analog hardware a model runs on.

Frozen dataclasses, so overrides go through `dataclasses.replace`; every field is checked in
`__post_init__` and a bad value raises `ConfigError` naming the field and its allowed range.
Configs round-trip through JSON (`to_json` / `from_json`) and carry a format version.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
from dataclasses import dataclass, field
from typing import Any

from tinycim.checks import check_choice
from tinycim.devices import DEVICE_KINDS, Device, IdealDevice, PCMDevice, RRAMDevice
from tinycim.errors import ConfigError

CONFIG_VERSION = 2
# Versions `from_dict` still reads: v1 had no per-layer `layers` field (it reads as {}).
READABLE_CONFIG_VERSIONS = (1, 2)
# The value of a `layers` entry that keeps the matching layers digital.
DIGITAL = "digital"
# Sections a `layers` entry may override, and the top-level fields.
_SECTIONS = ("device", "tile", "mapping", "dac", "adc")
_OVERRIDABLE = _SECTIONS + ("gdc",)
MAX_CONVERTER_BITS = 16


def _check_bits(owner: str, name: str, value: int | None, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_CONVERTER_BITS:
        extra = " (or null for no quantization)" if optional else ""
        raise ConfigError(
            f"{owner}.{name} = {value!r} is invalid: allowed range 1..{MAX_CONVERTER_BITS}{extra}"
        )


def _check_range(owner: str, name: str, value: float | None) -> None:
    if value is None:
        return
    if not isinstance(value, (int, float)) or not value > 0 or value != value or value == float("inf"):
        raise ConfigError(f"{owner}.{name} = {value!r} is invalid: allowed range > 0 (or null to calibrate)")


class JsonConfig:
    """to_dict / to_json / from_dict / from_json with unknown-field checks (for dataclasses)."""

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-able dict."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]  # mixed into dataclasses only

    def to_json(self, indent: int | None = 2) -> str:
        """The config as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        """A config from a dict; ConfigError naming unknown or invalid fields."""
        return cls(**known_fields(cls, cls.__name__, data))

    @classmethod
    def from_json(cls, text: str):
        """A config from JSON text (see from_dict)."""
        return cls.from_dict(parse_json(text, cls.__name__))


def known_fields(kind: type, owner: str, data: Any) -> dict[str, Any]:
    """`data` if it is a mapping whose keys are all fields of the dataclass `kind`, else ConfigError
    naming `owner`, the unknown keys and the allowed ones (shared by every JSON-loaded config)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{owner} must be a JSON object, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"{owner} has unknown field(s) {sorted(unknown)}: allowed {sorted(known)}")
    return data


def resolve_preset(value: Any, kind: type, lookup: Any, name: str) -> Any:
    """`value` itself if it is a `kind`, `lookup(value)` if it is a preset name; otherwise a
    ConfigError naming the argument (shared by convert, prepare and cost.estimate)."""
    if isinstance(value, str):
        value = lookup(value)
    if not isinstance(value, kind):
        raise ConfigError(f"{name} must be an {kind.__name__} or a preset name, got {type(value).__name__}")
    return value


def parse_json(text: str, owner: str) -> Any:
    """json.loads with a ConfigError naming `owner` instead of a JSONDecodeError."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{owner} is not valid JSON: {err}") from None


@dataclass(frozen=True)
class TileConfig:
    """Crossbar tile (array) size in unit cells: `rows` word lines x `cols` bit lines.

    A differential unit cell holds two devices (G+ and G-) subtracted on the bit line, so a
    tile holds rows x cols weights either way; a unipolar cell holds one device.
    """

    rows: int = 512
    cols: int = 512

    def __post_init__(self) -> None:
        for name in ("rows", "cols"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1 << 20:
                raise ConfigError(f"tile.{name} = {value!r} is invalid: allowed range 1..{1 << 20}")


@dataclass(frozen=True)
class MappingConfig:
    """How weights become conductances.

    polarity: "differential" (a pair per weight) or "unipolar" (one device per weight; each tile
        all-positive or all-negative, negated digitally).
    unipolar_sign: per tile sign for unipolar mapping: "auto" (from the weights), "positive", "negative".
    weight_range: the |w| that maps to g_max: "layer" (max|W| per layer), "column" (per output),
        "uniform" (one value for the whole model, seed B; `weight_max` or the model's max|W|).
    weight_bits: magnitude bits of the stored weights (None = analog, continuous).
    device_bits: levels of one device, 2^b (None = as many as weight_bits). When weight_bits >
        device_bits the weight is sliced over ceil(weight_bits / device_bits) devices, combined by
        digital shift-and-add of their column outputs.
    """

    polarity: str = "differential"
    unipolar_sign: str = "auto"
    weight_range: str = "layer"
    weight_max: float | None = None
    weight_bits: int | None = None
    device_bits: int | None = None

    def __post_init__(self) -> None:
        check_choice("mapping", "polarity", self.polarity, ("differential", "unipolar"))
        check_choice(
            "mapping", "unipolar_sign", self.unipolar_sign, ("auto", "auto-layer", "positive", "negative")
        )
        check_choice("mapping", "weight_range", self.weight_range, ("layer", "column", "uniform"))
        _check_range("mapping", "weight_max", self.weight_max)
        _check_bits("mapping", "weight_bits", self.weight_bits)
        _check_bits("mapping", "device_bits", self.device_bits)
        if self.device_bits is not None and self.weight_bits is None:
            raise ConfigError("mapping.device_bits needs mapping.weight_bits (the weight precision to store)")

    @property
    def slices(self) -> int:
        """Devices (per polarity) that hold one weight."""
        if self.weight_bits is None or self.device_bits is None:
            return 1
        return -(-self.weight_bits // self.device_bits)


@dataclass(frozen=True)
class DACConfig:
    """Input digital-to-analog conversion: b-bit signed, over a fixed range, clipping outside.

    range: the |x| mapped to full scale, shared by every layer (uniform periphery, seed B);
        None = each layer's own range, set by `tc.calibrate` or learned in training (and,
        if neither happened, taken per sample from max|x|: ideal input gain control).
    """

    bits: int | None = 8
    range: float | None = None

    def __post_init__(self) -> None:
        _check_bits("dac", "bits", self.bits)
        _check_range("dac", "range", self.range)


@dataclass(frozen=True)
class ADCConfig:
    """Output analog-to-digital conversion of every tile column: b-bit signed, fixed full scale.

    range: full scale in normalized units (inputs in [-1, 1] times g/g_max in [-1, 1], summed
        over the tile's rows); outputs beyond it saturate. None = per layer, calibrated or learned.
    noise: std of additive Gaussian output noise, as a fraction of full scale (0 = off).
    """

    bits: int | None = 8
    range: float | None = None
    noise: float = 0.0

    def __post_init__(self) -> None:
        _check_bits("adc", "bits", self.bits)
        _check_range("adc", "range", self.range)
        if not isinstance(self.noise, (int, float)) or not 0 <= self.noise <= 1:
            raise ConfigError(
                f"adc.noise = {self.noise!r} is invalid: allowed range 0..1 (fraction of full scale)"
            )


@dataclass(frozen=True)
class AnalogConfig:
    """Everything about the analog hardware: device, tiles, mapping, DAC/ADC, drift compensation.

    gdc: global drift compensation: "layer" (one digital scale per layer), "column" (one per
        output column), or None (off).
    fold_bn: fold BatchNorm into the preceding conv/linear weights at conversion.
    layers: per-layer overrides, by module name or glob (`fnmatch`), applied in order (a later
        matching entry wins field by field). A value is "digital" (the layer stays a torch layer)
        or a dict of sections to change, e.g.
        ``{"features.0": {"mapping": {"polarity": "unipolar", "unipolar_sign": "positive"}},
        "features.3": {"mapping": {"weight_bits": 4, "device_bits": 2}}, "head.*": "digital"}``.
        A "device" entry without "kind" changes fields of the base device; with "kind" it replaces it.
        `for_layer(name)` resolves the config one layer runs on.
    """

    device: Device = field(default_factory=PCMDevice)
    tile: TileConfig = field(default_factory=TileConfig)
    mapping: MappingConfig = field(default_factory=MappingConfig)
    dac: DACConfig = field(default_factory=DACConfig)
    adc: ADCConfig = field(default_factory=ADCConfig)
    gdc: str | None = "layer"
    fold_bn: bool = True
    layers: dict[str, Any] = field(default_factory=dict)
    version: int = CONFIG_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.device, tuple(DEVICE_KINDS.values())):
            raise ConfigError(f"device = {self.device!r} is invalid: allowed kinds {', '.join(DEVICE_KINDS)}")
        check_choice("config", "gdc", self.gdc, ("layer", "column", None))
        check_choice("config", "fold_bn", self.fold_bn, (True, False))
        if self.version not in READABLE_CONFIG_VERSIONS:
            raise ConfigError(
                f"config.version = {self.version!r} is not supported: allowed "
                f"{', '.join(map(str, READABLE_CONFIG_VERSIONS))} (written by a newer tinycim? upgrade it)"
            )
        if self.version != CONFIG_VERSION:
            object.__setattr__(self, "version", CONFIG_VERSION)
        if not isinstance(self.layers, dict):
            raise ConfigError(
                f"layers = {self.layers!r} is invalid: a mapping of layer name or glob to overrides"
            )
        for pattern in self.layers:
            if not isinstance(pattern, str) or not pattern:
                raise ConfigError(
                    f"layers key {pattern!r} is invalid: a layer name or glob (non-empty string)"
                )
            self._apply(self.layers[pattern], pattern)  # validates every entry now, not at conversion

    def _apply(self, override: Any, pattern: str) -> AnalogConfig | None:
        """This config (without `layers`) with one override applied; None for "digital"."""
        owner = f"layers[{pattern!r}]"
        if override == DIGITAL:
            return None
        if not isinstance(override, dict):
            raise ConfigError(
                f"{owner} = {override!r} is invalid: allowed 'digital' or a dict of "
                f"{', '.join(_OVERRIDABLE)} overrides"
            )
        unknown = set(override) - set(_OVERRIDABLE)
        if unknown:
            raise ConfigError(f"{owner} has unknown field(s) {sorted(unknown)}: allowed {list(_OVERRIDABLE)}")
        changes: dict[str, Any] = {"layers": {}}
        for key, value in override.items():
            if key == "gdc":
                changes[key] = value
                continue
            if key == "device" and isinstance(value, dict) and "kind" in value:
                changes[key] = _device_from_dict(value)
                continue
            if not isinstance(value, dict):
                raise ConfigError(f"{owner}.{key} = {value!r} is invalid: a dict of {key} fields")
            current = getattr(self, key)
            allowed = {f.name for f in dataclasses.fields(current)}
            bad = set(value) - allowed
            if bad:
                raise ConfigError(
                    f"{owner}.{key} has unknown field(s) {sorted(bad)}: allowed {sorted(allowed)}"
                )
            fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
            try:
                changes[key] = dataclasses.replace(current, **fixed)
            except ConfigError as err:
                raise ConfigError(f"{owner}: {err}") from None
        try:
            return dataclasses.replace(self, **changes)
        except ConfigError as err:
            raise ConfigError(f"{owner}: {err}") from None

    def for_layer(self, name: str) -> AnalogConfig | None:
        """The config layer `name` runs on (every matching `layers` entry applied in order), or
        None when an entry keeps it digital. The result has no `layers` of its own."""
        cfg: AnalogConfig | None = dataclasses.replace(self, layers={}) if self.layers else self
        for pattern, override in self.layers.items():
            if name == pattern or fnmatch.fnmatchcase(name, pattern):
                if override == DIGITAL:
                    return None
                assert cfg is not None
                cfg = cfg._apply(override, pattern)
        return cfg

    def unmatched(self, names: list[str]) -> list[str]:
        """The `layers` patterns that match none of `names` (a typo would otherwise do nothing)."""
        return [p for p in self.layers if not any(n == p or fnmatch.fnmatchcase(n, p) for n in names)]

    # ---- presets -------------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str) -> AnalogConfig:
        """A named preset; see `PRESETS` for the list and their sources."""
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}: allowed presets {', '.join(sorted(PRESETS))}")
        return PRESETS[name]()

    # ---- serialization -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["layers"] = json.loads(json.dumps(self.layers))  # plain JSON values (tuples -> lists)
        return out

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnalogConfig:
        known_fields(cls, "analog config", data)
        kwargs: dict[str, Any] = {}
        sections = {"tile": TileConfig, "mapping": MappingConfig, "dac": DACConfig, "adc": ADCConfig}
        for key, value in data.items():
            if key == "device":
                kwargs[key] = _device_from_dict(value)
            elif key in sections:
                kwargs[key] = _section_from_dict(sections[key], key, value)
            else:
                kwargs[key] = value
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> AnalogConfig:
        return cls.from_dict(parse_json(text, "analog config"))


def _section_from_dict(kind: type, name: str, value: Any) -> Any:
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be an object, got {value!r}")
    return kind(**known_fields(kind, name, value))


def _device_from_dict(value: Any) -> Device:
    if not isinstance(value, dict) or value.get("kind") not in DEVICE_KINDS:
        got = value.get("kind") if isinstance(value, dict) else value
        raise ConfigError(f"device.kind = {got!r} is invalid: allowed kinds {', '.join(DEVICE_KINDS)}")
    kind = DEVICE_KINDS[value["kind"]]
    if hasattr(kind, "from_dict"):  # devices with nested data (measured tables) parse themselves
        return kind.from_dict(value)
    fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
    return _section_from_dict(kind, "device", fixed)


# ---- presets: each cites where its numbers come from ------------------------------------------
def _ideal() -> AnalogConfig:
    """Ideal devices, no quantization, no noise: reproduces the FP32 model."""
    return AnalogConfig(device=IdealDevice(), dac=DACConfig(bits=None), adc=ADCConfig(bits=None), gdc=None)


def _pcm() -> AnalogConfig:
    """Calibrated PCM (Nandakumar et al., ICECS 2019), 8-bit DAC/ADC, 512x512 tiles, GDC."""
    return AnalogConfig(device=PCMDevice(), tile=TileConfig(512, 512))


def _hermes() -> AnalogConfig:
    """IBM HERMES 64-core 14 nm PCM chip (Le Gallo et al., Nature Electronics 2023): 256x256 cores,
    8-bit I/O; 20.7 uS full scale per device pair reported there."""
    return AnalogConfig(device=PCMDevice(g_max_us=20.7), tile=TileConfig(256, 256))


def _rram() -> AnalogConfig:
    """RRAM (lognormal programming spread, no drift) on 256x256 arrays, 8-bit DAC/ADC; no GDC needed."""
    return AnalogConfig(device=RRAMDevice(), tile=TileConfig(256, 256), gdc=None)


def _aon_cim() -> AnalogConfig:
    """AON-CiM (Zhou et al., IEEE Micro 2022): 14 nm PCM, one large array holding every layer,
    run layer-serially, 8-bit activations, fixed-gain ADC. Array size is a reconstruction
    (1024 x 512 unit cells) large enough for AnalogNet-VWW's 232K weights."""
    return AnalogConfig(device=PCMDevice(), tile=TileConfig(1024, 512))


PRESETS = {"ideal": _ideal, "pcm": _pcm, "hermes": _hermes, "rram": _rram, "aon-cim": _aon_cim}
