"""`tinycim device ...`: fit a device model to measured conductances, plot a device."""
from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach this module's commands to `app` (filled in by its owner)."""
