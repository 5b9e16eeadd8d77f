"""kill -9 of `tinycim nas`, `tinycim train` and `tinycim run`, then resume: the results equal an
uninterrupted run (field by field; energies included) and no finished work is lost or changed.

Each command runs in a subprocess on the bundled `digits` data with a tiny model; the killed run is
sent SIGKILL as soon as its first durable result (a stored candidate, a checkpoint, a step) exists.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
TIMING = {"train_s", "elapsed_s", "trained_now"}  # wall-clock figures and counts of this run only


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", "from tinycim.cli import main; main()", *args]


def _run(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(_cmd(*args), env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _kill_when(args: list[str], ready: Callable[[], bool]) -> None:
    """Start the command, SIGKILL it the moment ``ready()`` holds; fail if it ended first."""
    proc = subprocess.Popen(_cmd(*args), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while not ready():
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"the command ended (rc {proc.returncode}) before it could be killed: {err}")
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _without(value, drop=TIMING):
    """``value`` with the wall-clock fields removed at every depth."""
    if isinstance(value, dict):
        return {k: _without(v, drop) for k, v in value.items() if k not in drop}
    if isinstance(value, list):
        return [_without(v, drop) for v in value]
    return value


def _tensors(path: Path) -> dict:
    from safetensors.numpy import load_file

    return load_file(str(path))


def _same_tensors(a: Path, b: Path) -> None:
    ta, tb = _tensors(a), _tensors(b)
    assert sorted(ta) == sorted(tb)
    for name in ta:
        assert np.array_equal(ta[name], tb[name], equal_nan=True), name


# ---- tinycim nas ----------------------------------------------------------------------------------
NAS = [
    "nas",
    "--space",
    "tinyml",
    "--dataset",
    "digits",
    "--budget-params",
    "800",
    "--trials",
    "6",
    "--init",
    "2",
    "--batch",
    "2",
    "--epochs",
    "1",
    "--fp-epochs",
    "1",
    "--instances",
    "2",
    "--executor",
    "local",
    "--no-progress",
]


def test_nas_killed_and_resumed_equals_uninterrupted(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    _run(*NAS, "--out", str(whole))
    store = killed / "store" / "candidates.jsonl"
    _kill_when([*NAS, "--out", str(killed)], lambda: _lines(store) >= 1)
    kept = [json.loads(line) for line in store.read_text().splitlines()]
    assert 1 <= len(kept) < 6
    resumed = _run(*NAS, "--out", str(killed))
    assert f"{len(kept)} read back" in resumed.stdout

    expected = json.loads((whole / "candidates.json").read_text())
    assert len(expected) == 6 and all("energy_j" in r["static"] for r in expected)
    for other in (killed,):
        rows = json.loads((other / "candidates.json").read_text())
        assert [r["key"] for r in rows] == [r["key"] for r in expected]
        for got, want in zip(rows, expected):
            assert _without(got) == _without(want), got["key"]  # every field, energies included
        summary = json.loads((other / "summary.json").read_text())
        want = json.loads((whole / "summary.json").read_text())
        assert _without(summary, TIMING | {"best_run"}) == _without(want, TIMING | {"best_run"})
        _same_tensors(other / "best" / "model.safetensors", whole / "best" / "model.safetensors")
    # finished candidates were read back, not retrained: their stored records are unchanged
    after = {r["key"]: r for r in map(json.loads, store.read_text().splitlines())}
    assert all(after[r["key"]] == r for r in kept) and len(after) == 6


# ---- tinycim train --------------------------------------------------------------------------------
def _same_history(a: Path, b: Path) -> None:
    got, want = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    assert _without(got, {"seconds"}) == _without(want, {"seconds"})


@pytest.mark.parametrize("hwa", [False, True], ids=["fp", "hwa"])
def test_train_killed_after_a_checkpoint_resumes_to_the_uninterrupted_run(tmp_path, hwa):
    args = ["train", "--model", "digits_cnn", "--dataset", "digits", "--epochs", "4", "--no-progress"]
    args += ["--hwa"] if hwa else []
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    _run(*args, "--out", str(whole))
    _kill_when([*args, "--out", str(killed)], lambda: any(killed.rglob("checkpoint.safetensors")))
    _run(*args, "--out", str(killed), "--resume")
    _same_history(killed, whole)
    _same_tensors(killed / "model.safetensors", whole / "model.safetensors")
    got, want = (json.loads((d / "config.json").read_text()) for d in (killed, whole))
    assert _without(got, {"out", "out_dir", "created", "resume"}) == _without(
        want, {"out", "out_dir", "created", "resume"}
    )


# ---- tinycim run ----------------------------------------------------------------------------------
RECIPE = """\
name: tiny
model: digits_cnn
dataset: digits
seed: 3
phases:
  fp: {epochs: 3, lr: 0.01, batch_size: 128}
  hwa: {epochs: 2, lr: 0.003, batch_size: 128, preset: pcm}
analog: {preset: pcm}
drift: {times: [1s, 1d], instances: 2}
bits_sweep: [4, 8]
cost: {accelerator: aon-cim, act_bits: [8]}
"""
REPORT_TIMING = {"seconds", "elapsed_s", "provenance", "created_utc", "train_s", "wall_s"}


def test_run_killed_after_a_checkpoint_resumes_to_the_uninterrupted_report(tmp_path):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(RECIPE)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    _run("run", str(recipe), "--out", str(whole), "--no-progress")
    _kill_when(
        ["run", str(recipe), "--out", str(killed), "--no-progress"],
        lambda: any(killed.rglob("checkpoint.safetensors")),
    )
    _run("run", str(recipe), "--out", str(killed), "--no-progress")
    got, want = (json.loads((d / "report.json").read_text()) for d in (killed, whole))
    assert _without(got, REPORT_TIMING) == _without(want, REPORT_TIMING)
    steps = sorted(p.name for p in (whole / "steps").iterdir())
    assert steps == sorted(p.name for p in (killed / "steps").iterdir())
    for name in steps:
        a, b = (json.loads((d / "steps" / name).read_text()) for d in (killed, whole))
        assert _without(a, REPORT_TIMING) == _without(b, REPORT_TIMING), name
