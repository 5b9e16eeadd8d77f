"""kill -9 of a driver that started a local Ray leaves no Ray process running (tinycim.nas.raywatch)."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tinycim.nas import raywatch

pytestmark = pytest.mark.skipif(not raywatch.supported(), reason="the watchdog reads Linux /proc")


def _start(tmp_path, body: str) -> tuple[subprocess.Popen, int]:
    """Run ``body`` as a driver script; wait for it to print the line "ready"."""
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(body))
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0"},
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until the driver is ready (or ends)
    assert line.strip() == "ready", f"driver ended (rc {proc.wait()}) before it was ready"
    return proc, proc.pid


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _kill_and_check(proc: subprocess.Popen, before: dict[int, int]) -> list[str]:
    """SIGKILL the driver; the names of the processes it had below it still running after 60 s."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    if proc.stdout is not None:
        proc.stdout.close()
    alive = dict(before)
    deadline = time.monotonic() + 60  # a bound on waiting, not a timed assertion
    while alive and time.monotonic() < deadline:
        alive = {p: s for p, s in alive.items() if raywatch._alive(p, s)}
        time.sleep(0.1)
    names = []
    for pid, started in alive.items():  # the test cleans up after itself even when it fails
        try:
            names.append(_cmdline(pid).split(b"\0")[0].decode())
            if raywatch._alive(pid, started):
                os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return names


def test_watchdog_ends_orphaned_grandchildren_of_a_killed_driver(tmp_path):
    """A 'raylet' that dies with the driver leaves an 'agent' behind; the watchdog ends it."""
    proc, pid = _start(
        tmp_path,
        f"""
        import subprocess, sys, time
        sys.path.insert(0, {os.path.dirname(raywatch.__file__)!r})
        import raywatch
        dog = raywatch.RayWatchdog()
        # the 'raylet' starts an 'agent' (a sleep) and waits; neither knows about the driver
        subprocess.Popen([sys.executable, "-c",
                          "import subprocess, time; subprocess.Popen(['sleep', '600']); time.sleep(600)"])
        while dog.sync() < 2:
            time.sleep(0.05)
        print("ready", flush=True)
        time.sleep(600)
        """,
    )
    before = raywatch.descendants({pid})
    assert len([p for p in before if p != pid]) >= 3  # watchdog, 'raylet', 'agent'
    assert _kill_and_check(proc, before) == []


def test_watchdog_leaves_a_living_driver_alone_until_closed(tmp_path):
    sleeper = subprocess.Popen(["sleep", "600"])
    try:
        dog = raywatch.RayWatchdog()
        assert dog.sync() >= 1  # it sees our child
        assert sleeper.poll() is None
        dog.close()  # closing ends what it recorded (after ray.shutdown: whatever shutdown left)
        assert sleeper.wait(timeout=60) == -signal.SIGTERM
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs ray (pip install 'tinycim[ray]')")
def test_kill_9_of_a_ray_driver_leaves_no_ray_process(tmp_path):
    """Measured without the watchdog (Ray 2.60): ray::DashboardAgent and ray::RuntimeEnvAgent kept
    running after the driver's SIGKILL. With it, every process below the driver ends."""
    proc, pid = _start(
        tmp_path,
        """
        import time
        from tinycim.nas.executor import RayExecutor
        ex = RayExecutor(num_cpus=1)
        assert [r for _, r in ex.map(abs, [-1, -2])] in ([1, 2], [2, 1])
        ex._watchdog.sync()
        print("ready", flush=True)
        time.sleep(600)
        """,
    )
    before = raywatch.descendants({pid})
    assert any(_cmdline(p).startswith(b"ray::") for p in before), "no ray:: process below the driver"
    assert _kill_and_check(proc, before) == []
