"""CPU hours of the kernel Table 1 study (``benchmarks/kernel_gan_sensitivity.py``), estimated from measured runs.

Reads the runs written by ``benchmarks/kernel_dual_speed_gan.py --out RUNS`` (short
or whole runs of a few settings, per code revision), fits for each revision and
method the process time per iteration by non-negative least squares to
``c0 + c2 N^2 + c3 N^3`` (N = 2 x batch size: the Gram matrices cost N^2, the
Newton systems N^3), and sums it over the 100 settings' batch sizes and
iteration counts. An estimate: the first iterations of a run need not cost what
its later ones do (the dual solves take more or fewer Newton steps as the
generator moves); whole runs measured by ``kernel_dual_speed_gan.py`` check it.

    python benchmarks/kernel_dual_speed_gan.py --before e83274c~1 --variants before,after --settings 4,11,6,2,1,20 \\
        --methods kernel_rbf,mmd_rbf,kernel_imq,mmd_imq --max-iterations 150 --out runs.jsonl
    python benchmarks/kernel_dual_speed_study.py runs.jsonl
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dual_gan_sensitivity import draw_settings  # noqa: E402


def _basis(N: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(N), N ** 2, N ** 3], axis=1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", help="JSON lines of benchmarks/kernel_dual_speed_gan.py --out")
    args = p.parse_args(argv)
    groups = defaultdict(list)
    for line in filter(str.strip, Path(args.runs).read_text().splitlines()):
        r = json.loads(line)
        groups[(r["variant"], r["method"])].append(r)
    settings = draw_settings(100, 0)
    N_all = np.array([2.0 * s["batch_size"] for s in settings])
    iters_all = np.array([s["iterations"] for s in settings], dtype=float)
    totals = defaultdict(float)
    for (variant, method), rows in sorted(groups.items()):
        N = np.array([2.0 * r["batch_size"] for r in rows])
        t = np.array([r["cpu_seconds"] / r["iterations"] for r in rows])
        coef, _ = nnls(_basis(N), t)
        fitted = _basis(N) @ coef
        hours = float(iters_all @ (_basis(N_all) @ coef)) / 3600
        totals[variant] += hours
        print(f"{variant:11s} {method:10s} ms/iteration at N = "
              f"{', '.join(f'{int(n)}: {1e3 * x:.1f}' for n, x in sorted(zip(N, t)))}; fit within "
              f"{np.max(np.abs(fitted / t - 1)):.0%}; its 100 settings: {hours:.2f} CPU hours", flush=True)
    for variant, hours in totals.items():
        methods = sorted({m for v, m in groups if v == variant})
        print(f"{variant:11s} study ({len(methods)} methods x 100 settings): {hours:.2f} CPU hours", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
