"""`tinycim models`, `tinycim datasets`: list what the registries hold.

Thin: the rows come from ``tinycim.models.model_info`` / ``list_models`` and
``tinycim.data.dataset_info`` / ``list_datasets``; this module only prints them (a table, or JSON).
"""

from __future__ import annotations

import json

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("models")(models)
    app.command("datasets")(datasets)


def model_rows(pattern: str = "*") -> list[dict]:
    """One dict per registered model matching the fnmatch ``pattern``: name, params, macs (per sample),
    input_shape (no batch dim), source, target_params (documented count or None)."""
    from tinycim.errors import ConfigError
    from tinycim.models import list_models, model_info

    names = list_models(pattern)
    if not names:
        raise ConfigError(f"no model matches {pattern!r}; available: {', '.join(list_models())}")
    rows = []
    for name in names:
        info = model_info(name)
        rows.append(dict(info, input_shape=list(info["input_shape"])))
    return rows


def dataset_rows() -> list[dict]:
    """One dict per registered dataset: name, summary, needs_dir (False: ships with a dependency),
    input_norm (the digital standardization a model of it wants first), options (the loader's
    keyword options, for `load(..., **options)` and `tinycim data check -o KEY=VALUE`)."""
    from tinycim.data import dataset_info, list_datasets
    from tinycim.data.registry import dataset_options

    from tinycim.errors import MissingDependencyError

    rows = []
    for name in list_datasets():
        info = dataset_info(name)
        try:
            options = dataset_options(name)
        except MissingDependencyError as err:  # e.g. audio readers without the [audio] extra
            options = [f"({err})"]
        rows.append(
            {
                "name": info.name,
                "summary": info.summary,
                "needs_dir": info.needs_dir,
                "input_norm": info.input_norm,
                "options": options,
            }
        )
    return rows


def models(
    pattern: str = typer.Argument("*", help="fnmatch pattern over model names, e.g. 'resnet*'."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the model zoo: parameters, MACs per inference, input shape and source of each model."""
    rows = model_rows(pattern)
    if json_out:
        print(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="model zoo (tinycim.models.create_model)")
    for col in ("name", "params", "MACs", "input shape", "source"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            r["name"],
            f"{r['params']:,}",
            f"{r['macs']:,}",
            "x".join(map(str, r["input_shape"])),
            r["source"] or "-",
        )
    Console().print(table)


def datasets(json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the dataset readers (never downloading: point --data-dir at the standard on-disk format)."""
    rows = dataset_rows()
    if json_out:
        print(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="datasets (tinycim.data.load; check a folder with `tinycim data check NAME DIR`)")
    table.add_column("name", no_wrap=True)  # whole names, to copy (the other columns wrap)
    for col in ("--data-dir", "input norm", "format and loader options"):
        table.add_column(col, overflow="fold")
    for r in rows:
        options = f"\noptions: {', '.join(r['options'])}" if r["options"] else ""
        table.add_row(
            r["name"], "needed" if r["needs_dir"] else "no (bundled)", r["input_norm"], r["summary"] + options
        )
    Console().print(table)
