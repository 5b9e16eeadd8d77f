import hashlib
import re
import tarfile
import warnings
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch

import tinycim.data as data
from tinycim.data import speech_commands as sc
from tinycim.data.audio_features import MfccParams, mfcc_batch
from tinycim.errors import DataError

from databuilders import make_speech, write_clip


def readme_which_set(filename, validation_percentage, testing_percentage):
    """Verbatim logic of the Speech Commands README's `which_set`."""
    base_name = filename.rsplit("/", 1)[-1]
    hash_name = re.sub(r"_nohash_.*$", "", base_name)
    hash_name_hashed = hashlib.sha1(hash_name.encode()).hexdigest()
    percentage_hash = (int(hash_name_hashed, 16) % (sc.MAX_NUM_WAVS_PER_CLASS + 1)) * (
        100.0 / sc.MAX_NUM_WAVS_PER_CLASS
    )
    if percentage_hash < validation_percentage:
        return "validation"
    if percentage_hash < testing_percentage + validation_percentage:
        return "testing"
    return "training"


def test_which_set_matches_readme_and_known_names():
    names = [f"{i:08x}_nohash_{i % 3}.wav" for i in range(0, 4000, 7)]
    mapping = {"validation": "val", "testing": "test", "training": "train"}
    assert [sc.which_set(n) for n in names] == [mapping[readme_which_set(n, 10, 10)] for n in names]
    # Speakers of the canonical v0.02 test set all hash to test.
    for name in ("yes/022cd682_nohash_0.wav", "03401e93_nohash_0.flac", "0bac8a71_nohash_0.wav"):
        assert sc.which_set(name) == "test"
    assert sc.which_set("00000000_nohash_0.wav") == "val"
    assert sc.which_set("00000001_nohash_0.wav") == "train"
    # A `<word>_` prefix (canonical test set's _unknown_ folder) does not change the speaker.
    assert sc.speaker_id("_unknown_/backward_0c540988_nohash_0.flac") == "0c540988"


def test_class_mapping():
    assert sc.CLASSES[:10] == list(sc.WORDS) and sc.CLASSES[10:] == ["_silence_", "_unknown_"]
    assert sc.class_of("stop") == sc.CLASSES.index("stop")
    assert sc.class_of("marvin") == sc.class_of("_unknown_") == 11


@pytest.fixture
def speech_dir(tmp_path):
    # 00000001 hashes to train, 00000000 to val, 00000002 to test.
    return make_speech(
        tmp_path / "sc",
        {
            "yes": ["00000001_nohash_0", "00000000_nohash_0", "00000002_nohash_0"],
            "no": ["00000001_nohash_1", "00000002_nohash_1"],
            "marvin": ["00000001_nohash_0"],
        },
    )


def test_shapes_labels_hash_split_and_generated_silence(speech_dir, cache_dir):
    train = data.load("speech_commands", speech_dir, "train", cache_dir=cache_dir)
    assert train.input_shape == (1, 49, 10)
    assert train.x.dtype == torch.float32 and train.y.dtype == torch.int64
    counts = train.class_counts()
    assert counts["yes"] == 1 and counts["no"] == 1 and counts["_unknown_"] == 1
    assert counts["_silence_"] == 1  # ceil(10 % of 3 word clips), cut from _background_noise_
    test = data.load("speech_commands", speech_dir, "test", cache_dir=cache_dir)
    assert test.class_counts()["yes"] == 1 and test.class_counts()["no"] == 1
    everything = data.load("speech_commands", speech_dir, "all", cache_dir=cache_dir)
    assert len(everything) == 6 + 3  # 6 clips + one silence clip per split


def test_lists_override_hash_and_silence_folder_is_used(speech_dir, cache_dir):
    (speech_dir / "validation_list.txt").write_text("yes/00000001_nohash_0.wav\n")
    (speech_dir / "testing_list.txt").write_text("no/00000001_nohash_1.wav\nyes/00000000_nohash_0.wav\n")
    write_clip(speech_dir / "_silence_" / "0001.wav", seed=3)
    val = data.load("speech_commands", speech_dir, "val", cache_dir=cache_dir)
    assert val.class_counts()["yes"] == 1 and len(val) == 1
    test = data.load("speech_commands", speech_dir, "test", cache_dir=cache_dir)
    assert len(test) == 2
    everything = data.load("speech_commands", speech_dir, "all", cache_dir=cache_dir)
    assert everything.class_counts()["_silence_"] == 1  # the folder's clip, nothing generated


def test_speaker_split_is_seeded(speech_dir, cache_dir):
    a = data.load("speech_commands", speech_dir, "train", cache_dir=cache_dir, split_by="speaker", seed=1)
    b = data.load("speech_commands", speech_dir, "train", cache_dir=cache_dir, split_by="speaker", seed=1)
    assert torch.equal(a.x, b.x)


def test_cache_hit_and_miss(speech_dir, cache_dir, monkeypatch):
    calls = []
    real = sc._decode_all
    monkeypatch.setattr(sc, "_decode_all", lambda *a: calls.append(1) or real(*a))
    first = data.load("speech_commands", speech_dir, "all", cache_dir=cache_dir)
    second = data.load("speech_commands", speech_dir, "test", cache_dir=cache_dir)
    assert len(calls) == 1 and len(list((cache_dir / "speech_commands").glob("*.npz"))) == 1
    assert torch.equal(first.x[first.y == 0][-1], second.x[second.y == 0][0])
    data.load("speech_commands", speech_dir, "all", cache_dir=cache_dir, feature_params=MfccParams(n_mfcc=13))
    assert len(calls) == 2  # a changed parameter misses
    write_clip(speech_dir / "up" / "00000001_nohash_0.wav", seed=9)
    data.load("speech_commands", speech_dir, "all", cache_dir=cache_dir)
    assert len(calls) == 3  # a changed file list misses


