#!/usr/bin/env bash
# The three 100-setting Table-1 studies of docs/report.md section 1, one after the other
# (resumable: rerunning continues each study from its runs.jsonl).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
R=benchmarks/results/table1_ring
$PY benchmarks/dual_gan_sensitivity.py --settings 100 --seed 0 --workers 2 --rbf-convention std \
    --out $R/std --resume
$PY benchmarks/dual_gan_sensitivity.py --settings 100 --seed 0 --workers 2 --rbf-convention coefficient \
    --out $R/coefficient --resume
$PY benchmarks/dual_gan_sensitivity.py --settings 100 --seed 0 --workers 2 --rbf-convention std \
    --features rbf+coords --out $R/std_coords --resume
