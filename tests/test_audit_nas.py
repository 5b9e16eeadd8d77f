"""Audit (issue 16), `tinycim nas`: bad options are one-line errors naming the option before any data
is read; a resume with other settings names the field that differs; a second writer on one --out is
refused; two fresh identical searches give identical candidates (energies included)."""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import contextmanager

import pytest

from tinycim.cli import main

BASE = [
    "nas",
    "--space",
    "tinyml",
    "--dataset",
    "digits",
    "--budget-params",
    "3000",
    "--trials",
    "4",
    "--init",
    "2",
    "--executor",
    "local",
    "--evaluator",
    "synthetic",
    "--no-progress",
]


def _error(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--fp-epochs", "-1"], "'--fp-epochs'"),  # was accepted
        (["--epochs", "abc"], "'--epochs'"),
        (["--lr", "nan"], "'--lr'"),
        (["--seed", "1.7"], "'--seed'"),
        (["--accelerator", "nope"], "--accelerator 'nope'"),  # was found only by the first cost estimate
        (["--max-avm", "nan"], "--max-avm = nan"),
        (["--budget-energy", "inf"], "--budget-energy = inf"),
        (["--address", "auto"], "--address 'auto' needs --executor ray"),
        (["--executor", "dask"], "'dask'"),
        (["--search", "grid"], "--search 'grid'"),
        (["--space", "vgg"], "--space 'vgg'"),
        (["--dataset", "nope"], "'nope'"),
        (["--instances", "10000000"], "--instances 10000000 needs up to"),  # was found after FP training
    ],
)
def test_bad_nas_options_are_named(capsys, tmp_path, extra, needle):
    out = tmp_path / "out"
    assert needle in _error(capsys, [*BASE, "--out", str(out), *extra])
    assert not (out / "store").exists()  # refused before any search


def test_resume_with_other_settings_names_the_field(capsys, tmp_path):
    out = tmp_path / "out"
    main(
        [
            *BASE,
            "--out",
            str(out),
            "--evaluator",
            "train",
            "--epochs",
            "0",
            "--fp-epochs",
            "0",
            "--trials",
            "1",
        ]
    )
    err = _error(
        capsys,
        [
            *BASE,
            "--out",
            str(out),
            "--evaluator",
            "train",
            "--epochs",
            "0",
            "--fp-epochs",
            "0",
            "--lr",
            "0.01",
        ],
    )
    assert "eval.lr: 0.002 there, 0.01 now" in err and "different search" in err


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


def test_a_second_nas_writer_on_one_out_is_refused(capsys, tmp_path):
    out = tmp_path / "out"
    with _held(out):
        err = _error(capsys, [*BASE, "--out", str(out)])
    assert f"another tinycim process is writing to {out}" in err
    main([*BASE, "--out", str(out)])  # free again: the search runs


def test_two_fresh_identical_searches_write_identical_candidates(tmp_path):
    """The training evaluator on digits, tiny: every field but the wall-clock train_s agrees."""
    rows = []
    for name in ("a", "b"):
        out = tmp_path / name
        main(
            [
                *BASE,
                "--out",
                str(out),
                "--evaluator",
                "train",
                "--budget-params",
                "800",
                "--trials",
                "2",
                "--batch",
                "2",
                "--epochs",
                "1",
                "--fp-epochs",
                "0",
                "--instances",
                "1",
            ]
        )
        rows.append(json.loads((out / "candidates.json").read_text()))
    for a, b in zip(*rows):
        a["metrics"].pop("train_s"), b["metrics"].pop("train_s")
        assert a == b
        assert a["static"]["energy_j"] > 0
