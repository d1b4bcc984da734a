r"""Ipopt through casadi (its wheel bundles Ipopt), derivatives by casadi's AD.

The same two formulations as :mod:`dualgan.duals.ipopt`: lifted
:math:`(\lambda, v)` with :math:`G^\top\lambda = v` when d < N, dense in
:math:`\lambda` otherwise.
"""
from __future__ import annotations

import numpy as np
from .problem import LinearDual
from .registry import register_solver
from .ipopt import IPOPT_OPTIONS, ipopt_with_refinement

__all__ = ["solve_casadi"]


@register_solver("casadi", losses=("logistic", "hinge"), bias=True, requires="casadi")
def solve_casadi(problem: LinearDual, tol: float, max_iter: int | None, lam0, w_rtol: float) -> "DualResult":  # noqa: F821
    """Solve the dual with casadi's Ipopt."""
    import casadi as ca

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
    lam_init, _ = problem.initial_point(lam0)
    lam_init = lam_init.cpu().numpy()
    x0 = np.concatenate([lam_init, G.T @ lam_init]) if lifted else lam_init
    n_extra = d if lifted else 0
    lbx = np.concatenate([np.zeros(N), np.full(n_extra, -np.inf)])
    ubx = np.concatenate([a, np.full(n_extra, np.inf)])

    def run_once(ipopt_tol, iter_cap):
        opts = {"ipopt." + k: v_ for k, v_ in IPOPT_OPTIONS.items()}
        opts.update({"ipopt.tol": ipopt_tol, "ipopt.max_iter": iter_cap, "print_time": False})
        solver = ca.nlpsol("dual", "ipopt", nlp, opts)
        sol = solver(x0=x0, lbx=lbx, ubx=ubx, lbg=0, ubg=0)
        stats = solver.stats()
        lam_opt = np.clip(np.asarray(sol["x"]).ravel()[:N], 0.0, a)
        return lam_opt, int(stats.get("iter_count", 0)), f"casadi/ipopt {stats.get('return_status')}"

    return ipopt_with_refinement(problem, run_once, tol, max_iter, "casadi", w_rtol)
