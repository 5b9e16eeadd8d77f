"""Bad input at the boundary: one line naming the option, field or file, never a hang or a traceback."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import tinycim as tc
from tinycim.cli import main
from tinycim.errors import TinyCimError


def _cli_error(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, err  # one line
    return err


def test_bad_cli_values_name_the_option(capsys, tmp_path):
    assert "'--epochs'" in _cli_error(
        capsys,
        ["train", "--model", "digits_cnn", "--dataset", "digits", "--epochs", "abc", "--out", str(tmp_path)],
    )
    assert "'--fp-epochs'" in _cli_error(
        capsys,
        [
            "nas",
            "--space",
            "tinyml",
            "--dataset",
            "digits",
            "--fp-epochs",
            "-1",
            "--budget-params",
            "100",
            "--trials",
            "1",
            "--out",
            str(tmp_path),
        ],
    )
    assert "--bogus" in _cli_error(capsys, ["train", "--bogus", "1"])


def test_yaml_alias_bomb_is_refused_at_once(tmp_path):
    from tinycim.pipeline.recipe import load_recipe

    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TinyCimError, match="YAML aliases"):
        load_recipe(path)


def test_a_config_file_that_is_not_a_regular_file_is_refused(tmp_path):
    import os

    from tinycim.io import read_config_text

    fifo = tmp_path / "recipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(TinyCimError, match="not a regular file"):
        read_config_text(fifo, "recipe")


def test_more_chips_than_memory_is_refused_before_allocating():
    amodel = tc.convert(nn.Sequential(nn.Linear(64, 64)), "pcm")
    with pytest.raises(
        tc.ConfigError, match=r"instances = 100000000 needs about .* GiB .* at most \d+ chips"
    ):
        tc.program(amodel, seed=0, instances=100_000_000)
    tc.program(amodel, seed=0, instances=2)
    assert amodel[0].prog_g.shape[0] == 2


def test_tc_load_refuses_tampered_programmed_state(tmp_path):
    from safetensors.torch import load_file, save_file

    model = nn.Sequential(nn.Linear(8, 4))
    amodel = tc.convert(model, "pcm")
    tc.calibrate(amodel, torch.randn(4, 8))
    tc.program(amodel, seed=0, instances=2)
    path = tmp_path / "m.safetensors"
    tc.save(amodel, path)
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    for key, bad in (("programmed.0.g_prog", float("nan")), ("programmed.0.g_prog", -1e6)):
        tensors = load_file(str(path))
        tensors[key] = torch.full_like(tensors[key], bad)
        tampered = tmp_path / "t.safetensors"
        save_file(tensors, str(tampered), metadata=meta)
        with pytest.raises(tc.DataError, match="g_prog"):
            tc.load(model, tampered)
    tensors = load_file(str(path))
    tensors["programmed.0.g_prog"] = tensors["programmed.0.g_prog"][:1]
    save_file(tensors, str(tmp_path / "s.safetensors"), metadata=meta)
    with pytest.raises(tc.DataError, match="shape"):
        tc.load(model, tmp_path / "s.safetensors")
