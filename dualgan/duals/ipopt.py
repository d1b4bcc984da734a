r"""Ipopt through cyipopt, with exact derivatives; and the Ipopt pieces every Ipopt user shares.

Two formulations, chosen by shape so that Ipopt sees a sparse problem where it
can:

* lifted (d < N): variables :math:`(\lambda, v)` with the d equalities
  :math:`G^\top\lambda - v = 0`; the objective
  :math:`\|v\|^2/(2C) - \sum_i a_i H(\lambda_i/a_i)` then has a diagonal
  Hessian and the Jacobian is :math:`[G^\top, -I]`;
* dense (d >= N): variables :math:`\lambda` only, with the dense Hessian
  :math:`GG^\top/C + \mathrm{diag}(a_i/(\lambda_i(a_i-\lambda_i)))`.

The objective, its gradient and its Hessian are those of
:mod:`dualgan.duals.objective` (eqs. (1.3), (1.7), (1.8) and (1.12) of the theory
page, docs/theory.md), negated. ``bound_relax_factor = 0`` keeps every iterate
inside the box, where the entropy is defined. The bias equality
:math:`y^\top\lambda = 0` is one more linear constraint.

Shared with :mod:`dualgan.duals.casadi_ipopt` and the trust-region sub-problem
(:mod:`dualgan.trust_region.subproblem`): :data:`IPOPT_OPTIONS`, the table
:data:`IPOPT_RETURN_STATUS` and :func:`ipopt_status` (Ipopt's return status as a
:class:`~dualgan.status.Status`), and :func:`run_cyipopt`.

References
----------
Andreas Wächter, Lorenz T. Biegler. "On the implementation of an interior-point filter
line-search algorithm for large-scale nonlinear programming." Mathematical Programming 106(1), 2006.
"""
from __future__ import annotations

import functools
import time

import numpy as np
import torch

from .._checks import check_int, check_positive
from ..status import Status, StatusCode
from ._backend import NumpyOps
from .objective import dual_gradient, dual_value, separable_curvature, separable_gradient
from .problem import LinearDual
from .registry import SOLVERS
from .result import gap_target, problem_result

__all__ = ["solve_ipopt", "NlpDual", "IPOPT_OPTIONS", "IPOPT_RETURN_STATUS", "ipopt_status", "run_cyipopt"]

#: options every Ipopt run of the library sets (cyipopt names; casadi prefixes them with ``"ipopt."``):
#: no output, iterates never relaxed out of the box (the entropy is undefined outside it)
IPOPT_OPTIONS = {
    "print_level": 0,
    "sb": "yes",
    "bound_relax_factor": 0.0,
    "honor_original_bounds": "yes",
    "mu_strategy": "adaptive",
}

_S = StatusCode
#: Ipopt's ``ApplicationReturnStatus``: integer (cyipopt's ``info["status"]``) -> (name, as casadi's
#: ``return_status`` spells it; the library's :class:`~dualgan.status.StatusCode`). ``SUCCESS`` means
#: Ipopt's own scaled KKT test passed, not yet the duality-gap certificate the callers then check.
IPOPT_RETURN_STATUS = {
    0: ("Solve_Succeeded", _S.SUCCESS),
    1: ("Solved_To_Acceptable_Level", _S.SUCCESS),
    2: ("Infeasible_Problem_Detected", _S.NUMERICAL_ERROR),  # the duals are feasible: a numerical failure
    3: ("Search_Direction_Becomes_Too_Small", _S.STALLED),
    4: ("Diverging_Iterates", _S.NUMERICAL_ERROR),
    5: ("User_Requested_Stop", _S.INTERRUPTED),
    6: ("Feasible_Point_Found", _S.STALLED),
    -1: ("Maximum_Iterations_Exceeded", _S.MAX_ITER),
    -2: ("Restoration_Failed", _S.NUMERICAL_ERROR),
    -3: ("Error_In_Step_Computation", _S.NUMERICAL_ERROR),
    -4: ("Maximum_CpuTime_Exceeded", _S.MAX_ITER),
    -5: ("Maximum_WallTime_Exceeded", _S.MAX_ITER),
    -10: ("Not_Enough_Degrees_Of_Freedom", _S.ERROR),
    -11: ("Invalid_Problem_Definition", _S.ERROR),
    -12: ("Invalid_Option", _S.ERROR),
    -13: ("Invalid_Number_Detected", _S.NON_FINITE),
    -100: ("Unrecoverable_Exception", _S.ERROR),
    -101: ("NonIpopt_Exception_Thrown", _S.ERROR),
    -102: ("Insufficient_Memory", _S.ERROR),
    -199: ("Internal_Error", _S.ERROR),
}
_BY_NAME = {name: (code, status) for code, (name, status) in IPOPT_RETURN_STATUS.items()}


