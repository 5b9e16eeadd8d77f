"""`Accelerator`: the typed, validated component constants of an analog CiM accelerator.

Frozen dataclasses (override with `dataclasses.replace`), every field checked in `__post_init__`
(a bad value raises `ConfigError` naming the field and its allowed range), JSON round trip with a
format version. Units are SI throughout: joules, seconds, watts, square micrometres (um^2) for
per-instance areas and mm^2 for block areas. The numbers themselves, with their sources, live in
`tinycim.cost.presets`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from tinycim.checks import check_choice, check_integer, check_positive
from tinycim.config import known_fields, parse_json
from tinycim.errors import ConfigError

ACCELERATOR_VERSION = 1
EXECUTIONS = ("layer-serial", "tiled")
ADC_KINDS = ("ramp", "sar")
DIFFERENTIAL_LAYOUTS = ("cell", "columns", "arrays")
SLICINGS = ("digital", "analog")
INPUT_ENCODINGS = ("pulse-width", "bit-serial")
AREA_MODES = ("array", "used")
PER_LAYER_PERIPHERIES = ("gain", "custom")
# Energy components (as `tinycim.cost.events.COMPONENTS`) and area blocks (as `tinycim.cost.area`) that a
# preset's published-claim scope may name.
ENERGY_COMPONENTS = ("dac", "array", "adc", "readout_bias", "digital", "sram", "leakage")
AREA_BLOCKS = ("array", "periphery", "digital")
_MAX_DIM = 1 << 16


def _number(owner: str, name: str, value: Any, *, zero: bool = True) -> None:
    check_positive(owner, name, value, allow_zero=zero)


def _integer(owner: str, name: str, value: Any, lo: int = 1, hi: int = _MAX_DIM) -> None:
    check_integer(owner, name, value, lo, hi)


def _check_fields(obj: Any, owner: str, positive: tuple[str, ...] = ()) -> None:
    """Every float field >= 0 (those in `positive` > 0); ints and bools are checked by the caller."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.type in ("float", float):
            _number(owner, f.name, value, zero=f.name not in positive)


@dataclass(frozen=True)
class ArraySpec:
    """The crossbar: `cores` arrays of `rows` x `cols` unit cells (a unit cell = one weight:
    2 devices when differential, 1 when unipolar).

    device_area_um2:   one PCM device with its access transistor (um^2).
    read_voltage_v:    bit-line read voltage; a cell's energy is V^2 * G * t_pulse (J).
    col_bias_power_w:  static bias of one column's integrator/comparator while an MVM runs (W).
    gate_unused_columns: if False every column of the array is biased during each MVM (minimal-area
        design: no per-column power gating), so small layers pay for the whole array.
    core_leakage_w:    leakage of one core (array + periphery) while the accelerator runs (W).
    area_mode: "array": area counts whole rows x cols arrays (a fixed chip); "used": each layer block
        is its own crossbar sized to it (full-custom per-layer arrays), so area counts used cells only.
    """

    rows: int = 1024
    cols: int = 512
    cores: int = 1
    device_area_um2: float = 0.05
    read_voltage_v: float = 0.2
    col_bias_power_w: float = 1e-6
    gate_unused_columns: bool = False
    core_leakage_w: float = 0.0
    area_mode: str = "array"

    def __post_init__(self) -> None:
        for name in ("rows", "cols", "cores"):
            _integer("array", name, getattr(self, name))
        check_choice("array", "area_mode", self.area_mode, AREA_MODES)
        if not isinstance(self.gate_unused_columns, bool):
            raise ConfigError(
                f"array.gate_unused_columns = {self.gate_unused_columns!r} is invalid: allowed true/false"
            )
        _check_fields(self, "array", positive=("device_area_um2", "read_voltage_v"))


@dataclass(frozen=True)
class DACSpec:
    """Pulse-width (time-domain) input drivers, one per row: a b-bit code n is a read pulse of
    n * step_time_s, so input time and cell energy grow as 2^b.

    drive_energy_j: wordline charge and discharge for one non-zero input pulse (J); bit-serial
        inputs pulse once per 1 bit of the code.
    area_um2:       one row driver (um^2).
    """

    step_time_s: float = 1e-9
    drive_energy_j: float = 3.9e-15
    area_um2: float = 0.166

    def __post_init__(self) -> None:
        _check_fields(self, "dac", positive=("step_time_s",))


