"""Issue 16, data: degenerate splits fail loudly, in `load`, `data check` and `tinycim train`.

Before: a Speech Commands folder whose speakers all hash to `test` (the canonical test set) gave a
train split of `_silence_` clips only (their numbered names hash anywhere), trained on it and
ended "final val acc 0.0 %" with exit 0, and `data check` said ok.
"""

import numpy as np
import pytest

import tinycim.data as data
from tinycim.cli import main
from tinycim.data import speech_commands as sc
from tinycim.errors import ConfigError, DataError

from databuilders import make_cifar_bin, write_clip

TEST_SPEAKERS = ("022cd682", "03401e93", "0bac8a71", "0c540988")  # all hash to `test`
SILENCE_NAMES = ("0001", "0002", "0003", "0006", "0007")  # 0001-0003 hash to train, 0006-0007 elsewhere
HINT = "split it by speaker instead: --split-by speaker"


def make_test_speakers(root, canonical=True):
    """A tiny copy of the canonical test set's layout: words, `_unknown_/<word>_<speaker>...`, `_silence_/`."""
    for k, speaker in enumerate(TEST_SPEAKERS):
        write_clip(root / "yes" / f"{speaker}_nohash_0.wav", seed=k)
        write_clip(root / "no" / f"{speaker}_nohash_0.wav", seed=10 + k)
        if canonical:
            write_clip(root / "_unknown_" / f"backward_{speaker}_nohash_0.wav", seed=20 + k)
        else:
            write_clip(root / "marvin" / f"{speaker}_nohash_0.wav", seed=20 + k)
    for k, name in enumerate(SILENCE_NAMES):
        write_clip(root / "_silence_" / f"{name}.wav", seed=30 + k)
    return root


def test_silence_names_hash_as_the_fixture_says():
    assert all(sc.which_set(f"{s}_nohash_0.wav") == "test" for s in TEST_SPEAKERS)
    assert [sc.which_set(f"{n}.wav") for n in SILENCE_NAMES][:3] == ["train"] * 3
    assert "train" not in [sc.which_set(f"{n}.wav") for n in SILENCE_NAMES][3:]


def test_canonical_test_set_is_all_test_and_has_no_train_split(tmp_path, cache_dir):
    root = make_test_speakers(tmp_path / "speech_commands_test_set_v0.02")
    test = data.load("speech_commands", root, "test", cache_dir=cache_dir)
    assert test.class_counts()["yes"] == 4 and test.class_counts()["_unknown_"] == 4
    assert test.class_counts()["_silence_"] == len(SILENCE_NAMES)  # every clip of the folder is test
    assert len(test) == len(data.load("speech_commands", root, "all", cache_dir=cache_dir))
    for split in ("train", "val"):
        with pytest.raises(data.MissingSplitError) as err:
            data.load("speech_commands", root, split, cache_dir=cache_dir)
        assert str(err.value) == (
            f"{root}: the canonical Speech Commands test set (a _unknown_ folder, no "
            f"validation/testing lists) is all 'test' and has no {split} split; {HINT} "
            "(split_by='speaker')"
        )


def test_canonical_test_set_splits_by_speaker(tmp_path, cache_dir):
    root = make_test_speakers(tmp_path / "sc")
    parts = {
        s: data.load("speech_commands", root, s, cache_dir=cache_dir, split_by="speaker", seed=0)
        for s in ("train", "val", "test")
    }
    assert parts["train"].class_counts()["yes"] >= 1
    assert sum(len(p) for p in parts.values()) == 3 * len(TEST_SPEAKERS) + len(SILENCE_NAMES)


def test_folder_of_test_speakers_refuses_a_silence_only_train_split(tmp_path, cache_dir):
    root = make_test_speakers(tmp_path / "sc", canonical=False)  # no _unknown_ folder: not recognised as such
    with pytest.raises(DataError) as err:
        data.load("speech_commands", root, "train", cache_dir=cache_dir)
    assert str(err.value) == (
        f"{root}: the train split holds only 3 _silence_ clips and no word clip: its speakers "
        f"all hash to val/test (e.g. a copy of the test set); {HINT} (split_by='speaker')"
    )
    assert data.load(
        "speech_commands", root, "train", cache_dir=cache_dir, split_by="speaker"
    ).class_counts()["yes"]


