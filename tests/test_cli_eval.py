"""`tinycim sensitivity` and `tinycim retarget` on a run directory (digits, bundled with scikit-learn)."""

from __future__ import annotations

import json

import pytest

from tinycim.cli import main
from tinycim.cli.eval_cmd import hardware
from tinycim.config import AnalogConfig
from tinycim.errors import ConfigError


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "run"
    main(
        [
            "train",
            "--model",
            "digits_cnn",
            "--dataset",
            "digits",
            "--epochs",
            "1",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    return out


def test_sensitivity_ranks_every_analog_layer(run, tmp_path):
    out = tmp_path / "s.json"
    main(["sensitivity", str(run), "--instances", "1", "--json-out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert {r["layer"] for r in rows} == {"features.0.0", "features.2.0", "head.2"}
    assert [r["loss_pp"] for r in rows] == sorted((r["loss_pp"] for r in rows), reverse=True)


def test_retarget_runs_on_other_tiles_and_bits(run, tmp_path):
    out = tmp_path / "r.json"
    main(
        [
            "retarget",
            str(run),
            "--set",
            "tile.rows=64",
            "--set",
            "adc.bits=6",
            "--instances",
            "2",
            "--times",
            "1s",
            "--json-out",
            str(out),
        ]
    )
    report = json.loads(out.read_text())
    assert report["analog_config"]["tile"]["rows"] == 64 and report["analog_config"]["adc"]["bits"] == 6
    assert len(report["mean"]) == 1 and 0 <= report["mean"][0] <= 100


def test_set_names_a_bad_key_or_value():
    base = AnalogConfig.preset("pcm")
    assert hardware(base, "hermes", ["dac.bits=6"]).dac.bits == 6
    with pytest.raises(ConfigError, match="unknown field 'bitz'"):
        hardware(base, None, ["adc.bitz=6"])
    with pytest.raises(ConfigError, match="adc.bits = 40"):
        hardware(base, None, ["adc.bits=40"])
    with pytest.raises(ConfigError, match="section.field=value"):
        hardware(base, None, ["adc.bits"])


def test_set_value_alias_bomb_is_refused_at_once():
    """--set values are read as YAML with the alias limit (a bomb once printed a 157 MB error)."""
    from tinycim.cli.eval_cmd import hardware
    from tinycim.config import AnalogConfig
    from tinycim.errors import TinyCimError

    bomb = "[" + ", ".join(["&a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"] + ["*a0"] * 80) + "]"
    with pytest.raises(TinyCimError, match="YAML aliases") as err:
        hardware(AnalogConfig.preset("pcm"), None, [f"adc.bits={bomb}"])
    assert len(str(err.value)) < 300
