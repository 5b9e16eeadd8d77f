"""Sweeps, preset overrides and the Pareto plot (library and `tinycim cost`)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import tinycim.cli as cli
import tinycim.cost as cost
from tinycim.cost.sweep import apply_overrides, parse_assignment, pareto_front, sweep_grid
from tinycim.errors import ConfigError

from .conftest import small_cnn


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    if not any(c.name == "cost" for c in cli.app.registered_commands):
        cli._register_all()
    return CliRunner()


def test_parse_assignment() -> None:
    assert parse_assignment("adc.column_current_w_per_s=0.06") == ("adc.column_current_w_per_s", 0.06)
    assert parse_assignment("act_bits=4,6,8", many=True) == ("act_bits", [4, 6, 8])
    assert parse_assignment("tile=256x128") == ("tile", (256, 128))
    assert parse_assignment("array.gate_unused_columns=true") == ("array.gate_unused_columns", True)
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_assignment("adc.kind")
    with pytest.raises(ConfigError, match="ROWSxCOLS"):
        parse_assignment("tile=256")


def test_overrides_are_validated_and_name_the_field() -> None:
    acc = apply_overrides(
        cost.get_accelerator("aon-cim"), [("layout.differential", "columns"), ("tile", (256, 256))]
    )
    assert acc.layout.differential == "columns" and (acc.array.rows, acc.array.cols) == (256, 256)
    with pytest.raises(ConfigError, match="unknown field of adc"):
        apply_overrides(acc, [("adc.colour", 1)])
    with pytest.raises(ConfigError, match="unknown section 'adcs'"):
        apply_overrides(acc, [("adcs.kind", "sar")])
    with pytest.raises(ConfigError, match="layout.differential = 'pairs'"):
        apply_overrides(acc, [("layout.differential", "pairs")])


def test_sweep_grid_is_the_product_and_follows_the_model() -> None:
    rows = sweep_grid(
        small_cnn(),
        cost.get_accelerator("aon-cim"),
        [("act_bits", [4, 8]), ("layout.differential", ["cell", "columns"])],
    )
    assert [tuple(r["point"].values()) for r in rows] == [
        (4, "cell"),
        (4, "columns"),
        (8, "cell"),
        (8, "columns"),
    ]
    by = {tuple(r["point"].values()): r for r in rows}
    for b in (4, 8):
        assert by[(b, "columns")]["conversions"] == 2 * by[(b, "cell")]["conversions"]
        assert by[(b, "cell")]["energy_per_inference_j"] == pytest.approx(
            cost.estimate(small_cnn(), "aon-cim", act_bits=b).energy_per_inference_j
        )
    assert by[(8, "cell")]["energy_per_inference_j"] > by[(4, "cell")]["energy_per_inference_j"]


def test_pareto_front() -> None:
    # (energy, accuracy): the 2nd is dominated by the 1st (more energy, less accuracy)
    assert pareto_front([(1.0, 90.0), (2.0, 89.0), (3.0, 92.0), (0.5, 80.0)]) == [True, False, True, True]


def test_cli_sweep_prints_readable_energies(runner: CliRunner) -> None:
    result = runner.invoke(
        cli.app,
        [
            "cost",
            "--model",
            "kws_cnn5",
            "--accelerator",
            "aon-cim",
            "--sweep",
            "act_bits=4,8",
            "--set",
            "array.gate_unused_columns=true",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 3 and "act_bits" in lines[0]
    assert " nJ " in lines[1] or " uJ " in lines[1]  # not 120,000 pJ
    result = runner.invoke(cli.app, ["cost", "--model", "kws_cnn5", "--sweep", "act_bits=4,8", "--json"])
    rows = json.loads(result.output)
    assert [r["point"]["act_bits"] for r in rows] == [4, 8]


def test_cli_pareto_from_a_recipe_run(runner: CliRunner, tmp_path) -> None:
    train = pytest.importorskip("tinycim.train")
    if not hasattr(train, "save_run"):
        pytest.skip("tinycim.train.save_run is not available")
    from tinycim.config import AnalogConfig
    from tinycim.models import create_model

    out = tmp_path / "recipe_out"
    hwa = train.HWAConfig()
    train.save_run(
        out / "hwa",
        "kws_cnn5",
        train.prepare(create_model("kws_cnn5"), hwa),
        hwa,
        AnalogConfig.preset("pcm"),
        train.TrainConfig(),
        {},
    )
    bits = [
        {"bits": b, "mean": acc, "std": 0.5, "seconds": 86400.0}
        for b, acc in ((4, 70.0), (6, 80.0), (8, 79.0))
    ]
    (out / "report.json").write_text(
        json.dumps({"recipe": "toy", "bits": bits, "model": {"input_shape": [1, 49, 10]}})
    )
    png = tmp_path / "pareto.png"
    result = runner.invoke(
        cli.app, ["cost", "--run", str(out), "--accelerator", "aon-cim", "--pareto", str(png)]
    )
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # 8-bit costs more than 6-bit and is less accurate: off the front
    assert "8-bit" in result.output and [
        line.endswith("(Pareto)") for line in result.output.splitlines()[:3]
    ] == [True, True, False]
