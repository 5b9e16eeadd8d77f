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


def write_report(results: dict, out_dir: Path) -> Path:
    """Write the plots, report.json and report.md into out_dir; returns the report.md path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = dict(results, format=REPORT_FORMAT)
    files: dict[str, str] = {}
    if results.get("drift"):
        plots.accuracy_vs_time(
            results["drift"],
            results["fp_accuracy"],
            out_dir / "accuracy_vs_time.png",
            f"{results['recipe']}: accuracy after programming",
        )
        files["accuracy_vs_time"] = "accuracy_vs_time.png"
    if results.get("bits"):
        plots.accuracy_vs_bits(
            results["bits"],
            results["fp_accuracy"],
            out_dir / "accuracy_vs_bits.png",
            f"{results['recipe']}: accuracy vs converter bits",
        )
        files["accuracy_vs_bits"] = "accuracy_vs_bits.png"
    if results.get("cost_layers"):
        plots.energy_breakdown(
            results["cost_layers"],
            out_dir / "energy_breakdown.png",
            f"{results['recipe']}: energy per layer and component",
        )
        files["energy_breakdown"] = "energy_breakdown.png"
    results["plots"] = files
    atomic_write_text(out_dir / "report.json", json.dumps(results, indent=2))
    path = out_dir / "report.md"
    atomic_write_text(path, render_markdown(results))
    return path


def render_markdown(r: dict) -> str:
    lines = [f"# {r['recipe']}", ""]
    if r.get("description"):
        lines += [r["description"], ""]
    m, d = r["model"], r["dataset"]
    lines += [
        f"- model: `{m['name']}`, {m['params']:,} parameters, {m['macs']:,} MACs, input {tuple(m['input_shape'])}",
        f"- data: `{d['name']}`, splits " + ", ".join(f"{k} {v}" for k, v in d["splits"].items()),
        f"- produced on: {r['device']} with tinycim {r['tinycim_version']}, torch {r['torch_version']} "
        f"({r['settings']} settings), {r['created_utc']}",
        f"- FP32 test accuracy: **{r['fp_accuracy']:.2f} %**",
        "",
    ]
    if r.get("comparison"):
        lines += ["## Ours vs published", "", "| metric | ours | published | source |", "|---|---|---|---|"]
        for c in r["comparison"]:
            lines.append(
                f"| {c['metric']} | {_fmt(c['ours'])} | {_fmt(c['published'])} | {c.get('source', '')} |"
            )
        lines.append("")
    if r.get("drift"):
        curves = list(r["drift"])
        times = [row["time"] for row in r["drift"][curves[0]]]
        lines += [
            "## Accuracy after programming (mean +- std over programmed chips, %)",
            "",
            "| curve | FP | " + " | ".join(times) + " |",
            "|---" * (len(times) + 2) + "|",
        ]
        for key in curves:
            cells = [f"{row['mean']:.2f} +- {row['std']:.2f}" for row in r["drift"][key]]
            lines.append(f"| {key} | {r['fp_accuracy']:.2f} | " + " | ".join(cells) + " |")
        n = r["drift"][curves[0]][0].get("instances")
        lines += ["", f"{n} independently programmed instances per point.", ""]
        if "accuracy_vs_time" in r.get("plots", {}):
            lines += ["![accuracy vs time](accuracy_vs_time.png)", ""]
    if r.get("bits"):
        lines += ["## Accuracy vs DAC/ADC bits (1 day, GDC)", "", "| bits | accuracy (%) |", "|---|---|"]
        lines += [f"| {row['bits']} | {row['mean']:.2f} +- {row['std']:.2f} |" for row in r["bits"]]
        lines += ["", "![accuracy vs bits](accuracy_vs_bits.png)", ""]
    if r.get("cost"):
        lines += [
            "## Accelerator cost",
            "",
            "| accelerator | act. bits | energy / inference | latency | TOPS/W | area | utilisation |",
            "|---|---|---|---|---|---|---|",
        ]
        for c in r["cost"]:
            lines.append(
                f"| {c['accelerator']} | {c['act_bits']} | {c['energy_per_inference_j'] * 1e9:.3f} nJ | "
                f"{c['latency_s'] * 1e6:.1f} us | {c['tops_per_watt']:.2f} | {c['area_mm2']:.3f} mm^2 | "
                f"{c['utilization']:.1%} |"
            )
        lines.append("")
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
