"""Accelerator presets, every constant named with its source.

Sources (short keys used in the comments):
  ISAAC     Shafiee et al., ISCA 2016, 32 nm: 1024 1-bit DACs draw 4 mW at 1.2e7 drives/s each, i.e.
            0.33 pJ per drive (Accelergy's ISAAC library: 0.417 pJ), 0.166 um^2 each; SAR ADCs (Kull et
            al.) 0.79 / 1.20 / 1.67 / 2.38 pJ per 4 / 6 / 8 / 10-bit conversion.
  NeuroSim  DNN_NeuroSim V1.3, SarADC.cpp GetColumnPower (14 nm LP): per converted column
            P = (0.3132 log2 L + 2.5681) uW + 0.061085 W/S x G_col, for (log2 L + 1) ns (read at 0.5 V).
  Horowitz  Horowitz, ISSCC 2014, 45 nm: 8-bit add 0.03 pJ, 8-bit multiply 0.2 pJ, 8 KB SRAM 64-bit
            read 10 pJ (0.156 pJ/bit).
  S&B       Stillmaker & Baas, Integration 2017: 45 nm -> 14 nm energy x ~0.14, 32 nm -> 14 nm x ~0.21.
  LeGallo   Le Gallo et al., Nature Electronics 2023 (HERMES, 14 nm PCM, 64 cores of 256x256):
            9.76 TOPS/W and 63.1 TOPS one-phase 8-bit, 1.59 TOPS/mm^2 per core (0.987 TOPS per core,
            so about 0.62 mm^2 per core, its digital units included).
  Zhou      Zhou et al., IEEE Micro 2022 (AnalogNets / AON-CiM, 14 nm PCM, layer-serial).
  FITTED    fitted by benchmarks/cost_calibration.py to the six AON-CiM TOPS/W figures (Zhou) on the
            zoo's analognet_kws / analognet_vww (or, for HERMES, to 9.76 TOPS/W on a fully used core);
            the script prints the fit, so a change of the model is re-fitted, not hand-tuned.
  ASSUMED   an engineering estimate where no source gives the number; change it freely.
"""

from __future__ import annotations

from tinycim.cost.accelerator import Accelerator, ADCSpec, ArraySpec, DACSpec, DigitalSpec, LayoutSpec
from tinycim.errors import ConfigError

# ---- shared 14 nm digital constants: Horowitz 2014 (45 nm) x 0.14 (Stillmaker & Baas 2017) -------------
SCALE_45_TO_14NM = 0.14
MULTIPLY_8B_J = 0.2e-12 * SCALE_45_TO_14NM  # 28 fJ
ADD_8B_J = 0.03e-12 * SCALE_45_TO_14NM  # 4.2 fJ
SRAM_READ_BIT_J = 10e-12 / 64 * SCALE_45_TO_14NM  # 21.9 fJ per bit (8 KB SRAM, 64-bit read)
SCALE_32_TO_14NM = 0.21
ISAAC_DAC_DRIVE_32NM_J = 4e-3 / 1024 / 1.2e7  # 0.33 pJ: ISAAC's 1024 DACs, 4 mW, 1.2e7 drives/s each
ISAAC_DAC_DRIVE_J = ISAAC_DAC_DRIVE_32NM_J * SCALE_32_TO_14NM  # 68 fJ at 14 nm (ISAAC x S&B)
ISAAC_DAC_AREA_UM2 = 0.166  # ISAAC (not scaled: a conservative driver area)
ISAAC_ADC_8B_32NM_J = 1.67e-12  # ISAAC / Kull SAR, 8-bit conversion at 32 nm
# ASSUMED: 6T SRAM at 14 nm ~0.06 um^2/bit, x2 for periphery -> ~0.001 mm^2 per KiB.
SRAM_AREA_MM2_PER_KIB = 0.001
PCM_READ_VOLTAGE_V = 0.2  # ASSUMED: low read bias keeps PCM reads non-disturbing (LeGallo reads at ~0.2 V)

# ---- AON-CiM (Zhou 2022): one 1024 x 512 differential PCM array, layer-serial --------------------------
# Fitted by benchmarks/cost_calibration.py (scan of the fixed MVM time, NNLS for the two energies).
AON_MVM_FIXED_TIME_S = 325e-9  # FITTED: precharge, settle and integrator reset per MVM
AON_COL_BIAS_POWER_W = 1.096e-6  # FITTED: one column's integrator + comparator bias while an MVM runs
AON_ADC_FIXED_ENERGY_J = 4.85e-12  # FITTED: per column conversion (about 3x ISAAC's 8-bit SAR at 32 nm)
# ASSUMED: a ~200 MHz always-on clock: 5 ns per pulse-width step and per ramp step (8-bit MVM ~2.9 us).
AON_STEP_TIME_S = 5e-9


