#!/usr/bin/env bash
# The declared torch lower bound, tested: a scratch venv with the oldest torch that pyproject.toml
# allows (`torch>=X`; override with TORCH_OLDEST=X.Y.Z), numpy < 2 and the other dependencies at their
# newest, then the library's tests against the source tree (PYTHONPATH=src). PyPI's Linux torch wheels
# are CUDA builds: their nvidia-* packages come along (about 5 GB on disk, a few minutes to fetch);
# the tests run on the CPU. Usage: bash scripts/check_oldest_torch.sh [python]   (release check, see
# docs/getting-started.md; WORK=dir keeps the venv between runs.)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-python3}
ROOT=$PWD
WORK=${WORK:-$(mktemp -d /tmp/tinycim-oldest-torch.XXXXXX)}
start=$(date +%s)

# The bound and the other runtime dependencies, read from pyproject.toml (the one place they are written).
mapfile -t DEPS < <("$PY" - <<'PYEOF'
import re, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
deps = project["dependencies"] + project["optional-dependencies"]["tb"]
for dep in deps:
    name = re.split(r"[<>=!~ \[]", dep, maxsplit=1)[0]
    if name == "torch":
        print("TORCH=" + dep.split(">=", 1)[1].split(",")[0].strip())
    elif name != "numpy":
        print(dep)
PYEOF
)
TORCH=${TORCH_OLDEST:-$(printf '%s\n' "${DEPS[@]}" | sed -n 's/^TORCH=//p')}
OTHERS=()
for dep in "${DEPS[@]}"; do [[ $dep == TORCH=* ]] || OTHERS+=("$dep"); done
[[ $TORCH == *.*.* ]] || TORCH="$TORCH.0"

if [ ! -x "$WORK/venv/bin/python" ]; then "$PY" -m venv "$WORK/venv"; fi
"$WORK/venv/bin/python" -m pip install --quiet --upgrade pip
"$WORK/venv/bin/python" -m pip install --quiet "torch==$TORCH" "numpy<2" "${OTHERS[@]}" \
    soundfile librosa pytest hypothesis
installed=$(date +%s)
"$WORK/venv/bin/python" -c "import torch; assert torch.__version__.startswith('$TORCH'), torch.__version__; print('torch', torch.__version__, 'numpy', __import__('numpy').__version__)"

# Everything but the tests that drive other tools (wheel build, docs site, NAS/Ray) or need a GPU.
cd "$ROOT"
PYTHONPATH=src OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} "$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider \
    tests/core tests/nn tests/models tests/devices tests/data tests/train tests/cost tests/pipeline \
    tests/test_io.py tests/test_tblog.py tests/test_cli_catalog.py
echo "check_oldest_torch: torch $TORCH ok (install $((installed - start)) s, tests $(($(date +%s) - installed)) s)"
