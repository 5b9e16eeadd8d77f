import tarfile
import zipfile

import numpy as np
import pytest
import torch

import tinycim.data as data
from tinycim.data import har
from tinycim.errors import DataError


def make_uci_har(root, n_train=12, n_test=6):
    rng = np.random.default_rng(0)
    for part, n, subjects in (("train", n_train, [1, 3, 5, 6]), ("test", n_test, [2, 4])):
        folder = root / "UCI HAR Dataset" / part
        (folder / "Inertial Signals").mkdir(parents=True)
        for k, sig in enumerate(har.SIGNALS):
            np.savetxt(folder / "Inertial Signals" / f"{sig}_{part}.txt", k + rng.random((n, 128)))
        np.savetxt(folder / f"X_{part}.txt", rng.random((n, 561)))
        np.savetxt(folder / f"y_{part}.txt", np.arange(n) % 6 + 1, fmt="%d")
        np.savetxt(folder / f"subject_{part}.txt", np.array(subjects)[np.arange(n) % len(subjects)], fmt="%d")
    return root


def test_uci_har_raw_and_features(tmp_path):
    root = make_uci_har(tmp_path)
    train, val, test = (data.load("uci_har", root, s) for s in ("train", "val", "test"))
    assert train.input_shape == (9, 128) and len(test) == 6 and len(train) + len(val) == 12
    assert len(val) > 0  # one of the four training subjects held out
    # channel k was written as k + U[0, 1): the UCI HAR order is kept
    assert torch.all(test.x[:, 4].floor() == 4)
    assert test.y.tolist() == [0, 1, 2, 3, 4, 5]
    feats = data.load("uci_har", root / "UCI HAR Dataset", "all", features="561")
    assert feats.input_shape == (561,) and len(feats) == 18


def test_uci_har_wrong_shape_is_named(tmp_path):
    root = make_uci_har(tmp_path)
    signals = root / "UCI HAR Dataset" / "test" / "Inertial Signals"
    np.savetxt(signals / "body_gyro_y_test.txt", np.ones((6, 100)))
    with pytest.raises(DataError, match="body_gyro_y_test.txt: 100 columns, expected 128"):
        data.load("uci_har", root, "test")
    (root / "UCI HAR Dataset" / "test" / "y_test.txt").write_text("")
    with pytest.raises(DataError, match="y_test.txt"):
        data.load("uci_har", root, "test")


SEGMENTS = [  # exp, user, activity, start, end (1-based inclusive)
    (1, 2, 1, 1, 300),
    (1, 2, 7, 301, 400),
    (1, 2, 5, 401, 527),
    (1, 2, 4, 528, 800),
    (2, 7, 6, 10, 265),
    (3, 8, 2, 1, 128),
]


def make_hapt(root):
    raw = root / "hapt_top" / "RawData"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    lengths = {(1, 2): 800, (2, 7): 300, (3, 8): 200}
    for (exp, user), n in lengths.items():
        for kind in ("acc", "gyro"):
            np.savetxt(raw / f"{kind}_exp{exp:02d}_user{user:02d}.txt", rng.standard_normal((n, 3)))
    np.savetxt(raw / "labels.txt", np.array(SEGMENTS), fmt="%d")
    return root / "hapt_top"


def expected_windows():
    return {
        (e, u): sum(
            har.segment_windows(end - start + 1)
            for ee, uu, a, start, end in SEGMENTS
            if (ee, uu) == (e, u) and a <= 6
        )
        for e, u in [(1, 2), (2, 7), (3, 8)]
    }


def test_segment_window_count():
    for length in (127, 128, 191, 192, 300, 1000):
        assert har.segment_windows(length) == (0 if length < 128 else (length - 128) // 64 + 1)


def test_hapt_windows_channels_and_subject_split(tmp_path):
    folder = make_hapt(tmp_path)
    counts = expected_windows()
    assert counts == {(1, 2): 3 + 0 + 3, (2, 7): 3, (3, 8): 1}
    everything = data.load("hapt", folder, "all")
    assert everything.input_shape == (9, 128) and len(everything) == sum(counts.values())
    test = data.load("hapt", folder, "test")
    assert len(test) == counts[(1, 2)]  # user 2 is a UCI HAR test subject
    assert sorted(test.y.unique().tolist()) == [0, 3]  # WALKING and SITTING; transition 7 dropped
    # total_acc = body_acc + gravity, channel by channel
    gravity = everything.x[:, 6:9] - everything.x[:, 0:3]
    assert gravity.abs().mean() < everything.x[:, 6:9].abs().mean()
    train, val = data.load("hapt", folder, "train"), data.load("hapt", folder, "val")
    assert len(train) + len(val) + len(test) == len(everything)


def test_hapt_fallback_holdout_is_seeded():
    subjects = [1, 3, 5, 6, 7, 8, 11, 14, 15, 16]
    test, val = har.hapt_subject_split(subjects, seed=0)
    assert (test, val) == har.hapt_subject_split(subjects, seed=0)
    assert len(test) == 3 and not set(test) & set(val) and set(test) <= set(subjects)
    assert har.hapt_subject_split([1, 2, 3, 4], seed=0)[0] == [2, 4]


@pytest.mark.parametrize("kind", ["tar.xz", "zip"])
def test_hapt_from_archive(tmp_path, kind):
    folder = make_hapt(tmp_path / "src")
    archive = tmp_path / f"uci_hapt_raw.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            for path in folder.rglob("*"):
                zf.write(path, "top/" + path.relative_to(folder).as_posix())
    else:
        with tarfile.open(archive, "w:xz") as tar:
            tar.add(folder, arcname="uci_hapt_raw")
    ds = data.load("hapt", archive, "all")
    assert torch.equal(ds.x, data.load("hapt", folder, "all").x)


def test_hapt_bad_recording_named_or_skipped(tmp_path):
    folder = make_hapt(tmp_path)
    (folder / "RawData" / "gyro_exp02_user07.txt").write_text("1 2\n3 4\n")
    with pytest.raises(DataError, match="gyro_exp02_user07.txt: 2 columns, expected 3"):
        data.load("hapt", folder, "all")
    with pytest.warns(data.DataWarning, match="skipped 1 bad file"):
        assert len(data.load("hapt", folder, "all", skip_bad=True)) == 7
