r"""scipy's L-BFGS-B on the dual, in the scaled variables :math:`u = \lambda / a \in [0, 1]`.

The logistic dual (eq. (1.3) of the theory page) has the entropy gradient
:math:`\log((1-u)/u)`, infinite on the faces of the box, so its iterates are
kept ``edge`` inside; the hinge dual (eq. (1.12)) uses the closed box. No bias
equality: L-BFGS-B handles bounds only. The dual and its gradient (eq. (1.7))
are those of :mod:`dualgan.duals.objective`, negated and multiplied by
:math:`a` for the scaling (:math:`\partial D/\partial u_i = a_i\,\partial D/\partial\lambda_i`).
"""
from __future__ import annotations

import time

import numpy as np
import torch
from scipy.optimize import minimize

from .._checks import check_int, check_number
from ._backend import NumpyOps
from .objective import dual_gradient, dual_value
from .problem import LinearDual
from .registry import SOLVERS
from ..status import Status, StatusCode
from .result import DualResult, gap_target, problem_result

__all__ = ["solve_lbfgsb"]


#: the check of each option of :func:`solve_lbfgsb`, returning its normalised value or raising ValueError
_OPTION_CHECKS = {
    "memory": lambda v: check_int(v, "memory", low=1),
    "restarts": lambda v: check_int(v, "restarts", low=0),
    "gtol": lambda v: check_number(v, "gtol", low=0.0, low_open=True),
    "edge": lambda v: check_number(v, "edge", low=0.0, high=1e-3, low_open=True),
}


def _check_lbfgsb_options(**options) -> dict:
    """The options given to :func:`solve_lbfgsb`, checked and normalised (``SOLVERS.check_options`` calls it with
    the user's options; the registry has refused unknown names)."""
    return {name: _OPTION_CHECKS[name](value) for name, value in options.items()}


@SOLVERS.register("lbfgsb", losses=("logistic", "hinge"), bias=False, check_options=_check_lbfgsb_options)
def solve_lbfgsb(problem: LinearDual, tol: float, max_iter: int | None, lam0, w_rtol: float, *, memory: int = 30,
                 restarts: int = 5, gtol: float = 1e-14, edge: float = 1e-15) -> DualResult:
    r"""Maximise the dual with scipy's L-BFGS-B (bounds only: no bias equality).

    L-BFGS-B stops when its quasi-Newton model stops making progress, which can
    be before the duality-gap certificate (eq. (1.16) of the theory page)
    holds; each restart resumes from the last point with fresh curvature pairs,
    until the certificate holds, the gap stops decreasing, ``max_iter`` is
    spent or the restarts run out. The best certified point is returned.

    The arguments are those of every solver (:class:`~dualgan.duals.registry.DualSolver`;
    ``problem.bias`` False); ``max_iter`` caps the L-BFGS-B iterations over all restarts
    (None: 20000).

    Parameters
    ----------
    memory : int, default 30
        Number of curvature pairs L-BFGS-B keeps (scipy's ``maxcor``), >= 1.
    restarts : int, default 5
        Restarts after the first run when it stops short of the certificate, >= 0.
    gtol : float, default 1e-14
        L-BFGS-B's projected-gradient tolerance (scipy's ``gtol``; ``ftol`` is 0
        so that only the gap decides), > 0.
    edge : float, default 1e-15
        Logistic loss only: the scaled multipliers are kept in ``[edge, 1 - edge]``,
        where the entropy and its gradient are finite; in (0, 1e-3]. The dual
        value lost by the clipping is of order ``edge * log(1/edge)`` per sample.

    Returns
    -------
    DualResult
        Certified from the returned pair; ``method="lbfgsb"``.

    Raises
    ------
    ValueError
        If an option is out of range (the message names it).

    References
    ----------
    Richard H. Byrd, Peihuang Lu, Jorge Nocedal, Ciyou Zhu. "A Limited Memory
    Algorithm for Bound Constrained Optimization." SIAM Journal on Scientific
    Computing 16(5), 1995.
    """
    options = _check_lbfgsb_options(memory=memory, restarts=restarts, gtol=gtol, edge=edge)  # also when called directly
    memory, restarts, gtol, edge = (options[k] for k in ("memory", "restarts", "gtol", "edge"))
    t0 = time.perf_counter()
    max_iter = 20000 if max_iter is None else max_iter
    G = problem.G.cpu().numpy()
    a = problem.a.cpu().numpy()
    C, hinge = problem.C, problem.loss == "hinge"
    lam_init, _ = problem.initial_point(lam0)
    u0 = np.clip(lam_init.cpu().numpy() / a, edge, 1 - edge)

    def neg_dual(u):
        # -D and its gradient in u = lam / a: the reference form, chain-ruled (dD/du = a * dD/dlam)
        lam, slack = a * u, a * (1.0 - u)  # 1 - u is exact for u >= 1/2 (no cancellation near the face)
        v = G.T @ lam
        f = dual_value(NumpyOps, v, lam, slack, a, C, problem.loss)
        g = a * dual_gradient(NumpyOps, G @ v, lam, slack, C, problem.loss)
        return -f, -g

    lo = 0.0 if hinge else edge
    hi = 1.0 if hinge else 1 - edge
    iterations, gap, code, message, u = 0, float("inf"), StatusCode.MAX_ITER, "", u0
    best = None  # never return a point worse than the best certified one
    for _run in range(1 + restarts):
        res = minimize(neg_dual, u, jac=True, method="L-BFGS-B", bounds=[(lo, hi)] * len(a),
                       options={"maxiter": max_iter - iterations, "maxfun": 2 * max_iter, "ftol": 0.0,
                                "gtol": gtol, "maxcor": memory})
        iterations += res.nit
        u = res.x
        lam = torch.as_tensor(a * u, dtype=torch.float64, device=problem.device)
        slack = torch.as_tensor(a * (1 - u), dtype=torch.float64, device=problem.device)
        _, _, new_gap, w, _ = problem.certificate(lam, slack)
        if best is None or new_gap < best[0]:
            best = (new_gap, lam, slack)
        if new_gap <= gap_target(problem.C, float(torch.linalg.vector_norm(w)), tol, w_rtol):
            code = StatusCode.SUCCESS
            break
        if iterations >= max_iter:
            code = StatusCode.MAX_ITER
            break
        code, message = StatusCode.STALLED, f"L-BFGS-B: {res.message}"
        if new_gap >= gap:
            break
        gap = new_gap
    if best is not None and best[0] < new_gap:
        lam, slack = best[1], best[2]
    return problem_result(problem, lam, slack, iterations, time.perf_counter() - t0, Status(code, message), "lbfgsb",
                          tol, w_rtol)
