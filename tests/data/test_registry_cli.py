import numpy as np
import pytest

import tinycim.data as data
from tinycim.cli import main
from tinycim.errors import DataError

from databuilders import make_cifar_bin


def test_list_and_unknown():
    assert data.list_datasets() == ["speech_commands", "vww", "cifar10", "uci_har", "hapt", "digits"]
    with pytest.raises(DataError, match="unknown dataset"):
        data.load("mnist", ".", "train")
    with pytest.raises(DataError, match="unknown split"):
        data.load("digits", None, "training")


def test_digits_split_is_deterministic_and_stratified():
    parts = {s: data.load("digits", split=s, seed=3) for s in ("train", "val", "test", "all")}
    assert parts["all"].input_shape == (1, 8, 8) and len(parts["all"]) == 1797
    assert sum(len(parts[s]) for s in ("train", "val", "test")) == 1797
    assert 0.0 <= float(parts["all"].x.min()) and float(parts["all"].x.max()) == 1.0
    again = data.load("digits", split="test", seed=3)
    assert np.array_equal(again.x.numpy(), parts["test"].x.numpy())
    assert not np.array_equal(data.load("digits", split="test", seed=4).x.numpy(), again.x.numpy())
    counts = parts["test"].class_counts()
    assert max(counts.values()) - min(counts.values()) <= 2


def test_check_report_counts_and_problems(tmp_path):
    folder = make_cifar_bin(tmp_path, n_per_file=10)
    report = data.check("cifar10", folder)
    assert report.ok and report.total("train") + report.total("val") == 20 and report.total("test") == 10
    (folder / "test_batch.bin").write_bytes(b"\1" * 100)
    report = data.check("cifar10", folder)
    assert not report.ok and "test_batch.bin" in report.problems[0]


def test_cli_check_exit_codes(tmp_path, capsys):
    folder = make_cifar_bin(tmp_path, n_per_file=10)
    main(["data", "check", "cifar10", str(folder)])
    out = capsys.readouterr().out
    assert "airplane" in out and "total" in out
    (folder / "data_batch_1.bin").write_bytes(b"")
    with pytest.raises(SystemExit) as exc:
        main(["data", "check", "cifar10", str(folder)])
    assert exc.value.code == 1
    assert "data_batch_1.bin: empty file" in capsys.readouterr().out


def test_every_dataset_names_an_input_norm_plaincnn_accepts():
    from tinycim.models.builders import INPUT_NORMS

    for name in data.list_datasets():
        assert data.dataset_info(name).input_norm in INPUT_NORMS, name
    # one-channel MFCC images: a per-channel norm would be one global scale
    assert data.dataset_info("speech_commands").input_norm == "feature"
    assert data.dataset_info("hapt").input_norm == "channel"


def test_dataset_options_name_each_loaders_keywords():
    assert data.dataset_options("cifar10") == []
    assert data.dataset_options("uci_har") == ["features", "split_by"]
    assert "split_by" in data.dataset_options("speech_commands") and "bad" not in data.dataset_options("vww")


def test_cli_check_passes_loader_options(tmp_path, capsys):
    from tinycim.cli.data_cmd import _parse_options

    assert _parse_options(["silence_percentage=0", "greyscale=true", "features=raw", "resolution=64"]) == {
        "silence_percentage": 0,
        "greyscale": True,
        "features": "raw",
        "resolution": 64,
    }
    folder = make_cifar_bin(tmp_path, n_per_file=10)
    for bad, message in (("resolution=64", "resolution"), ("resolution", "KEY=VALUE")):
        with pytest.raises(SystemExit) as exc:
            main(["data", "check", "cifar10", str(folder), "-o", bad])
        assert exc.value.code == 2 and message in capsys.readouterr().err
    rows = {r["name"]: r for r in __import__("tinycim.cli.catalog_cmd", fromlist=["x"]).dataset_rows()}
    assert "split_by" in rows["hapt"]["options"] and rows["digits"]["options"] == []
