"""`CostReport`: per-layer and total energy, latency, throughput, area and efficiency of one model
on one accelerator, with JSON export and an energy-breakdown plot.

Counting rules: 1 MAC = 2 ops, useful MACs only (a block-diagonal layer's empty cells do no useful
work); TOPS/W = ops / total energy (dynamic + leakage) / 1e12; TOPS/mm^2 = ops per second at the
report's throughput / area / 1e12. Work off the arrays (`digital`: attention's activation x
activation products, layers left digital) is listed separately; its MACs count in `macs` / `ops`
and its energy in the total and in the "digital" component (`tinycim.cost.events.DigitalWork`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from tinycim.cost.events import COMPONENTS, DigitalWork, LayerCost


_ENERGY_UNITS = ((1.0, "J"), (1e-3, "mJ"), (1e-6, "uJ"), (1e-9, "nJ"), (1e-12, "pJ"), (1e-15, "fJ"))


def format_energy(joules: float, digits: int = 3) -> str:
    """An energy in the largest unit that keeps it >= 1: 1.2e-7 -> '120 nJ' (3 significant digits)."""
    if joules == 0 or not math.isfinite(joules):
        return f"{joules:g} J"
    for scale, unit in _ENERGY_UNITS:
        if abs(joules) >= scale:
            return f"{joules / scale:.{digits}g} {unit}"
    return f"{joules / 1e-15:.{digits}g} fJ"


@dataclass
class CostReport:
    """What `tc.cost.estimate` returns. Energies in J per inference, times in s, areas in mm^2."""

    model: str
    accelerator: str
    execution: str
    act_bits: int
    polarity: str
    periphery: str
    activity: str
    layers: list[LayerCost]
    area_breakdown_mm2: dict[str, float]
    cores_used: int
    array_cells: int
    devices: int
    weight_cells: int = 0
    extra: dict = field(default_factory=dict)
    digital: list[DigitalWork] = field(default_factory=list)

    # ---- totals --------------------------------------------------------------------------------
    @property
    def analog_macs(self) -> int:
        """MACs done on the arrays."""
        return sum(layer.macs for layer in self.layers)

    @property
    def digital_macs(self) -> int:
        """MACs of matrix products done digitally (attention products, layers left digital)."""
        return sum(work.macs for work in self.digital)

    @property
    def macs(self) -> int:
        """All MACs of one inference: on the arrays plus digital."""
        return self.analog_macs + self.digital_macs

    @property
    def analog_mac_share(self) -> float:
        """Share of the MACs done on the arrays (1.0 when nothing is digital)."""
        return self.analog_macs / self.macs if self.macs else 1.0

    @property
    def digital_energy_j(self) -> float:
        """Energy of the work off the arrays (J per inference)."""
        return sum(work.energy_j for work in self.digital)

    @property
    def ops(self) -> int:
        return 2 * self.macs

    @property
    def energy_by_component_j(self) -> dict[str, float]:
        out = {c: sum(layer.energy_j.get(c, 0.0) for layer in self.layers) for c in COMPONENTS}
        out["digital"] += self.digital_energy_j
        return out

    @property
    def energy_per_inference_j(self) -> float:
        return sum(layer.total_energy_j for layer in self.layers) + self.digital_energy_j

    @property
    def latency_s(self) -> float:
        """One inference, layers one after another (s)."""
        return sum(layer.latency_s for layer in self.layers)

    @property
    def throughput_inferences_per_s(self) -> float:
        """Layer-serial: one inference at a time; tiled: layers pipelined, the slowest layer sets the pace."""
        if self.execution == "layer-serial":
            slowest = self.latency_s
        else:
            slowest = max((layer.latency_s for layer in self.layers), default=0.0)
        return 1.0 / slowest if slowest > 0 else 0.0

    @property
    def power_w(self) -> float:
        return self.energy_per_inference_j * self.throughput_inferences_per_s

    @property
    def tops_per_watt(self) -> float:
        e = self.energy_per_inference_j
        return self.ops / e / 1e12 if e > 0 else 0.0

    @property
    def area_mm2(self) -> float:
        return sum(self.area_breakdown_mm2.values())

    @property
    def tops_per_mm2(self) -> float:
        return (
            self.ops * self.throughput_inferences_per_s / self.area_mm2 / 1e12 if self.area_mm2 > 0 else 0.0
        )

    @property
    def utilization(self) -> float:
        """Cells holding a weight / cells of the arrays the model occupies."""
        return self.weight_cells / self.array_cells if self.array_cells else 0.0

    # ---- export --------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "accelerator": self.accelerator,
            "execution": self.execution,
            "act_bits": self.act_bits,
            "polarity": self.polarity,
            "periphery": self.periphery,
            "activity": self.activity,
            "macs": self.macs,
            "analog_macs": self.analog_macs,
            "digital_macs": self.digital_macs,
            "analog_mac_share": self.analog_mac_share,
            "ops": self.ops,
            "tops_per_watt": self.tops_per_watt,
            "tops_per_mm2": self.tops_per_mm2,
            "energy_per_inference_j": self.energy_per_inference_j,
            "latency_s": self.latency_s,
            "throughput_inferences_per_s": self.throughput_inferences_per_s,
            "power_w": self.power_w,
            "area_mm2": self.area_mm2,
            "area_breakdown_mm2": dict(self.area_breakdown_mm2),
            "utilization": self.utilization,
            "cores_used": self.cores_used,
            "devices": self.devices,
            "energy_by_component_j": self.energy_by_component_j,
            "layers": [layer.to_dict() for layer in self.layers],
            "digital": [work.to_dict() for work in self.digital],
            "digital_energy_j": self.digital_energy_j,
            **self.extra,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def summary(self) -> str:
        lines = [
            f"{self.model} on {self.accelerator} ({self.execution}, {self.act_bits}-bit, {self.polarity}, "
            f"{self.periphery} periphery, {self.activity} activity)",
            f"{'layer':<24} {'MACs':>11} {'util':>7} {'energy':>11} {'latency (us)':>13}",
        ]
        for layer in self.layers:
            lines.append(
                f"{layer.name:<24} {layer.macs:>11,} {layer.utilization:>7.1%} "
                f"{format_energy(layer.total_energy_j):>11} {layer.latency_s * 1e6:>13.2f}"
            )
        if self.digital:
            lines.append(
                f"digital, off the arrays ({self.digital_macs:,} of {self.macs:,} MACs, "
                f"{1 - self.analog_mac_share:.1%}):"
            )
            for work in self.digital:
                count = (
                    f"{work.macs:,}" if work.macs or not work.elementwise else f"{work.elementwise:,} elem."
                )
                lines.append(
                    f"  {work.name or '(root)':<22} {count:>11} {work.kind} ({work.module}), "
                    f"{format_energy(work.energy_j)}"
                )
        lines.append(
            f"total: {format_energy(self.energy_per_inference_j)}, {self.latency_s * 1e6:.1f} us, "
            f"{self.tops_per_watt:.2f} TOPS/W, {self.area_mm2:.3f} mm^2, {self.tops_per_mm2:.3f} TOPS/mm^2, "
            f"utilisation {self.utilization:.1%}"
        )
        return "\n".join(lines)

    def plot(self, path: str | Path) -> Path:
        """Stacked bars of energy per layer and component (nJ), saved as a PNG (Agg backend)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path = Path(path)
        fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * (len(self.layers) + len(self.digital)) + 3), 4.5))
        try:
            bars = [(layer.name, layer.energy_j) for layer in self.layers] + [
                (f"{w.name or '(root)'} [{w.kind}]", {"digital": w.energy_j}) for w in self.digital
            ]
            bottom = [0.0] * len(bars)
            x = range(len(bars))
            for comp in COMPONENTS:
                values = [energy.get(comp, 0.0) * 1e9 for _, energy in bars]
                ax.bar(x, values, bottom=bottom, label=comp)
                bottom = [b + v for b, v in zip(bottom, values)]
            ax.set_xticks(list(x), [name for name, _ in bars], rotation=45, ha="right", fontsize=8)
            ax.set_ylabel("energy per inference (nJ)")
            ax.set_title(
                f"{self.model} on {self.accelerator}, {self.act_bits}-bit: {self.tops_per_watt:.2f} TOPS/W"
            )
            ax.legend(fontsize=8)
            fig.tight_layout()
            fig.savefig(path, dpi=120)
        finally:
            plt.close(fig)
        return path
