r"""Ipopt through casadi (its wheel bundles Ipopt), derivatives by casadi's AD.

The same two formulations as :mod:`dualgan.duals.ipopt`: lifted
:math:`(\lambda, v)` with :math:`G^\top\lambda = v` when d < N, dense in
:math:`\lambda` otherwise.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from .newton import problem_result
from .problem import LinearDual
from .registry import register_solver
from .ipopt import IPOPT_OPTIONS

__all__ = ["solve_casadi"]


@register_solver("casadi", losses=("logistic", "hinge"), bias=True, requires="casadi")
def solve_casadi(problem: LinearDual, tol: float, max_iter: int | None, lam0) -> "DualResult":  # noqa: F821
    """Solve the dual with casadi's Ipopt."""
    import casadi as ca

    t0 = time.perf_counter()
    G = problem.G.cpu().numpy()
    a = problem.a.cpu().numpy()
    y = problem.y.cpu().numpy()
    N, d = G.shape
    C = problem.C
    lifted = d < N
    lam = ca.MX.sym("lam", N)
    if lifted:
        v = ca.MX.sym("v", d)
        x = ca.vertcat(lam, v)
        cons = [ca.mtimes(G.T, lam) - v]
    else:
        x = lam
        v = ca.mtimes(G.T, lam)
        cons = []
    if problem.bias:
        cons.append(ca.dot(y, lam))
    f = ca.sumsqr(v) / (2 * C)
    if problem.loss == "hinge":
        f = f - ca.sum1(lam)
    else:
        rest = a - lam
        f = f + ca.sum1(lam * ca.log(lam / a) + rest * ca.log(rest / a))
    nlp = {"x": x, "f": f}
    if cons:
        nlp["g"] = ca.vertcat(*cons)
    opts = {"ipopt." + k: v_ for k, v_ in IPOPT_OPTIONS.items() if k != "sb"}
    opts.update({"ipopt.tol": min(1e-8, 0.01 * tol), "ipopt.max_iter": 3000 if max_iter is None else max_iter,
                 "ipopt.sb": "yes", "print_time": False})
    solver = ca.nlpsol("dual", "ipopt", nlp, opts)
    lam_init, _ = problem.initial_point(lam0)
    lam_init = lam_init.cpu().numpy()
    x0 = np.concatenate([lam_init, G.T @ lam_init]) if lifted else lam_init
    n_extra = d if lifted else 0
    sol = solver(x0=x0, lbx=np.concatenate([np.zeros(N), np.full(n_extra, -np.inf)]),
                 ubx=np.concatenate([a, np.full(n_extra, np.inf)]), lbg=0, ubg=0)
    stats = solver.stats()
    lam_opt = np.clip(np.asarray(sol["x"]).ravel()[:N], 0.0, a)
    lam_t = torch.as_tensor(lam_opt, dtype=torch.float64, device=problem.device)
    gap = problem.gap(lam_t)
    status = "converged" if gap <= tol else f"stalled: casadi/ipopt {stats.get('return_status')}"
    return problem_result(problem, lam_t, None, int(stats.get("iter_count", -1)), time.perf_counter() - t0,
                          status, "casadi", tol)
