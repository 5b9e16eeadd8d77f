"""Generated documentation pages: the CLI reference from typer, the API reference pages, the home page.

Used by the MkDocs hook (``scripts/mkdocs_hooks.py``) at build time, so the reference can never lag
behind the code, and runnable on its own to look at the pages::

    python scripts/docgen.py OUT_DIR      # writes OUT_DIR/index.md, OUT_DIR/reference/{cli,api}/*.md

Every function returns ``{path relative to docs/: markdown text}``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "tinycim"

# Modules whose pages are not part of the public reference: the CLI has its own pages, and private
# modules (leading underscore) are implementation detail.
_NOT_PUBLIC = {"tinycim.cli"}


def public_modules(src: Path = SRC) -> list[str]:
    """Dotted names of tinycim's public modules: the package, each subpackage and each top-level
    module whose name has no leading underscore (found on disk, nothing is imported)."""
    names = ["tinycim"]
    for path in sorted(src.iterdir()):
        if path.name.startswith("_"):
            continue
        if path.is_dir() and (path / "__init__.py").exists():
            names.append(f"tinycim.{path.name}")
        elif path.suffix == ".py":
            names.append(f"tinycim.{path.stem}")
    return [n for n in names if n not in _NOT_PUBLIC]


def api_pages(modules: list[str] | None = None) -> dict[str, str]:
    """One page per public module, rendered by mkdocstrings from its docstrings (``::: module``)."""
    pages = {}
    for name in modules if modules is not None else public_modules():
        pages[f"reference/api/{name}.md"] = f"# `{name}`\n\n::: {name}\n"
    return pages


def _walk(command: Any, path: list[str]):
    """(path, command) for every leaf command under a typer/click group, sorted by path."""
    if hasattr(command, "commands"):
        for name in sorted(command.commands):
            yield from _walk(command.commands[name], [*path, name])
    else:
        yield path, command


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _param_row(param: Any, ctx: Any) -> str:
    """One table row from typer's own help record: names and type, then help with default/required."""
    record = param.get_help_record(ctx)
    if record is None:  # hidden
        return ""
    names, help_text = record
    return f"| `{_cell(names)}` | {_cell(help_text)} |"


def _usage_piece(piece: str) -> str:
    """typer writes arguments as ``{run_dir}`` / ``[pattern]``; the reference writes ``RUN_DIR`` / ``[PATTERN]``."""
    piece = re.sub(r"\{(\w+)\}", lambda m: m.group(1).upper(), piece)
    return re.sub(r"\[(\w+)\]", lambda m: f"[{m.group(1).upper()}]", piece)


def cli_pages() -> dict[str, str]:
    """One page per `tinycim` command (``reference/cli/<command>.md``, sub-commands joined by ``-``) and
    an index page; usage, description and every option come from the typer app itself."""
    import typer

    import tinycim.cli as cli

    cli._register_all()
    root = typer.main.get_command(cli.app)
    pages: dict[str, str] = {}
    index = ["# Command line", "", _cell(root.help or ""), "", "| command | what it does |", "|---|---|"]
    for path, command in _walk(root, []):
        full = " ".join(["tinycim", *path])
        slug = "-".join(path)
        ctx = type(root).context_class(command, info_name=full)
        pieces = [_usage_piece(p) for p in command.collect_usage_pieces(ctx)]
        usage = " ".join([full, *pieces])
        help_text = (command.help or "").strip()
        summary = help_text.split("\n\n")[0].replace("\n", " ")
        index.append(f"| [`{full}`]({slug}.md) | {_cell(summary)} |")
        lines = [f"# `{full}`", "", "```text", usage, "```", "", help_text, ""]
        params = [p for p in command.params if p.name != "help"]
        if params:
            lines += ["| argument / option | help |", "|---|---|"]
            lines += [row for row in (_param_row(p, ctx) for p in params) if row]
            lines.append("")
        lines += ["Global option: `tinycim --debug ...` shows the full traceback of an error.", ""]
        pages[f"reference/cli/{slug}.md"] = "\n".join(lines)
    pages["reference/cli/index.md"] = "\n".join(index) + "\n"
    return pages


def home_page(readme: Path = ROOT / "README.md") -> dict[str, str]:
    """The site's home page: the README, with its ``docs/x.md`` links pointing inside the site."""
    text = readme.read_text(encoding="utf-8")
    text = re.sub(r"\]\(docs/([^)]+)\)", r"](\1)", text)
    return {"index.md": text}


def all_pages() -> dict[str, str]:
    """Every generated page: home, CLI reference, API reference."""
    return {**home_page(), **cli_pages(), **api_pages()}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python scripts/docgen.py OUT_DIR", file=sys.stderr)
        return 2
    out = Path(argv[0])
    for rel, text in all_pages().items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text, encoding="utf-8")
    print(f"{len(all_pages())} pages in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
