"""Time to a certified gap of a kernel dual at n = m = 512 (RBF kernel): newton against the Ipopt routes.

The problem: real samples from the 5-mode ring (radius 2, std 0.1), generated
samples from the ring shrunk by 0.8 with std 0.3 (a generator that has not
converged), an RBF kernel (sigma 0.5), C = 1e-4, logistic loss, tol = 1e-9.
The Gram matrix and its factor are formed once (:class:`dualgan.duals.KernelDual`;
its time is reported separately, and added to newton's in the second ratio); each
method solves the same problem object. Methods are interleaved (newton, ipopt,
casadi, newton, ...) so that a shared machine's load affects them alike; the
median of ``--repeats`` solves is reported, after one untimed newton solve (its
compiled kernels load on first use). One BLAS/torch thread.

    python benchmarks/kernel_dual_speed.py --repeats 3
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from dualgan.duals import SOLVERS, DualSolverWarning, KernelDual, solve  # noqa: E402
from dualgan.kernels import RBFKernel  # noqa: E402

TOL = 1e-9


def ring_samples(n: int, rng, shrink: float = 1.0, std: float = 0.1) -> np.ndarray:
    k = rng.integers(0, 5, n)
    angle = 2 * np.pi * k / 5
    centres = 2.0 * shrink * np.c_[np.cos(angle), np.sin(angle)]
    return centres + std * rng.normal(size=(n, 2))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=512)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sigma", type=float, default=0.5)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    xr, xf = ring_samples(args.n, rng), ring_samples(args.n, rng, shrink=0.8, std=0.3)
    t0 = time.perf_counter()
    prob = KernelDual(xr, xf, RBFKernel(sigma=args.sigma), C=1e-4)
    setup = time.perf_counter() - t0
    methods = ["newton"] + [m for m in ("ipopt", "casadi") if m in SOLVERS.names()]
    available = []
    for m in methods:
        req = SOLVERS.entry(m).info.get("requires")
        try:
            if req:
                __import__(req)
            available.append(m)
        except ImportError:
            print(f"{m}: not installed ({req})")
    with warnings.catch_warnings():  # newton's compiled kernels are loaded on first use: not part of a solve
        warnings.simplefilter("ignore", DualSolverWarning)
        solve(prob, method="newton", tol=TOL, w_rtol=math.inf, warn=False)
    times = {m: [] for m in available}
    results = {}
    for _ in range(args.repeats):
        for m in available:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DualSolverWarning)
                t = time.perf_counter()
                r = solve(prob, method=m, tol=TOL, w_rtol=math.inf, warn=False)
                times[m].append(time.perf_counter() - t)
            results[m] = r
    print(f"n = m = {args.n}, RBF sigma {args.sigma}, C = 1e-4, logistic, tol {TOL:g}; factor rank {prob.rank} "
          f"of N = {prob.N}; Gram + factor {setup:.3f} s; {args.repeats} interleaved repeats, median wall time")
    print("| method | status | gap | seconds (median) | ratio to newton | ratio to newton incl. Gram + factor |")
    print("|---|---|---|---|---|---|")
    base = statistics.median(times["newton"])
    for m in available:
        r, med = results[m], statistics.median(times[m])
        print(f"| {m} | {r.status.code.value} | {r.gap:.2e} | {med:.3f} | {med / base:.1f} | "
              f"{med / (base + setup):.1f} |")
    ipopt_routes = [m for m in available if m != "newton" and results[m].success]
    if ipopt_routes:
        fastest = min(ipopt_routes, key=lambda m: statistics.median(times[m]))
        print(f"fastest certified Ipopt route: {fastest}, {statistics.median(times[fastest]) / base:.0f}x newton's "
              f"solve, {statistics.median(times[fastest]) / (base + setup):.0f}x newton's solve plus the Gram and factor")
    print(f"platform: torch {torch.__version__}, numpy {np.__version__}; one thread")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
