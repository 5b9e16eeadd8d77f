"""`tinycim nas` end to end with the synthetic evaluator (no training): outputs, resume, exit codes."""
from __future__ import annotations

import json

import pytest

from tinycim.cli import _register_all, app


@pytest.fixture(scope="module", autouse=True)
def _commands():
    if not any(c.name == "nas" for c in app.registered_commands):
        _register_all()


def _nas(tmp_path, *extra):
    return app(args=["nas", "--space", "tinyml", "--dataset", "digits", "--budget-params", "3000",
                     "--trials", "12", "--out", str(tmp_path), "--executor", "local",
                     "--evaluator", "synthetic", "--init", "6", *extra], standalone_mode=False)


def test_nas_cli_writes_table_plot_and_resumes(tmp_path, capsys):
    assert _nas(tmp_path, "--max-avm", "3") in (None, 0)
    for name in ("candidates.csv", "candidates.json", "pareto.png", "summary.json"):
        assert (tmp_path / name).is_file()
    rows = json.loads((tmp_path / "candidates.json").read_text())
    assert len(rows) == 12 and all(r["static"]["params"] <= 3000 for r in rows)
    assert (tmp_path / "candidates.csv").read_text().count("\n") == 13
    assert "12 trained now" in capsys.readouterr().out
    assert _nas(tmp_path, "--max-avm", "3") in (None, 0)  # same folder: everything read back
    assert "0 trained now, 12 read back" in capsys.readouterr().out


def test_nas_cli_exit_code_when_nothing_is_feasible(tmp_path):
    assert _nas(tmp_path, "--max-avm", "0.01") == 1


def test_nas_cli_rejects_unknown_space(tmp_path):
    from tinycim.errors import ConfigError

    with pytest.raises(ConfigError, match="allowed"):
        app(args=["nas", "--space", "vgg", "--dataset", "digits", "--budget-params", "10", "--trials", "1",
                  "--out", str(tmp_path)], standalone_mode=False)


def test_nas_cli_with_real_training_writes_a_loadable_best_run(tmp_path):
    import torch

    from tinycim.train import load_run

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = app(args=["nas", "--space", "tinyml", "--dataset", "digits", "--budget-params", "3000",
                         "--trials", "2", "--init", "2", "--out", str(tmp_path), "--executor", "local",
                         "--fp-epochs", "1", "--epochs", "1", "--instances", "1"], standalone_mode=False)
    finally:
        torch.set_num_threads(threads)
    assert code in (None, 0)
    summary = json.loads((tmp_path / "summary.json").read_text())
    model, _hwa, _analog, meta = load_run(tmp_path / "best")
    assert meta["extra"]["nas"]["arch"] == summary["best"]["arch"]
