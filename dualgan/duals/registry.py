"""One entry point, many solvers: ``solve(problem, method=..., options=...)``.

The dual solvers live in :data:`SOLVERS`, a :class:`~dualgan.registry.Registry`
over the modules of :mod:`dualgan.duals`. A solver is a function
``fn(problem, tol, max_iter, lam0, w_rtol, *, option=default, ...) -> DualResult``
registered by the module that defines it::

    from dualgan.duals import SOLVERS

    @SOLVERS.register("mine", losses=("logistic",), bias=False)
    def solve_mine(problem, tol, max_iter, lam0, w_rtol, *, memory=10):
        ...

so adding a solver is adding one file to the package. Each entry declares

* ``losses``: the discriminator losses it handles (``"logistic"``, eq. (1.3)
  of the theory page; ``"hinge"``, eq. (1.12));
* ``bias``: True when it also handles the bias equality, eq. (1.11) (every
  solver handles problems without a bias);
* ``requires``: an importable module it needs at run time, or None.

Its keyword-only parameters are its options (:meth:`Registry.options
<dualgan.registry.Registry.options>`), passed as ``solve(..., options={...})``.
``SOLVERS.names(losses="hinge", bias=True)`` lists the solvers of hinge
problems with a bias; ``SOLVERS.names(losses="hinge")`` those of hinge problems
without one.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .._checks import check_positive
from .._threads import with_thread_policy
from ..registry import Registry
from .problem import LinearDual
from .result import DEFAULT_TOL, DEFAULT_W_RTOL, DualResult, DualSolverWarning

__all__ = ["SOLVERS", "solve"]

#: every dual solver, by method name; info ``losses`` (tuple of str), ``bias`` (bool), ``requires`` (str or None)
SOLVERS = Registry("dual solver", package="dualgan.duals")


@with_thread_policy  # torch and BLAS threads: the library's one policy (dualgan/_threads.py)
def solve(problem: LinearDual, method: str = "newton", tol: float = DEFAULT_TOL, max_iter: int | None = None,
          lam0=None, warn: bool = True, w_rtol: float = DEFAULT_W_RTOL, options: dict | None = None) -> DualResult:
    r"""Solve the dual of a :class:`LinearDual` problem to a certified duality gap.

    The result is certified by the duality gap of a primal-dual pair (eq. (1.16) of
    the theory page): ``SUCCESS`` means ``gap <= tol`` *and* the certified bound
    on the discriminator's error, :math:`\sqrt{2\,\mathrm{gap}/C} \ge \|w - w^\star\|`
    (eq. (1.6)), is at most ``w_rtol * ||w||``. Both are checked here from the
    returned pair, whatever the method reports.

    Parameters
    ----------
    problem : LinearDual
        The validated problem.
    method : str, default "newton"
        A name of :data:`SOLVERS` (``list(SOLVERS)``): ``"newton"`` (ours, the
        fastest), ``"lbfgsb"`` (scipy's L-BFGS-B), ``"ipopt"`` (cyipopt, exact Hessian,
        optional extra) or ``"casadi"`` (casadi's Ipopt).
    tol : float, default 1e-10
        Bound on the duality gap :math:`P(w, b) - D(\lambda)`, in units of the objective (1.1); > 0.
    max_iter : int or None, default None
        Iteration cap; None picks the method's own default (200 Newton iterations).
    lam0 : DualResult or array_like or tuple, optional
        Warm start: a previous :class:`DualResult` (its ``w`` is used when the feature
        dimension matches), a length-N vector of multipliers, or a pair ``(lam_real, lam_fake)``.
    warn : bool, default True
        Emit a :class:`DualSolverWarning` when the tolerances are not certified.
    w_rtol : float, default 1e-6
        Relative bound on the discriminator's error: :math:`\sqrt{2\,\mathrm{gap}/C} \le`
        ``w_rtol`` :math:`\|w\|`; > 0, or ``math.inf`` for the gap alone.
    options : dict, optional
        The method's own options, e.g. ``{"memory": 50}`` for ``"lbfgsb"``;
        ``SOLVERS.options(method)`` lists them with their defaults. Default
        None: the method's defaults.

    Returns
    -------
    DualResult
        ``result.success`` (``result.status.code is StatusCode.SUCCESS``) when both
        tolerances hold; otherwise the status says why not.

    Raises
    ------
    ValueError
        For a problem that is not a :class:`LinearDual`, an unknown method (the
        message lists the registered ones), an option the method does not take
        (the message lists its options), or a non-positive ``tol`` / ``w_rtol`` / ``max_iter``.
    NotImplementedError
        When the method does not support the problem's loss or bias.
    ImportError
        When the method's optional package is not installed.

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel, "Dualing GANs", NeurIPS 2017.
    """
    if not isinstance(problem, LinearDual):
        raise ValueError(f"problem must be a dualgan.duals.LinearDual, got {type(problem).__name__}; "
                         f"build one with LinearDual(phi_real, phi_fake, C)")
    entry = SOLVERS.entry(method)
    options = SOLVERS.check_options(method, options)
    tol = check_positive(tol, "tol")
    # inf: the gap alone is the test
    w_rtol = math.inf if (isinstance(w_rtol, float) and w_rtol == math.inf) else check_positive(w_rtol, "w_rtol")
    if max_iter is not None:
        if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
            raise ValueError(f"max_iter must be a positive integer or None, got {max_iter!r}")
        max_iter = int(max_iter)
    if problem.loss not in entry.losses or (problem.bias and not entry.bias):
        able = SOLVERS.names(losses=problem.loss, **({"bias": True} if problem.bias else {}))
        what = f"loss={problem.loss!r}" + (" with bias=True" if problem.bias else "")
        raise NotImplementedError(f"method {method!r} does not support {what}; methods that do: {able}")
    requires = entry.info.get("requires")
    if requires is not None:
        try:
            __import__(requires)
        except ImportError as exc:
            raise ImportError(f"method {method!r} needs the package {requires!r} "
                              f"(pip install 'dualgan[ipopt]' after installing a system Ipopt)") from exc
    result = entry.obj(problem, tol, max_iter, lam0, w_rtol, **options)
    if warn and not result.success:
        warnings.warn(f"dual solver {method!r} did not certify its tolerances: {result.status} "
                      f"(gap {result.gap:.3g}, tol {tol:.3g}; error bound {result.w_error_bound:.3g}, "
                      f"w_rtol = {w_rtol:.3g}; {result.iterations} iterations)",
                      DualSolverWarning, stacklevel=2)
    return result
