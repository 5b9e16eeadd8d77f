"""Where candidate evaluations run: in-process (``local``) or as Ray tasks (``ray``).

Both expose ``map(fn, items)``, yielding ``(index, result)`` as each evaluation finishes (Ray: in
completion order), so the caller can persist every result the moment it exists. ``fn`` must be a
picklable callable for Ray; big constant state (datasets) travels once through the object store.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator, Sequence

from tinycim.errors import ConfigError

__all__ = ["LocalExecutor", "RayExecutor", "make_executor"]


class LocalExecutor:
    """Runs evaluations one after another in this process (deterministic; what the tests use)."""

    name = "local"
    workers = 1

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        for i, item in enumerate(items):
            yield i, fn(item)

    def close(self) -> None:
        pass


def _call(fn: Callable[[Any], Any], item: Any) -> Any:
    return fn(item)


class RayExecutor:
    """Runs each evaluation as a Ray task of ``cpus_per_task`` CPUs.

    ``address=None`` starts a local Ray on ``num_cpus`` cores (default: all); an address (e.g.
    ``"auto"`` or ``"ray://head:10001"``) joins an existing cluster, whose resources then decide
    how many evaluations run at once. Ray is imported only here, so the local path never pays for it.

    A local Ray started here is watched (``watchdog``, Linux): if this driver dies, even by SIGKILL,
    every process Ray started is ended (:mod:`tinycim.nas.raywatch`); a joined cluster is not touched.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        cpus_per_task: float = 1.0,
        watchdog: bool = True,
    ):
        from tinycim.nas import raywatch

        self._watchdog: raywatch.RayWatchdog | None = None
        try:
            import ray
        except ImportError:  # pragma: no cover - ray is an optional extra
            raise ConfigError("the ray executor needs ray: pip install 'tinycim[ray]'") from None
        self._ray = ray
        self._owns = not ray.is_initialized()
        if self._owns:
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address:
                kwargs["address"] = address
            else:
                kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
                if watchdog and raywatch.supported():
                    # A local Ray of ours: its agents must not outlive a driver killed with SIGKILL.
                    self._watchdog = raywatch.RayWatchdog()
            try:
                ray.init(**kwargs)
                if self._watchdog is not None:
                    self._watchdog.sync()  # every process of the new head is known before work starts
            except BaseException:
                self._stop_watchdog()
                raise
        self._remote = ray.remote(num_cpus=cpus_per_task)(_call)
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_per_task))
        self._fn_cache: tuple[Any, Any] | None = None

    def _fn_ref(self, fn: Callable[[Any], Any]) -> Any:
        # Put the callable (holding the datasets) in the object store once, not once per task.
        if self._fn_cache is None or self._fn_cache[0] is not fn:
            self._fn_cache = (fn, self._ray.put(fn))
        return self._fn_cache[1]

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        ref = self._fn_ref(fn)
        pending = {self._remote.remote(ref, item): i for i, item in enumerate(items)}
        try:
            while pending:
                done, _ = self._ray.wait(list(pending), num_returns=1)
                for obj in done:
                    yield pending.pop(obj), self._ray.get(obj)
        finally:
            for obj in pending:  # interrupted: do not leave orphan work running
                self._ray.cancel(obj, force=True)

    def close(self) -> None:
        """Shut down the Ray instance this executor started (a joined cluster is left running)."""
        try:
            if self._owns and self._ray.is_initialized():
                self._ray.shutdown()
        finally:
            self._stop_watchdog()

    def _stop_watchdog(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.close()


def make_executor(kind: str, address: str | None = None, num_cpus: int | None = None) -> Any:
    """``"local"`` -> :class:`LocalExecutor`; ``"ray"`` -> :class:`RayExecutor`."""
    if kind == "local":
        return LocalExecutor()
    if kind == "ray":
        return RayExecutor(address=address, num_cpus=num_cpus)
    raise ConfigError(f"executor {kind!r} unknown: allowed 'local', 'ray'")
