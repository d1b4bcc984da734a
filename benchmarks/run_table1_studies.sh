#!/usr/bin/env bash
# The three 100-setting Table-1 studies of docs/report.md section 1, run side by side (one worker each),
# settings in order, so that at any moment the three studies hold (nearly) the same first k settings.
# Resumable: rerunning continues each study from its runs.jsonl.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
R=benchmarks/results/table1_ring
COMMON="--settings 100 --seed 0 --workers 1 --order setting --resume"
$PY benchmarks/dual_gan_sensitivity.py $COMMON --rbf-convention std --out $R/std > $R/std.log 2>&1 &
$PY benchmarks/dual_gan_sensitivity.py $COMMON --rbf-convention coefficient --out $R/coefficient > $R/coefficient.log 2>&1 &
$PY benchmarks/dual_gan_sensitivity.py $COMMON --rbf-convention std --features rbf+coords --out $R/std_coords \
    > $R/std_coords.log 2>&1 &
wait