def test_default_cache_goes_to_the_user_cache_never_the_dataset(speech_dir, user_cache_dir, monkeypatch):
    before = sorted(p.relative_to(speech_dir) for p in speech_dir.rglob("*"))
    data.load("speech_commands", speech_dir, "test")
    assert list((user_cache_dir / "speech_commands").glob("*.npz"))
    assert sorted(p.relative_to(speech_dir) for p in speech_dir.rglob("*")) == before
    monkeypatch.delenv("TINYCIM_CACHE_DIR")
    import platformdirs
    from tinycim.data.cache import default_cache_dir

    assert default_cache_dir() == Path(platformdirs.user_cache_dir("tinycim", appauthor=False))


def test_batched_mfcc_equals_librosa_per_clip():
    params = MfccParams()
    clips = np.random.default_rng(0).standard_normal((3, params.clip_samples)).astype(np.float32) * 0.1
    clips[1] *= 1e-3
    batched = mfcc_batch(clips, params)
    for i in range(3):
        ref = librosa.feature.mfcc(
            y=clips[i],
            sr=16000,
            n_mfcc=10,
            n_fft=640,
            hop_length=320,
            win_length=640,
            n_mels=40,
            fmin=20,
            fmax=4000,
            center=False,
        )
        np.testing.assert_allclose(batched[i], ref.T, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("damage", ["truncate", "empty", "stereo"])
def test_bad_clip_raises_naming_file_or_is_skipped(speech_dir, cache_dir, damage):
    path = speech_dir / "no" / "00000002_nohash_1.wav"
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:3000])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        import soundfile as sf

        sf.write(path, np.zeros((16000, 2), np.float32), 16000)
    with pytest.raises(DataError, match="00000002_nohash_1.wav"):
        data.load("speech_commands", speech_dir, "test", cache_dir=cache_dir)
    # Cached bad entries still raise, and other splits are unaffected.
    with pytest.raises(DataError, match="00000002_nohash_1.wav"):
        data.load("speech_commands", speech_dir, "test", cache_dir=cache_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data.load("speech_commands", speech_dir, "train", cache_dir=cache_dir)
    with pytest.warns(data.DataWarning, match="skipped 1 bad file"):
        ds = data.load("speech_commands", speech_dir, "test", cache_dir=cache_dir, skip_bad=True)
    assert ds.class_counts()["no"] == 0


def test_augmentation_is_driven_by_the_generator(speech_dir, cache_dir):
    plain = data.load("speech_commands", speech_dir, "train", cache_dir=cache_dir)
    a = data.load(
        "speech_commands",
        speech_dir,
        "train",
        cache_dir=cache_dir,
        augment=True,
        generator=torch.Generator().manual_seed(5),
    )
    b = data.load(
        "speech_commands",
        speech_dir,
        "train",
        cache_dir=cache_dir,
        augment=True,
        generator=torch.Generator().manual_seed(5),
    )
    c = data.load("speech_commands", speech_dir, "train", cache_dir=cache_dir, augment=True, seed=6)
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, plain.x) and not torch.equal(a.x, c.x)
    assert torch.equal(a.y, plain.y)


def test_augment_shift_and_clip():
    clips = np.zeros((4, 16000), np.float32)
    clips[:, 8000] = 1.0
    out = sc.augment_clips(clips, [], torch.Generator().manual_seed(0))
    moved = np.argmax(out, axis=1) - 8000
    assert np.all(np.abs(moved) <= 1600) and out.max() <= 1.0


def test_flac_in_tar_gz(tmp_path, cache_dir):
    folder = make_speech(tmp_path / "src", {"go": ["00000001_nohash_0", "00000002_nohash_0"]}, suffix=".flac")
    archive = tmp_path / "speech_commands_v0.02.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=".")
    ds = data.load("speech_commands", archive, "all", cache_dir=cache_dir)
    assert ds.class_counts()["go"] == 2 and ds.class_counts()["_silence_"] == 2
    again = data.load("speech_commands", archive, "all", cache_dir=cache_dir)  # noise comes from the cache
    assert torch.equal(ds.x, again.x)


def test_missing_dir_and_empty_dir(tmp_path):
    with pytest.raises(DataError, match="nope"):
        data.load("speech_commands", tmp_path / "nope", "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .wav/.flac clips"):
        data.load("speech_commands", tmp_path / "empty", "train", cache_dir=tmp_path / "c")


def test_nas_cli_input_norm_standardizes_each_mfcc_coefficient(speech_dir, tmp_path):
    """`tinycim nas --dataset speech_commands --input-norm`: every candidate standardizes each of the
    10 MFCC coefficients (2 x 10 parameters), not the single channel (2), and the store says so."""
    import json

    from tinycim.cli import _register_all, app
    from tinycim.nas import TinyMLSpace

    if not any(c.name == "nas" for c in app.registered_commands):
        _register_all()
    out = tmp_path / "nas"
    code = app(
        args=[
            "nas",
            "--space",
            "tinyml",
            "--dataset",
            "speech_commands",
            "--data-dir",
            str(speech_dir),
            "--budget-params",
            "3000",
            "--trials",
            "4",
            "--init",
            "4",
            "--out",
            str(out),
            "--executor",
            "local",
            "--evaluator",
            "synthetic",
            "--input-norm",
        ],
        standalone_mode=False,
    )
    assert code in (None, 0)
    assert json.loads((out / "store" / "search.json").read_text())["space"]["input_norm"] == "feature"
    plain = TinyMLSpace((1, 49, 10), 12)
    rows = json.loads((out / "candidates.json").read_text())
    assert rows and all(r["static"]["params"] == plain.count_params(r["arch"]) + 20 for r in rows)
