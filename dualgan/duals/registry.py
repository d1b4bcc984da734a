"""One entry point, many solvers: ``solve(problem, method=..., options=...)``.

The dual solvers live in :data:`SOLVERS`, a :class:`~dualgan.registry.Registry`
over the modules of :mod:`dualgan.duals`. A solver is a function of the one
signature :class:`DualSolver`,
``fn(problem, tol, max_iter, lam0, w_rtol, *, option=default, ...) -> DualResult``
(documented there once; a solver's docstring adds only what its ``max_iter``
counts and its options), ending with
:func:`~dualgan.duals.result.problem_result`, and registered by the module that
defines it::

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
from typing import Protocol

import numpy as np
import torch

from .._checks import check_int, check_positive
from .._threads import with_thread_policy
from ..registry import Registry
from ..status import Status, check_status
from .problem import LinearDual
from .result import DEFAULT_TOL, DEFAULT_W_RTOL, DualResult, DualSolverWarning, problem_result

__all__ = ["SOLVERS", "DualSolver", "solve"]

#: every dual solver, by method name; info ``losses`` (tuple of str), ``bias`` (bool), ``requires`` (str or None)
SOLVERS = Registry("dual solver", package="dualgan.duals", required_info=("losses", "bias"))


class DualSolver(Protocol):
    """The one signature of every entry of :data:`SOLVERS` (what :func:`solve` calls).

    :func:`solve` has checked the arguments and that the solver declares the
    problem's loss and bias; the solver returns the :class:`~dualgan.duals.DualResult`
    of :func:`~dualgan.duals.result.problem_result`, whose status is decided by the
    certificate of the returned pair (eq. (1.16) of the theory page), not by the method.
    A solver registered from outside the library has its returned pair certified once
    more by :func:`solve`, so a result built by other means cannot claim a success.
    """

    def __call__(self, problem: LinearDual, tol: float, max_iter: int | None, lam0, w_rtol: float,
                 **options) -> DualResult:
        r"""Solve ``problem``'s dual to the tolerances.

        Parameters
        ----------
        problem : LinearDual
            The validated problem: eq. (1.3) (logistic) or (1.12) (hinge) of the theory
            page, with the bias equality (1.11) when ``problem.bias``.
        tol : float
            Bound on the duality gap (eq. (1.5)), > 0.
        max_iter : int or None
            The method's iteration cap, >= 1; None: the method's own default (its docstring says
            what it counts and the default).
        lam0 : DualResult or array_like or tuple or None
            Warm start: a previous result, a length-N vector of multipliers or a pair
            ``(lam_real, lam_fake)`` (:meth:`LinearDual.initial_point
            <dualgan.duals.LinearDual.initial_point>`); None: the method's cold start.
        w_rtol : float
            Relative bound on the discriminator's error, :math:`\sqrt{2\,\mathrm{gap}/C} \le`
            ``w_rtol`` :math:`\|w\|` (eq. (1.6)); > 0, or ``inf`` for the gap alone.
        **options
            The method's own keyword-only options (``SOLVERS.options(name)``), already
            checked by the entry's ``check_options``.

        Returns
        -------
        DualResult
            Certified from the returned pair; ``method`` is the registered name.
        """


@with_thread_policy  # torch and BLAS threads: the library's one policy (dualgan/_threads.py)
def solve(problem: LinearDual, method: str = "newton", tol: float = DEFAULT_TOL, max_iter: int | None = None,
          lam0=None, warn: bool = True, w_rtol: float = DEFAULT_W_RTOL, options: dict | None = None) -> DualResult:
    r"""Solve the dual of a :class:`LinearDual` problem to a certified duality gap.

    The result is certified by the duality gap of a primal-dual pair (eq. (1.16) of
    the theory page): ``SUCCESS`` means ``gap <= tol`` *and* the certified bound
    on the discriminator's error, :math:`\sqrt{2\,\mathrm{gap}/C} \ge \|w - w^\star\|`
    (eq. (1.6)), is at most ``w_rtol * ||w||``. Both are checked from the
    returned pair, whatever the method reports: the library's solvers end with
    :func:`~dualgan.duals.result.problem_result`, and the pair a solver registered
    from outside the library returns is certified again here.

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

    Notes
    -----
    Weights :math:`a` whose largest entry is outside :math:`[2^{-40}, 2^{40}]` (e.g.
    ``weights=(np.full(12, 1e-300/12), ...)``) are solved as the equivalent problem
    in other units (:meth:`LinearDual.scaled <dualgan.duals.LinearDual.scaled>`:
    weights times a power of two ``s``, features times a power of two ``t``, ``C``
    times :math:`s t^2`; exact) so that neither the gap nor the bound on ``w``
    underflows, and the result is given back in the problem's own units.

    Raises
    ------
    ValueError
        For a problem that is not a :class:`LinearDual`, an unknown method (the
        message lists the registered ones), an option the method does not take
        (the message lists its options), a non-positive ``tol`` / ``w_rtol`` / ``max_iter``, or
        multipliers of another length returned by a solver registered from outside the library.
    NotImplementedError
        When the method does not support the problem's loss or bias.
    ImportError
        When the method's optional package is not installed.
    TypeError
        When the solver returns something other than a :class:`DualResult`, or one whose
        ``status`` is not a :class:`~dualgan.status.Status`.

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
    max_iter = check_int(max_iter, "max_iter (None: the method's default)", low=1, allow_none=True)
    if problem.loss not in entry.losses or (problem.bias and not entry.bias):
        able = SOLVERS.names(losses=problem.loss, **({"bias": True} if problem.bias else {}))
        what = f"loss={problem.loss!r}" + (" with bias=True" if problem.bias else "")
        raise NotImplementedError(f"method {method!r} does not support {what}; methods that do: {able}")
    entry.import_requirement(SOLVERS.kind, "install it (for 'ipopt' and 'casadi': pip install 'dualgan[ipopt]' after "
                                           "installing a system Ipopt)")
    s, t = _units(problem, tol)
    if s == 1.0 and t == 1.0:
        result = _run(entry, problem, tol, max_iter, lam0, w_rtol, options)
    else:  # weights of 1e-300 (or 1e300): the same problem in units where they and C are about 1
        result = _unscaled(_run(entry, problem.scaled(s, t), tol * s, max_iter, _scaled_start(lam0, s, t),
                                w_rtol, options), s, t, problem, tol)
    if warn and not result.success:
        warnings.warn(f"dual solver {method!r} did not certify its tolerances: {result.status} "
                      f"(gap {result.gap:.3g}, tol {tol:.3g}; error bound {result.w_error_bound:.3g}, "
                      f"w_rtol = {w_rtol:.3g}; {result.iterations} iterations)",
                      DualSolverWarning, stacklevel=2)
    return result


