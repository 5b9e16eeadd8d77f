"""`tinycim ... --help` fits an 80-column terminal whole: nothing cut, nothing swallowed."""

from __future__ import annotations

import pytest
import typer

import tinycim.cli as cli


def _paths() -> list[list[str]]:
    cli._register_all()
    root = typer.main.get_command(cli.app)
    paths: list[list[str]] = [[]]
    for name, command in root.commands.items():  # type: ignore[attr-defined]  # a click Group
        paths.append([name])
        paths += [[name, sub] for sub in getattr(command, "commands", {})]
    return paths


@pytest.mark.parametrize("path", _paths(), ids=lambda p: " ".join(p) or "root")
def test_help_fits_80_columns(path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    try:
        cli.main([*path, "--help"])
    except SystemExit as exc:  # click may end --help with exit 0
        assert exc.code in (0, None)
    lines = capsys.readouterr().out.splitlines()
    assert lines and max(len(line) for line in lines) <= 80
    # click cuts a too-long summary with "..." (the usage line's "[ARGS]..." is not a cut)
    assert not [line for line in lines if line.rstrip().endswith("...") and "[ARGS]" not in line]
    assert not [line for line in lines if "\u2026" in line]