#: the largest iteration cap Ipopt takes (its option is a C int)
IPOPT_MAX_ITER = 2 ** 31 - 1


def ipopt_status(status, message: str = "") -> Status:
    """Ipopt's return status as a :class:`~dualgan.status.Status`.

    Parameters
    ----------
    status : int or str
        The integer ``ApplicationReturnStatus`` (cyipopt's ``info["status"]``) or its
        name (casadi's ``solver.stats()["return_status"]``, e.g. ``"Solve_Succeeded"``).
    message : str, default ""
        Ipopt's own message (cyipopt's ``info["status_msg"]``, bytes or str), added to the status message.

    Returns
    -------
    Status
        The code of :data:`IPOPT_RETURN_STATUS` (``SUCCESS`` means Ipopt's own KKT test
        passed), with a message naming Ipopt's status; an unknown status is ``ERROR``.
    """
    message = message.decode() if isinstance(message, bytes) else str(message or "")
    if isinstance(status, (int, np.integer)) and not isinstance(status, bool) and int(status) in IPOPT_RETURN_STATUS:
        name, code = IPOPT_RETURN_STATUS[int(status)]
        number = int(status)
    elif isinstance(status, str) and status in _BY_NAME:
        name, (number, code) = status, _BY_NAME[status]
    else:
        return Status(StatusCode.ERROR, f"unknown Ipopt return status {status!r}" + (f" ({message})" if message else ""))
    return Status(code, f"Ipopt {name} ({number})" + (f": {message}" if message else ""))


def run_cyipopt(nlp, n_var: int, n_con: int, x0, lb, ub, tol: float, max_iter: int, cl=None, cu=None):
    """One cyipopt solve with :data:`IPOPT_OPTIONS`.

    Parameters
    ----------
    nlp : object
        cyipopt's callback object (``objective``, ``gradient``, ``hessian``, ... ); an
        ``intermediate`` callback storing ``iterations`` is used for the count when present.
    n_var, n_con : int
        Numbers of variables and constraints.
    x0, lb, ub : numpy.ndarray, shape (n_var,), float64
        Start and bounds.
    tol : float
        Ipopt's ``tol`` (its scaled KKT error), finite and > 0.
    max_iter : int
        Ipopt's iteration cap, a positive integer (``bool`` and floats refused); caps above
        ``2**31 - 1`` (Ipopt's C int) run as ``2**31 - 1``.
    cl, cu : numpy.ndarray, shape (n_con,), optional
        Constraint bounds. Default None: none.

    Returns
    -------
    tuple
        ``(x, iterations, status)``: the final point (numpy, float64), the iteration
        count (-1 when the callback object does not count) and :func:`ipopt_status`.

    Raises
    ------
    ValueError
        If ``tol`` or ``max_iter`` is out of range, checked here so that Ipopt
        never sees (and prints its option table for) a bad value.
    """
    tol = check_positive(tol, "tol (Ipopt's tol)")
    # Ipopt counts iterations in a C int: a larger cap (10**15) is run as the largest it can count
    max_iter = min(check_int(max_iter, "max_iter (Ipopt's iteration cap)", low=1), IPOPT_MAX_ITER)
    import cyipopt

    kw = {} if cl is None else dict(cl=cl, cu=cu)
    problem = cyipopt.Problem(n=n_var, m=n_con, problem_obj=nlp, lb=lb, ub=ub, **kw)
    for key, val in IPOPT_OPTIONS.items():
        problem.add_option(key, val)
    problem.add_option("tol", tol)
    problem.add_option("max_iter", max_iter)
    x, info = problem.solve(x0)
    return np.asarray(x, dtype=np.float64), int(getattr(nlp, "iterations", -1)), \
        ipopt_status(info["status"], info.get("status_msg", ""))


