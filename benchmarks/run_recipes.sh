#!/usr/bin/env bash
# Re-run the six recipes on the real data (docs/results.md), one after the other, then print the table:
#   bash benchmarks/run_recipes.sh [DATA_DIR] [OUT_DIR]
# DATA_DIR holds uci_hapt_raw.tar.xz, speech_commands_v0.02_test, vww01 and cifar10_jpeg.
set -uo pipefail
cd "$(dirname "$0")/.."
D=${1:-../shared/data}
OUT=${2:-runs/recipes_v2}
mkdir -p "$OUT"
run() { OMP_NUM_THREADS=2 .venv/bin/tinycim run "recipes/$1.yaml" --data-dir "$2" --out "$OUT/$1" --no-progress \
            > "$OUT/$1.log" 2>&1; echo "$1 rc=$?"; }
run har_unipolar "$D/uci_hapt_raw.tar.xz"
run kws_analognets "$D/speech_commands_v0.02_test"
run kws_hamq "$D/speech_commands_v0.02_test"
run vww_analognets "$D/vww01"
run cifar_hamq "$D/cifar10_jpeg"
run cifar_analognas "$D/cifar10_jpeg"
.venv/bin/python benchmarks/recipes_table.py "$OUT"/*/report.json