def aon_cim() -> Accelerator:
    """AON-CiM-like always-on accelerator (Zhou 2022): every layer resident in one 1024 x 512 PCM array
    (the tinycim "aon-cim" AnalogConfig), pulse-width inputs, one ramp ADC per column sharing a ramp,
    no per-column power gating (minimal area), layer-serial execution."""
    return Accelerator(
        name="aon-cim",
        execution="layer-serial",
        analog_preset="aon-cim",
        mvm_fixed_time_s=AON_MVM_FIXED_TIME_S,
        array=ArraySpec(
            rows=1024,
            cols=512,
            cores=1,
            device_area_um2=0.03,  # ASSUMED: 1T1R PCM, ~150 F^2 at 14 nm
            read_voltage_v=PCM_READ_VOLTAGE_V,
            col_bias_power_w=AON_COL_BIAS_POWER_W,
            gate_unused_columns=False,  # minimal-area design: every column biased (Zhou)
            core_leakage_w=2e-6,
        ),  # ASSUMED: array periphery leakage
        dac=DACSpec(
            step_time_s=AON_STEP_TIME_S, drive_energy_j=ISAAC_DAC_DRIVE_J, area_um2=ISAAC_DAC_AREA_UM2
        ),
        adc=ADCSpec(
            kind="ramp",
            fixed_energy_j=AON_ADC_FIXED_ENERGY_J,
            step_energy_j=0.0,
            ramp_energy_j=30e-15,  # ASSUMED: shared ramp buffer + Gray-counter bus, per step
            step_time_s=AON_STEP_TIME_S,
            cols_per_adc=1,
            area_um2=25.0,  # ASSUMED: column comparator + b-bit latch
            subtract_energy_j=10e-15,
            subtract_area_um2=5.0,  # ASSUMED: G+ - G- current mirror
            gain_energy_j=20e-15,
            gain_area_um2=10.0,
        ),  # ASSUMED: per-layer programmable gain
        digital=DigitalSpec(
            multiply_energy_j=MULTIPLY_8B_J,
            add_energy_j=ADD_8B_J,
            activation_energy_j=ADD_8B_J,
            sram_energy_per_bit_j=SRAM_READ_BIT_J,
            leakage_power_w=10e-6,  # ASSUMED: always-on digital + SRAM leakage
            sram_kib=64.0,  # ASSUMED: holds VWW's largest feature maps (in + out)
            sram_area_mm2_per_kib=SRAM_AREA_MM2_PER_KIB,
            logic_area_mm2=0.05,
        ),  # ASSUMED: sequencer, scale/bias/activation unit
    )


# ---- HERMES (LeGallo 2023): 64 cores of 256 x 256, tiled, layers pipelined over cores ---------------------
# One 8-bit MVM takes 131072 ops / (63.1 TOPS / 64 cores) = 133 ns: 64 ns of pulse-width input, 64 ns of
# time-domain (CCO) conversion and 5 ns fixed: the step times below are chosen to give that.
HERMES_STEP_TIME_S = 0.25e-9
HERMES_MVM_FIXED_TIME_S = 5e-9
HERMES_COL_BIAS_POWER_W = 0.378e-3  # FITTED: one column's readout + CCO ADC while converting (9.76 TOPS/W)
# LeGallo: 0.987 TOPS per core at 1.59 TOPS/mm^2 -> 0.62 mm^2 per core; array + periphery below give 0.39 mm^2,
# so each core's local digital units (SRAM + logic) take about 0.23 mm^2.
HERMES_CORE_SRAM_KIB = 64.0  # ASSUMED: per-core activation buffer
HERMES_CORE_LOGIC_MM2 = 0.165  # FITTED: per-core area to 0.62 mm^2 (LeGallo's 1.59 TOPS/mm^2), SRAM included


