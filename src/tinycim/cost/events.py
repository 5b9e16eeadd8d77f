"""The component event model: energy and time of one layer's MVMs, component by component.

For one layer at b-bit activations, with P MVM positions per inference and, per position, one MVM
on each of its placed blocks (a block of R_k rows x C_k physical columns on one array). Physical
columns per output: S slice columns (S = the layer's `mapping.slices`), x2 when a differential
pair sits on two columns; "arrays" duplicates every block (copies A = 2) for a differential layer.
Input cycles n_cyc = 1 (pulse-width) or b (bit-serial).

    t_cyc(C)  = t_fixed + t_in + t_adc(b, C)        t_in = (2^b - 1) t_dac (pulse-width) | t_dac (bit-serial)
    t_mvm(C)  = n_cyc t_cyc(C)                       ramp t_adc = 2^b t_step; SAR (b + 1) t_step x cols/ADC
    n_conv    = P n_cyc A sum_k C_k / (S if analog slice weighting else 1)
    E_dac     = A n_pulses e_drive                   pulses: non-zero inputs | 1 bits (bit-serial)
    E_array   = V_read^2 t_dac  x  code_g ((2^b - 1) x, pulse-width) | bit_g (bit-serial)
    E_adc     = n_conv (e_fixed + e_step 2^b | e_step b) + n_conv (p_0 + p_1 b) t_conv
                + k_I G_read t_conv                  NeuroSim column-current term, G_read = code_g | bit_g (S)
                + P n_cyc A n_blocks e_ramp 2^b (ramp) + n_conv (e_sub if in-cell differential)
                + n_conv (e_gain if per-layer periphery) + analog slice weighting per slice column
    E_bias    = P n_cyc A sum_k p_col C_biased(k) t_cyc(C_k)    C_biased = every array column unless gated
    E_digital = outputs (e_mul if per-layer + e_add + e_act) + (n_conv - outputs) e_add
                (shift-and-add of slices, bit cycles, row tiles and G+ - G- columns: one add each)
    E_sram    = (P R + outputs) b e_bit                read the inputs of every MVM, write outputs
    E_leak    = P_leak t_layer

with outputs = P * C_out. Everything is in joules and seconds; the constants come from the `Accelerator`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tinycim.cost.accelerator import Accelerator
from tinycim.cost.activity import LayerActivity
from tinycim.cost.placement import Block

COMPONENTS = ("dac", "array", "adc", "readout_bias", "digital", "sram", "leakage")


@dataclass
class LayerCost:
    """One layer's cost per inference: energy by component (J), latency (s), counts and utilisation.

    columns: physical columns the layer occupies (all blocks and copies); conversions: column
    conversions per inference.
    """

    name: str
    macs: int
    mvms: int
    conversions: int
    latency_s: float
    utilization: float
    devices: int
    energy_j: dict[str, float] = field(default_factory=dict)
    columns: int = 0

    @property
    def total_energy_j(self) -> float:
        return sum(self.energy_j.values())

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "macs": self.macs,
            "mvms": self.mvms,
            "conversions": self.conversions,
            "columns": self.columns,
            "latency_s": self.latency_s,
            "utilization": self.utilization,
            "devices": self.devices,
            "energy_j": dict(self.energy_j),
            "total_energy_j": self.total_energy_j,
        }


def array_copies(acc: Accelerator, act: LayerActivity) -> int:
    """2 when a differential layer's G+ and G- live in two arrays, else 1."""
    return 2 if act.differential and acc.layout.differential == "arrays" else 1


