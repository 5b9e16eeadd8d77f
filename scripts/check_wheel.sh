#!/usr/bin/env bash
# Build the sdist, then the wheel from it (so the sdist is proven complete); install the wheel into a
# fresh virtual environment and run it from there: `tinycim --help`, the version, the catalogue
# commands and a one-minute run of the whole loop.
# Usage: scripts/check_wheel.sh [PYTHON]   (default .venv/bin/python; needs the `build` package)
# torch is pinned as the Makefile pins it (a CPU wheel the registry or the local wheel cache has).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
TORCH_PIN=${TORCH_PIN:-torch==2.13.0}
WORK=$(mktemp -d /tmp/tinycim-wheel.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

start=$(date +%s)
rm -rf dist
"$PY" -m build --outdir dist . >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
if grep -i "deprecat" "$WORK/build.log"; then echo "check_wheel: the build printed a deprecation warning" >&2; exit 1; fi
ls dist
wheel=$(ls dist/tinycim-*.whl)

"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install --quiet "$TORCH_PIN" "$wheel"
built=$(date +%s)

cd "$WORK"  # away from src/: only the installed package can be imported
"$WORK/venv/bin/tinycim" --help >/dev/null
"$WORK/venv/bin/tinycim" quickstart --help >/dev/null
version=$("$WORK/venv/bin/python" -c "import importlib.metadata as m, tinycim; assert tinycim.__version__ == m.version('tinycim'); print(tinycim.__version__)")
"$WORK/venv/bin/python" -c "import tinycim, sys; sys.exit(0 if '/src/tinycim' not in tinycim.__file__ else 1)"
"$WORK/venv/bin/tinycim" models --json >/dev/null
"$WORK/venv/bin/tinycim" datasets >/dev/null
"$WORK/venv/bin/tinycim" run "$OLDPWD/scripts/smoke_recipe.yaml" --out "$WORK/smoke" --no-progress >/dev/null
test -s "$WORK/smoke/report.md"
echo "check_wheel: tinycim $version from $(basename "$wheel") ok (build+install $((built - start)) s, run $(($(date +%s) - built)) s)"
