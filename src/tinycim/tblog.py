"""Optional TensorBoard event files for a run: training curves, accuracy vs drift time, hardware hparams.

    from tinycim.tblog import TensorBoardLogger
    with TensorBoardLogger(run_dir / "tb") as tb:
        tb.scalars(epoch, {"train/loss": 0.31, "val/accuracy": 0.912})      # one point per tag
        metrics = tb.drift([1.0, 3600.0, 86400.0], [0.95, 0.94, 0.93])      # accuracy vs seconds
        tb.hparams(analog_config, metrics)                                   # the config, flattened

The files are ordinary ``events.out.tfevents.*`` (``tensorboard --logdir RUN``), written with
``torch.utils.tensorboard``; they need the ``tensorboard`` package (``pip install 'tinycim[tb]'``).
Nothing here replaces ``metrics.json``: TensorBoard is for looking, the JSON for programs.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tinycim.errors import ConfigError, MissingDependencyError
from tinycim.units import format_duration

__all__ = ["MissingDependencyError", "TensorBoardLogger", "flatten_hparams"]

_HPARAM_TYPES = (bool, int, float, str)


def _require_tensorboard() -> None:
    if importlib.util.find_spec("tensorboard") is None:
        raise MissingDependencyError(
            "TensorBoard logging needs the tensorboard package: pip install 'tinycim[tb]' (or the [dev] extra)"
        )


def _number(tag: str, value: Any) -> float:
    """``value`` as a float, or ConfigError naming ``tag`` (bool, str and None are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise ConfigError(f"TensorBoard value {tag!r} must be a number, got {type(value).__name__}")
    try:
        return float(value)
    except (TypeError, ValueError):  # e.g. a tensor with more than one element
        raise ConfigError(f"TensorBoard value {tag!r} must be a single number, got {value!r}") from None


def flatten_hparams(config: Any, prefix: str = "") -> dict[str, bool | int | float | str]:
    """A nested config as TensorBoard hparams: ``{"device": {"g_max_us": 25.0}} -> {"device/g_max_us": 25.0}``.

    ``config`` is a mapping, a dataclass, or an object with ``to_dict()`` (``AnalogConfig``,
    ``HWAConfig``). Lists and tuples become their ``str`` (TensorBoard takes only scalars), ``None``
    becomes ``"None"``; keys are joined with ``/``.
    """
    if hasattr(config, "to_dict") and callable(config.to_dict):
        config = config.to_dict()
    elif dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    if not isinstance(config, Mapping):
        raise ConfigError(
            f"hparams must be a mapping, a dataclass or have to_dict(), got {type(config).__name__}"
        )
    flat: dict[str, bool | int | float | str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) or (dataclasses.is_dataclass(value) and not isinstance(value, type)):
            flat.update(flatten_hparams(value, prefix=f"{name}/"))
        elif isinstance(value, _HPARAM_TYPES):
            flat[name] = value
        elif value is None:
            flat[name] = "None"
        else:
            flat[name] = str(value)
    return flat


class TensorBoardLogger:
    """Writes one run's TensorBoard event files into ``out_dir`` (created if missing).

    Steps are integers (epochs, optimizer steps); drift curves use the time after programming in
    whole seconds as the step. Values must be finite-or-NaN Python/NumPy/torch scalars. Use as a
    context manager or call ``close()``; writing after ``close()`` raises ``ConfigError``.
    """

    def __init__(self, out_dir: str | Path, *, flush_secs: int = 30) -> None:
        _require_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._writer: Any = SummaryWriter(log_dir=str(self.out_dir), flush_secs=flush_secs)

    def _open_writer(self) -> Any:
        if self._writer is None:
            raise ConfigError(f"TensorBoardLogger({self.out_dir}) is closed")
        return self._writer

    def scalars(self, step: int, values: Mapping[str, Any]) -> None:
        """One point per tag at integer ``step`` (e.g. ``{"train/loss": 0.3, "val/accuracy": 0.91}``)."""
        writer = self._open_writer()
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ConfigError(f"TensorBoard step must be an integer >= 0, got {step!r}")
        for tag, value in values.items():
            writer.add_scalar(str(tag), _number(str(tag), value), global_step=step)

    def drift(
        self,
        times_s: Sequence[float],
        accs: Sequence[float],
        *,
        tag: str = "drift/accuracy",
        std: Sequence[float] | None = None,
    ) -> dict[str, float]:
        """Accuracy vs time after programming: ``accs[i]`` at step ``round(times_s[i])`` seconds under ``tag``
        (and ``tag + "_std"`` when ``std`` is given, e.g. over Monte-Carlo chips).

        Returns ``{f"{tag}@{1d}": acc, ...}`` (times as ``tinycim.units.format_duration`` prints them),
        ready to pass as the ``metrics`` of ``hparams``.
        """
        writer = self._open_writer()
        if len(times_s) != len(accs) or (std is not None and len(std) != len(accs)):
            raise ConfigError(
                f"drift: times_s ({len(times_s)}), accs ({len(accs)})"
                + (f" and std ({len(std)})" if std is not None else "")
                + " must have equal lengths"
            )
        metrics: dict[str, float] = {}
        for i, (t, acc) in enumerate(zip(times_s, accs)):
            seconds = _number(f"times_s[{i}]", t)
            if not math.isfinite(seconds) or seconds < 0:
                raise ConfigError(f"drift: times_s[{i}] must be a finite number of seconds >= 0, got {t!r}")
            value = _number(f"accs[{i}]", acc)
            writer.add_scalar(tag, value, global_step=round(seconds))
            if std is not None:
                writer.add_scalar(f"{tag}_std", _number(f"std[{i}]", std[i]), global_step=round(seconds))
            metrics[f"{tag}@{format_duration(seconds)}"] = value
        return metrics

    def hparams(self, hparams: Any, metrics: Mapping[str, Any]) -> None:
        """Record the run's settings (e.g. its ``AnalogConfig``, flattened by ``flatten_hparams``) with the
        final ``metrics`` it reached, for TensorBoard's HPARAMS tab; written into ``out_dir`` itself."""
        writer = self._open_writer()
        flat = flatten_hparams(hparams)
        numbers = {str(k): _number(str(k), v) for k, v in metrics.items()}
        writer.add_hparams(flat, numbers, run_name=".")

    def flush(self) -> None:
        """Write pending events to disk now."""
        self._open_writer().flush()

    def close(self) -> None:
        """Flush and close the event file (idempotent)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> TensorBoardLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
