"""VWW and CIFAR-10 readers, including the restricted unpickler."""

import os
import pickle

import numpy as np
import pytest
import torch

import tinycim.data as data
from tinycim.data.safe_pickle import safe_load
from tinycim.errors import DataError

from databuilders import make_cifar_bin, make_cifar_py, write_image


def make_vww_bins(root, n=20):
    root.mkdir(parents=True)
    rows = []
    for i in range(n):
        name = f"{i:012d}.bin"
        (root / name).write_bytes(np.full(96 * 96 * 3, i, np.uint8).tobytes())
        rows.append(f"{name},2,{i % 2}")
    (root / "y_labels.csv").write_text("\n".join(rows) + "\n")
    return root


def test_vww_bin_layout_shapes_labels_and_splits(tmp_path):
    root = make_vww_bins(tmp_path / "vww")
    everything = data.load("vww", root, "all")
    assert everything.input_shape == (3, 96, 96) and everything.classes == ["non_person", "person"]
    assert everything.class_counts() == {"non_person": 10, "person": 10}
    assert float(everything.x[3].max()) == pytest.approx(3 / 255)  # pixel value i, scaled to [0, 1]
    parts = [data.load("vww", root, s, seed=1) for s in ("train", "val", "test")]
    assert [len(p) for p in parts] == [16, 2, 2]
    small = data.load("vww", root, "all", resolution=48, greyscale=True)
    assert small.input_shape == (1, 48, 48)


def test_vww_bad_bin_named_or_skipped(tmp_path):
    root = make_vww_bins(tmp_path / "vww")
    (root / "000000000004.bin").write_bytes(b"\0" * 100)
    with pytest.raises(DataError, match="000000000004.bin"):
        data.load("vww", root, "all")
    with pytest.warns(data.DataWarning, match="skipped 1 bad file"):
        assert len(data.load("vww", root, "all", skip_bad=True)) == 19


def test_vww_image_folders(tmp_path):
    for i in range(4):
        write_image(tmp_path / "person" / f"{i}.jpg", (120, 80), i)
        write_image(tmp_path / "non_person" / f"{i}.png", (64, 64), 10 + i)
    ds = data.load("vww", tmp_path, "all")
    assert ds.input_shape == (3, 96, 96) and ds.class_counts() == {"non_person": 4, "person": 4}


def test_cifar_binary(tmp_path):
    folder = make_cifar_bin(tmp_path / "cifar-10-batches-bin", n_per_file=50)
    train = data.load("cifar10", tmp_path, "train")
    val = data.load("cifar10", tmp_path, "val")
    test = data.load("cifar10", tmp_path, "test")
    assert (len(train), len(val), len(test)) == (90, 10, 50)
    assert test.input_shape == (3, 32, 32) and test.y.tolist() == [i % 10 for i in range(50)]
    raw = np.frombuffer((folder / "test_batch.bin").read_bytes(), np.uint8).reshape(50, 3073)
    assert torch.allclose(test.x[1], torch.from_numpy(raw[1, 1:].reshape(3, 32, 32).astype(np.float32)) / 255)
    assert len(data.load("cifar10", folder, "all")) == 150


def test_cifar_truncated_binary_is_named(tmp_path):
    folder = make_cifar_bin(tmp_path)
    (folder / "data_batch_2.bin").write_bytes((folder / "data_batch_2.bin").read_bytes()[:-10])
    with pytest.raises(DataError, match="data_batch_2.bin.*whole number"):
        data.load("cifar10", folder, "train")
    with pytest.warns(data.DataWarning):
        assert len(data.load("cifar10", folder, "all", skip_bad=True)) == 12


def test_cifar_python_batches(tmp_path):
    make_cifar_py(tmp_path / "cifar-10-batches-py")
    test = data.load("cifar10", tmp_path, "test")
    assert len(test) == 10 and test.input_shape == (3, 32, 32) and test.y.tolist() == list(range(10))


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_restricted_unpickler_refuses_code(tmp_path):
    folder = make_cifar_py(tmp_path / "cifar-10-batches-py")
    (folder / "test_batch").write_bytes(pickle.dumps({"data": _Exploit(), "labels": []}))
    with pytest.raises(DataError, match="test_batch.*refusing"):
        data.load("cifar10", tmp_path, "test")
    with pytest.raises(DataError, match="refusing"):
        safe_load(pickle.dumps(eval), "x.pkl")
    assert safe_load(pickle.dumps({"a": [1, b"x", "s"], "b": np.arange(3)}), "ok.pkl")["a"] == [1, b"x", "s"]


def test_cifar_image_folders_and_missing_test(tmp_path):
    for cls in ("cat", "dog"):
        for i in range(3):
            write_image(tmp_path / "train" / cls / f"{i:04d}.jpg", (32, 32), i)
    everything = data.load("cifar10", tmp_path, "all")
    assert everything.class_counts()["cat"] == 3 and everything.class_counts()["dog"] == 3
    with pytest.raises(data.MissingSplitError):
        data.load("cifar10", tmp_path, "test")
    write_image(tmp_path / "train" / "cat" / "big.png", (40, 32), 9)
    with pytest.raises(DataError, match="big.png.*40x32"):
        data.load("cifar10", tmp_path, "all")
