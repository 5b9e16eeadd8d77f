"""tinycim.tblog: event files that TensorBoard's own reader reads back, and clear errors."""

from __future__ import annotations

import importlib.util
import math

import pytest

from tinycim.errors import ConfigError
from tinycim.tblog import MissingDependencyError, TensorBoardLogger, flatten_hparams

pytest.importorskip("tensorboard")


def _read(logdir):
    """Every scalar and the hparams plugin data under ``logdir``, via tensorboard's event reader."""
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    mux = EventMultiplexer().AddRunsFromDirectory(str(logdir))
    mux.Reload()
    scalars, plugins = {}, {}
    for run, tags in mux.Runs().items():
        acc = mux.GetAccumulator(run)
        for tag in tags["scalars"]:
            scalars[tag] = [(e.step, e.value) for e in acc.Scalars(tag)]
        for tag in tags.get("tensors", []):
            scalars.setdefault(tag, [])
        for name in ("hparams",):
            plugins.update(mux.PluginRunToTagToContent(name).get(run, {}))
    return scalars, plugins


def test_scalars_and_drift_round_trip(tmp_path):
    with TensorBoardLogger(tmp_path / "tb") as tb:
        for epoch, loss in enumerate([1.5, 0.75, 0.5]):
            tb.scalars(epoch, {"train/loss": loss, "val/accuracy": 0.5 + 0.1 * epoch})
        metrics = tb.drift(
            [1.0, 3600.0, 86400.0, 31_536_000.0], [0.95, 0.94, 0.93, 0.90], std=[0.01, 0.02, 0.02, 0.03]
        )
    assert metrics == {
        "drift/accuracy@1s": 0.95,
        "drift/accuracy@1h": 0.94,
        "drift/accuracy@1d": 0.93,
        "drift/accuracy@1y": 0.90,
    }
    scalars, _ = _read(tmp_path / "tb")
    assert scalars["train/loss"] == [(0, 1.5), (1, 0.75), (2, 0.5)]
    assert [s for s, _ in scalars["val/accuracy"]] == [0, 1, 2]
    assert [v for _, v in scalars["val/accuracy"]] == pytest.approx([0.5, 0.6, 0.7])
    assert [s for s, _ in scalars["drift/accuracy"]] == [1, 3600, 86400, 31_536_000]
    assert [v for _, v in scalars["drift/accuracy"]] == pytest.approx([0.95, 0.94, 0.93, 0.90])
    assert [v for _, v in scalars["drift/accuracy_std"]] == pytest.approx([0.01, 0.02, 0.02, 0.03])


def test_hparams_record_the_flattened_config(tmp_path):
    config = {
        "device": {"kind": "pcm", "g_max_us": 25.0},
        "adc": {"bits": 8, "range": None},
        "tile": {"shape": [512, 512]},
        "gdc": True,
    }
    with TensorBoardLogger(tmp_path) as tb:
        metrics = tb.drift([86400.0], [0.93])
        tb.hparams(config, metrics)
    from tensorboard.plugins.hparams import plugin_data_pb2

    _, plugins = _read(tmp_path)
    session = plugin_data_pb2.HParamsPluginData.FromString(plugins["_hparams_/session_start_info"])
    hp = session.session_start_info.hparams
    assert hp["device/kind"].string_value == "pcm"
    assert hp["device/g_max_us"].number_value == 25.0
    assert hp["adc/bits"].number_value == 8
    assert hp["adc/range"].string_value == "None"
    assert hp["tile/shape"].string_value == "[512, 512]"
    assert hp["gdc"].number_value == 1  # torch records bools as numbers
    experiment = plugin_data_pb2.HParamsPluginData.FromString(plugins["_hparams_/experiment"])
    assert [m.name.tag for m in experiment.experiment.metric_infos] == ["drift/accuracy@1d"]


def test_flatten_takes_objects_with_to_dict_and_dataclasses():
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Inner:
        bits: int = 8

    @dataclasses.dataclass(frozen=True)
    class Outer:
        adc: Inner = Inner()
        name: str = "pcm"

    class WithToDict:
        def to_dict(self):
            return {"a": {"b": 1.5}}

    assert flatten_hparams(Outer()) == {"adc/bits": 8, "name": "pcm"}
    assert flatten_hparams(WithToDict()) == {"a/b": 1.5}
    with pytest.raises(ConfigError, match="hparams must be a mapping"):
        flatten_hparams(3)


def test_analog_config_flattens_to_scalars():
    import tinycim as tc

    flat = flatten_hparams(tc.AnalogConfig.preset("pcm"))
    assert flat and all(isinstance(v, (bool, int, float, str)) for v in flat.values())
    assert any(k.startswith("device/") for k in flat)


def test_bad_values_name_the_tag(tmp_path):
    with TensorBoardLogger(tmp_path) as tb:
        with pytest.raises(ConfigError, match="'val/accuracy' must be a number, got str"):
            tb.scalars(0, {"val/accuracy": "high"})
        with pytest.raises(ConfigError, match="step must be an integer >= 0"):
            tb.scalars(-1, {"x": 1.0})
        with pytest.raises(ConfigError, match="equal lengths"):
            tb.drift([1.0, 2.0], [0.9])
        with pytest.raises(ConfigError, match=r"times_s\[0\] must be a finite number of seconds"):
            tb.drift([math.inf], [0.9])
        tb.scalars(0, {"nan_is_allowed": math.nan})
    with pytest.raises(ConfigError, match="is closed"):
        tb.scalars(1, {"x": 1.0})
    tb.close()  # idempotent


def test_missing_tensorboard_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a)
    )
    with pytest.raises(MissingDependencyError, match=r"pip install 'tinycim\[tb\]'") as info:
        TensorBoardLogger(tmp_path)
    assert "\n" not in str(info.value)
    assert not any(tmp_path.iterdir())
