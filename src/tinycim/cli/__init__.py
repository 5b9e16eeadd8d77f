"""The `tinycim` command line: thin wrappers that parse, call the library and print.

Each group of commands lives in its own module and registers itself on `app` through
`register(app)`; this file only assembles them and turns errors into one clear line.
"""
from __future__ import annotations

import sys

import typer

from tinycim.errors import TinyCimError

app = typer.Typer(
    name="tinycim",
    help="Co-design TinyML networks with analog compute-in-memory accelerators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_DEBUG = {"on": False}


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")) -> None:
    _DEBUG["on"] = debug


_REGISTERED = {"done": False}


def _register_all() -> None:
    """Attach every command group once (idempotent: tests and main() both call it)."""
    if _REGISTERED["done"]:
        return
    _REGISTERED["done"] = True
    # Imported here, not at module top, so `import tinycim` stays lean.
    from tinycim.cli import catalog_cmd, cost_cmd, data_cmd, device_cmd, nas_cmd, pipeline_cmd, sim_cmd, train_cmd

    for module in (sim_cmd, data_cmd, train_cmd, cost_cmd, nas_cmd, pipeline_cmd, device_cmd, catalog_cmd):
        module.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `tinycim` script."""
    _register_all()
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        code = app(args=argv, standalone_mode=False)
        if isinstance(code, int) and code != 0:
            sys.exit(code)
    except (TinyCimError, ValueError, FileNotFoundError, KeyError) as err:
        if debug:
            raise
        msg = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {msg}", file=sys.stderr)
        sys.exit(2)
    except Exception as err:  # click usage errors and friends
        import click

        if isinstance(err, click.exceptions.Exit):
            sys.exit(err.exit_code)
        if isinstance(err, click.ClickException):
            err.show()
            sys.exit(err.exit_code)
        if isinstance(err, click.exceptions.Abort):
            sys.exit(130)
        if debug:
            raise
        print(f"error: {type(err).__name__}: {err} (run with --debug for the traceback)", file=sys.stderr)
        sys.exit(1)