@dataclass(frozen=True)
class ADCSpec:
    """Column converters.

    kind "ramp": a shared ramp and counter sweep 2^b steps; each column latches the count when its
        comparator flips. Time 2^b * step_time_s; energy per conversion fixed_energy_j +
        step_energy_j * 2^b, plus ramp_energy_j * 2^b once per MVM (ramp generator, counter bus).
    kind "sar": one sample + b successive-approximation cycles; time (b + 1) * step_time_s per
        column, times cols_per_adc (columns share an ADC through a mux); energy per conversion
        fixed_energy_j + step_energy_j * b.
    Power drawn while one column is converted (NeuroSim's SAR model, `SarADC.cpp` GetColumnPower):
        P = static_power_w + static_power_per_bit_w * b + column_current_w_per_s * G_col, for the
        conversion time t_conv ((b + 1) steps SAR, 2^b steps ramp), where G_col (S) is the column's
        conductance read by the inputs during that conversion: fewer ON cells, less ADC energy.
        column_current_w_per_s = 0 (default) turns the current term off.
    subtract_energy_j / subtract_area_um2: the G+ - G- subtractor of a differential column.
    gain_energy_j / gain_area_um2: a programmable gain/reference stage per column, needed only
        when every layer has its own converter range ("per-layer" periphery; seed B removes it).
    """

    kind: str = "ramp"
    fixed_energy_j: float = 50e-15
    step_energy_j: float = 0.0
    ramp_energy_j: float = 0.0
    step_time_s: float = 1e-9
    cols_per_adc: int = 1
    area_um2: float = 100.0
    subtract_energy_j: float = 0.0
    subtract_area_um2: float = 0.0
    gain_energy_j: float = 0.0
    gain_area_um2: float = 0.0
    static_power_w: float = 0.0
    static_power_per_bit_w: float = 0.0
    column_current_w_per_s: float = 0.0

    def conversion_cycle_s(self, bits: int) -> float:
        """How long one column's conversion draws power (s): SAR (b + 1) steps, ramp 2^b steps."""
        return ((bits + 1) if self.kind == "sar" else (1 << bits)) * self.step_time_s

    def __post_init__(self) -> None:
        if self.kind not in ADC_KINDS:
            raise ConfigError(f"adc.kind = {self.kind!r} is invalid: allowed values {', '.join(ADC_KINDS)}")
        _integer("adc", "cols_per_adc", self.cols_per_adc)
        _check_fields(self, "adc", positive=("step_time_s",))


@dataclass(frozen=True)
class DigitalSpec:
    """Digital periphery and activation memory.

    multiply_energy_j: per-output scale (one multiply; per-layer periphery only, see estimate).
    add_energy_j:      bias add, and each extra row tile's partial-sum add (J).
    activation_energy_j: activation function / requantization per output (J).
    sram_energy_per_bit_j: activation SRAM read or write, per bit (J).
    leakage_power_w:   digital logic + SRAM leakage while the accelerator runs (W).
    sram_kib / sram_area_mm2_per_kib / logic_area_mm2: activation buffer size and the block areas.
    per_core: False: one digital block per chip; True: every core used has its own (SRAM and logic
        counted once per core, as on HERMES where each core has its local digital units).
    """

    multiply_energy_j: float = 28e-15
    add_energy_j: float = 4.2e-15
    activation_energy_j: float = 4.2e-15
    sram_energy_per_bit_j: float = 21.9e-15
    leakage_power_w: float = 0.0
    sram_kib: float = 64.0
    sram_area_mm2_per_kib: float = 0.0015
    logic_area_mm2: float = 0.05
    per_core: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.per_core, bool):
            raise ConfigError(f"digital.per_core = {self.per_core!r} is invalid: allowed true/false")
        _check_fields(self, "digital")


