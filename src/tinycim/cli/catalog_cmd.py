"""`tinycim models`, `tinycim datasets`: list what the registries hold."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach this module's commands to `app` (filled in by its owner)."""
