"""`tinycim data ...`: inspect datasets on disk (the readers live in `tinycim.data`)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

data_app = typer.Typer(
    help="Inspect datasets in their standard on-disk formats (never downloads).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@data_app.command("check", short_help="Count samples per split and class; list every problem.")
def check_cmd(
    name: str = typer.Argument(..., help="speech_commands, vww, cifar10, uci_har, hapt or digits."),
    data_dir: Path = typer.Argument(..., help="Folder (or archive) holding the dataset."),
    seed: int = typer.Option(0, help="Seed of the splits that are drawn at random."),
    cache_dir: Path = typer.Option(None, help="speech_commands: feature cache folder."),
    noise_dir: Path = typer.Option(None, help="speech_commands: folder of _background_noise_ recordings."),
    split_by: str = typer.Option(
        None,
        "--split-by",
        help="How to split, as training will: speech_commands hash (default) or "
        "speaker; uci_har/hapt subject.",
    ),
    option: list[str] = typer.Option(
        [],
        "--option",
        "-o",
        help="Any other loader option, KEY=VALUE (YAML value), repeatable: e.g. "
        "silence_percentage=0, resolution=64, greyscale=true, features=raw; "
        "`tinycim datasets` lists each reader's options.",
    ),
) -> None:
    """Count samples per split and class and list every problem; exit code 1 if there are problems.

    Problems: unreadable or out-of-range files (named with row or sample), duplicate or unlisted
    files, paths leaving the folder, a missing or empty train split, a split missing classes.
    """
    from rich.console import Console
    from rich.table import Table

    from tinycim.data import check

    opts = {
        k: v
        for k, v in (("cache_dir", cache_dir), ("noise_dir", noise_dir), ("split_by", split_by))
        if v is not None
    }
    opts.update(_parse_options(option))
    report = check(name, data_dir, seed=seed, **opts)
    console = Console()
    splits = list(report.counts)
    if splits:
        table = Table(title=f"{name}: {data_dir}")
        table.add_column("class")
        for split in splits:
            table.add_column(split, justify="right")
        classes = list(next(iter(report.counts.values())))
        for cls in classes:
            table.add_row(cls, *(str(report.counts[s].get(cls, 0)) for s in splits))
        table.add_row("[bold]total[/bold]", *(f"[bold]{report.total(s)}[/bold]" for s in splits))
        console.print(table)
    for note in report.notes:
        console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    for problem in report.problems:
        console.print(f"problem: {problem}", style="red", markup=False, highlight=False, soft_wrap=True)
    if not report.ok:
        console.print(f"{len(report.problems)} problem(s) found", style="bold red")
        # SystemExit, not typer.Exit: the root runs click with standalone_mode=False, which turns
        # typer.Exit into a return value that `main` discards.
        sys.exit(1)
    console.print("ok", style="green")


def _parse_options(items: list[str]) -> dict:
    """KEY=VALUE strings to loader options (values read as YAML: 0, 64, true, raw)."""
    from tinycim.errors import ConfigError
    from tinycim.io import safe_yaml

    opts = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ConfigError(f"--option {item!r}: expected KEY=VALUE, e.g. split_by=speaker")
        opts[key.strip()] = safe_yaml(value, f"-o {key.strip()}") if value.strip() else None
    return opts


def register(app: typer.Typer) -> None:
    """Add the `data` command group to the root app."""
    app.add_typer(data_app, name="data")
