"""Recipes, the end-to-end runner (with resume), reports and the export command."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tinycim.cli import _register_all, app
from tinycim.errors import ConfigError
from tinycim.pipeline import load_recipe, recipe_from_dict, run_recipe

TINY = {
    "name": "tiny",
    "model": "digits_cnn",
    "dataset": "digits",
    "phases": {
        "fp": {"epochs": 1, "lr": 0.01, "batch_size": 128},
        "hwa": {"epochs": 1, "lr": 0.003, "batch_size": 128, "preset": "pcm"},
    },
    "analog": {"preset": "pcm"},
    "drift": {"times": ["1s", "1d"], "instances": 2},
    "bits_sweep": [4, 8],
    "cost": {"accelerator": "aon-cim", "act_bits": [8]},
    "published": [{"metric": "acc_drop_1d_pp", "value": 0.8, "source": "paper"}],
}


def test_bundled_and_repo_recipes_validate() -> None:
    import pathlib

    for path in sorted(pathlib.Path("recipes").glob("*.yaml")):
        for full in (False, True):
            recipe = load_recipe(path, full=full)
            assert recipe.fp.epochs >= 1 and recipe.instances >= 1
    assert load_recipe("quickstart").dataset == "digits"


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"phases": {"fp": {"epochs": -1, "lr": 0.1}}}, "epochs"),
        ({"phases": {"fp": {"epochs": 1, "lr": 0}}}, "lr"),
        ({"drift": {"instances": 0}}, "instances"),
        ({"bits_sweep": [0]}, "bits"),
        ({"colour": "blue"}, "unknown field"),
        ({"published": [{"metric": "speed", "value": 1}]}, "metric"),
        ({"drift": {"times": ["1 fortnight"]}}, "unit"),
    ],
)
def test_invalid_recipes_name_the_problem(patch, message) -> None:
    with pytest.raises(ConfigError, match=message):
        recipe_from_dict({**TINY, **patch})


def test_run_writes_a_report_and_resumes_without_redoing_steps(tmp_path) -> None:
    recipe = recipe_from_dict(TINY)
    logs: list[str] = []
    report = run_recipe(recipe, None, tmp_path, progress=False, log=logs.append)
    data = json.loads((tmp_path / "report.json").read_text())
    assert report.name == "report.md" and "Ours vs published" in report.read_text()
    assert set(data["drift"]) == {"hwa_gdc", "hwa_no_gdc", "plain_gdc"}
    assert [row["time"] for row in data["drift"]["hwa_gdc"]] == ["1s", "1d"]
    assert all(0 <= row["mean"] <= 100 for curve in data["drift"].values() for row in curve)
    assert [row["bits"] for row in data["bits"]] == [4, 8]
    assert data["cost"][0]["energy_per_inference_j"] > 0
    assert {p for p in data["plots"]} == {"accuracy_vs_time", "accuracy_vs_bits", "energy_breakdown"}
    for name in data["plots"].values():
        assert (tmp_path / name).stat().st_size > 1000
    comparison = {row["metric"]: row for row in data["comparison"]}
    assert comparison["acc_drop_1d_pp"]["published"] == 0.8
    # a killed run: the last steps are lost; running again redoes only those
    (tmp_path / "steps" / "cost.json").unlink()
    (tmp_path / "report.json").unlink()
    logs.clear()
    run_recipe(recipe, None, tmp_path, progress=False, log=logs.append)
    assert "cost ..." in logs and not any(line.startswith("train_") for line in logs)
    assert any("training fp: done earlier" in line for line in logs)
    again = json.loads((tmp_path / "report.json").read_text())
    assert again["drift"] == data["drift"] and again["fp_accuracy"] == data["fp_accuracy"]
    # an edited recipe must not silently reuse the old run's steps
    edited = recipe_from_dict({**TINY, "drift": {"times": ["1s", "1d"], "instances": 3}})
    with pytest.raises(
        ConfigError, match=r"was written with instances = 2, this run has 3 \(the settings changed\)"
    ):
        run_recipe(edited, None, tmp_path, progress=False, log=logs.append)


def test_a_finished_run_refuses_other_data(tmp_path, monkeypatch) -> None:
    """`tinycim run` into a finished --out with other data (another --data-dir) must not reuse its
    steps: the data fingerprints differ and the error names the split."""
    import tinycim.data as tdata

    recipe = recipe_from_dict({**TINY, "phases": {"fp": TINY["phases"]["fp"]}, "bits_sweep": [], "cost": {}})
    run_recipe(recipe, None, tmp_path, progress=False, log=lambda line: None)
    real_load = tdata.load

    def other_data(*args, **kwargs):
        ds = real_load(*args, **kwargs)
        ds.tensors[0][0].add_(1.0)  # one changed sample
        return ds

    monkeypatch.setattr(tdata, "load", other_data)
    with pytest.raises(ConfigError, match=r"was written with data\.\w+ = .*the data changed"):
        run_recipe(recipe, None, tmp_path, progress=False, log=lambda line: None)


def test_export_command_on_a_run(tmp_path) -> None:
    run_recipe(
        recipe_from_dict({**TINY, "bits_sweep": [], "cost": {}}),
        None,
        tmp_path / "run",
        progress=False,
        log=lambda _: None,
    )
    _register_all()
    result = CliRunner().invoke(
        app, ["export", str(tmp_path / "run" / "hwa"), "--out", str(tmp_path / "export")]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "export" / "deployment.json").read_text())
    assert [layer["order"] for layer in doc["layers"]] == list(range(len(doc["layers"])))
    assert all(layer["dac"]["bits"] == 8 and layer["adc"]["range"] for layer in doc["layers"])
    assert all(layer["gdc"]["reference"] for layer in doc["layers"])


def test_drift_on_a_recipe_run_uses_the_recipes_data_split(tmp_path) -> None:
    """A recipe run records its dataset, loader options and split seed, so `tinycim drift` (no
    --dataset) measures the recipe's own test set; a run that records none asks for --dataset."""
    from tinycim.data import load
    from tinycim.train import evaluate, load_run, to_digital

    run_recipe(
        recipe_from_dict({**TINY, "seed": 3, "bits_sweep": [], "cost": {}}),
        None,
        tmp_path / "run",
        progress=False,
        log=lambda _: None,
    )
    run = tmp_path / "run" / "hwa"
    model, _hwa, _analog, meta = load_run(run)
    assert meta["extra"] == {"dataset": "digits", "data_options": {}, "data_seed": 3}
    _register_all()
    result = CliRunner().invoke(
        app,
        ["drift", str(run), "--times", "1s", "--instances", "1", "--json-out", str(tmp_path / "drift.json")],
    )
    assert result.exit_code == 0, result.output
    drifted = json.loads((tmp_path / "drift.json").read_text())
    test = load("digits", None, "test", seed=3)
    assert drifted["dataset"] == "digits" and drifted["n_samples"] == len(test)
    assert drifted["fp_accuracy"] == pytest.approx(evaluate(to_digital(model), test), abs=1e-6)
    config = json.loads((run / "config.json").read_text())
    config["extra"] = {}  # a run written without a data record
    (run / "config.json").write_text(json.dumps(config))
    result = CliRunner().invoke(app, ["drift", str(run), "--times", "1s", "--instances", "1"])
    assert result.exit_code != 0
    assert "does not record its dataset: pass --dataset" in str(result.exception) + result.output
    result = CliRunner().invoke(
        app, ["drift", str(run), "--dataset", "digits", "--times", "1s", "--instances", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "records no data split" in result.output


def test_run_with_tensorboard_logs_phases_drift_and_hparams(tmp_path) -> None:
    """`tinycim run --tensorboard`: each phase's epochs, every drift curve vs seconds after
    programming and the recipe's hardware as hparams, readable by tensorboard's own reader."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    recipe = recipe_from_dict({**TINY, "bits_sweep": [], "cost": {}})
    run_recipe(recipe, None, tmp_path, progress=False, log=lambda line: None, tensorboard=True)
    mux = EventMultiplexer().AddRunsFromDirectory(str(tmp_path))
    mux.Reload()
    tags = {tag for run in mux.Runs().values() for tag in run["scalars"]}
    assert {"train/loss", "val/accuracy", "drift/hwa_gdc", "drift/plain_gdc", "drift/hwa_gdc_std"} <= tags
    hparams = {run: content for run, content in mux.PluginRunToTagToContent("hparams").items() if content}
    assert hparams, "no hparams written"
