"""report.json (the data) and report.md (the same, for a person), with the plots beside them.

report.json schema (format "tinycim-report-v1"); every accuracy is in %, every time in seconds:
  recipe, description, created_utc, device, tinycim_version, torch_version, settings ("cpu" | "full")
  model      {name, params, macs, input_shape}
  dataset    {name, classes, splits: {train, val, test: sample counts}}
  training   {fp: {epochs, seconds, val_accuracy}, hwa: {...} | null}
  fp_accuracy                       test accuracy of the FP32 network
  drift      {curve: [{time, seconds, mean, std, instances}]}   curves: hwa_gdc, hwa_no_gdc, plain_gdc
  bits       [{bits, mean, std}]    hardware-aware model at 1 day, GDC, DAC = ADC = bits
  cost       [{act_bits, accelerator, tops_per_watt, energy_per_inference_j, latency_s, area_mm2, utilization}]
  comparison [{metric, ours, published, source}]   published figure beside ours
  plots      {name: file}
"""

from __future__ import annotations

import json
from pathlib import Path

from tinycim.io import atomic_write_text
from tinycim.pipeline import plots

REPORT_FORMAT = "tinycim-report-v1"


def _fmt(value: object, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _analog(r: dict) -> dict:
    """The analog config the hardware-aware model ran on (else the recipe's)."""
    return r.get("hwa_analog_config") or r.get("analog_config") or {}


def hardware_summary(r: dict, *, bits: bool = True, short: bool = False) -> str:
    """One line naming the analog hardware of the run: "PCM, 4-bit DAC / 4-bit ADC, 512x512 tiles,
    per-column weight ranges, GDC per layer" (without the bits when `bits` is False; device, bits
    and tiles only when `short`, for a plot title)."""
    a = _analog(r)
    if not a:
        return "analog hardware"
    parts = [str(a.get("device", {}).get("kind", "?")).upper()]
    if bits:
        dac, adc = a.get("dac", {}).get("bits"), a.get("adc", {}).get("bits")
        parts.append(f"{dac or 'FP'}-bit DAC / {adc or 'FP'}-bit ADC")
    tile = a.get("tile", {})
    if tile:
        parts.append(f"{tile.get('rows')}x{tile.get('cols')} tiles")
    if short:
        return ", ".join(parts)
    weight_range = a.get("mapping", {}).get("weight_range")
    if weight_range:
        parts.append(f"per-{weight_range} weight ranges")
    parts.append(f"GDC per {a['gdc']}" if a.get("gdc") else "no GDC")
    return ", ".join(parts)


def energy_line(r: dict) -> str | None:
    """One line on what dominates the energy of the first costed setting (from cost_layers)."""
    layers, cost = r.get("cost_layers"), r.get("cost")
    if not layers or not cost:
        return None
    from tinycim.cost import format_energy

    totals: dict[str, float] = {}
    for layer in layers:
        for component, joules in layer["energy_j"].items():
            totals[component] = totals.get(component, 0.0) + joules
    total = sum(totals.values())
    if total <= 0:
        return None
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])
    top, second = ranked[0], ranked[1] if len(ranked) > 1 else None
    layer = max(layers, key=lambda row: sum(row["energy_j"].values()))
    text = (
        f"What dominates the energy ({cost[0]['accelerator']}, {cost[0]['act_bits']}-bit activations, "
        f"{format_energy(total)} per inference): {_COMPONENTS.get(top[0], top[0])}, "
        f"{100 * top[1] / total:.0f} %"
    )
    if second is not None:
        text += f", then {_COMPONENTS.get(second[0], second[0])}, {100 * second[1] / total:.0f} %"
    share = sum(layer["energy_j"].values()) / total
    return text + f"; the costliest layer is `{layer['name']}` ({100 * share:.0f} %)."


# How the energy components of tinycim.cost read in a sentence.
_COMPONENTS = {
    "readout_bias": "the column read-out bias (every biased column, for the time of each MVM)",
    "adc": "the ADC conversions",
    "dac": "the DAC (input drivers)",
    "array": "the array (currents through the devices)",
    "digital": "the digital periphery",
    "sram": "SRAM traffic",
    "leakage": "leakage",
}