class NlpDual:
    """The dual as an NLP in cyipopt's callback form (minimise -D, eqs. (1.3), (1.7), (1.8), (1.12)).

    Its formulation (``lifted``, ``n_var``, :meth:`start`, :meth:`bounds`) is also the one casadi's
    symbolic form is built on (:mod:`dualgan.duals.casadi_ipopt`).

    Parameters
    ----------
    problem : LinearDual
        The problem.
    lifted : bool, optional
        True: variables ``(lam, v)`` with ``G^T lam - v = 0``; False: ``lam`` only.
        Default None: lifted when d < N.
    """

    def __init__(self, problem: LinearDual, lifted: bool | None = None):
        self.G = problem.G.cpu().numpy()
        self.a = problem.a.cpu().numpy()
        self.y = problem.y.cpu().numpy()
        self.C, self.loss, self.bias = problem.C, problem.loss, problem.bias
        self.N, self.d = self.G.shape
        self.lifted = (self.d < self.N) if lifted is None else lifted
        self.n_var = self.N + (self.d if self.lifted else 0)
        self.n_con = (self.d if self.lifted else 0) + (1 if self.bias else 0)

    @functools.cached_property
    def K(self):
        """The Gram matrix ``G G^T`` of the dense formulation (formed on first use: casadi's form never needs it)."""
        return self.G @ self.G.T

    @functools.cached_property
    def _lower(self):
        """Row and column indices of the dense Hessian's lower triangle."""
        return np.tril_indices(self.N)

    # -D and its derivatives, from the reference form of dualgan.duals.objective
    def objective(self, x):
        """-D at ``x`` (eqs. (1.3) / (1.12) of the theory page)."""
        lam = x[: self.N]
        v = x[self.N:] if self.lifted else self.G.T @ lam
        return -dual_value(NumpyOps, v, lam, self.a - lam, self.a, self.C, self.loss)

    def gradient(self, x):
        """Gradient of -D at ``x`` (eq. (1.7))."""
        lam = x[: self.N]
        if self.lifted:
            return np.concatenate([-separable_gradient(NumpyOps, lam, self.a - lam, self.loss), x[self.N:] / self.C])
        return -dual_gradient(NumpyOps, self.K @ lam, lam, self.a - lam, self.C, self.loss)

    def constraints(self, x):
        parts = []
        if self.lifted:
            parts.append(self.G.T @ x[: self.N] - x[self.N:])
        if self.bias:
            parts.append(np.array([self.y @ x[: self.N]]))
        return np.concatenate(parts) if parts else np.zeros(0)

    def jacobianstructure(self):
        rows, cols = [], []
        if self.lifted:
            r, c = np.meshgrid(np.arange(self.d), np.arange(self.N), indexing="ij")
            rows += [r.ravel(), np.arange(self.d)]
            cols += [c.ravel(), self.N + np.arange(self.d)]
        if self.bias:
            rows.append(np.full(self.N, self.n_con - 1))
            cols.append(np.arange(self.N))
        if not rows:
            return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
        return np.concatenate(rows), np.concatenate(cols)

    def jacobian(self, x):
        vals = []
        if self.lifted:
            vals += [self.G.T.ravel(), -np.ones(self.d)]
        if self.bias:
            vals.append(self.y)
        return np.concatenate(vals) if vals else np.zeros(0)

    def hessianstructure(self):
        if self.lifted:
            idx = np.arange(self.n_var)
            return idx, idx
        return self._lower

    def hessian(self, x, lagrange, obj_factor):
        """Lower triangle of the Hessian of -D (eq. (1.8)), times ``obj_factor`` (the constraints are linear)."""
        lam = x[: self.N]
        diag = separable_curvature(NumpyOps, lam, self.a - lam, self.a, self.loss)
        if self.lifted:
            return obj_factor * np.concatenate([diag, np.full(self.d, 1.0 / self.C)])
        rows, cols = self._lower
        H = self.K / self.C
        H = H[rows, cols]
        on_diag = rows == cols
        H[on_diag] += diag
        return obj_factor * H

    def intermediate(self, alg_mod, iter_count, *args):
        """Ipopt's per-iteration callback: remember the iteration count."""
        self.iterations = int(iter_count)
        return True

    def start(self, lam):
        return np.concatenate([lam, self.G.T @ lam]) if self.lifted else lam.copy()

    def bounds(self):
        lb = np.concatenate([np.zeros(self.N), np.full(self.n_var - self.N, -np.inf)])
        ub = np.concatenate([self.a, np.full(self.n_var - self.N, np.inf)])
        return lb, ub


