"""report.md reads on its own: hardware named, the HWA-vs-plain headline with its spread, energy in
readable units with what dominates it, no empty "published" column."""

from __future__ import annotations

from pathlib import Path

from tinycim.pipeline.report import energy_line, hardware_summary, render_markdown, write_report


def _curve(means: list[float], std: float) -> list[dict]:
    times = [("1s", 1.0), ("1d", 86400.0)]
    return [
        {"time": t, "seconds": s, "mean": m, "std": std, "instances": 7} for (t, s), m in zip(times, means)
    ]


def _results(published: float | None = None) -> dict:
    analog = {
        "device": {"kind": "pcm"},
        "tile": {"rows": 512, "cols": 512},
        "mapping": {"weight_range": "column"},
        "dac": {"bits": 4},
        "adc": {"bits": 4},
        "gdc": "layer",
    }
    layers = [
        {"name": "features.0", "energy_j": {"adc": 3e-8, "array": 1e-9}},
        {"name": "head", "energy_j": {"adc": 1e-9, "array": 8e-9}},
    ]
    return {
        "recipe": "toy",
        "description": "a toy",
        "settings": "cpu",
        "created_utc": "2026-12-01 00:00 UTC",
        "device": "CPU",
        "tinycim_version": "0",
        "torch_version": "0",
        "model": {"name": "m", "params": 10, "macs": 100, "input_shape": [1, 8, 8]},
        "dataset": {"name": "digits", "classes": ["a"], "splits": {"train": 1, "val": 1, "test": 1}},
        "training": {"fp": {"epochs": 1, "seconds": 1.0, "val_accuracy": 90.0}},
        "fp_accuracy": 99.0,
        "analog_config": dict(analog, dac={"bits": 8}),
        "hwa_analog_config": analog,
        "drift": {"hwa_gdc": _curve([97.0, 94.0], 1.0), "plain_gdc": _curve([91.0, 80.0], 4.0)},
        "bits": [{"bits": 4, "mean": 94.0, "std": 1.0, "instances": 7}],
        "cost": [
            {
                "accelerator": "aon-cim",
                "act_bits": 4,
                "tops_per_watt": 15.0,
                "energy_per_inference_j": 4e-8,
                "latency_s": 4e-5,
                "area_mm2": 0.1,
                "utilization": 0.04,
            }
        ],
        "cost_layers": layers,
        "comparison": [
            {"metric": "acc_1d", "ours": 94.0, "published": published, "source": "paper" if published else ""}
        ],
    }


def test_report_names_hardware_headline_and_energy(tmp_path: Path) -> None:
    r = _results()
    assert hardware_summary(r) == (
        "PCM, 4-bit DAC / 4-bit ADC, 512x512 tiles, per-column weight ranges, GDC per layer"
    )
    text = render_markdown(r)
    assert "hardware: PCM, 4-bit DAC / 4-bit ADC" in text
    assert "hardware-aware 94.00 +- 1.00 %, trained plainly 80.00 +- 4.00 % (+14.00 pp" in text
    assert "over 7 programmed chips" in text and "every loss below is measured against it" in text
    assert "published" not in text and "## Headline figures" in text
    assert "| aon-cim | 4 | 40 nJ |" in text
    line = energy_line(r)
    assert line is not None and "the ADC conversions, 78 %" in line and "`features.0` (78 %)" in line
    path = write_report(r, tmp_path)
    assert "![energy breakdown](energy_breakdown.png)" in path.read_text()
    for png in ("accuracy_vs_time.png", "accuracy_vs_bits.png", "energy_breakdown.png"):
        assert (tmp_path / png).stat().st_size > 0


def test_published_values_get_their_column() -> None:
    text = render_markdown(_results(published=93.5))
    assert "## Ours vs published" in text and "| acc_1d | 94.00 | 93.50 | paper |" in text
