#!/usr/bin/env bash
# The three 100-setting Table-1 studies of docs/report.md section 1 (std reading, coefficient reading, RBF with
# coordinates), one process each, one worker each, settings in order; the coordinates study runs its two methods
# in two processes (they append to the same runs.jsonl), so four processes share the cores.
# Resumable: rerunning continues each study from its runs.jsonl (--resume).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
R=benchmarks/results/table1_ring
COMMON="--settings 100 --seed 0 --workers 1 --order setting --resume"
$PY benchmarks/dual_gan_sensitivity.py $COMMON --rbf-convention std --out $R/std >> $R/std.log 2>&1 &
$PY benchmarks/dual_gan_sensitivity.py $COMMON --rbf-convention coefficient --out $R/coefficient >> $R/coefficient.log 2>&1 &
for m in dual standard; do
    $PY benchmarks/dual_gan_sensitivity.py $COMMON --rbf-convention std --features rbf+coords --methods $m \
        --out $R/std_coords >> $R/std_coords_$m.log 2>&1 &
done
wait
