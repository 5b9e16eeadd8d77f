from pathlib import Path

import pytest


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture(autouse=True)
def user_cache_dir(tmp_path: Path, monkeypatch) -> Path:
    """The default feature cache (`$TINYCIM_CACHE_DIR`) points into the test's own tmp_path."""
    folder = tmp_path / "user-cache"
    monkeypatch.setenv("TINYCIM_CACHE_DIR", str(folder))
    return folder