def _run(entry, problem: LinearDual, tol: float, max_iter, lam0, w_rtol: float, options: dict) -> DualResult:
    """Run the solver of ``entry``; a solver registered from outside the library has its result certified here.

    The library's solvers end with :func:`~dualgan.duals.result.problem_result`; a user's solver
    may build its :class:`DualResult` by other means (its own gap, its own status), so its
    returned pair is certified again by ``problem_result`` (eqs. (1.16) and (1.18)), its own
    status kept only as the reason the method stopped.
    """
    result = entry.obj(problem, tol, max_iter, lam0, w_rtol, **options)
    if not isinstance(result, DualResult):
        raise TypeError(f"dual solver {entry.name!r} returned a {type(result).__name__}; a solver returns a "
                        f"DualResult: end it with problem_result(problem, lam, slack, iterations, seconds, "
                        f"stopped, method, tol, w_rtol)")
    if entry.from_library:
        return result
    check_status(result.status, f"DualResult.status of dual solver {entry.name!r}")
    lam = torch.as_tensor(result.lam, dtype=torch.float64, device=problem.device)
    if lam.shape != (problem.N,):
        raise ValueError(f"dual solver {entry.name!r} returned multipliers of shape {tuple(lam.shape)}; the "
                         f"problem has n + m = {problem.N} samples (lam_real of length n, lam_fake of length m)")
    lam = torch.minimum(torch.clamp(lam, min=0.0), problem.a)
    slack = None if result.slack is None else torch.clamp(
        torch.as_tensor(result.slack, dtype=torch.float64, device=problem.device), min=0.0)
    if slack is not None and slack.shape != lam.shape:
        slack = None
    w = None if result.w is None else torch.as_tensor(result.w, dtype=torch.float64, device=problem.device)
    if w is not None and w.shape != (problem.d,):
        w = None  # not the primal half of a pair: certify the multipliers with their dual recovery w = v/C
    b = result.b if (problem.bias and w is not None) else None
    certificate = problem.certificate(lam, slack, w=w, b=b)
    stopped = Status(result.status.code, f"the solver reported: {result.status.message}")
    return problem_result(problem, lam, slack, result.iterations, result.seconds, stopped, entry.name,
                          tol, w_rtol, trace=result.gap_trace, certificate=certificate)


