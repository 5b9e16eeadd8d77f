"""MkDocs hook (``hooks:`` in mkdocs.yml): adds the generated pages of ``scripts/docgen.py`` at build time.

The home page (from README.md), one CLI page per `tinycim` command and one API page per public module
are built from the code and README on every ``mkdocs build``; nothing generated is committed.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

sys.path.insert(0, str(Path(__file__).resolve().parent))

import docgen  # noqa: E402  (this folder, put on the path just above)


_PAGES: dict[str, str] = {}


def _section(prefix: str) -> list[Any]:
    """Nav entries of the generated pages under ``prefix``: its index first, then the rest by name."""
    rels = sorted(r for r in _PAGES if r.startswith(prefix))
    index = [r for r in rels if r.endswith("/index.md")]
    return index + [{Path(r).stem: r} for r in rels if r not in index]


def on_config(config: Any) -> Any:
    """Generate the pages once, and expand nav entries naming a generated folder ("reference/cli/")."""
    _PAGES.clear()
    _PAGES.update(docgen.all_pages())
    nav = config.get("nav") or []
    listed = set(_nav_paths(nav))
    for entry in nav:
        if isinstance(entry, dict):
            for title, value in entry.items():
                if isinstance(value, str) and value.endswith("/"):
                    entry[title] = _section(value)
                elif title == "User guide" and isinstance(value, list):
                    # a new docs/*.md joins the user guide without an edit here
                    docs_dir = Path(config["docs_dir"])
                    value += [
                        p.name for p in sorted(docs_dir.glob("*.md")) if p.name not in listed | {"index.md"}
                    ]
    return config


def _nav_paths(nav: Any) -> list[str]:
    """Every page path named anywhere in a nav structure."""
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [p for v in nav.values() for p in _nav_paths(v)]
    if isinstance(nav, list):
        return [p for v in nav for p in _nav_paths(v)]
    return []


def on_files(files: Files, config: Any) -> Files:
    """Replace or add every generated page in the build's file collection."""
    for rel, text in _PAGES.items():
        existing = files.get_file_from_path(rel)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, rel, content=text))
    return files


# Docstrings write shapes and indexing as ``[B, C][0]`` or ``[len(times)][instances]``, which Markdown
# reads as a reference link ``[text][label]`` and autorefs then cannot resolve. A real cross-reference
# names a dotted path (``tinycim.cost.estimate``); an unresolved label without a dot is shape notation,
# logged as INFO instead of failing the strict build. Unresolved dotted references still fail it.
_UNRESOLVED = re.compile(r"Could not find cross-reference target '([^']*)'")


class _ShapeNotation(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING:
            match = _UNRESOLVED.search(record.getMessage())
            if match and "." not in match.group(1):
                record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def on_startup(command: str, dirty: bool) -> None:
    """Install the filter on autorefs' loggers (before any page is rendered): a logger's filters see
    only the records logged on it, not on its children, so each of its module loggers gets one."""
    names = [n for n in logging.root.manager.loggerDict if n.startswith("mkdocs.plugins.mkdocs_autorefs")]
    for name in {"mkdocs.plugins.mkdocs_autorefs._internal.plugin", *names}:
        logging.getLogger(name).addFilter(_ShapeNotation())