def layer_cost(
    act: LayerActivity,
    blocks: list[Block],
    acc: Accelerator,
    bits: int,
    *,
    per_layer_periphery: bool,
    leakage_w: float,
) -> LayerCost:
    """Energy and time of one layer (its blocks placed on `acc`) at b-bit activations."""
    pos = act.positions
    steps = 1 << bits
    arr, dac, adc, dig, lay = acc.array, acc.dac, acc.adc, acc.digital, acc.layout
    serial = acc.execution == "layer-serial"
    cycles = acc.input_cycles(bits)
    copies = array_copies(acc, act)
    analog_weighting = lay.slicing == "analog" and act.slices > 1

    times = [acc.mvm_time_s(bits, b.cols) for b in blocks]
    # Layer-serial: one array, so a layer's blocks run one after another; tiled: each on its own core.
    # The two arrays of an "arrays" differential pair run at the same time.
    latency = pos * (sum(times) if serial else max(times, default=0.0))
    cols_total = sum(b.cols for b in blocks)
    cols_converted = -(-cols_total // act.slices) if analog_weighting else cols_total
    n_conv = pos * cycles * copies * cols_converted
    outputs = pos * act.out_channels
    in_cell_subtract = act.differential and lay.differential == "cell"

    t_conv = adc.conversion_cycle_s(bits)
    per_conv = adc.fixed_energy_j + adc.step_energy_j * (steps if adc.kind == "ramp" else bits)
    per_conv += (adc.static_power_w + adc.static_power_per_bit_w * bits) * t_conv
    per_conv += adc.subtract_energy_j if in_cell_subtract else 0.0
    per_conv += adc.gain_energy_j if per_layer_periphery else 0.0
    g_read_us = act.bit_g_us if acc.bit_serial else act.code_g_us
    current = adc.column_current_w_per_s * g_read_us * 1e-6 * t_conv
    ramp = pos * cycles * copies * len(blocks) * adc.ramp_energy_j * steps if adc.kind == "ramp" else 0.0
    weighting = pos * cycles * copies * cols_total * lay.analog_weight_energy_j if analog_weighting else 0.0
    biased = [arr.cols if not arr.gate_unused_columns else b.cols for b in blocks]
    per_output = (
        (dig.multiply_energy_j if per_layer_periphery else 0.0) + dig.add_energy_j + dig.activation_energy_j
    )
    cell_time = dac.step_time_s * (1 if acc.bit_serial else steps - 1)

    energy = {
        "dac": copies * (act.bit_drives if acc.bit_serial else act.drives) * dac.drive_energy_j,
        # uS -> S; a code fraction f is a pulse of f * (2^b - 1) steps of t_dac; a bit cycle one step.
        "array": arr.read_voltage_v**2 * cell_time * g_read_us * 1e-6,
        "adc": n_conv * per_conv + current + ramp + weighting,
        "readout_bias": pos
        * cycles
        * copies
        * sum(arr.col_bias_power_w * c * t / cycles for c, t in zip(biased, times)),
        "digital": outputs * per_output + max(n_conv - outputs, 0) * dig.add_energy_j,
        "sram": (pos * act.rows + outputs) * bits * dig.sram_energy_per_bit_j,
        "leakage": leakage_w * latency,
    }
    cells = len(blocks) * arr.rows * arr.cols
    util = sum(b.weight_cells for b in blocks) / (arr.rows * arr.cols if serial else cells) if cells else 0.0
    return LayerCost(
        name=act.name,
        macs=act.macs,
        mvms=pos * len(blocks) * copies,
        conversions=n_conv,
        latency_s=latency,
        utilization=util,
        devices=act.devices,
        energy_j=energy,
        columns=copies * cols_total,
    )


@dataclass
class DigitalWork:
    """Work of one inference that no array does, run by the accelerator's digital units.

    kind: "attention QK^T" / "attention x V" (products of two activations: neither operand is a
        stored weight, so they cannot be programmed into NVM), or "layer left digital" (a
        weight-carrying module that `convert` did not map: its type is in ``module``).
    macs: multiply-accumulates of matrix products (counted with the model's MACs and ops).
    elementwise: per-element multiply-adds of a digital affine (a norm layer's scale and shift, a
        parameter added to the activations); not counted as MACs (as `count_macs`), but their energy is.
    energy_j: (macs + elementwise) x (one digital multiply + one add) of the accelerator. Operand
        traffic and the softmax / normalization statistics are not counted; no latency is added
        (the digital units are assumed to run beside the arrays).
    """

    name: str
    kind: str
    module: str
    macs: int
    elementwise: int = 0
    energy_j: float = 0.0

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "module": self.module,
            "macs": self.macs,
            "elementwise": self.elementwise,
            "energy_j": self.energy_j,
        }


def digital_cost(work: DigitalWork, acc: Accelerator) -> DigitalWork:
    """`work` with its energy on `acc`: one multiply and one add per MAC or element-wise op."""
    per_op = acc.digital.multiply_energy_j + acc.digital.add_energy_j
    return DigitalWork(
        work.name,
        work.kind,
        work.module,
        work.macs,
        work.elementwise,
        (work.macs + work.elementwise) * per_op,
    )
