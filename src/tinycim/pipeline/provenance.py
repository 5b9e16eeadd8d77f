"""What produced a recipe report: the machine (`device_description`) and the source and command
(`provenance`), stamped into every report.json."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

import torch


def device_description() -> str:
    """Which device produced the numbers (CPU model and threads, or the GPU)."""
    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU {cpu}, {torch.get_num_threads()} threads"


def provenance() -> dict[str, Any]:
    """What produced a report: the git commit of the tinycim source (None outside a checkout, "+dirty"
    with uncommitted changes), torch's thread count and the command line."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    commit = None
    try:
        commit = (
            subprocess.run(
                ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout.strip()
            or None
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        if commit and dirty:
            commit += "+dirty"
    except (OSError, subprocess.SubprocessError):
        pass
    return {"commit": commit, "threads": torch.get_num_threads(), "command": " ".join(sys.argv)}
