r"""Ipopt through casadi (its wheel bundles Ipopt), derivatives by casadi's AD.

The same two formulations as :mod:`dualgan.duals.ipopt`: lifted
:math:`(\lambda, v)` with :math:`G^\top\lambda = v` when d < N, dense in
:math:`\lambda` otherwise. The objective is the symbolic form of eqs. (1.3) and
(1.12) of the theory page, docs/theory.md (:func:`symbolic_dual`); the tests check its value
and gradient against the reference form :func:`dualgan.duals.objective.dual_value`.
Options and the return status come from :mod:`dualgan.duals.ipopt`
(:data:`~dualgan.duals.ipopt.IPOPT_OPTIONS`, :func:`~dualgan.duals.ipopt.ipopt_status`).

References
----------
Joel A. E. Andersson, Joris Gillis, Greg Horn, James B. Rawlings, Moritz Diehl. "CasADi: a
software framework for nonlinear optimization and optimal control." Mathematical Programming
Computation 11(1), 2019.
"""
from __future__ import annotations

import numpy as np

from .._checks import check_int, check_positive
from .ipopt import IPOPT_MAX_ITER, IPOPT_OPTIONS, NlpDual, ipopt_status, ipopt_with_refinement
from .problem import LinearDual
from .registry import SOLVERS

__all__ = ["solve_casadi", "symbolic_dual", "run_casadi"]


def symbolic_dual(ca, lam, v, a, C: float, loss: str):
    r"""The dual :math:`D(\lambda)` of eq. (1.3) (logistic) or (1.12) (hinge) as a casadi expression.

    Parameters
    ----------
    ca : module
        The ``casadi`` module.
    lam : casadi.MX or casadi.SX, shape (N, 1)
        The multipliers (symbolic).
    v : casadi.MX or casadi.SX, shape (d, 1)
        :math:`v = G^\top\lambda` (symbolic; a free variable in the lifted formulation).
    a : numpy.ndarray, shape (N,), float64
        The box's upper bounds.
    C : float
        L2 weight, > 0.
    loss : str
        ``"logistic"`` or ``"hinge"``.

    Returns
    -------
    casadi expression
        :math:`-\|v\|^2/(2C) + \sum_i a_i H(\lambda_i/a_i)` (logistic) or
        :math:`-\|v\|^2/(2C) + \sum_i\lambda_i` (hinge).
    """
    value = -ca.sumsqr(v) / (2 * C)
    if loss == "hinge":
        return value + ca.sum1(lam)
    rest = a - lam
    return value - ca.sum1(lam * ca.log(lam / a) + rest * ca.log(rest / a))


def run_casadi(ca, nlp: dict, x0, lbx, ubx, tol: float, max_iter: int, lbg=None, ubg=None, name: str = "dual"):
    """One casadi/Ipopt solve with :data:`~dualgan.duals.ipopt.IPOPT_OPTIONS`.

    Parameters
    ----------
    ca : module
        The ``casadi`` module.
    nlp : dict
        casadi's problem: ``{"x": ..., "f": ...}`` and optionally ``"g"``.
    x0, lbx, ubx : numpy.ndarray, float64
        Start and bounds of ``x``.
    tol : float
        Ipopt's ``tol``, finite and > 0.
    max_iter : int
        Ipopt's iteration cap, a positive integer (``bool`` and floats refused); caps above
        ``2**31 - 1`` (Ipopt's C int) run as ``2**31 - 1``.
    lbg, ubg : float or numpy.ndarray, optional
        Constraint bounds (with ``"g"``). Default None: none.
    name : str, default "dual"
        casadi's name of the solver.

    Returns
    -------
    tuple
        ``(x, iterations, status)``: the final point (numpy, float64), Ipopt's iteration
        count and :func:`~dualgan.duals.ipopt.ipopt_status` of its return status.

    Raises
    ------
    ValueError
        If ``tol`` or ``max_iter`` is out of range, checked here so that Ipopt
        never sees a bad value.
    """
    tol = check_positive(tol, "tol (Ipopt's tol)")
    # Ipopt counts iterations in a C int: a larger cap (10**15) is run as the largest it can count
    max_iter = min(check_int(max_iter, "max_iter (Ipopt's iteration cap)", low=1), IPOPT_MAX_ITER)
    opts = {"ipopt." + k: v for k, v in IPOPT_OPTIONS.items()}
    opts.update({"ipopt.tol": tol, "ipopt.max_iter": max_iter, "print_time": False})
    solver = ca.nlpsol(name, "ipopt", nlp, opts)
    kw = {} if lbg is None else dict(lbg=lbg, ubg=ubg)
    sol = solver(x0=x0, lbx=lbx, ubx=ubx, **kw)
    stats = solver.stats()
    x = np.asarray(sol["x"], dtype=np.float64).reshape(-1)
    return x, int(stats.get("iter_count", 0)), ipopt_status(stats.get("return_status"))


@SOLVERS.register("casadi", losses=("logistic", "hinge"), bias=True, requires="casadi")
def solve_casadi(problem: LinearDual, tol: float, max_iter: int | None, lam0, w_rtol: float) -> "DualResult":  # noqa: F821
    """Solve the dual with casadi's Ipopt.

    The arguments are those of every solver (:class:`~dualgan.duals.registry.DualSolver`);
    ``max_iter`` caps Ipopt's iterations (None: 3000). The result is certified by the
    gap of eq. (1.16) (see :func:`~dualgan.duals.ipopt.ipopt_with_refinement`).
    """
    import casadi as ca

    form = NlpDual(problem)  # the formulation (lifted or dense, start, bounds) cyipopt's callbacks use
    G, a, y, N, d, lifted = form.G, form.a, form.y, form.N, form.d, form.lifted
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
    nlp = {"x": x, "f": -symbolic_dual(ca, lam, v, a, problem.C, problem.loss)}
    if cons:
        nlp["g"] = ca.vertcat(*cons)
    lam_init, _ = problem.initial_point(lam0)
    x0 = form.start(lam_init.cpu().numpy())
    lbx, ubx = form.bounds()

    def run_once(ipopt_tol, iter_cap):
        xs, its, status = run_casadi(ca, nlp, x0, lbx, ubx, ipopt_tol, iter_cap,
                                     lbg=0 if cons else None, ubg=0 if cons else None)
        return np.clip(xs[:N], 0.0, a), its, status

    return ipopt_with_refinement(problem, run_once, tol, max_iter, "casadi", w_rtol)
