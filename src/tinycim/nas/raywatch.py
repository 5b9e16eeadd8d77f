"""A watchdog that ends the processes of a local Ray instance when the tinycim driver that started it dies.

Ray ties its head processes (GCS, raylet, monitors) to the driver that started them, but the agents the
raylet starts (dashboard agent, runtime-env agent) outlive a driver killed with SIGKILL: measured with
Ray 2.60, both were still running, reparented to init, long after a ``kill -9`` of ``tinycim nas``.

:class:`RayWatchdog` starts this file as a separate small process (standard library only, in its own
session, so a Ctrl-C or a kill of the driver's process group does not reach it). It records every
descendant of the driver as it appears (pid and start time, so a reused pid is never hit) and, when the
driver is gone (the pipe only the driver holds reads end-of-file, or the driver's pid is dead), sends
SIGTERM to those still running, then SIGKILL after a grace period. After a clean ``ray.shutdown()`` the
driver closes the pipe the same way and the watchdog clears whatever shutdown left. Linux only (it reads
``/proc``); elsewhere it is not started and Ray's own clean-up is all there is.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

__all__ = ["RayWatchdog", "descendants", "supported"]

POLL_S = 0.2  # how often the watchdog looks for new processes
GRACE_S = 5.0  # SIGTERM, then this long before SIGKILL


def supported() -> bool:
    """True where the watchdog can run (a Linux ``/proc``)."""
    return sys.platform.startswith("linux") and os.path.isdir("/proc/self")


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time in clock ticks) of ``pid``, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()  # the command name may hold spaces and parentheses
    try:
        return int(fields[1]), fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


def _table() -> dict[int, tuple[int, str, int]]:
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st is not None:
                out[int(name)] = st
    return out


def descendants(roots: set[int], table: dict[int, tuple[int, str, int]] | None = None) -> dict[int, int]:
    """pid -> start time of every living process below ``roots`` (the roots themselves excluded)."""
    table = _table() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: dict[int, int] = {}
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found and child not in roots and table[child][1] != "Z":
                found[child] = table[child][2]
                todo.append(child)
    return found


def _alive(pid: int, started: int) -> bool:
    st = _stat(pid)
    return st is not None and st[2] == started and st[1] != "Z"


def _end(known: dict[int, int], grace: float = GRACE_S) -> None:
    """SIGTERM every recorded process still running (same pid, same start time), SIGKILL after ``grace``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid, started in known.items():
            if _alive(pid, started):
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_alive(p, s) for p, s in known.items()):
            time.sleep(0.05)


def watch(driver: int, fd: int = 0, reply: int = 1, poll: float = POLL_S) -> None:
    """Record the descendants of ``driver`` until it dies or closes ``fd``; then end them. A ``?``
    read from ``fd`` asks for a look now; the number of processes known is written to ``reply``."""
    me = os.getpid()
    driver_stat = _stat(driver)
    if driver_stat is None:
        return
    known: dict[int, int] = {}

    def sweep() -> None:
        roots = {driver} | {p for p, s in known.items() if _alive(p, s)}
        for pid, started in descendants(roots).items():
            if pid != me:
                known.setdefault(pid, started)

    while True:
        sweep()
        ready, _, _ = select.select([fd], [], [], poll)
        if ready:
            data = os.read(fd, 4096)
            if not data:
                break  # end of file: the driver closed the pipe or died
            if b"?" in data:
                sweep()
                try:
                    os.write(reply, f"{len(known)}\n".encode())
                except OSError:
                    break
        if not _alive(driver, driver_stat[2]):
            break
    sweep()  # orphans keep their children: one last look below the processes already known
    _end(known)


class RayWatchdog:
    """The watchdog process of one driver (this process); ``close()`` after ``ray.shutdown()``."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-I", os.path.abspath(__file__), str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )

    def sync(self) -> int:
        """Have the watchdog look for new processes now; returns how many it knows of."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            return 0
        proc.stdin.write(b"?")
        proc.stdin.flush()
        return int(proc.stdout.readline() or 0)

    def close(self, timeout: float = 2 * GRACE_S + 5) -> None:
        """Close the pipe (the watchdog then ends what Ray's shutdown left) and wait for it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:  # pragma: no cover - a stuck watchdog must not hang the driver
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


if __name__ == "__main__":  # pragma: no cover - runs as the watchdog process
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C meant for the driver is not for us
    watch(int(sys.argv[1]))
