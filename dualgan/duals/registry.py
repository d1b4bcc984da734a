"""One entry point, many solvers: ``solve(problem, method=...)``.

A solver is a function ``(problem, tol, max_iter, lam0, w_rtol) -> DualResult``
registered with :func:`register_solver`; adding a solver is adding one file
that calls it (and importing that file in ``dualgan/duals/__init__.py``).
"""
from __future__ import annotations

import warnings

import numpy as np
from dataclasses import dataclass
from typing import Callable

from .._checks import check_positive
from .problem import LinearDual
from .result import DEFAULT_TOL, DEFAULT_W_RTOL, DualResult, DualSolverWarning

__all__ = ["solve", "register_solver", "available_methods", "SolverSpec"]


@dataclass(frozen=True)
class SolverSpec:
    """What a registered solver can take."""

    name: str
    fn: Callable
    losses: tuple[str, ...]
    bias: bool
    requires: str | None = None  # importable module needed at run time


_SOLVERS: dict[str, SolverSpec] = {}


def register_solver(name: str, *, losses=("logistic",), bias: bool = False, requires: str | None = None):
    """Decorator registering ``fn(problem, tol, max_iter, lam0, w_rtol) -> DualResult`` under ``name``.

    Parameters
    ----------
    name : str
        The method name :func:`solve` accepts.
    losses : tuple of str, default ("logistic",)
        The losses the solver handles (``"logistic"``: eq. (1.3) of the
        theory page; ``"hinge"``: eq. (1.12)).
    bias : bool, default False
        Whether the solver handles the bias equality, eq. (1.11).
    requires : str, optional
        An importable module the solver needs at run time (e.g. ``"cyipopt"``).
        Default None: none.

    Returns
    -------
    callable
        The decorator; it returns ``fn`` unchanged.
    """
    def deco(fn):
        _SOLVERS[name] = SolverSpec(name, fn, tuple(losses), bias, requires)
        return fn
    return deco


def available_methods(loss: str | None = None, bias: bool | None = None) -> list[str]:
    """Names of the registered solvers that accept ``loss`` and ``bias`` (all when None).

    Parameters
    ----------
    loss : str, optional
        ``"logistic"`` or ``"hinge"``. Default None: any loss.
    bias : bool, optional
        True: only solvers that handle a bias. Default None (or False): any solver.

    Returns
    -------
    list of str
        The method names, in registration order.
    """
    return [s.name for s in _SOLVERS.values()
            if (loss is None or loss in s.losses) and (bias is None or not bias or s.bias)]


def solve(problem: LinearDual, method: str = "newton", tol: float = DEFAULT_TOL, max_iter: int | None = None,
          lam0=None, warn: bool = True, w_rtol: float = DEFAULT_W_RTOL) -> DualResult:
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
        A registered solver (see :func:`available_methods`): ``"newton"`` (ours, the
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

    Returns
    -------
    DualResult
        ``result.success`` (``result.status.code is StatusCode.SUCCESS``) when both
        tolerances hold; otherwise the status says why not.

    Raises
    ------
    ValueError
        For a problem that is not a :class:`LinearDual`, an unknown method, or a
        non-positive ``tol`` / ``w_rtol`` / ``max_iter``.
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
    if method not in _SOLVERS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(_SOLVERS)}")
    tol = check_positive(tol, "tol")
    # inf: the gap alone is the test
    w_rtol = float("inf") if (isinstance(w_rtol, float) and w_rtol == float("inf")) else check_positive(w_rtol, "w_rtol")
    if max_iter is not None:
        if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
            raise ValueError(f"max_iter must be a positive integer or None, got {max_iter!r}")
        max_iter = int(max_iter)
    spec = _SOLVERS[method]
    if problem.loss not in spec.losses or (problem.bias and not spec.bias):
        able = available_methods(problem.loss, problem.bias)
        what = f"loss={problem.loss!r}" + (" with bias=True" if problem.bias else "")
        raise NotImplementedError(f"method {method!r} does not support {what}; methods that do: {able}")
    if spec.requires is not None:
        try:
            __import__(spec.requires)
        except ImportError as exc:
            raise ImportError(f"method {method!r} needs the package {spec.requires!r} "
                              f"(pip install 'dualgan[ipopt]' after installing a system Ipopt)") from exc
    result = spec.fn(problem, tol, max_iter, lam0, w_rtol)
    if warn and not result.success:
        warnings.warn(f"dual solver {method!r} did not certify its tolerances: {result.status} "
                      f"(gap {result.gap:.3g}, tol {tol:.3g}; error bound {result.w_error_bound:.3g}, "
                      f"w_rtol = {w_rtol:.3g}; {result.iterations} iterations)",
                      DualSolverWarning, stacklevel=2)
    return result


def _norm(w) -> float:
    import torch

    if isinstance(w, torch.Tensor):
        return float(torch.linalg.vector_norm(w))
    return float(np.linalg.norm(w))
