"""The component event model: energy and time of one layer's MVMs, component by component.

For one layer at b-bit activations, with P MVM positions per inference and, per position, one MVM
on each of its placed blocks (a block of R_k rows x C_k columns on one array):

    t_mvm(C)  = t_fixed + (2^b - 1) t_dac + t_adc(b, C)          ramp: 2^b t_step; SAR: b t_step
    E_dac     = n_pulses * e_drive                                 non-zero inputs only
    E_array   = V_read^2 * (2^b - 1) t_dac * code_g                code_g = sum code_fraction * G
    E_adc     = n_conv * (e_fixed + e_step * 2^b | e_step * b)     + P * n_blocks * e_ramp * 2^b (ramp)
                + n_conv * (e_subtract if differential) + n_conv * (e_gain if per-layer periphery)
    E_bias    = P * sum_k p_col * C_biased(k) * t_mvm(C_k)        C_biased = all array columns unless gated
    E_digital = outputs * (e_mul if per-layer + e_add + e_act) + (n_conv - outputs) * e_add
    E_sram    = (P * R + outputs) * b * e_bit                      read the inputs of every MVM, write outputs
    E_leak    = P_leak * t_layer

with n_conv = P * sum_k C_k column conversions and outputs = P * C_out. Everything is in joules
and seconds; the constants come from the `Accelerator`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tinycim.cost.accelerator import Accelerator
from tinycim.cost.activity import LayerActivity
from tinycim.cost.placement import Block

COMPONENTS = ("dac", "array", "adc", "readout_bias", "digital", "sram", "leakage")


@dataclass
class LayerCost:
    """One layer's cost per inference: energy by component (J), latency (s), counts and utilisation."""

    name: str
    macs: int
    mvms: int
    conversions: int
    latency_s: float
    utilization: float
    devices: int
    energy_j: dict[str, float] = field(default_factory=dict)

    @property
    def total_energy_j(self) -> float:
        return sum(self.energy_j.values())

    def to_dict(self) -> dict:
        return {"name": self.name, "macs": self.macs, "mvms": self.mvms, "conversions": self.conversions,
                "latency_s": self.latency_s, "utilization": self.utilization, "devices": self.devices,
                "energy_j": dict(self.energy_j), "total_energy_j": self.total_energy_j}


def layer_cost(act: LayerActivity, blocks: list[Block], acc: Accelerator, bits: int, *, per_layer_periphery: bool,
               leakage_w: float) -> LayerCost:
    """Energy and time of one layer (its blocks placed on `acc`) at b-bit activations."""
    pos = act.positions
    steps = 1 << bits
    arr, dac, adc, dig = acc.array, acc.dac, acc.adc, acc.digital
    serial = acc.execution == "layer-serial"

    times = [acc.mvm_time_s(bits, b.cols) for b in blocks]
    # Layer-serial: one array, so a layer's blocks run one after another; tiled: each on its own core.
    latency = pos * (sum(times) if serial else max(times, default=0.0))
    cols_total = sum(b.cols for b in blocks)
    n_conv = pos * cols_total
    outputs = pos * act.out_channels
    differential = act.polarity_devices == 2

    per_conv = adc.fixed_energy_j + adc.step_energy_j * (steps if adc.kind == "ramp" else bits)
    per_conv += adc.subtract_energy_j if differential else 0.0
    per_conv += adc.gain_energy_j if per_layer_periphery else 0.0
    ramp = pos * len(blocks) * adc.ramp_energy_j * steps if adc.kind == "ramp" else 0.0
    biased = [arr.cols if not arr.gate_unused_columns else b.cols for b in blocks]
    per_output = (dig.multiply_energy_j if per_layer_periphery else 0.0) + dig.add_energy_j + dig.activation_energy_j

    energy = {
        "dac": act.drives * dac.drive_energy_j,
        # uS -> S; a code fraction f is a pulse of f * (2^b - 1) steps of t_dac.
        "array": arr.read_voltage_v ** 2 * (steps - 1) * dac.step_time_s * act.code_g_us * 1e-6,
        "adc": n_conv * per_conv + ramp,
        "readout_bias": pos * sum(arr.col_bias_power_w * c * t for c, t in zip(biased, times)),
        "digital": outputs * per_output + (n_conv - outputs) * dig.add_energy_j,
        "sram": (pos * act.rows + outputs) * bits * dig.sram_energy_per_bit_j,
        "leakage": leakage_w * latency,
    }
    cells = len(blocks) * arr.rows * arr.cols
    util = sum(b.weight_cells for b in blocks) / (arr.rows * arr.cols if serial else cells) if cells else 0.0
    return LayerCost(name=act.name, macs=act.macs, mvms=pos * len(blocks), conversions=n_conv, latency_s=latency,
                     utilization=util, devices=act.devices, energy_j=energy)
