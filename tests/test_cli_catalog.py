"""`tinycim models` and `tinycim datasets` list exactly what the registries hold."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import tinycim.cli as cli
from tinycim.data import dataset_info, list_datasets
from tinycim.models import count_params, create_model, list_models


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    cli._register_all()
    return CliRunner()


def test_models_json_matches_the_registry(runner: CliRunner) -> None:
    result = runner.invoke(cli.app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["name"] for r in rows] == list_models()
    by_name = {r["name"]: r for r in rows}
    # the counts are the built models' own, not copied numbers
    assert by_name["digits_cnn"]["params"] == count_params(create_model("digits_cnn"))
    assert by_name["digits_cnn"]["input_shape"] == list(create_model("digits_cnn").input_shape)
    assert all(r["params"] > 0 and r["macs"] > 0 for r in rows)


def test_models_pattern_filters_and_table_lists_each(runner: CliRunner) -> None:
    result = runner.invoke(cli.app, ["models", "resnet*", "--json"])
    assert result.exit_code == 0, result.output
    assert [r["name"] for r in json.loads(result.output)] == list_models("resnet*")
    table = runner.invoke(cli.app, ["models"])
    assert table.exit_code == 0, table.output
    for name in list_models():
        assert name in table.output


def test_models_unknown_pattern_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["models", "no_such_model*"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no model matches 'no_such_model*'") and "\n" not in err
    assert "digits_cnn" in err  # names what is available


def test_datasets_json_matches_the_registry(runner: CliRunner) -> None:
    result = runner.invoke(cli.app, ["datasets", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["name"] for r in rows] == list_datasets()
    for row in rows:
        info = dataset_info(row["name"])
        assert (row["summary"], row["needs_dir"], row["input_norm"]) == (
            info.summary,
            info.needs_dir,
            info.input_norm,
        )
    assert {r["name"] for r in rows if not r["needs_dir"]} == {"digits"}


def test_datasets_table_lists_each(runner: CliRunner) -> None:
    result = runner.invoke(cli.app, ["datasets"])
    assert result.exit_code == 0, result.output
    for name in list_datasets():
        assert name in result.output


def test_datasets_lists_every_reader_without_the_audio_extra(runner, monkeypatch) -> None:
    """A wheel installed without [audio] (soundfile, librosa) still lists the datasets."""
    import sys

    monkeypatch.setitem(sys.modules, "soundfile", None)  # `import soundfile` raises ImportError
    for name in ("tinycim.data.audio_features", "tinycim.data.speech_commands"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    result = runner.invoke(cli.app, ["datasets", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert set(rows) == set(list_datasets())
    assert "tinycim[audio]" in rows["speech_commands"]["options"][0]
