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
    # Plain click help: text in square brackets ("[default: 0]", "tinycim[tb]") is printed as written
    # (rich markup would swallow it) and wrapped, never cut, at the terminal width (at most 80 columns).
    rich_markup_mode=None,
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
    from tinycim.cli import (
        catalog_cmd,
        cost_cmd,
        data_cmd,
        device_cmd,
        eval_cmd,
        nas_cmd,
        pipeline_cmd,
        sim_cmd,
        train_cmd,
    )

    for module in (
        sim_cmd,
        data_cmd,
        train_cmd,
        eval_cmd,
        cost_cmd,
        nas_cmd,
        pipeline_cmd,
        device_cmd,
        catalog_cmd,
    ):
        module.register(app)
    for command in app.registered_commands:
        command.short_help = SHORT_HELP.get(command.name or "", command.short_help)
    for group in app.registered_groups:
        group.short_help = SHORT_HELP.get(group.name or "", group.short_help)


# The one-line summaries of `tinycim --help`: each fits the 80-column command list whole (click cuts a
# longer first sentence with "..."); the full text stays in `tinycim COMMAND --help`.
SHORT_HELP = {
    "simulate": "Simulate a zoo model on analog hardware over time.",
    "presets": "List the analog hardware presets.",
    "train": "Train a model (plain or hardware-aware) into a run folder.",
    "drift": "Accuracy of a trained run over time, over K chips.",
    "sensitivity": "Each layer alone on the hardware: most sensitive first.",
    "retarget": "A trained run on other hardware (bits, tiles, device).",
    "cost": "Energy, latency, area and TOPS/W on an accelerator.",
    "accelerators": "List the accelerator presets of the cost model.",
    "nas": "Search architectures that stay accurate under drift.",
    "run": "Run a recipe end to end; resumes after a kill.",
    "quickstart": "The whole loop on bundled digits, in minutes on a CPU.",
    "export": "Export conductances and converter settings for a chip.",
    "models": "List the model zoo.",
    "datasets": "List the dataset readers.",
    "data": "Inspect datasets on disk (never downloads).",
    "device": "Fit measured conductances; plot any device.",
}


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
    except Exception as err:  # click usage errors and friends (typer vendors its own click: match by name)
        names = {cls.__name__ for cls in type(err).__mro__}
        if "Exit" in names:
            sys.exit(getattr(err, "exit_code", 0))
        if "Abort" in names:
            sys.exit(130)
        if "ClickException" in names:
            print(f"error: {_usage_message(err)}", file=sys.stderr)
            sys.exit(getattr(err, "exit_code", 2))
        if debug:
            raise
        print(f"error: {type(err).__name__}: {err} (run with --debug for the traceback)", file=sys.stderr)
        sys.exit(1)


def _usage_message(err: Exception) -> str:
    """One line naming the option: "--epochs = 'abc' is invalid: an integer is required"."""
    param = getattr(err, "param", None)
    message = err.format_message() if hasattr(err, "format_message") else str(err)  # type: ignore[attr-defined]  # click API
    if param is not None:
        opts = getattr(param, "opts", None) or [getattr(param, "name", "?")]
        name = max(opts, key=len)
        return message if name in message else f"{name}: {message}"
    ctx = getattr(err, "ctx", None)
    command = getattr(getattr(ctx, "command", None), "name", None)
    return f"{command}: {message}" if command else message
