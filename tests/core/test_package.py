"""The package itself: a lean import, and the public names other code relies on."""

from __future__ import annotations

import subprocess
import sys


def test_import_tinycim_stays_lean() -> None:
    code = (
        "import sys, tinycim; heavy = [m for m in ('matplotlib', 'xgboost', 'librosa', 'ray', 'sklearn', 'scipy')"
        " if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"import tinycim pulled in {out}"


def test_public_contract() -> None:
    import tinycim as tc

    for name in ("AnalogConfig", "convert", "program", "drift", "calibrate", "save", "load"):
        assert hasattr(tc, name)
    assert callable(tc.cost.estimate) and callable(tc.models.create_model) and callable(tc.data.load)