def hermes() -> Accelerator:
    """IBM HERMES-like multi-core chip (LeGallo 2023): 64 cores of 256 x 256 differential PCM cells,
    8-bit pulse-width inputs, time-domain (CCO, counted like a ramp) ADC per column; each layer tile on
    its own core, idle columns gated."""
    return Accelerator(
        name="hermes",
        execution="tiled",
        analog_preset="hermes",
        mvm_fixed_time_s=HERMES_MVM_FIXED_TIME_S,
        array=ArraySpec(
            rows=256,
            cols=256,
            cores=64,
            device_area_um2=0.03,  # ASSUMED: as AON-CiM, same 14 nm PCM
            read_voltage_v=PCM_READ_VOLTAGE_V,
            col_bias_power_w=HERMES_COL_BIAS_POWER_W,
            gate_unused_columns=True,
            core_leakage_w=50e-6,
        ),  # ASSUMED
        dac=DACSpec(
            step_time_s=HERMES_STEP_TIME_S, drive_energy_j=ISAAC_DAC_DRIVE_J, area_um2=ISAAC_DAC_AREA_UM2
        ),
        adc=ADCSpec(
            kind="ramp",
            fixed_energy_j=0.1e-12,  # ASSUMED: counter latch and readout per conversion
            step_energy_j=0.0,
            ramp_energy_j=0.0,
            step_time_s=HERMES_STEP_TIME_S,
            cols_per_adc=1,
            area_um2=1500.0,  # ASSUMED: CCO ADC + current mirror; ~0.4 mm^2 periphery per core
            subtract_energy_j=10e-15,
            subtract_area_um2=5.0,
            gain_energy_j=20e-15,
            gain_area_um2=10.0,
        ),
        digital=DigitalSpec(
            multiply_energy_j=MULTIPLY_8B_J,
            add_energy_j=ADD_8B_J,
            activation_energy_j=ADD_8B_J,
            sram_energy_per_bit_j=SRAM_READ_BIT_J,
            leakage_power_w=50e-6,  # ASSUMED
            sram_kib=HERMES_CORE_SRAM_KIB,
            sram_area_mm2_per_kib=SRAM_AREA_MM2_PER_KIB,
            logic_area_mm2=HERMES_CORE_LOGIC_MM2,
            per_core=True,
        ),  # local digital units per core
    )


# ---- hamq-bitcell: reconstruction of HamQ's (IEEE Sensors J. 2024) bit-cell hardware -----------------------
# The paper's energy argument (abstract; the full text was not reachable): binary ON/OFF bit-cells, "a lesser
# amount of ON bit-cells ... results in lower bitline currents in crossbar arrays, which are often a major
# energy overhead". The organisation below is NeuroSim's default (sliced weights on slice columns, bit-serial
# inputs, SAR ADCs muxed over 8 columns, 128 x 128 sub-arrays) and every constant is NeuroSim's, ISAAC's
# (scaled to 14 nm) or ASSUMED.
# The bit-line current is counted ONCE, as the cell-read energy V^2 * G * t of every ON cell a 1 bit of the
# input drives (the "array" component): NeuroSim counts the same current inside its ADC power instead
# ("RRAM's energy is counted in ADC already", NeuroSim V2.1 issue 2), so the preset leaves the ADC's
# column-current term off (`adc.column_current_w_per_s`, NEUROSIM_ADC_CURRENT_W_PER_S to switch it on; both on
# would count the bit-line current twice). OFF cells conduct nothing (ASSUMED: ideal RESET; a PCM RESET state
# at ~0.1 uS against 25 uS ON changes the bit-line energy by < 1 %).
# Scope of HamQ's figures (ASSUMED, a reconstruction): the per-inference energy HamQ reports is the bit-line
# (cell read) energy its regularizer targets: an energy with a weight-independent part (converters,
# digital, SRAM) larger than half could not fall by 54 % for any ON-cell cut below 100 %, and HamQ names no
# other component. `energy_scope=("array",)` compares its claim on that scope; the whole chip is reported
# beside it.
NEUROSIM_ADC_STATIC_W = 2.5681e-6  # NeuroSim SarADC GetColumnPower, 14 nm: fixed part per column
NEUROSIM_ADC_PER_BIT_W = 0.3132e-6  # NeuroSim: x log2(levels)
NEUROSIM_ADC_CURRENT_W_PER_S = 0.061085  # NeuroSim: x 1/R_col = G_col (S), at its 0.5 V read
NEUROSIM_READ_V = 0.5  # NeuroSim's default read voltage (the current term's reference)
NEUROSIM_STEP_S = 1e-9  # NeuroSim: conversion time (log2 L + 1) ns; one bit-serial input pulse ASSUMED 1 ns
NEUROSIM_SUBARRAY = 128  # NeuroSim's default sub-array, 128 x 128
NEUROSIM_COLS_PER_ADC = 8  # NeuroSim's default column mux (numColMuxed)