#: weights whose largest entry is outside [2**-_SCALE_RANGE, 2**_SCALE_RANGE] are solved rescaled
_SCALE_RANGE = 40


def _units(problem: LinearDual, tol: float) -> tuple[float, float]:
    """Powers of two ``(s, t)`` for :meth:`LinearDual.scaled`: ``max(a) s`` in [1/2, 1) and ``C s t^2``
    near 1 when ``max(a)`` is far from 1; else ``(1, 1)`` (the problem as given).

    With weights of 1e-300 and C = 1 the optimum w* is about 1e-299: in the units of ``a s`` (about 1)
    and ``C s t^2`` (about 1) it is about 1, and neither the gap nor the bound on w underflows.
    """
    top = float(problem.a.max())
    exponent = math.frexp(top)[1]
    if -_SCALE_RANGE <= exponent <= _SCALE_RANGE:
        return 1.0, 1.0
    s = math.ldexp(1.0, -exponent)
    tiny = np.finfo(np.float64).tiny
    if not (math.isfinite(tol * s) and tol * s >= tiny):
        return 1.0, 1.0  # the rescaled tol would leave float64's normal range: solve as given
    t = math.ldexp(1.0, -round(math.log2(problem.C) + math.log2(s)) // 2)
    G = problem.G.abs()
    largest, smallest = float(G.max()), float(G[G > 0].min()) if bool((G > 0).any()) else 1.0
    if not (largest * t < 1e300 and smallest * t >= tiny):
        t = 1.0  # the features would leave float64's range: rescale the weights only
    if not (tiny <= problem.C * s * t * t < float("inf")):
        return 1.0, 1.0
    return s, t


def _scaled_start(lam0, s: float, t: float):
    """A warm start for the rescaled problem: multipliers times ``s``, a result's ``w`` over ``t``."""
    import dataclasses


    if lam0 is None:
        return None
    if isinstance(lam0, DualResult):
        return dataclasses.replace(lam0, lam_real=lam0.lam_real * s, lam_fake=lam0.lam_fake * s,
                                   slack=None if lam0.slack is None else lam0.slack * s,
                                   w=None if lam0.w is None else lam0.w / t)
    if isinstance(lam0, (tuple, list)) and len(lam0) == 2:
        return tuple(p * s if isinstance(p, torch.Tensor) else np.asarray(p, dtype=np.float64) * s for p in lam0)
    if isinstance(lam0, torch.Tensor):
        return lam0 * s
    try:
        return np.asarray(lam0, dtype=np.float64) * s
    except (TypeError, ValueError):
        return lam0  # LinearDual.initial_point gives the clear error


def _unscaled(res: DualResult, s: float, t: float, problem: LinearDual, tol: float) -> DualResult:
    """The result of the rescaled problem in the units of ``problem``: multipliers and values over ``s``,
    ``w`` and its error bound times ``t``."""
    import dataclasses


    gap_bound = res.gap_bound / s
    if res.gap_bound > 0 and gap_bound == 0.0:
        gap_bound = 5e-324  # still an upper bound
    note = (f"solved with the weights multiplied by 2^{math.frexp(s)[1] - 1} and the features by "
            f"2^{math.frexp(t)[1] - 1} (an exact rescaling; the values in this message are in those units): ")
    return dataclasses.replace(
        res, lam_real=res.lam_real / s, lam_fake=res.lam_fake / s, slack=None if res.slack is None else res.slack / s,
        w=res.w * t, w_error_bound=res.w_error_bound * t,
        dual_value=res.dual_value / s, primal_value=res.primal_value / s, gap=res.gap / s, gap_bound=gap_bound,
        gap_trace=tuple(g / s for g in res.gap_trace), C=problem.C, tol=tol,
        status=Status(res.status.code, note + res.status.message))