_METRICS = {  # metric -> what it is, for the headline table
    "fp_accuracy": "FP32 network, digital, test split",
    "acc_1d": "hardware-aware model on the chip, 1 day after programming, GDC (mean over chips)",
    "acc_30d": "the same, 30 days after programming",
    "acc_drop_1d_pp": "FP32 accuracy above minus acc_1d (pp)",
    "acc_drop_30d_pp": "FP32 accuracy above minus the 30-day accuracy (pp)",
    "tops_per_watt": "cost model, first activation-bit setting",
}


def write_report(results: dict, out_dir: Path) -> Path:
    """Write the plots, report.json and report.md into out_dir; returns the report.md path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = dict(results, format=REPORT_FORMAT)
    files: dict[str, str] = {}
    hardware = hardware_summary(results, short=True)
    if results.get("drift"):
        plots.accuracy_vs_time(
            results["drift"],
            results["fp_accuracy"],
            out_dir / "accuracy_vs_time.png",
            f"{results['recipe']}: accuracy after programming\n{hardware}",
        )
        files["accuracy_vs_time"] = "accuracy_vs_time.png"
    if results.get("bits"):
        plots.accuracy_vs_bits(
            results["bits"],
            results["fp_accuracy"],
            out_dir / "accuracy_vs_bits.png",
            f"{results['recipe']}: accuracy vs converter bits\n{hardware_summary(results, bits=False, short=True)}"
            f"; model trained with {_analog(results).get('dac', {}).get('bits') or 'FP'}-bit converters",
        )
        files["accuracy_vs_bits"] = "accuracy_vs_bits.png"
    if results.get("cost_layers"):
        first = (results.get("cost") or [{}])[0]
        plots.energy_breakdown(
            results["cost_layers"],
            out_dir / "energy_breakdown.png",
            f"{results['recipe']}: energy per layer and component\n"
            f"{first.get('accelerator', '?')}, {first.get('act_bits', '?')}-bit activations",
        )
        files["energy_breakdown"] = "energy_breakdown.png"
    results["plots"] = files
    atomic_write_text(out_dir / "report.json", json.dumps(results, indent=2))
    path = out_dir / "report.md"
    atomic_write_text(path, render_markdown(results))
    return path


def render_markdown(r: dict) -> str:
    """report.md: what ran, the headline (hardware-aware vs plain after 1 day), the tables and plots."""
    lines = [f"# {r['recipe']}", ""]
    if r.get("description"):
        lines += [r["description"], ""]
    m, d = r["model"], r["dataset"]
    lines += [
        f"- model: `{m['name']}`, {m['params']:,} parameters, {m['macs']:,} MACs, input {tuple(m['input_shape'])}",
        f"- data: `{d['name']}`, splits " + ", ".join(f"{k} {v}" for k, v in d["splits"].items()),
        f"- hardware: {hardware_summary(r)}",
        f"- produced on: {r['device']} with tinycim {r['tinycim_version']}, torch {r['torch_version']} "
        f"({r['settings']} settings), {r['created_utc']}",
        f"- FP32 test accuracy: **{r['fp_accuracy']:.2f} %** (the network trained in FP32, run digitally; "
        "every loss below is measured against it)",
        "",
    ]
    headline = _headline(r)
    if headline:
        lines += [headline, ""]
    rows = r.get("comparison") or []
    if any(c.get("published") is not None for c in rows):
        lines += ["## Ours vs published", "", "| metric | ours | published | source |", "|---|---|---|---|"]
        for c in rows:
            lines.append(
                f"| {c['metric']} | {_fmt(c['ours'])} | {_fmt(c['published'])} | {c.get('source', '')} |"
            )
        lines.append("")
    elif rows:  # nothing published to set beside ours: the figures alone, each said in words
        lines += ["## Headline figures", "", "| metric | value | what it is |", "|---|---|---|"]
        for c in rows:
            lines.append(f"| {c['metric']} | {_fmt(c['ours'])} | {_METRICS.get(c['metric'], '')} |")
        lines.append("")
    if r.get("drift"):
        curves = list(r["drift"])
        times = [row["time"] for row in r["drift"][curves[0]]]
        lines += [
            "## Accuracy after programming (%, mean +- 1 std over the programmed chips)",
            "",
            "| curve | FP | " + " | ".join(times) + " |",
            "|---" * (len(times) + 2) + "|",
        ]
        for key in curves:
            cells = [f"{row['mean']:.2f} +- {row['std']:.2f}" for row in r["drift"][key]]
            lines.append(f"| {key} | {r['fp_accuracy']:.2f} | " + " | ".join(cells) + " |")
        n = r["drift"][curves[0]][0].get("instances")
        lines += [
            "",
            f"{n} independently programmed chips per point. hwa: the hardware-aware fine-tuned model; "
            "plain: the FP32 network programmed as it is (converter ranges calibrated on training "
            "samples); gdc / no_gdc: with / without global drift compensation. FP: the FP32 network, "
            "digital.",
            "",
        ]
        if "accuracy_vs_time" in r.get("plots", {}):
            lines += ["![accuracy vs time](accuracy_vs_time.png)", ""]
    if r.get("bits"):
        lines += [
            "## Accuracy vs DAC/ADC bits (hardware-aware model, 1 day, GDC)",
            "",
            "| bits | accuracy (%, mean +- 1 std over chips) |",
            "|---|---|",
        ]
        lines += [f"| {row['bits']} | {row['mean']:.2f} +- {row['std']:.2f} |" for row in r["bits"]]
        lines += ["", "![accuracy vs bits](accuracy_vs_bits.png)", ""]
    if r.get("cost"):
        from tinycim.cost import format_energy

        lines += [
            "## Accelerator cost",
            "",
            "| accelerator | act. bits | energy / inference | latency | TOPS/W | area | utilisation |",
            "|---|---|---|---|---|---|---|",
        ]
        for c in r["cost"]:
            lines.append(
                f"| {c['accelerator']} | {c['act_bits']} | {format_energy(c['energy_per_inference_j'])} | "
                f"{c['latency_s'] * 1e6:.1f} us | {c['tops_per_watt']:.2f} | {c['area_mm2']:.3f} mm^2 | "
                f"{c['utilization']:.1%} |"
            )
        lines.append("")
        line = energy_line(r)
        if line:
            lines += [line, ""]
        if "energy_breakdown" in r.get("plots", {}):
            lines += ["![energy breakdown](energy_breakdown.png)", ""]
    if r.get("training"):
        lines += ["## Training", "", "| phase | epochs | seconds | val accuracy (%) |", "|---|---|---|---|"]
        for name, t in r["training"].items():
            if t:
                lines.append(
                    f"| {name} | {t['epochs']} | {t['seconds']:.1f} | {_fmt(t.get('val_accuracy'))} |"
                )
        lines.append("")
    return "\n".join(lines)


def _headline(r: dict) -> str | None:
    """The method's effect in one sentence: hardware-aware vs plainly trained, 1 day after
    programming, with the spread over chips."""
    drift = r.get("drift") or {}
    ours, plain = drift.get("hwa_gdc"), drift.get("plain_gdc")
    if not ours or not plain:
        return None
    a = next((row for row in ours if row["time"] == "1d"), ours[len(ours) // 2])
    b = next((row for row in plain if row["time"] == a["time"]), None)
    if b is None:
        return None
    chips = a.get("instances") or "the"
    return (
        f"**{'One day' if a['time'] == '1d' else a['time']} after programming: hardware-aware {a['mean']:.2f} +- {a['std']:.2f} %, trained "
        f"plainly {b['mean']:.2f} +- {b['std']:.2f} % ({a['mean'] - b['mean']:+.2f} pp; +- 1 std over "
        f"{chips} programmed chips; FP32 {r['fp_accuracy']:.2f} %).**"
    )
