"""The first dual solve of a new process, with the kernel cache the install step leaves and without one.

Each measurement runs in a fresh Python process (nothing imported, nothing
compiled in memory):

* ``cached``: the numba cache as ``make install`` (``dualgan warmup``) leaves it:
  the first ``solve`` of the README's problem (N = 400, d = 100, logistic,
  C = 1e-2; wall and CPU time: on a busy machine the wall time also counts
  waiting for a core) and a second solve of a new problem of the same size,
  after ``import dualgan.duals`` (timed separately);
* ``cold`` (``--cold``): an empty ``NUMBA_CACHE_DIR``, i.e. a fresh environment
  without the install step's warm-up: the first solve compiles the kernel;
* ``demo`` (``--demo``): ``python -m dualgan demo --iterations 2`` in a fresh
  process; its history's first ``seconds`` entry is the first training
  iteration of ``make demo`` (a dual solve inside it).

    python benchmarks/first_solve.py                  # cached, 3 processes
    python benchmarks/first_solve.py --cold --demo    # and the other two

Prints one line per process and the settings it used.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, time
t0 = time.perf_counter()
import numpy as np
from dualgan.duals import LinearDual, solve
t_import = time.perf_counter() - t0
rng = np.random.default_rng(0)
problem = LinearDual(rng.normal(0.5, 1, (200, 100)), rng.normal(0, 1, (200, 100)), C=1e-2)
t0, c0 = time.perf_counter(), time.process_time()
res = solve(problem)
t_first, c_first = time.perf_counter() - t0, time.process_time() - c0
problem = LinearDual(rng.normal(0.5, 1, (200, 100)), rng.normal(0, 1, (200, 100)), C=1e-2)
t0 = time.perf_counter()
res2 = solve(problem)
t_second = time.perf_counter() - t0
print(json.dumps({"import": t_import, "first": t_first, "first_cpu": c_first, "second": t_second,
                  "converged": bool(res.success and res2.success), "iterations": res.iterations}))
"""


def child(env) -> dict:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    row = json.loads(out.stdout.strip().splitlines()[-1])
    row["process"] = time.perf_counter() - t0
    return row


def demo_first_iteration(env) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dualgan", "demo", "--iterations", "2", "--no-progress", "--out", out],
                       env=env, capture_output=True, text=True, check=True)
        wall = time.perf_counter() - t0
        history = json.loads((Path(out) / "history_dual.json").read_text())
        return history["columns"]["seconds"][0], wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per measurement")
    parser.add_argument("--cold", action="store_true", help="also measure with an empty numba cache (compiles)")
    parser.add_argument("--demo", action="store_true", help="also time the first iteration of the demo")
    args = parser.parse_args()
    env = dict(os.environ)
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; "
          f"N = 400 (200 real + 200 generated), d = 100, logistic, C = 1e-2, tol 1e-10")
    print(f"{'cache':8s} {'import s':>9s} {'1st solve s':>12s} {'(CPU s)':>8s} {'2nd solve s':>12s} "
          f"{'process s':>10s}  certified")
    for _ in range(args.repeats):
        r = child(env)
        print(f"{'cached':8s} {r['import']:9.3f} {r['first']:12.3f} {r['first_cpu']:8.3f} {r['second']:12.4f} "
              f"{r['process']:10.2f}  {r['converged']}")
    if args.cold:
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as cache:
                r = child(dict(env, NUMBA_CACHE_DIR=cache))
            print(f"{'empty':8s} {r['import']:9.3f} {r['first']:12.3f} {r['first_cpu']:8.3f} {r['second']:12.4f} "
                  f"{r['process']:10.2f}  {r['converged']}")
    if args.demo:
        for _ in range(args.repeats):
            first, wall = demo_first_iteration(env)
            print(f"demo (cached): first training iteration {first:.3f} s (process with 2 iterations of both "
                  f"trainers: {wall:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