def test_check_reports_the_canonical_folder_and_cli_exits_non_zero(tmp_path, cache_dir, capsys):
    root = make_test_speakers(tmp_path / "sc")
    report = data.check("speech_commands", root, cache_dir=cache_dir)
    assert not report.ok
    assert any("has no train split" in p and HINT in p for p in report.problems)
    with pytest.raises(SystemExit) as exc:
        main(["data", "check", "speech_commands", str(root), "--cache-dir", str(cache_dir)])
    assert exc.value.code == 1
    out = capsys.readouterr().out
    assert "has no train split" in out and "--split-by speaker" in out
    # with the split training would use (issue 20: `data check` takes the loader's split options)
    speaker = data.check("speech_commands", root, cache_dir=cache_dir, split_by="speaker")
    assert speaker.total("train") > 0 and not any("train split" in p for p in speaker.problems)
    with pytest.raises(SystemExit):  # tiny data: some splits miss classes, reported as problems
        main(
            [
                "data",
                "check",
                "speech_commands",
                str(root),
                "--cache-dir",
                str(cache_dir),
                "--split-by",
                "speaker",
            ]
        )
    out = capsys.readouterr().out
    assert "train" in out and "has no train split" not in out and "no samples of class(es)" in out


def test_train_refuses_the_canonical_folder_with_advice(tmp_path, cache_dir, capsys, monkeypatch):
    root = make_test_speakers(tmp_path / "sc")
    monkeypatch.setenv("TINYCIM_CACHE_DIR", str(cache_dir))
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "train",
                "--model",
                "dscnn_s",
                "--dataset",
                "speech_commands",
                "--data-dir",
                str(root),
                "--epochs",
                "1",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
    assert exc.value.code != 0
    err = capsys.readouterr().err
    assert "has no train split" in err and "--split-by speaker" in err
    assert not (out / "metrics.json").exists()


def test_check_reports_a_split_missing_classes(tmp_path, capsys):
    folder = make_cifar_bin(tmp_path, n_per_file=20)
    records = np.frombuffer((folder / "test_batch.bin").read_bytes(), np.uint8).reshape(20, 3073)
    (folder / "test_batch.bin").write_bytes(records[records[:, 0] < 6].tobytes())  # classes 0..5 only
    report = data.check("cifar10", folder)
    assert report.problems == [
        "test: no samples of class(es) frog, horse, ship, truck (12 samples of the others)"
    ]
    with pytest.raises(SystemExit) as exc:
        main(["data", "check", "cifar10", str(folder)])
    assert (
        exc.value.code == 1
        and "test: no samples of class(es) frog, horse, ship, truck" in capsys.readouterr().out
    )


def test_check_reports_a_class_absent_everywhere_once(tmp_path):
    folder = make_cifar_bin(tmp_path, n_per_file=6)  # labels 0..5 in every file
    report = data.check("cifar10", folder)
    assert report.problems == ["no samples of class(es) frog, horse, ship, truck in any split"]


def test_an_option_the_loader_does_not_take_is_named(tmp_path, capsys):
    folder = make_cifar_bin(tmp_path, n_per_file=10)
    with pytest.raises(ConfigError, match=r"^cifar10: unknown loader option\(s\) split_by; allowed: none$"):
        data.check("cifar10", folder, split_by="speaker")
    with pytest.raises(SystemExit) as exc:
        main(["data", "check", "cifar10", str(folder), "--split-by", "speaker"])
    assert exc.value.code == 2 and "unknown loader option(s) split_by" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="allowed: features, split_by"):
        data.load("uci_har", tmp_path, "train", resolution=32)


def test_bad_split_by_is_refused_even_with_list_files(tmp_path, cache_dir):
    root = make_test_speakers(tmp_path / "sc")
    (root / "testing_list.txt").write_text("yes/022cd682_nohash_0.wav\n")
    with pytest.raises(DataError, match=r"split_by='speakers': expected 'hash' or 'speaker'"):
        data.load("speech_commands", root, "test", cache_dir=cache_dir, split_by="speakers")