HAMQ_SCOPE_NOTE = (
    "HamQ (IEEE Sensors J. 2024, abstract): fewer ON bit-cells -> lower bit-line currents; its -42.7 % / -54 % "
    "are read as the bit-line (cell read) energy (ASSUMED: full text not reachable); whole chip given beside"
)


def hamq_bitcell() -> Accelerator:
    """RECONSTRUCTION of HamQ's hardware (NeuroSim-style): binary bit-cells (1-bit devices, an 8-bit weight
    on 8 slice columns per polarity, sign-magnitude on a G+ and a G- column set), bit-serial inputs, SAR ADCs
    with NeuroSim's fixed power, the bit-line current counted once as cell-read energy, digital
    shift-and-add, idle columns gated; 128 x 128 sub-arrays, each layer tile on its own sub-array. Its
    published-claim scope is the bit-line energy (`energy_scope`)."""
    return Accelerator(
        name="hamq-bitcell",
        execution="tiled",
        analog_preset="pcm",
        weight_bits=8,
        device_bits=1,
        description="reconstruction of HamQ (IEEE Sensors J. 2024): binary bit-cells, sliced weights, "
        "bit-serial inputs, NeuroSim SAR ADC; claim scope: bit-line (cell read) energy",
        energy_scope=("array",),
        scope_note=HAMQ_SCOPE_NOTE,
        mvm_fixed_time_s=1e-9,  # ASSUMED: precharge per read cycle
        array=ArraySpec(
            rows=NEUROSIM_SUBARRAY,
            cols=NEUROSIM_SUBARRAY,
            cores=4096,  # cores: ASSUMED, ample
            device_area_um2=0.03,  # ASSUMED: as AON-CiM
            read_voltage_v=NEUROSIM_READ_V,
            col_bias_power_w=0.0,  # NeuroSim: the column readout is inside the ADC power
            gate_unused_columns=True,  # NeuroSim powers only the columns a layer uses
            core_leakage_w=0.0,
        ),  # ASSUMED: leakage left out, as NeuroSim's dynamic-energy figures
        dac=DACSpec(
            step_time_s=NEUROSIM_STEP_S, drive_energy_j=ISAAC_DAC_DRIVE_J, area_um2=ISAAC_DAC_AREA_UM2
        ),
        adc=ADCSpec(
            kind="sar",
            fixed_energy_j=0.0,
            step_energy_j=0.0,
            step_time_s=NEUROSIM_STEP_S,
            cols_per_adc=NEUROSIM_COLS_PER_ADC,
            static_power_w=NEUROSIM_ADC_STATIC_W,
            static_power_per_bit_w=NEUROSIM_ADC_PER_BIT_W,
            column_current_w_per_s=0.0,  # the bit-line current is the array's cell-read energy (above)
            area_um2=100.0,  # ASSUMED: one SAR ADC per 8 columns
            gain_energy_j=0.0,
            gain_area_um2=0.0,
        ),  # NeuroSim: no per-layer gain stage (scale is digital)
        layout=LayoutSpec(differential="columns", slicing="digital", input_encoding="bit-serial"),
        digital=DigitalSpec(
            multiply_energy_j=MULTIPLY_8B_J,
            add_energy_j=ADD_8B_J,
            activation_energy_j=ADD_8B_J,
            sram_energy_per_bit_j=SRAM_READ_BIT_J,
            leakage_power_w=0.0,
            sram_kib=64.0,
            sram_area_mm2_per_kib=SRAM_AREA_MM2_PER_KIB,
            logic_area_mm2=0.05,
        ),  # ASSUMED as AON-CiM
    )


# ---- unipolar-ijcnn: reconstruction of Garcia-Redondo et al. (IJCNN 2020) ---------------------------------
# Baseline (paper): "full-custom design of each one of the DNN layers, involving finely tuned blocks such as
# ADC/DACs or current subtractors" -> each layer its own crossbar sized to it ("used" area) with its own
# converter set (per_layer_periphery "custom"); a signed weight on a G+ and a G- column, each converted.
# Proposed: unipolar layers (one column per weight) and uniform ranges, so ONE converter design serves every
# layer; layers run one after another (layer-serial) on that shared set. Multi-level devices: 2 / 4 bits.
# 14 nm constants as the other presets; the paper's own technology figures were not reachable.
# Scope of the paper's figures: "circuit-level efficiency gains" (v3 abstract); "unipolar weight matrices
# translate into simpler analog periphery and lead to 67 % area improvement and up to 40 % power reduction"
# (v1 abstract). So the claim counts the analog circuits, crossbars and their converter periphery (drivers,
# ADCs, column readout), not the activation SRAM and digital block that both designs keep unchanged:
# `energy_scope` / `area_scope` below (a reconstruction from the abstracts; the whole chip is reported beside).
IJCNN_SCOPE_NOTE = (
    "Garcia-Redondo et al. 2020: 'circuit-level efficiency gains' (v3 abstract), 'simpler analog periphery' "
    "(v1): analog crossbars + converter periphery; activation SRAM and digital block (shared) excluded"
)
IJCNN_STEP_TIME_S = 0.1e-9  # ASSUMED: 10 GHz-equivalent pulse-width step (ISAAC-class 1.2 GS/s converters)
IJCNN_ADC_PER_BIT_J = ISAAC_ADC_8B_32NM_J / 8 * SCALE_32_TO_14NM  # ISAAC/Kull 8-bit SAR per bit, x S&B: 44 fJ
IJCNN_ADC_AREA_UM2 = 1200.0 * 0.2  # ISAAC: 8 ADCs in 0.0096 mm^2 at 32 nm (1200 um^2), x ~0.2 area to 14 nm


