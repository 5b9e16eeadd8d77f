"""`tinycim train` / `tinycim drift` on scikit-learn's bundled digits (no data dir needed)."""

from __future__ import annotations

import json

import pytest
import torch

from tinycim.cli import main
from tinycim.cli.train_cmd import parse_times
from tinycim.errors import ConfigError


def _run(argv: list[str]) -> None:
    try:
        main(argv)
    except SystemExit as stop:
        assert stop.code in (0, None), f"exit code {stop.code}"


def test_train_hwa_then_drift_writes_documented_files(tmp_path, capsys):
    run = tmp_path / "run"
    _run(
        [
            "train",
            "--model",
            "digits_cnn",
            "--dataset",
            "digits",
            "--epochs",
            "1",
            "--pretrain-epochs",
            "1",
            "--seed",
            "0",
            "--hwa",
            "--out",
            str(run),
            "--no-progress",
        ]
    )
    assert {p.name for p in run.iterdir()} >= {"model.safetensors", "config.json", "metrics.json", "pretrain"}
    config = json.loads((run / "config.json").read_text())
    assert config["analog"]["dac"]["bits"] == 8 and config["hwa"]["noise"] == "device"
    assert config["model"]["name"] == "digits_cnn"
    assert config["train"]["lr"] == pytest.approx(
        json.loads((run / "pretrain" / "config.json").read_text())["train"]["lr"] / 4
    )  # fine-tuning at a quarter of the FP rate
    assert json.loads((run / "metrics.json").read_text())[0]["epoch"] == 1
    out = tmp_path / "drift.json"
    _run(
        [
            "drift",
            str(run),
            "--dataset",
            "digits",
            "--split",
            "test",
            "--times",
            "1s,1d",
            "--instances",
            "2",
            "--json-out",
            str(out),
        ]
    )
    report = json.loads(out.read_text())
    assert report["labels"] == ["1s", "1d"] and report["times_s"] == [1.0, 86400.0]
    assert (
        len(report["mean"]) == 2 and len(report["per_instance"][0]) == 2 and 0 <= report["fp_accuracy"] <= 100
    )


def _train_digits_with_config(tmp_path, text: str, out: str) -> None:
    """`tinycim train` of digits_cnn for one epoch with a --config file holding `text`."""
    cfg = tmp_path / f"{out}.yaml"
    cfg.write_text(text)
    main(
        [
            "train",
            "--model",
            "digits_cnn",
            "--dataset",
            "digits",
            "--epochs",
            "1",
            "--config",
            str(cfg),
            "--out",
            str(tmp_path / out),
            "--no-progress",
        ]
    )


def _config_error(tmp_path, capsys, text: str) -> str:
    """stderr of a `tinycim train` that must stop with exit code 2 on the --config `text`."""
    with pytest.raises(SystemExit) as stop:
        _train_digits_with_config(tmp_path, text, "r")
    assert stop.value.code == 2
    return capsys.readouterr().err


def test_bad_config_file_is_one_clear_error(tmp_path, capsys):
    assert "dac.bits = 40 is invalid: allowed range 1..16" in _config_error(
        tmp_path, capsys, "hwa:\n  dac_bits: 40\n"
    )
    assert "hwa.noise = 'pink' is invalid" in _config_error(tmp_path, capsys, "hwa:\n  noise: pink\n")
    assert "distill = 'no' is invalid" in _config_error(tmp_path, capsys, "hwa: pcm\ndistill: 'no'\n")


def test_config_file_values_win_over_cli_defaults(tmp_path):
    """`train.epochs: 2` in --config trains 2 epochs unless --epochs is given on the command line."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  epochs: 2\n  seed: 3\n")
    main(
        [
            "train",
            "--model",
            "digits_cnn",
            "--dataset",
            "digits",
            "--config",
            str(cfg),
            "--out",
            str(tmp_path / "a"),
            "--no-progress",
        ]
    )
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["train"]["epochs"] == 2 and config["train"]["seed"] == 3
    main(
        [
            "train",
            "--model",
            "digits_cnn",
            "--dataset",
            "digits",
            "--config",
            str(cfg),
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "b"),
            "--no-progress",
        ]
    )
    assert json.loads((tmp_path / "b" / "config.json").read_text())["train"]["epochs"] == 1


def test_parse_times():
    assert parse_times("1s,1h,1d,30d,1y") == [
        ("1s", 1.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("30d", 2592000.0),
        ("1y", 31536000.0),
    ]
    with pytest.raises(ConfigError, match="--times"):
        parse_times("1 fortnight")


def test_config_model_section_passes_options_and_rejects_unknown_ones(tmp_path, capsys):
    """`model:` in --config goes to create_model (e.g. input_norm) and into the run's config.json;
    a misspelled option is one clear error."""
    from tinycim.train import load_run

    _train_digits_with_config(tmp_path, "model:\n  input_norm: true\n", "ok")
    assert json.loads((tmp_path / "ok" / "config.json").read_text())["model"]["kwargs"]["input_norm"] is True
    assert not isinstance(load_run(tmp_path / "ok")[0].input_norm, torch.nn.Identity)
    err = _config_error(tmp_path, capsys, "model:\n  input_nrom: true\n")
    assert "model 'digits_cnn' has no option 'input_nrom'" in err


def test_train_tensorboard_and_drift_with_two_references(tmp_path, capsys):
    """--tensorboard writes both phases' per-epoch scalars and the run's hparams; `tinycim drift`
    reports the ideal-device reference next to FP32, in the table and the JSON."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    run = tmp_path / "run"
    _run(
        [
            "train",
            "--model",
            "digits_cnn",
            "--dataset",
            "digits",
            "--epochs",
            "2",
            "--pretrain-epochs",
            "1",
            "--hwa",
            "--tensorboard",
            "--out",
            str(run),
            "--no-progress",
        ]
    )
    for tb in (run / "tb", run / "pretrain" / "tb"):
        mux = EventMultiplexer().AddRunsFromDirectory(str(tb))
        mux.Reload()
        steps = [
            e.step
            for r in mux.Runs()
            if "val/accuracy" in mux.Runs()[r]["scalars"]
            for e in mux.GetAccumulator(r).Scalars("val/accuracy")
        ]
        assert steps == ([1] if "pretrain" in str(tb) else [1, 2])
    hparams = EventMultiplexer().AddRunsFromDirectory(str(run / "tb"))
    hparams.Reload()
    assert any(hparams.PluginRunToTagToContent("hparams").values())
    out = tmp_path / "drift.json"
    _run(
        [
            "drift",
            str(run),
            "--split",
            "test",
            "--times",
            "1d",
            "--instances",
            "2",
            "--json-out",
            str(out),
            "--tensorboard",
        ]
    )
    report = json.loads(out.read_text())
    assert 0 <= report["ideal_accuracy"] <= 100
    assert "ideal chip" in capsys.readouterr().out


