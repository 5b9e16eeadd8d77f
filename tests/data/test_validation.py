"""Issue 16, data: every reader checks what it reads and names the file (and row) of a bad value.

Each case was silently accepted before (NaN and 1e39 rows, float audio beyond full scale, CIFAR
python batches of float or int64 pixels, VWW rows pointing outside the folder, duplicate and
unlisted VWW files).
"""

import os
import pickle
import re

import numpy as np
import pytest
import soundfile as sf

import tinycim.data as data
from tinycim.errors import DataError

from databuilders import make_cifar_py, make_speech
from test_har import make_hapt, make_uci_har
from test_images import make_vww_bins


# ---------------------------------------------------------------- UCI HAR / HAPT tables


def _set_value(path, row, col, text):
    lines = path.read_text().splitlines()
    fields = lines[row].split()
    fields[col] = text
    lines[row] = " ".join(fields)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "value, why",
    [
        ("nan", "value nan is not finite"),
        ("1e39", r"value 1e\+39 is outside \[-100, 100\]"),
        ("inf", "value inf is not finite"),
    ],
)
def test_uci_har_signal_value_is_named_by_file_line_and_column(tmp_path, value, why):
    root = make_uci_har(tmp_path)
    path = root / "UCI HAR Dataset" / "train" / "Inertial Signals" / "body_gyro_x_train.txt"
    _set_value(path, 2, 4, value)
    with pytest.raises(DataError, match=rf"body_gyro_x_train.txt: line 3, column 5: {why}$"):
        data.load("uci_har", root, "train")
    assert len(data.load("uci_har", root, "test")) == 6  # the other part is unaffected


@pytest.mark.parametrize(
    "name, value, why",
    [
        ("X_test.txt", "1.5", r"value 1.5 is outside \[-1, 1\]"),  # features are bounded in [-1, 1]
        ("y_test.txt", "2.5", "value 2.5 is not a whole number"),
        ("y_test.txt", "7", "value 7 is above 6"),
        ("subject_test.txt", "0", "value 0 is below 1"),
    ],
)
def test_uci_har_features_labels_and_subjects_are_range_checked(tmp_path, name, value, why):
    root = make_uci_har(tmp_path)
    _set_value(root / "UCI HAR Dataset" / "test" / name, 1, 0, value)
    with pytest.raises(DataError, match=rf"test[/\\]{name}: line 2, column 1: {why}$"):
        data.load("uci_har", root, "test", features="561")


def test_uci_har_line_numbers_count_blank_lines(tmp_path):
    root = make_uci_har(tmp_path)
    path = root / "UCI HAR Dataset" / "test" / "y_test.txt"
    path.write_text("1\n\n2\nnan\n3\n4\n5\n")
    with pytest.raises(DataError, match=r"y_test.txt: line 4, column 1: value nan is not finite"):
        data.load("uci_har", root, "test")


@pytest.mark.parametrize("value", ["nan", "1e39"])
def test_hapt_recording_value_is_named_or_skipped(tmp_path, value):
    folder = make_hapt(tmp_path)
    _set_value(folder / "RawData" / "acc_exp02_user07.txt", 10, 1, value)
    with pytest.raises(DataError, match=r"acc_exp02_user07.txt: line 11, column 2: value"):
        data.load("hapt", folder, "all")
    with pytest.warns(data.DataWarning, match="skipped 1 bad file"):
        everything = data.load("hapt", folder, "all", skip_bad=True)
    assert len(everything) == 7 and bool(everything.x.isfinite().all())


def test_hapt_labels_file_is_checked(tmp_path):
    folder = make_hapt(tmp_path)
    labels = folder / "RawData" / "labels.txt"
    _set_value(labels, 1, 2, "13")
    with pytest.raises(DataError, match=r"labels.txt: line 2, column 3: activity 13 is not 1..12"):
        data.load("hapt", folder, "all")
    _set_value(labels, 1, 2, "1e39")
    with pytest.raises(DataError, match=r"labels.txt: line 2, column 3: value 1e\+39 is above"):
        data.load("hapt", folder, "all")


