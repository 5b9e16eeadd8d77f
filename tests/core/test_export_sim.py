"""Deployment export and the simulate / presets commands."""

from __future__ import annotations

import dataclasses
import json

import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import tinycim as tc
from tinycim.cli import _register_all, app
from tinycim.evaluate.export import export_analog
from tests.core.conftest import conv_stack


def test_export_reassembles_to_the_mapped_weights(tmp_path) -> None:
    net = conv_stack(channels=40)  # two row tiles on 256-row arrays
    cfg = dataclasses.replace(tc.AnalogConfig.preset("pcm"), tile=tc.TileConfig(256, 32))
    amodel = tc.convert(net, cfg)
    tc.calibrate(amodel, torch.randn(4, 1, 8, 8))
    tc.program(amodel, seed=0)
    path = export_analog(amodel, tmp_path)
    doc = json.loads(path.read_text())
    g = load_file(str(tmp_path / "conductances.safetensors"))
    layer = doc["layers"][1]
    assert layer["order"] == 1 and layer["dac"]["bits"] == 8 and layer["adc"]["range"] > 0
    rows, cols = layer["matrix_rows_per_group"], layer["matrix_cols_per_group"]
    matrix = torch.zeros(rows, cols)
    for block in layer["tile_blocks"]:
        (r0, r1), (c0, c1) = block["rows"], block["cols"]
        matrix[r0:r1, c0:c1] = g[f"{block['key']}/0/G+"] - g[f"{block['key']}/0/G-"]
        assert r1 - r0 <= 256 and c1 - c0 <= 32
    w = amodel[2].weight.detach().reshape(cols, rows).t()
    scale = torch.tensor(layer["digital_scale_per_column"])
    torch.testing.assert_close(matrix / 25.0 * scale, w, rtol=1e-5, atol=1e-6)


def test_simulate_and_presets_commands() -> None:
    _register_all()
    runner = CliRunner()
    result = runner.invoke(
        app, ["simulate", "--model", "digits_cnn", "--instances", "2", "--times", "1s,1d", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert [row["time"] for row in summary["drift"]] == ["1s", "1d"]
    assert all(0 < layer["utilization"] <= 1 for layer in summary["layers"])
    result = runner.invoke(app, ["presets"])
    assert result.exit_code == 0 and "aon-cim" in result.output


def test_bad_times_are_a_clear_error() -> None:
    import pytest

    from tinycim.units import parse_durations

    with pytest.raises(tc.ConfigError, match="unit"):
        parse_durations("1s,fortnight")
    assert parse_durations("1s,1h,1d,30d,1y") == [1.0, 3600.0, 86400.0, 2592000.0, 31536000.0]
