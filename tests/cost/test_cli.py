"""`tinycim cost --json` prints the headline numbers."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import tinycim.cli as cli


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    if not any(c.name == "cost" for c in cli.app.registered_commands):
        cli._register_all()
    return CliRunner()


def test_cost_json_has_the_headline_keys(runner: CliRunner, tmp_path) -> None:
    png = tmp_path / "breakdown.png"
    result = runner.invoke(
        cli.app,
        [
            "cost",
            "--model",
            "kws_cnn5",
            "--accelerator",
            "aon-cim",
            "--act-bits",
            "6",
            "--plot",
            str(png),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for key in ("tops_per_watt", "energy_per_inference_j", "latency_s", "area_mm2", "utilization"):
        assert data[key] > 0
    assert data["act_bits"] == 6 and data["accelerator"] == "aon-cim"
    assert png.stat().st_size > 0


def test_accelerators_lists_presets(runner: CliRunner) -> None:
    result = runner.invoke(cli.app, ["accelerators"])
    assert result.exit_code == 0 and "aon-cim" in result.output and "hermes" in result.output


def test_cost_of_a_training_run(runner: CliRunner, tmp_path) -> None:
    train = pytest.importorskip("tinycim.train")
    if not hasattr(train, "save_run"):
        pytest.skip("tinycim.train.save_run is not available")
    from tinycim.config import AnalogConfig
    from tinycim.models import create_model

    run = tmp_path / "run"
    hwa = train.HWAConfig()
    train.save_run(
        run,
        "kws_cnn5",
        train.prepare(create_model("kws_cnn5"), hwa),
        hwa,
        AnalogConfig.preset("pcm"),
        train.TrainConfig(),
        {},
    )
    result = runner.invoke(cli.app, ["cost", "--run", str(run), "--accelerator", "hermes", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["model"] == str(run) and data["tops_per_watt"] > 0
