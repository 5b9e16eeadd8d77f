"""Accelerator presets, every constant named with its source.

Sources (short keys used in the comments):
  ISAAC     Shafiee et al., ISCA 2016: 1-bit DAC 3.9 uW at 1.2 GHz (~3.9 fJ per drive), 0.166 um^2;
            SAR ADCs (Kull et al.) 1.67 pJ per 8-bit conversion at 32 nm.
  Horowitz  Horowitz, ISSCC 2014, 45 nm: 8-bit add 0.03 pJ, 8-bit multiply 0.2 pJ, 8 KB SRAM 64-bit
            read 10 pJ (0.156 pJ/bit).
  S&B       Stillmaker & Baas, Integration 2017: 45 nm -> 14 nm energy x ~0.14.
  LeGallo   Le Gallo et al., Nature Electronics 2023 (HERMES, 14 nm PCM, 64 cores of 256x256):
            9.76 TOPS/W and 63.1 TOPS one-phase 8-bit, 1.59 TOPS/mm^2 per core.
  Zhou      Zhou et al., IEEE Micro 2022 (AnalogNets / AON-CiM, 14 nm PCM, layer-serial).
  FITTED    fitted by benchmarks/cost_calibration.py to the six AON-CiM TOPS/W figures (Zhou) on the
            zoo's analognet_kws / analognet_vww (or, for HERMES, to 9.76 TOPS/W on a fully used core);
            the script prints the fit, so a change of the model is re-fitted, not hand-tuned.
  ASSUMED   an engineering estimate where no source gives the number; change it freely.
"""
from __future__ import annotations

from tinycim.cost.accelerator import Accelerator, ADCSpec, ArraySpec, DACSpec, DigitalSpec
from tinycim.errors import ConfigError

# ---- shared 14 nm digital constants: Horowitz 2014 (45 nm) x 0.14 (Stillmaker & Baas 2017) -------------
SCALE_45_TO_14NM = 0.14
MULTIPLY_8B_J = 0.2e-12 * SCALE_45_TO_14NM  # 28 fJ
ADD_8B_J = 0.03e-12 * SCALE_45_TO_14NM  # 4.2 fJ
SRAM_READ_BIT_J = 10e-12 / 64 * SCALE_45_TO_14NM  # 21.9 fJ per bit (8 KB SRAM, 64-bit read)
ISAAC_DAC_DRIVE_J = 3.9e-15  # 1-bit driver, 3.9 uW at ~1 GHz
ISAAC_DAC_AREA_UM2 = 0.166
# ASSUMED: 6T SRAM at 14 nm ~0.06 um^2/bit, x2 for periphery -> ~0.001 mm^2 per KiB.
SRAM_AREA_MM2_PER_KIB = 0.001
PCM_READ_VOLTAGE_V = 0.2  # ASSUMED: low read bias keeps PCM reads non-disturbing (LeGallo reads at ~0.2 V)

# ---- AON-CiM (Zhou 2022): one 1024 x 512 differential PCM array, layer-serial --------------------------
# Fitted by benchmarks/cost_calibration.py (scan of the fixed MVM time, NNLS for the two energies).
AON_MVM_FIXED_TIME_S = 325e-9  # FITTED: precharge, settle and integrator reset per MVM
AON_COL_BIAS_POWER_W = 1.10e-6  # FITTED: one column's integrator + comparator bias while an MVM runs
AON_ADC_FIXED_ENERGY_J = 5.00e-12  # FITTED: per column conversion (about 3x ISAAC's 8-bit SAR at 32 nm)
# ASSUMED: a ~200 MHz always-on clock: 5 ns per pulse-width step and per ramp step (8-bit MVM ~2.9 us).
AON_STEP_TIME_S = 5e-9