def test_hapt_train_split_without_subjects_is_refused(tmp_path):
    folder = make_hapt(tmp_path)
    labels = folder / "RawData" / "labels.txt"
    rows = [
        r for r in labels.read_text().splitlines() if r.split()[1] == "2"
    ]  # user 2: a UCI HAR test subject
    labels.write_text("\n".join(rows) + "\n")
    assert len(data.load("hapt", folder, "test")) == 6
    with pytest.raises(DataError, match=r"hapt_top: the train split of hapt is empty; nothing to train on$"):
        data.load("hapt", folder, "train")


# ---------------------------------------------------------------- audio


@pytest.mark.parametrize(
    "value, why",
    [(1.5, r"sample 100: 1.5 is outside \[-1, 1\] \(peak 1.5\)"), (np.nan, "sample 100: nan is not finite")],
)
def test_float_wav_outside_full_scale_is_a_bad_file(tmp_path, cache_dir, value, why):
    root = make_speech(tmp_path / "sc", {"yes": ["00000001_nohash_0", "00000002_nohash_0"]})
    audio = np.zeros(16000, np.float32)
    audio[100] = value
    sf.write(root / "yes" / "00000002_nohash_0.wav", audio, 16000, subtype="FLOAT")
    with pytest.raises(DataError, match=rf"00000002_nohash_0.wav: {why}"):
        data.load("speech_commands", root, "test", cache_dir=cache_dir)
    with pytest.warns(data.DataWarning, match="skipped 1 bad file"):
        assert (
            data.load("speech_commands", root, "test", cache_dir=cache_dir, skip_bad=True).class_counts()[
                "yes"
            ]
            == 0
        )
    # a float file inside [-1, 1] is fine
    sf.write(root / "yes" / "00000002_nohash_0.wav", np.full(16000, 0.5, np.float32), 16000, subtype="FLOAT")
    assert data.load("speech_commands", root, "test", cache_dir=cache_dir).class_counts()["yes"] == 1


def test_float_noise_recording_outside_full_scale_is_named(tmp_path, cache_dir):
    root = make_speech(tmp_path / "sc", {"yes": ["00000001_nohash_0"]})
    sf.write(
        root / "_background_noise_" / "loud.wav", np.full(32000, 3.0, np.float32), 16000, subtype="FLOAT"
    )
    with pytest.raises(DataError, match=r"loud.wav: sample 0: 3 is outside \[-1, 1\]"):
        data.load("speech_commands", root, "train", cache_dir=cache_dir)


# ---------------------------------------------------------------- CIFAR-10 python batches


def _write_py_batch(path, pixels, labels):
    path.write_bytes(pickle.dumps({b"data": pixels, b"labels": labels}, protocol=2))


@pytest.mark.parametrize(
    "pixels, why",
    [
        (
            np.random.default_rng(0).random((10, 3072)),
            r"'data' is float64 \(already scaled to \[0, 1\]\?\); expected uint8",
        ),
        (
            np.full((10, 3072), 300, np.int64),
            "'data' is int64 with value 300 at image 0, byte 0; expected uint8",
        ),
        (np.full((10, 3072), -1, np.int16), "'data' is int16 with value -1 at image 0, byte 0"),
    ],
)
def test_cifar_python_pixels_are_never_cast(tmp_path, pixels, why):
    folder = make_cifar_py(tmp_path / "cifar-10-batches-py")
    _write_py_batch(folder / "test_batch", pixels, list(range(10)))
    with pytest.raises(DataError, match=rf"test_batch: {why}"):
        data.load("cifar10", tmp_path, "test")


def test_cifar_python_int64_pixels_in_range_load_like_uint8(tmp_path):
    folder = make_cifar_py(tmp_path / "cifar-10-batches-py")
    reference = data.load("cifar10", tmp_path, "test")
    batch = pickle.loads((folder / "test_batch").read_bytes())
    _write_py_batch(folder / "test_batch", batch[b"data"].astype(np.int64), batch[b"labels"])
    again = data.load("cifar10", tmp_path, "test")
    assert np.array_equal(again.x.numpy(), reference.x.numpy())


def test_cifar_python_float_labels_are_refused(tmp_path):
    folder = make_cifar_py(tmp_path / "cifar-10-batches-py")
    _write_py_batch(folder / "test_batch", np.zeros((10, 3072), np.uint8), [0.5] * 10)
    with pytest.raises(DataError, match="test_batch: 'labels' are float64; expected whole class indices"):
        data.load("cifar10", tmp_path, "test")


