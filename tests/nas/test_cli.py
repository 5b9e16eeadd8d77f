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
    return app(
        args=[
            "nas",
            "--space",
            "tinyml",
            "--dataset",
            "digits",
            "--budget-params",
            "3000",
            "--trials",
            "12",
            "--out",
            str(tmp_path),
            "--executor",
            "local",
            "--evaluator",
            "synthetic",
            "--init",
            "6",
            *extra,
        ],
        standalone_mode=False,
    )


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
    assert json.loads((tmp_path / "summary.json").read_text())["elapsed_s"] > 0


def test_nas_cli_exit_code_when_nothing_is_feasible(tmp_path):
    assert _nas(tmp_path, "--max-avm", "0.01") == 1


def test_nas_cli_rejects_unknown_space(tmp_path):
    from tinycim.errors import ConfigError

    with pytest.raises(ConfigError, match="allowed"):
        app(
            args=[
                "nas",
                "--space",
                "vgg",
                "--dataset",
                "digits",
                "--budget-params",
                "10",
                "--trials",
                "1",
                "--out",
                str(tmp_path),
            ],
            standalone_mode=False,
        )


def test_nas_cli_with_real_training_writes_a_loadable_best_run(tmp_path, capsys):
    import torch

    from tinycim.train import load_run

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        code = app(
            args=[
                "nas",
                "--space",
                "tinyml",
                "--dataset",
                "digits",
                "--budget-params",
                "3000",
                "--trials",
                "2",
                "--init",
                "2",
                "--out",
                str(tmp_path),
                "--executor",
                "local",
                "--fp-epochs",
                "1",
                "--epochs",
                "1",
                "--instances",
                "1",
                "--confirm",
                "1",
                "--lr",
                "5e-3",
            ],
            standalone_mode=False,
        )
    finally:
        torch.set_num_threads(threads)
    assert code in (None, 0)
    # the printed hint is the command run below (digits needs no --data-dir)
    assert f"(tinycim drift {tmp_path / 'best'})" in capsys.readouterr().out
    summary = json.loads((tmp_path / "summary.json").read_text())
    model, _hwa, _analog, meta = load_run(tmp_path / "best")
    assert meta["extra"]["nas"]["arch"] == summary["best"]["arch"]
    # --confirm retrained the winner without overwriting its saved run: best/ is what its label measured
    assert meta["metrics"]["acc_1d"] == summary["best"]["metrics"]["acc_1d"]
    assert len(summary["best"]["confirmed"]["runs"]) == 2
    # The candidate trained with a hashed seed but on the search's split (seed 0): the run says so,
    # and `tinycim drift` evaluates on that split's test set, not on one drawn with the training seed.
    assert meta["extra"]["data_seed"] == 0 and meta["extra"]["dataset"] == "digits"
    assert meta["train"]["seed"] != 0
    assert meta["train"]["lr"] == pytest.approx(5e-3 / 4)  # --lr is the FP rate; HWA fine-tunes at a quarter
    from tinycim.data import load

    report = tmp_path / "drift.json"
    app(
        args=[
            "drift",
            str(tmp_path / "best"),
            "--times",
            "1s",
            "--instances",
            "1",  # dataset: the run's own
            "--json-out",
            str(report),
        ],
        standalone_mode=False,
    )
    test = load("digits", None, "test", seed=0)
    drifted = json.loads(report.read_text())
    assert drifted["n_samples"] == len(test)
    from tinycim.train import evaluate, to_digital

    assert drifted["fp_accuracy"] == pytest.approx(evaluate(to_digital(model), test), abs=1e-6)


def test_nas_cli_input_norm_counts_its_parameters_and_is_refused_for_resnet_like(tmp_path):
    """--input-norm: every candidate carries the digital input standardization (2 x C parameters,
    recorded in the store header's space); resnet-like has no such option: one clear error."""
    from tinycim.errors import ConfigError

    assert _nas(tmp_path / "norm", "--input-norm") in (None, 0)
    assert _nas(tmp_path / "plain") in (None, 0)
    normed = {
        json.dumps(r["arch"], sort_keys=True): r["static"]["params"]
        for r in json.loads((tmp_path / "norm" / "candidates.json").read_text())
    }
    plain = {
        json.dumps(r["arch"], sort_keys=True): r["static"]["params"]
        for r in json.loads((tmp_path / "plain" / "candidates.json").read_text())
    }
    shared = set(normed) & set(plain)
    assert shared and all(normed[a] == plain[a] + 2 * 1 for a in shared)  # digits: one input channel
    with pytest.raises(ConfigError, match="--input-norm applies to the tinyml spaces"):
        app(
            args=[
                "nas",
                "--space",
                "resnet-like",
                "--dataset",
                "digits",
                "--budget-params",
                "10",
                "--trials",
                "1",
                "--out",
                str(tmp_path / "r"),
                "--input-norm",
            ],
            standalone_mode=False,
        )


def test_nas_cli_confirm_retrains_the_top_candidates_once(tmp_path, capsys):
    """--confirm 3: the three best labels get one more evaluation each (stored under confirm/); the
    synthetic evaluator ignores the seed, so the confirmed winner is the best label; a rerun reads
    the confirmations back."""
    assert _nas(tmp_path, "--confirm", "3") in (None, 0)
    summary = json.loads((tmp_path / "summary.json").read_text())
    rows = json.loads((tmp_path / "candidates.json").read_text())
    assert summary["best"]["confirmed"]["runs"] == [summary["best"]["metrics"]["acc_1d"]] * 2
    assert summary["best"]["metrics"]["acc_1d"] == max(r["metrics"]["acc_1d"] for r in rows)
    assert "confirmed" in capsys.readouterr().out
    store = (tmp_path / "confirm" / "candidates.jsonl").read_text()
    assert _nas(tmp_path, "--confirm", "3") in (None, 0)
    assert (tmp_path / "confirm" / "candidates.jsonl").read_text() == store  # nothing evaluated again


def test_nas_tensorboard_logs_one_step_per_candidate(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    assert _nas(tmp_path, "--max-avm", "3", "--tensorboard") in (None, 0)
    mux = EventMultiplexer().AddRunsFromDirectory(str(tmp_path / "tb"))
    mux.Reload()
    steps = {}
    for run, tags in mux.Runs().items():
        for tag in tags["scalars"]:
            steps[tag] = [e.step for e in mux.GetAccumulator(run).Scalars(tag)]
    assert steps["candidate/acc_1d"] == list(range(12)) and "candidate/energy_nj" in steps
    assert any(content for content in mux.PluginRunToTagToContent("hparams").values())