def unipolar_ijcnn() -> Accelerator:
    """RECONSTRUCTION of Garcia-Redondo et al. (IJCNN 2020): 2-bit multi-level devices, every layer a
    crossbar sized to it ("used" area); differential weights on two columns. Run with periphery="per-layer"
    (baseline: a full-custom converter set per layer) or periphery="uniform" (one shared design)."""
    return Accelerator(
        name="unipolar-ijcnn",
        execution="layer-serial",
        analog_preset="pcm",
        weight_bits=2,
        device_bits=2,
        per_layer_periphery="custom",
        description="reconstruction of Garcia-Redondo et al. (IJCNN 2020): per-layer full-custom crossbars and "
        "converters (baseline) vs one shared uniform design; G+/G- on two columns",
        energy_scope=("dac", "array", "adc", "readout_bias"),
        area_scope=("array", "periphery"),
        scope_note=IJCNN_SCOPE_NOTE,
        mvm_fixed_time_s=5e-9,  # ASSUMED: precharge and settle
        array=ArraySpec(
            rows=1024,
            cols=1024,
            cores=1,  # the largest layer block the placement accepts (ASSUMED)
            device_area_um2=0.03,
            read_voltage_v=PCM_READ_VOLTAGE_V,  # ASSUMED, as AON-CiM
            col_bias_power_w=1e-6,  # ASSUMED: column integrator bias, as AON-CiM's fit (1.1 uW)
            gate_unused_columns=True,  # per-layer crossbars: no idle columns of other layers
            core_leakage_w=0.0,
            area_mode="used",
        ),
        dac=DACSpec(
            step_time_s=IJCNN_STEP_TIME_S, drive_energy_j=ISAAC_DAC_DRIVE_J, area_um2=ISAAC_DAC_AREA_UM2
        ),
        adc=ADCSpec(
            kind="sar",
            fixed_energy_j=0.0,
            step_energy_j=IJCNN_ADC_PER_BIT_J,
            step_time_s=IJCNN_STEP_TIME_S,
            cols_per_adc=1,
            area_um2=IJCNN_ADC_AREA_UM2,
            subtract_energy_j=10e-15,
            subtract_area_um2=5.0,  # ASSUMED (only for in-cell pairs)
            gain_energy_j=20e-15,
            gain_area_um2=10.0,
        ),  # ASSUMED: a layer's own reference, per conversion
        layout=LayoutSpec(differential="columns", slicing="digital", input_encoding="pulse-width"),
        digital=DigitalSpec(
            multiply_energy_j=MULTIPLY_8B_J,
            add_energy_j=ADD_8B_J,
            activation_energy_j=ADD_8B_J,
            sram_energy_per_bit_j=SRAM_READ_BIT_J,
            leakage_power_w=0.0,
            sram_kib=16.0,
            sram_area_mm2_per_kib=SRAM_AREA_MM2_PER_KIB,
            logic_area_mm2=0.01,
        ),  # ASSUMED: HAR-sized
    )


ACCELERATORS = {
    "aon-cim": aon_cim,
    "hermes": hermes,
    "hamq-bitcell": hamq_bitcell,
    "unipolar-ijcnn": unipolar_ijcnn,
}


def get_accelerator(name: str) -> Accelerator:
    """A preset by name; see `ACCELERATORS`."""
    if name not in ACCELERATORS:
        raise ConfigError(f"unknown accelerator {name!r}: allowed {', '.join(sorted(ACCELERATORS))}")
    return ACCELERATORS[name]()
