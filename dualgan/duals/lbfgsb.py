"""scipy's L-BFGS-B on the dual, in the scaled variables u = lambda / a in [0, 1]."""
from __future__ import annotations

import time

import numpy as np
import torch
from scipy.optimize import minimize

from .newton import problem_result
from .problem import LinearDual
from .registry import register_solver
from .result import gap_target

__all__ = ["solve_lbfgsb"]

# The entropy gradient log((1-u)/u) is infinite on the faces of the box: keep
# the iterates this far inside (the loss of dual value is below 1e-13).
_EDGE = 1e-15


@register_solver("lbfgsb", losses=("logistic", "hinge"), bias=False)
def solve_lbfgsb(problem: LinearDual, tol: float, max_iter: int | None, lam0, w_rtol: float) -> "DualResult":  # noqa: F821
    """Maximise D with L-BFGS-B (bounds only: no bias equality)."""
    t0 = time.perf_counter()
    max_iter = 20000 if max_iter is None else max_iter
    G = problem.G.cpu().numpy()
    a = problem.a.cpu().numpy()
    C, hinge = problem.C, problem.loss == "hinge"
    lam_init, _ = problem.initial_point(lam0)
    u0 = np.clip(lam_init.cpu().numpy() / a, _EDGE, 1 - _EDGE)

    def neg_dual(u):
        lam = a * u
        v = G.T @ lam
        if hinge:
            f = -(v @ v) / (2 * C) + lam.sum()
            g = a * (-(G @ v) / C + 1.0)
        else:
            ent = -(a * (u * np.log(u) + (1 - u) * np.log1p(-u))).sum()
            f = -(v @ v) / (2 * C) + ent
            g = a * (-(G @ v) / C + np.log1p(-u) - np.log(u))
        return -f, -g

    lo = 0.0 if hinge else _EDGE
    hi = 1.0 if hinge else 1 - _EDGE
    # L-BFGS-B stops when its quasi-Newton model stops making progress, which can
    # be before the gap certificate holds; a restart (fresh curvature pairs) resumes it.
    iterations, gap, status, message, u = 0, float("inf"), "max_iter", "", u0
    best = None  # never return a point worse than the best certified one
    for _restart in range(6):
        res = minimize(neg_dual, u, jac=True, method="L-BFGS-B", bounds=[(lo, hi)] * len(a),
                       options={"maxiter": max_iter - iterations, "maxfun": 2 * max_iter, "ftol": 0.0,
                                "gtol": 1e-14, "maxcor": 30})
        iterations += res.nit
        u = res.x
        lam = torch.as_tensor(a * u, dtype=torch.float64, device=problem.device)
        slack = torch.as_tensor(a * (1 - u), dtype=torch.float64, device=problem.device)
        _, _, new_gap, w, _ = problem.certificate(lam, slack)
        if best is None or new_gap < best[0]:
            best = (new_gap, lam, slack)
        if new_gap <= gap_target(problem.C, float(torch.linalg.vector_norm(w)), tol, w_rtol):
            status = "converged"
            break
        if iterations >= max_iter:
            status = "max_iter"
            break
        status, message = "stalled", f"L-BFGS-B: {res.message}"
        if new_gap >= gap:
            break
        gap = new_gap
    if best is not None and best[0] < new_gap:
        lam, slack = best[1], best[2]
    return problem_result(problem, lam, slack, iterations, time.perf_counter() - t0, status, message, "lbfgsb", tol,
                          w_rtol)
