"""``dualgan warmup``: compile the dual solvers' CPU kernels now, so that no training run waits for it.

The Newton kernels of :mod:`dualgan.duals` are compiled by numba on first use
(about 20 s) and cached on disk (next to ``dualgan/duals/_kernel.py`` when that
folder is writable, else in numba's user cache or ``NUMBA_CACHE_DIR``). The
Makefile's install step runs this command, so after the README's set-up the
first solve of a new process only loads the cache. Rerun it after editing the
kernel's source (the cache is keyed on it) or on another CPU model.
"""
from __future__ import annotations

import time


def register(sub) -> None:
    p = sub.add_parser("warmup", help="compile and cache the dual solvers' CPU kernels (the install step runs it)")
    p.add_argument("--quiet", action="store_true", help="print only the total time")
    p.set_defaults(func=run)


def warm_up() -> list[tuple[str, float]]:
    """Solve a tiny problem of every loss, with and without bias, cold and warm-started, in both shapes.

    Returns
    -------
    list of (str, float)
        A label per solve and its wall time in seconds (the first of each kind
        includes compiling or loading its kernels).

    Raises
    ------
    RuntimeError
        When a solve does not certify its duality gap (the kernels would then be
        suspect).
    """
    import warnings

    import numpy as np
    import torch

    from ..duals import DISCRIMINATOR_LOSSES, LinearDual, solve

    rng = np.random.default_rng(0)
    timings = []
    # N > d (Woodbury) and N < d (N x N Cholesky); numpy input and torch input (the trainers' case)
    for n, m, d in ((30, 20, 5), (6, 4, 20)):
        real, fake = rng.normal(0.5, 1.0, (n, d)), rng.normal(0.0, 1.0, (m, d))
        for loss in DISCRIMINATOR_LOSSES:
            for bias in (False, True):
                for as_torch in (False, True):
                    pr = (torch.from_numpy(real), torch.from_numpy(fake)) if as_torch else (real, fake)
                    problem = LinearDual(*pr, C=0.1, loss=loss, bias=bias)
                    label = f"{loss}{' + bias' if bias else ''}, N={n + m}, d={d}{', torch' if as_torch else ''}"
                    t0 = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        res = solve(problem)
                        again = solve(problem, lam0=res)
                    timings.append((label, time.perf_counter() - t0))
                    if not (res.success and again.success):
                        raise RuntimeError(f"warm-up solve {label} did not certify its gap: {res.status}; "
                                           f"{again.status}")
    return timings


def run(args) -> int:
    t0 = time.perf_counter()
    timings = warm_up()
    total = time.perf_counter() - t0
    if not args.quiet:
        for label, seconds in timings:
            print(f"  {label:38s} {seconds:8.3f} s")
    print(f"dualgan warmup: dual solver kernels compiled and cached in {total:.1f} s")
    return 0
