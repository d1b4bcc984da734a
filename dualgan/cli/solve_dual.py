"""``dualgan solve-dual``: a small end-to-end example of the certified dual solvers."""
from __future__ import annotations

import warnings

from ..registry import Choices
from ._args import nonneg_int, positive_float, positive_int


def register(sub) -> None:
    p = sub.add_parser("solve-dual", help="solve a random linear-discriminator dual with every method and compare")
    p.add_argument("--n", type=positive_int, default=100, help="real samples")
    p.add_argument("--m", type=positive_int, default=100, help="generated samples")
    p.add_argument("--d", type=positive_int, default=100, help="feature dimension")
    p.add_argument("--C", type=positive_float, default=1e-2, help="L2 weight of the primal")
    p.add_argument("--loss", default="logistic", choices=Choices("dualgan.duals", "DISCRIMINATOR_LOSSES"),
                   metavar="LOSS", help="the discriminator's loss: %(choices)s (default logistic)")
    p.add_argument("--bias", action="store_true")
    p.add_argument("--tol", type=positive_float, default=1e-10)
    p.add_argument("--seed", type=nonneg_int, default=0)
    p.set_defaults(func=run)


def _check_memory(args) -> None:
    """Refuse sizes whose features (and the solvers' N x N or d x d matrices) exceed this machine's memory."""
    import os

    n_rows = args.n + args.m
    need = 8 * (n_rows * args.d + 3 * min(n_rows, args.d) ** 2)
    try:
        have = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        have = 2 ** 40
    if need > have:
        raise ValueError(f"--n {args.n} --m {args.m} --d {args.d} need about {need / 2 ** 30:.3g} GiB of memory, "
                         f"more than this machine's {have / 2 ** 30:.3g} GiB; choose smaller sizes")


def run(args) -> int:
    import numpy as np

    from ..duals import SOLVERS, LinearDual, solve

    _check_memory(args)
    rng = np.random.default_rng(args.seed)
    phi_real = rng.normal(0.3, 1.0, (args.n, args.d))
    phi_fake = rng.normal(0.0, 1.0, (args.m, args.d))
    problem = LinearDual(phi_real, phi_fake, C=args.C, loss=args.loss, bias=args.bias)
    print(problem)
    print(f"{'method':8s} {'status':12s} {'gap':>10s} {'dual value':>20s} {'iters':>6s} {'ms':>9s}")
    for method in SOLVERS.names(losses=args.loss, **({"bias": True} if args.bias else {})):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = solve(problem, method=method, tol=args.tol)
        except ImportError as exc:
            print(f"{method:8s} unavailable: {exc}")
            continue
        print(f"{method:8s} {res.status.code.value[:12]:12s} {res.gap:10.2e} {res.dual_value:20.15g} {res.iterations:6d} "
              f"{1e3 * res.seconds:9.2f}")
    return 0