def test_device_option(tmp_path, capsys):
    """--device cpu trains; an unknown device or CUDA on a machine without one is one clear error."""
    import torch

    _run(
        [
            "train",
            "--model",
            "digits_cnn",
            "--dataset",
            "digits",
            "--epochs",
            "1",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "cpu"),
            "--no-progress",
        ]
    )
    assert (tmp_path / "cpu" / "model.safetensors").is_file()
    for bad, needle in (("tpu", "--device 'tpu' is invalid"),) + (
        (("cuda", "no CUDA device"),) if not torch.cuda.is_available() else ()
    ):
        with pytest.raises(SystemExit) as stop:
            main(
                [
                    "train",
                    "--model",
                    "digits_cnn",
                    "--dataset",
                    "digits",
                    "--device",
                    bad,
                    "--out",
                    str(tmp_path / bad),
                ]
            )
        assert stop.value.code == 2 and needle in capsys.readouterr().err


def test_resume_with_another_lr_or_seed_is_refused_naming_the_option(tmp_path, capsys):
    """`--resume` with another --lr / --seed must not continue the old checkpoint while config.json
    records the new values: one line naming the field, nothing overwritten."""
    run = tmp_path / "run"
    base = ["train", "--model", "digits_cnn", "--dataset", "digits", "--epochs", "1", "--out", str(run)]
    _run([*base, "--lr", "0.01", "--no-progress"])
    config = (run / "config.json").read_text()
    for extra, field in ((["--lr", "0.02"], "train.lr"), (["--lr", "0.01", "--seed", "3"], "train.seed")):
        capsys.readouterr()
        with pytest.raises(SystemExit) as stop:
            main([*base, *extra, "--resume", "--no-progress"])
        assert stop.value.code not in (0, None)
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and field in err[0] and "settings changed" in err[0], err
        assert (run / "config.json").read_text() == config
    _run([*base, "--lr", "0.01", "--resume", "--no-progress"])  # the same settings resume


def test_drift_of_a_plain_run_needs_no_training_data(tmp_path, monkeypatch, capsys):
    """A plain run records its calibration inputs, so `drift` on a folder holding only test data
    (e.g. the canonical Speech Commands test set) calibrates from the run, not an empty train split."""
    import tinycim.data as tdata

    run = tmp_path / "run"
    _run(
        [
            "train",
            "--model",
            "digits_cnn",
            "--dataset",
            "digits",
            "--epochs",
            "1",
            "--out",
            str(run),
            "--no-progress",
        ]
    )
    assert (run / "calibration.safetensors").is_file()
    real_load = tdata.load

    def test_only(name, data_dir, split, **kwargs):
        if split == "train":
            raise AssertionError("drift read the training split")
        return real_load(name, data_dir, split, **kwargs)

    monkeypatch.setattr(tdata, "load", test_only)
    out = tmp_path / "drift.json"
    _run(["drift", str(run), "--times", "1d", "--instances", "2", "--json-out", str(out)])
    report = json.loads(out.read_text())
    assert report["instances"] == 2 and len(report["mean"]) == 1 and 0 <= report["mean"][0] <= 100
    # --json is a flag, as in cost / models / datasets: the same report on stdout instead of the table
    capsys.readouterr()
    _run(["drift", str(run), "--times", "1d", "--instances", "2", "--json"])
    assert json.loads(capsys.readouterr().out) == report


@pytest.mark.parametrize("option", ["--batch-size", "--instances"])
def test_drift_rejects_non_positive_counts_naming_the_option(tmp_path, capsys, option):
    with pytest.raises(SystemExit) as stop:
        main(["drift", str(tmp_path), option, "-1"])
    assert stop.value.code not in (0, None)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and option in err[0], err
