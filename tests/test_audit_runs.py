"""Audit (issue 16), runs and training: config files beat CLI defaults, bad config values and tampered
run folders are one-line errors naming the field, file or tensor; a second writer on one --out is
refused; zoo cost figures are reproducible; memory-hungry chip counts are refused up front."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from contextlib import contextmanager

import pytest

from tinycim.cli import main

TRAIN = ["train", "--model", "digits_cnn", "--dataset", "digits", "--no-progress"]


def _ok(argv: list[str]) -> None:
    try:
        main(argv)
    except SystemExit as stop:
        assert stop.code in (0, None), argv


def _error(capsys, argv: list[str], code: int = 2) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == code
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A plain digits_cnn run, one epoch."""
    out = tmp_path_factory.mktemp("audit") / "run"
    _ok([*TRAIN, "--epochs", "1", "--out", str(out)])
    return out


@pytest.fixture
def nan_run(run, tmp_path):
    """A copy of ``run`` whose first conv weight holds a NaN (a diverged or tampered run)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    bad = tmp_path / "nan_run"
    shutil.copytree(run, bad, ignore=shutil.ignore_patterns(".tinycim.lock"))
    path = bad / "model.safetensors"
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    tensors = load_file(str(path))
    tensors["features.0.0.weight"].view(-1)[0] = float("nan")
    save_file(tensors, str(path), metadata=meta)
    return bad


# ---- config files ---------------------------------------------------------------------------------
def test_config_file_epochs_of_both_phases_win_over_cli_defaults(tmp_path):
    """`pretrain.epochs: 1` and `train.epochs: 1` in --config (CLI default: 10 each) train one epoch each."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("pretrain:\n  epochs: 1\ntrain:\n  epochs: 1\n  seed: 4\n")
    out = tmp_path / "hwa"
    _ok([*TRAIN, "--hwa", "--config", str(cfg), "--out", str(out)])
    assert len(json.loads((out / "pretrain" / "metrics.json").read_text())) == 1
    assert len(json.loads((out / "metrics.json").read_text())) == 1
    assert json.loads((out / "config.json").read_text())["train"]["seed"] == 4


@pytest.mark.parametrize(
    "text, needle",
    [
        ('analog:\n  fold_bn: "no"\n', "fold_bn = 'no'"),  # was accepted, folding stayed on
        ("distill: 'no'\nhwa: pcm\n", "distill = 'no'"),  # was read as true
        ("train:\n  epochs: 1.5\n", "epochs"),
        ("train: 5\n", "section 'train' = 5"),
        ("data: 7\n", "section 'data' = 7"),
        ("train:\n  seed: 1.7\n  epochs: 1\n", "train.seed = 1.7"),
        ("train:\n  lr: -1\n", "lr"),
    ],
)
def test_bad_config_file_values_are_named(tmp_path, capsys, text, needle):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    out = tmp_path / "out"
    assert needle in _error(capsys, [*TRAIN, "--config", str(cfg), "--out", str(out)])
    assert not (out / "model.safetensors").exists()


def test_yaml_alias_bomb_in_a_config_file_ends_at_once(tmp_path, capsys):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    cfg = tmp_path / "bomb.yaml"
    cfg.write_text("\n".join(lines) + "\n")
    err = _error(capsys, [*TRAIN, "--config", str(cfg), "--out", str(tmp_path / "out")])
    assert "YAML aliases" in err and str(cfg) in err


# ---- tampered and diverged runs -------------------------------------------------------------------
@pytest.mark.parametrize("command", ["export", "cost", "drift"])
def test_nan_weights_are_named_not_exported(nan_run, tmp_path, capsys, command):
    argv = {
        "export": ["export", str(nan_run), "--out", str(tmp_path / "export")],
        "cost": ["cost", "--run", str(nan_run), "--json"],
        "drift": ["drift", str(nan_run), "--instances", "1", "--times", "1d"],
    }[command]
    err = _error(capsys, argv)
    assert "model.safetensors" in err and "features.0.0.weight" in err and "NaN" in err
    assert not (tmp_path / "export" / "deployment.json").exists()


def test_weights_of_another_model_are_named(run, tmp_path, capsys):
    """config.json names one model, model.safetensors holds another's weights (a tampered run)."""
    other = tmp_path / "other"
    shutil.copytree(run, other, ignore=shutil.ignore_patterns(".tinycim.lock"))
    config = json.loads((other / "config.json").read_text())
    config["model"] = {"name": "dscnn_s", "kwargs": {"num_classes": 10}}
    (other / "config.json").write_text(json.dumps(config))
    err = _error(capsys, ["drift", str(other), "--instances", "1", "--times", "1d"])
    assert "model.safetensors" in err and "shape" in err


def test_drift_with_more_chips_than_memory_is_refused_at_once(run, capsys):
    err = _error(capsys, ["drift", str(run), "--instances", "10000000", "--times", "1d"])
    assert "instances = 10000000 needs about" in err and "chips fit" in err


# ---- reproducibility ------------------------------------------------------------------------------
def test_cost_of_a_zoo_model_prints_the_same_figures_twice(capsys):
    printed = []
    for _ in range(2):
        capsys.readouterr()
        _ok(["cost", "--model", "digits_cnn", "--json"])
        printed.append(json.loads(capsys.readouterr().out))
    assert printed[0] == printed[1]


# ---- two writers ----------------------------------------------------------------------------------
@contextmanager
def _held(folder):
    """Another process holding --out's lock (a second writer)."""
    code = (
        "import sys\nfrom tinycim.io import output_lock\n"
        "with output_lock(sys.argv[1]):\n    print('held', flush=True)\n    sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout=60)
        if proc.stdout is not None:
            proc.stdout.close()


RECIPE = """\
name: tiny
model: digits_cnn
dataset: digits
phases:
  fp: {epochs: 1, lr: 0.01}
drift: {times: [1d], instances: 1}
"""


@pytest.mark.parametrize("command", ["train", "run"])
def test_a_second_writer_on_one_out_gets_one_line(tmp_path, capsys, command):
    out = tmp_path / "out"
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(RECIPE)
    argv = {
        "train": [*TRAIN, "--epochs", "1", "--out", str(out)],
        "run": ["run", str(recipe), "--out", str(out), "--no-progress"],
    }[command]
    with _held(out):
        err = _error(capsys, argv)
    assert f"another tinycim process is writing to {out}" in err
    assert not (out / "metrics.json").exists() and not (out / "steps").exists()
