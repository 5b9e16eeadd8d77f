"""Audit (issue 16), data, through the command a user runs first: `tinycim data check` on a folder
holding one bad value exits 1 and prints one problem line naming the file (and row or sample); it
used to say `ok` for every case below. The readers' own tests are in tests/data/."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

from tinycim.cli import main

sys.path.insert(0, str(Path(__file__).parent / "data"))  # the dataset builders of tests/data

from databuilders import make_cifar_py, make_speech  # noqa: E402
from test_har import make_hapt, make_uci_har  # noqa: E402
from test_images import make_vww_bins  # noqa: E402


@pytest.fixture(autouse=True)
def _user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYCIM_CACHE_DIR", str(tmp_path / "user-cache"))


def _problems(capsys, argv: list[str]) -> list[str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main(["data", "check", *argv])
    assert stop.value.code == 1
    out = capsys.readouterr().out
    assert "ok" not in out.split()
    return [line for line in out.splitlines() if line.startswith("problem: ")]


def _set_value(path: Path, row: int, col: int, text: str) -> None:
    lines = path.read_text().splitlines()
    fields = lines[row].split()
    fields[col] = text
    lines[row] = " ".join(fields)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("value", ["nan", "1e39"])
def test_uci_har_bad_row_is_named(tmp_path, capsys, value):
    root = make_uci_har(tmp_path)
    _set_value(root / "UCI HAR Dataset" / "train" / "Inertial Signals" / "body_gyro_x_train.txt", 2, 4, value)
    problems = _problems(capsys, ["uci_har", str(root)])
    assert any("body_gyro_x_train.txt: line 3, column 5: value" in p for p in problems), problems


@pytest.mark.parametrize("value", ["nan", "1e39"])
def test_hapt_bad_row_is_named(tmp_path, capsys, value):
    folder = make_hapt(tmp_path)
    _set_value(folder / "RawData" / "acc_exp02_user07.txt", 10, 1, value)
    problems = _problems(capsys, ["hapt", str(folder)])
    assert any("acc_exp02_user07.txt: line 11, column 2: value" in p for p in problems), problems


@pytest.mark.parametrize(
    "pixels, why",
    [
        (np.random.default_rng(0).random((10, 3072)), "'data' is float64"),  # was cast: all zeros
        (np.full((10, 3072), 300, np.int64), "'data' is int64 with value 300 at image 0"),  # was wrapped
    ],
)
def test_cifar_python_batch_of_wrong_dtype_is_named(tmp_path, capsys, pixels, why):
    folder = make_cifar_py(tmp_path / "cifar-10-batches-py")
    (folder / "test_batch").write_bytes(
        pickle.dumps({b"data": pixels, b"labels": list(range(10))}, protocol=2)
    )
    problems = _problems(capsys, ["cifar10", str(tmp_path)])
    assert any("test_batch" in p and why in p for p in problems), problems


def test_float_wav_beyond_full_scale_is_named(tmp_path, capsys):
    import soundfile as sf

    root = make_speech(tmp_path / "sc", {"yes": ["00000001_nohash_0", "00000002_nohash_0"]})
    audio = np.zeros(16000, np.float32)
    audio[100] = 1.5
    sf.write(root / "yes" / "00000002_nohash_0.wav", audio, 16000, subtype="FLOAT")
    problems = _problems(capsys, ["speech_commands", str(root), "--cache-dir", str(tmp_path / "cache")])
    assert any("00000002_nohash_0.wav: sample 100: 1.5 is outside [-1, 1]" in p for p in problems), problems


@pytest.mark.parametrize("kind", ["dotdot", "absolute"])
def test_vww_row_leaving_the_folder_is_named(tmp_path, capsys, kind):
    root = make_vww_bins(tmp_path / "vww")
    outside = tmp_path / "x.bin"
    outside.write_bytes(np.full(96 * 96 * 3, 7, np.uint8).tobytes())
    name = "../x.bin" if kind == "dotdot" else str(outside)
    lines = (root / "y_labels.csv").read_text().splitlines()
    lines[2] = f"{name},2,1"
    (root / "y_labels.csv").write_text("\n".join(lines) + "\n")
    (root / "000000000002.bin").unlink()
    problems = _problems(capsys, ["vww", str(root)])
    assert any(
        "y_labels.csv:3:" in p and ("leaves the dataset folder" in p or "absolute" in p) for p in problems
    )


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_data_check_on_a_fifo_named_like_an_archive_ends(tmp_path, capsys):
    fifo = tmp_path / "x.tar.gz"
    os.mkfifo(fifo)
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main(["data", "check", "speech_commands", str(fifo)])
    assert stop.value.code != 0
    captured = capsys.readouterr()
    assert "x.tar.gz" in captured.out + captured.err