@dataclass(frozen=True)
class LayoutSpec:
    """How a weight's devices are laid out and read (the hardware choices behind one weight).

    differential: how a differential (signed) weight's pair G+ / G- is built:
        "cell":    two devices in one unit cell on one column, subtracted in analog on the bit line
                   (a subtractor per column, `adc.subtract_*`); one conversion per column.
        "columns": G+ and G- on two columns, each read and converted, subtracted digitally:
                   twice the columns and conversions of a unipolar weight.
        "arrays":  G+ and G- in two arrays (the layer's blocks duplicated), each converted:
                   twice the arrays, drivers and conversions.
        A unipolar layer (its AnalogConfig.mapping.polarity) uses one column and no subtractor in
        every layout.
    slicing: how a sliced weight (weight_bits > device_bits: S devices per polarity) is read:
        "digital": every slice on its own column with its own conversion, slices combined by
                   digital shift-and-add (one add per extra conversion);
        "analog":  slice columns weighted in analog (binary-weighted current mirrors) and summed
                   before ONE conversion per weight column; costs `analog_weight_energy_j` per slice
                   column per MVM and `analog_weight_area_um2` per column.
    input_encoding: "pulse-width" (a b-bit code is one pulse of n steps: time and cell energy ~ 2^b)
        or "bit-serial" (b cycles of one-step pulses, one per bit of the code, each cycle's columns
        converted and shift-and-added digitally: time ~ b, conversions x b).
    """

    differential: str = "cell"
    slicing: str = "digital"
    input_encoding: str = "pulse-width"
    analog_weight_energy_j: float = 0.0
    analog_weight_area_um2: float = 0.0

    def __post_init__(self) -> None:
        check_choice("layout", "differential", self.differential, DIFFERENTIAL_LAYOUTS)
        check_choice("layout", "slicing", self.slicing, SLICINGS)
        check_choice("layout", "input_encoding", self.input_encoding, INPUT_ENCODINGS)
        _check_fields(self, "layout")


