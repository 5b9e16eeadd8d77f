"""Packaging: one version, an SPDX license without setuptools warnings, the extras, and a wheel that holds
what the package needs at run time (recipes, py.typed, the `tinycim` entry point).

The full check (sdist + wheel, a fresh venv, `tinycim --help` and a short run from it) is
``scripts/check_wheel.sh``, run by ``.ci/run``; this test builds the wheel only, from a copy of the tree.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import tinycim

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _requirement_names(reqs: list[str]) -> set[str]:
    return {re.split(r"[\s<>=!~\[;]", r, maxsplit=1)[0].lower() for r in reqs}


def test_version_has_one_source() -> None:
    from tinycim._version import __version__

    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    attr = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "tinycim._version.__version__"
    assert tinycim.__version__ == __version__ == importlib.metadata.version("tinycim")
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]|rc)?\d*", __version__)
    literal = re.compile(r"^__version__\s*=", re.M)
    holders = [p for p in (ROOT / "src").rglob("*.py") if literal.search(p.read_text(encoding="utf-8"))]
    assert holders == [ROOT / "src" / "tinycim" / "_version.py"]
    assert f"## {__version__}" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


def test_license_is_an_spdx_string_and_setuptools_supports_it() -> None:
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    assert not any("License ::" in c for c in PYPROJECT["project"].get("classifiers", []))
    requires = PYPROJECT["build-system"]["requires"]
    (setuptools_req,) = [r for r in requires if r.startswith("setuptools")]
    assert int(re.search(r">=\s*(\d+)", setuptools_req).group(1)) >= 77  # PEP 639 license strings


def test_extras_and_lower_bounds() -> None:
    project = PYPROJECT["project"]
    extras = project["optional-dependencies"]
    assert {"audio", "ray", "tb", "docs", "dev"} <= set(extras)
    assert {"soundfile", "librosa"} <= _requirement_names(extras["audio"])
    assert {"ruff", "mypy", "build", "pytest"} <= _requirement_names(extras["dev"])
    assert any(r.startswith("tinycim[") and "audio" in r and "docs" in r and "tb" in r for r in extras["dev"])
    core = _requirement_names(project["dependencies"])
    assert "torch" in core and not {"librosa", "soundfile", "ray", "tensorboard"} & core
    for req in project["dependencies"]:
        assert ">=" in req and "==" not in req, f"dependency {req!r}: a lower bound, not a pin"


def test_makefile_keeps_the_readme_commands_and_the_torch_pin() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("install", "demo", "test", "lint", "typecheck", "docs", "wheel"):
        assert re.search(rf"^{target}:", makefile, re.M), target
    assert '"torch==2.13.0"' in makefile
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make demo" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for step in ("make lint", "make typecheck", "make docs", "make wheel", "make test"):
        assert step in ci, step
    assert ci.index("make lint") < ci.index("make test")


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to list the tracked files")
def test_wheel_holds_the_package_data_and_builds_without_warnings(tmp_path: Path) -> None:
    pytest.importorskip("build")
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tmp_path / name)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(tmp_path / "dist"),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    assert "deprecat" not in log.lower(), [line for line in log.splitlines() if "eprecat" in line]
    (wheel,) = (tmp_path / "dist").glob("tinycim-*.whl")
    assert wheel.name.startswith(f"tinycim-{tinycim.__version__}-py3-none-any")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert "tinycim/py.typed" in names
        assert "tinycim/pipeline/recipes/quickstart.yaml" in names
        assert "tinycim/tblog.py" in names and "tinycim/cli/catalog_cmd.py" in names
        assert not any(n.startswith("tests/") for n in names)
        info = f"tinycim-{tinycim.__version__}.dist-info"
        metadata = zf.read(f"{info}/METADATA").decode()
        entry_points = zf.read(f"{info}/entry_points.txt").decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert f"Version: {tinycim.__version__}" in metadata
    assert "Provides-Extra: audio" in metadata and "Provides-Extra: tb" in metadata
    assert "tinycim = tinycim.cli:main" in entry_points


def test_the_torch_lower_bound_is_the_one_the_release_check_documents() -> None:
    bound = next(r for r in PYPROJECT["project"]["dependencies"] if r.startswith("torch"))
    version = bound.split(">=", 1)[1]
    guide = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    assert f"`torch>={version}`" in guide and f"torch {version}.0" in guide
    assert (ROOT / "scripts" / "check_oldest_torch.sh").is_file()
    assert re.search(r"^oldest-torch:", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M)