@SOLVERS.register("ipopt", losses=("logistic", "hinge"), bias=True, requires="cyipopt")
def solve_ipopt(problem: LinearDual, tol: float, max_iter: int | None, lam0, w_rtol: float) -> "DualResult":  # noqa: F821
    """Solve the dual with Ipopt (cyipopt), exact Hessian.

    The arguments are those of every solver (:class:`~dualgan.duals.registry.DualSolver`);
    ``max_iter`` caps Ipopt's iterations (None: 3000). The result is certified by the
    gap of eq. (1.16) (see :func:`ipopt_with_refinement`).
    """
    nlp = NlpDual(problem)
    lb, ub = nlp.bounds()
    zero = np.zeros(nlp.n_con)
    lam_init, _ = problem.initial_point(lam0)
    x0 = nlp.start(lam_init.cpu().numpy())

    def run_once(ipopt_tol, iter_cap):
        nlp.iterations = 0
        x, its, status = run_cyipopt(nlp, nlp.n_var, nlp.n_con, x0, lb, ub, ipopt_tol, iter_cap, cl=zero, cu=zero)
        return np.clip(x[: nlp.N], 0.0, nlp.a), its, status

    return ipopt_with_refinement(problem, run_once, tol, max_iter, "ipopt", w_rtol)


def ipopt_with_refinement(problem: LinearDual, run_once, tol, max_iter, method, w_rtol) -> "DualResult":  # noqa: F821
    """Run Ipopt, and re-run with a tighter tolerance while the duality gap exceeds ``tol``.

    Ipopt stops on its own scaled KKT error, which bounds the duality gap only up
    to a problem-dependent factor (large for small C); the gap (eq. (1.16) of the
    theory page) is what we certify.

    Parameters
    ----------
    problem : LinearDual
        The problem.
    run_once : callable
        ``run_once(ipopt_tol, iter_cap) -> (lam, iterations, status)``: one Ipopt solve,
        ``lam`` a numpy vector in the box and ``status`` from :func:`ipopt_status`.
    tol, max_iter, method, w_rtol
        As for :func:`dualgan.duals.solve`; ``method`` is the name recorded in the result.

    Returns
    -------
    DualResult
        ``SUCCESS`` exactly when the certificate holds; otherwise Ipopt's own
        code (``MAX_ITER``, ``NUMERICAL_ERROR``, ...) or ``STALLED`` when Ipopt's own
        test passed short of the certificate, with Ipopt's status in the message.
    """
    t0 = time.perf_counter()
    iter_cap = 3000 if max_iter is None else max_iter
    # floored as the refinement below floors it (0.01 * 5e-324 is 0, which Ipopt's own check refused)
    ipopt_tol, iterations = max(1e-15, min(1e-8, 0.01 * tol)), 0
    code, message = StatusCode.MAX_ITER, ""
    for attempt in range(4):
        lam, its, status = run_once(ipopt_tol, iter_cap)
        iterations += max(its, 0)
        lam_t = torch.as_tensor(lam, dtype=torch.float64, device=problem.device)
        _, _, gap, w, _ = problem.certificate(lam_t)
        target = gap_target(problem.C, float(torch.linalg.vector_norm(w)), tol, w_rtol)
        # what the result reports when the certificate does not hold: Ipopt's own verdict, and STALLED
        # when that verdict was success on its scaled KKT error (problem_result gives SUCCESS from the
        # certificate alone)
        if status.success:
            code, message = StatusCode.STALLED, f"Ipopt stopped on its own KKT test ({status.message}) short of the " \
                                                 f"certificate"
        else:
            code, message = status.code, status.message
        if gap <= target or code is StatusCode.MAX_ITER or ipopt_tol <= 1e-15:
            break
        ipopt_tol = max(1e-15, ipopt_tol * 0.1 * target / gap)
    return problem_result(problem, lam_t, None, iterations, time.perf_counter() - t0, Status(code, message), method,
                          tol, w_rtol)