@dataclass(frozen=True)
class Accelerator:
    """One accelerator: execution style, array, converters, digital, and the MVM's fixed time.

    execution: "layer-serial" (every layer resident in one array, run one after another: AON-CiM)
        or "tiled" (each layer's tiles on their own cores, layers pipelined: HERMES).
    mvm_fixed_time_s: precharge, settling and reset of one MVM, on top of input and conversion time.
    analog_preset: the tinycim AnalogConfig preset a digital model is converted with.
    per_layer_periphery: what "per-layer" periphery (each layer its own converter ranges) costs:
        "gain":   one shared converter set plus a programmable gain/reference stage per column;
        "custom": a full-custom DAC/ADC set per layer (Garcia-Redondo 2020's baseline): every layer
                  block has its own drivers and converters (area summed over blocks), and each
                  conversion pays its layer's reference (`adc.gain_energy_j`).
        "uniform" periphery (one range for all layers) always shares one design: one converter set
        per array ("array" area) or one set sized to the largest block ("used" area, layer-serial).
    weight_bits, device_bits: the weight precision and device levels a DIGITAL model is converted with
        (None: the analog preset's); a converted model keeps each layer's own.
    description: what the preset is (e.g. "reconstruction of ..."), shown by `tinycim accelerators`.
    energy_scope, area_scope: the energy components (`ENERGY_COMPONENTS`) and area blocks (`AREA_BLOCKS`)
        that the published figure a reconstructed preset is compared with counts; empty (default) =
        the whole chip. `scoped_energy_j` / `scoped_area_mm2` sum a report's figures over them, so a
        claim is compared on the paper's own scope, always beside the whole-chip figure.
    scope_note: why that scope (which source says what the paper counted).
    """

    name: str = "custom"
    execution: str = "layer-serial"
    array: ArraySpec = field(default_factory=ArraySpec)
    dac: DACSpec = field(default_factory=DACSpec)
    adc: ADCSpec = field(default_factory=ADCSpec)
    digital: DigitalSpec = field(default_factory=DigitalSpec)
    layout: LayoutSpec = field(default_factory=LayoutSpec)
    mvm_fixed_time_s: float = 0.0
    analog_preset: str = "pcm"
    per_layer_periphery: str = "gain"
    weight_bits: int | None = None
    device_bits: int | None = None
    description: str = ""
    energy_scope: tuple[str, ...] = ()
    area_scope: tuple[str, ...] = ()
    scope_note: str = ""
    version: int = ACCELERATOR_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"accelerator.name = {self.name!r} is invalid: a non-empty string is required")
        if self.execution not in EXECUTIONS:
            raise ConfigError(
                f"accelerator.execution = {self.execution!r} is invalid: allowed values "
                f"{', '.join(EXECUTIONS)}"
            )
        _number("accelerator", "mvm_fixed_time_s", self.mvm_fixed_time_s)
        check_choice("accelerator", "per_layer_periphery", self.per_layer_periphery, PER_LAYER_PERIPHERIES)
        for name in ("weight_bits", "device_bits"):
            if getattr(self, name) is not None:
                _integer("accelerator", name, getattr(self, name), 1, 16)
        for name in ("description", "scope_note"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(
                    f"accelerator.{name} = {getattr(self, name)!r} is invalid: a string is required"
                )
        for name, allowed in (("energy_scope", ENERGY_COMPONENTS), ("area_scope", AREA_BLOCKS)):
            value = getattr(self, name)
            if not isinstance(value, (tuple, list)) or any(v not in allowed for v in value):
                raise ConfigError(
                    f"accelerator.{name} = {value!r} is invalid: a list of distinct names from "
                    f"{', '.join(allowed)} (empty = whole chip)"
                )
            if len(set(value)) != len(value):
                raise ConfigError(f"accelerator.{name} = {value!r} is invalid: a name is repeated")
            object.__setattr__(self, name, tuple(value))  # JSON gives lists
        if self.version != ACCELERATOR_VERSION:
            raise ConfigError(
                f"accelerator.version = {self.version!r} is not supported: allowed {ACCELERATOR_VERSION}"
            )
        for name, kind in _SECTIONS.items():
            if not isinstance(getattr(self, name), kind):
                raise ConfigError(
                    f"accelerator.{name} must be a {kind.__name__}, got {type(getattr(self, name)).__name__}"
                )

    # ---- the published claim's scope ----------------------------------------------------------
    def scoped_energy_j(self, by_component: dict[str, float]) -> float:
        """Energy (J) over `energy_scope` (every component when empty) of a report's
        `energy_by_component_j`."""
        names = self.energy_scope or tuple(by_component)
        return sum(by_component.get(n, 0.0) for n in names)

    def scoped_area_mm2(self, breakdown: dict[str, float]) -> float:
        """Area (mm^2) over `area_scope` (every block when empty) of a report's `area_breakdown_mm2`."""
        names = self.area_scope or tuple(breakdown)
        return sum(breakdown.get(n, 0.0) for n in names)

    # ---- derived timing -----------------------------------------------------------------------
    @property
    def bit_serial(self) -> bool:
        return self.layout.input_encoding == "bit-serial"

    def input_cycles(self, bits: int) -> int:
        """Read cycles per MVM: 1 (pulse-width) or b (bit-serial)."""
        return bits if self.bit_serial else 1

    def input_time_s(self, bits: int) -> float:
        """Longest input pulse of one cycle: (2^b - 1) steps pulse-width, 1 step bit-serial (s)."""
        return (1 if self.bit_serial else (1 << bits) - 1) * self.dac.step_time_s

    def conversion_time_s(self, bits: int, cols_used: int) -> float:
        """Time to convert one cycle's columns at b bits (s)."""
        if self.adc.kind == "ramp":
            return (1 << bits) * self.adc.step_time_s * self.adc.cols_per_adc
        return self.adc.conversion_cycle_s(bits) * min(self.adc.cols_per_adc, max(1, cols_used))

    def mvm_time_s(self, bits: int, cols_used: int) -> float:
        """One MVM: per cycle fixed + input pulse + conversion, times the input cycles (s)."""
        cycle = self.mvm_fixed_time_s + self.input_time_s(bits) + self.conversion_time_s(bits, cols_used)
        return self.input_cycles(bits) * cycle

    # ---- serialization ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> Accelerator:
        kwargs = dict(known_fields(cls, "accelerator", data))
        for name, kind in _SECTIONS.items():
            if name in kwargs:
                if not isinstance(kwargs[name], dict):
                    raise ConfigError(f"accelerator.{name} must be an object, got {kwargs[name]!r}")
                kwargs[name] = kind(**known_fields(kind, name, kwargs[name]))
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> Accelerator:
        return cls.from_dict(parse_json(text, "accelerator"))


_SECTIONS: dict[str, type] = {
    "array": ArraySpec,
    "dac": DACSpec,
    "adc": ADCSpec,
    "digital": DigitalSpec,
    "layout": LayoutSpec,
}