def aon_cim() -> Accelerator:
    """AON-CiM-like always-on accelerator (Zhou 2022): every layer resident in one 1024 x 512 PCM array
    (the tinycim "aon-cim" AnalogConfig), pulse-width inputs, one ramp ADC per column sharing a ramp,
    no per-column power gating (minimal area), layer-serial execution."""
    return Accelerator(
        name="aon-cim", execution="layer-serial", analog_preset="aon-cim",
        mvm_fixed_time_s=AON_MVM_FIXED_TIME_S,
        array=ArraySpec(rows=1024, cols=512, cores=1,
                        device_area_um2=0.03,  # ASSUMED: 1T1R PCM, ~150 F^2 at 14 nm
                        read_voltage_v=PCM_READ_VOLTAGE_V, col_bias_power_w=AON_COL_BIAS_POWER_W,
                        gate_unused_columns=False,  # minimal-area design: every column biased (Zhou)
                        core_leakage_w=2e-6),  # ASSUMED: array periphery leakage
        dac=DACSpec(step_time_s=AON_STEP_TIME_S, drive_energy_j=ISAAC_DAC_DRIVE_J, area_um2=ISAAC_DAC_AREA_UM2),
        adc=ADCSpec(kind="ramp", fixed_energy_j=AON_ADC_FIXED_ENERGY_J, step_energy_j=0.0,
                    ramp_energy_j=30e-15,  # ASSUMED: shared ramp buffer + Gray-counter bus, per step
                    step_time_s=AON_STEP_TIME_S, cols_per_adc=1,
                    area_um2=25.0,  # ASSUMED: column comparator + b-bit latch
                    subtract_energy_j=10e-15, subtract_area_um2=5.0,  # ASSUMED: G+ - G- current mirror
                    gain_energy_j=20e-15, gain_area_um2=10.0),  # ASSUMED: per-layer programmable gain
        digital=DigitalSpec(multiply_energy_j=MULTIPLY_8B_J, add_energy_j=ADD_8B_J, activation_energy_j=ADD_8B_J,
                            sram_energy_per_bit_j=SRAM_READ_BIT_J,
                            leakage_power_w=10e-6,  # ASSUMED: always-on digital + SRAM leakage
                            sram_kib=64.0,  # ASSUMED: holds VWW's largest feature maps (in + out)
                            sram_area_mm2_per_kib=SRAM_AREA_MM2_PER_KIB,
                            logic_area_mm2=0.05),  # ASSUMED: sequencer, scale/bias/activation unit
    )


# ---- HERMES (LeGallo 2023): 64 cores of 256 x 256, tiled, layers pipelined over cores ---------------------
# One 8-bit MVM takes 131072 ops / (63.1 TOPS / 64 cores) = 133 ns: 64 ns of pulse-width input, 64 ns of
# time-domain (CCO) conversion and 5 ns fixed: the step times below are chosen to give that.
HERMES_STEP_TIME_S = 0.25e-9
HERMES_MVM_FIXED_TIME_S = 5e-9
HERMES_COL_BIAS_POWER_W = 0.378e-3  # FITTED: one column's readout + CCO ADC while converting (9.76 TOPS/W)


def hermes() -> Accelerator:
    """IBM HERMES-like multi-core chip (LeGallo 2023): 64 cores of 256 x 256 differential PCM cells,
    8-bit pulse-width inputs, time-domain (CCO, counted like a ramp) ADC per column; each layer tile on
    its own core, idle columns gated."""
    return Accelerator(
        name="hermes", execution="tiled", analog_preset="hermes", mvm_fixed_time_s=HERMES_MVM_FIXED_TIME_S,
        array=ArraySpec(rows=256, cols=256, cores=64,
                        device_area_um2=0.03,  # ASSUMED: as AON-CiM, same 14 nm PCM
                        read_voltage_v=PCM_READ_VOLTAGE_V, col_bias_power_w=HERMES_COL_BIAS_POWER_W,
                        gate_unused_columns=True,
                        core_leakage_w=50e-6),  # ASSUMED
        dac=DACSpec(step_time_s=HERMES_STEP_TIME_S, drive_energy_j=ISAAC_DAC_DRIVE_J, area_um2=ISAAC_DAC_AREA_UM2),
        adc=ADCSpec(kind="ramp", fixed_energy_j=0.1e-12,  # ASSUMED: counter latch and readout per conversion
                    step_energy_j=0.0, ramp_energy_j=0.0, step_time_s=HERMES_STEP_TIME_S, cols_per_adc=1,
                    area_um2=1500.0,  # ASSUMED: CCO ADC + current mirror; ~0.4 mm^2 periphery per core
                    subtract_energy_j=10e-15, subtract_area_um2=5.0, gain_energy_j=20e-15, gain_area_um2=10.0),
        digital=DigitalSpec(multiply_energy_j=MULTIPLY_8B_J, add_energy_j=ADD_8B_J, activation_energy_j=ADD_8B_J,
                            sram_energy_per_bit_j=SRAM_READ_BIT_J, leakage_power_w=50e-6,  # ASSUMED
                            sram_kib=256.0, sram_area_mm2_per_kib=SRAM_AREA_MM2_PER_KIB,
                            logic_area_mm2=0.1),  # ASSUMED: local digital processing units
    )


ACCELERATORS = {"aon-cim": aon_cim, "hermes": hermes}


def get_accelerator(name: str) -> Accelerator:
    """A preset by name; see `ACCELERATORS`."""
    if name not in ACCELERATORS:
        raise ConfigError(f"unknown accelerator {name!r}: allowed {', '.join(sorted(ACCELERATORS))}")
    return ACCELERATORS[name]()
