#!/usr/bin/env bash
# GPU checks (issue 20): the tests marked `gpu`, then the speed benchmarks on the GPU. Under 10 minutes
# on one GPU. Every figure printed names its device. Usage: bash scripts/gpu_check.sh [python]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print('device:', torch.cuda.get_device_name(0))"
"$PY" -m pytest -m gpu tests/test_gpu.py -q -p no:cacheprovider
"$PY" -m pytest tests/core tests/train -q -x -p no:cacheprovider   # the CPU suite still passes on this machine
"$PY" benchmarks/sim_speed.py --device cuda --threads 2
"$PY" benchmarks/train_speed.py --device cuda --threads 2
"$PY" benchmarks/train_speed.py --device cuda --threads 2 --recipe pcm