# ---------------------------------------------------------------- VWW


def _rewrite_row(root, row, text):
    lines = (root / "y_labels.csv").read_text().splitlines()
    lines[row] = text
    (root / "y_labels.csv").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_vww_rows_never_read_outside_the_folder(tmp_path, kind):
    root = make_vww_bins(tmp_path / "vww")
    outside = tmp_path / "secret.bin"
    outside.write_bytes(np.full(96 * 96 * 3, 7, np.uint8).tobytes())
    if kind == "dotdot":
        name, why = "../secret.bin", r"file name '../secret.bin' leaves the dataset folder \('..'\)"
    elif kind == "absolute":
        name, why = str(outside), "file name .*secret.bin. is an absolute path; expected a path inside"
    else:
        os.symlink(outside, root / "link.bin")
        name, why = "link.bin", "file name 'link.bin' resolves outside the dataset folder"
    _rewrite_row(root, 2, f"{name},2,1")
    (root / "000000000002.bin").unlink()
    with pytest.raises(DataError, match=rf"y_labels.csv:3: {why}"):
        data.load("vww", root, "all")
    report = data.check("vww", root)
    assert not report.ok and any("y_labels.csv:3" in p for p in report.problems)


def test_vww_duplicate_rows_and_unlisted_files_are_reported(tmp_path):
    root = make_vww_bins(tmp_path / "vww")
    _rewrite_row(root, 5, "000000000001.bin,2,0")  # row 6 repeats row 2's file with another label
    with pytest.raises(
        DataError, match=r"y_labels.csv:6: 000000000001.bin is listed again \(first on row 2\)"
    ):
        data.load("vww", root, "all")
    report = data.check("vww", root)
    problems = "\n".join(report.problems)
    assert "y_labels.csv:6: 000000000001.bin is listed again (first on row 2)" in problems
    # row 6 no longer names 000000000005.bin: that file has no label now
    assert re.search(r"000000000005.bin: not listed in y_labels.csv", problems)
    with pytest.warns(data.DataWarning, match="skipped 2 bad file"):
        assert len(data.load("vww", root, "all", skip_bad=True)) == 19


def test_vww_duplicate_content_and_num_classes(tmp_path):
    root = make_vww_bins(tmp_path / "vww")
    (root / "000000000007.bin").write_bytes((root / "000000000003.bin").read_bytes())
    with pytest.raises(DataError, match=r"000000000007.bin: duplicate: same bytes as .*000000000003.bin"):
        data.load("vww", root, "all")
    (root / "000000000007.bin").write_bytes(np.full(96 * 96 * 3, 77, np.uint8).tobytes())
    _rewrite_row(root, 0, "000000000000.bin,3,0")
    with pytest.raises(DataError, match=r"y_labels.csv:1: num_classes '3', expected 2"):
        data.load("vww", root, "all")


def test_vww_duplicate_images_across_class_folders(tmp_path):
    from databuilders import write_image

    for i in range(3):
        write_image(tmp_path / "person" / f"{i}.png", (96, 96), i)
        write_image(tmp_path / "non_person" / f"{i}.png", (96, 96), 10 + i)
    (tmp_path / "person" / "9.png").write_bytes((tmp_path / "non_person" / "1.png").read_bytes())
    with pytest.raises(DataError, match=r"person[/\\]9.png: duplicate: same bytes as .*non_person[/\\]1.png"):
        data.load("vww", tmp_path, "all")


def test_load_refuses_non_finite_inputs_whatever_the_reader(monkeypatch):
    """The last guard in `tinycim.data.load`, after every reader's own checks."""
    import torch

    from tinycim.data import digits
    from tinycim.data.dataset import Dataset

    def poisoned(data_dir, split, *, seed, bad):
        x = torch.zeros(5, 1, 8, 8)
        x[3, 0, 2, 2] = float("nan")
        return Dataset(x, torch.arange(5), classes=digits.CLASSES, name="digits", split=split)

    monkeypatch.setattr(digits, "load", poisoned)
    with pytest.raises(
        DataError, match=r"^digits: digits train sample 3 holds NaN or inf \(1 samples in all\)$"
    ):
        data.load("digits", None, "train")
