"""tinycim.io: atomic writes with unique temporary names, and the output-folder lock."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
import torch

from tinycim.errors import DataError, TinyCimError
from tinycim.io import LOCK_NAME, atomic_write_text, output_lock, read_tensors, save_tensors

fcntl = pytest.importorskip("fcntl")


def _umask() -> int:
    probe = os.umask(0o022)
    os.umask(probe)
    return probe


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "metrics.json"
    atomic_write_text(path, "old")
    atomic_write_text(path, '{"acc": 1}\n')
    assert path.read_text() == '{"acc": 1}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
    # permissions as an ordinary open() would give, not tempfile's 0o600
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()


def test_two_writers_on_one_file_never_collide(tmp_path):
    """Before: every writer used `<name>.tmp`, and one of two concurrent writers crashed with
    `No such file ... metrics.json.tmp` when the other renamed it first."""
    path = tmp_path / "metrics.json"
    errors: list[BaseException] = []

    def writer(tag: str) -> None:
        try:
            for i in range(200):
                atomic_write_text(path, f"{tag} {i}\n")
        except BaseException as err:  # noqa: BLE001 - the test reports it
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(t,)) for t in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert path.read_text() in ("a 199\n", "b 199\n")
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "report.md"
    atomic_write_text(path, "old")

    def boom(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(path, "new")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_tensors_round_trip_and_wrong_format_is_named(tmp_path):
    path = tmp_path / "model.safetensors"
    save_tensors(path, {"w": torch.arange(6.0).reshape(2, 3)}, {"format": "tinycim.model", "n": 1})
    tensors, meta = read_tensors(path, expected_format="tinycim.model", readable_as="model", kind="model")
    assert torch.equal(tensors["w"], torch.arange(6.0).reshape(2, 3)) and meta == {
        "format": "tinycim.model",
        "n": 1,
    }
    with pytest.raises(DataError, match=r"model.safetensors: not a checkpoint \(format 'tinycim.model'\)"):
        read_tensors(path, expected_format="tinycim.ckpt", readable_as="checkpoint", kind="checkpoint")
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_output_lock_refuses_a_second_holder_with_one_line(tmp_path):
    out = tmp_path / "run"
    with output_lock(out) as folder:
        assert folder == out and (out / LOCK_NAME).is_file()
        # Another open file description is what another process has: flock refuses it.
        fd = os.open(out / LOCK_NAME, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
        with output_lock(out):  # re-entrant in the holding process
            pass
        assert (out / LOCK_NAME).read_text().strip() == str(os.getpid())
    # released: anyone may take it now
    fd = os.open(out / LOCK_NAME, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(TinyCimError) as err:
            with output_lock(out):
                pass
    finally:
        os.close(fd)
    message = str(err.value)
    assert message.startswith(f"another tinycim process is writing to {out}") and "\n" not in message
    with output_lock(out):  # and after the other holder closed, we get it again
        pass


def test_output_lock_across_processes(tmp_path):
    out = tmp_path / "run"
    code = (
        "import sys\nfrom tinycim.io import output_lock\nfrom tinycim.errors import TinyCimError\n"
        "try:\n    with output_lock(sys.argv[1]):\n        pass\n"
        "except TinyCimError as e:\n    print(e); sys.exit(3)\n"
    )
    with output_lock(out):
        busy = subprocess.run(
            [sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=60
        )
    assert busy.returncode == 3, busy.stderr
    assert busy.stdout.strip() == (
        f"another tinycim process is writing to {out} (it holds {out / LOCK_NAME}); "
        "wait for it or choose another --out"
    )
    free = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=60)
    assert free.returncode == 0, free.stdout + free.stderr


def test_output_lock_on_a_file_is_a_one_line_error(tmp_path):
    target = tmp_path / "taken"
    target.write_text("x")
    with pytest.raises(TinyCimError, match="taken: cannot create the output folder"):
        with output_lock(target):
            pass
