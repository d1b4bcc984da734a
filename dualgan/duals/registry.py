"""One entry point, many solvers: ``solve(problem, method=...)``.

A solver is a function ``(problem, tol, max_iter, lam0) -> DualResult``
registered with :func:`register_solver`; adding a solver is adding one file
that calls it (and importing that file in ``dualgan/duals/__init__.py``).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

from .._checks import check_positive
from .problem import LinearDual
from .result import DualResult, DualSolverWarning

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
    """Decorator registering ``fn(problem, tol, max_iter, lam0) -> DualResult`` under ``name``."""
    def deco(fn):
        _SOLVERS[name] = SolverSpec(name, fn, tuple(losses), bias, requires)
        return fn
    return deco


def available_methods(loss: str | None = None, bias: bool | None = None) -> list[str]:
    """Names of the registered solvers that accept ``loss`` and ``bias`` (all when None)."""
    return [s.name for s in _SOLVERS.values()
            if (loss is None or loss in s.losses) and (bias is None or not bias or s.bias)]


def solve(problem: LinearDual, method: str = "newton", tol: float = 1e-10, max_iter: int | None = None,
          lam0=None, warn: bool = True) -> DualResult:
    r"""Solve the dual of a :class:`LinearDual` problem to a certified duality gap.

    Parameters
    ----------
    problem: the validated problem.
    method: ``"newton"`` (default, fastest), ``"lbfgsb"`` (scipy), ``"ipopt"``
        (cyipopt, exact Hessian) or ``"casadi"`` (casadi's Ipopt).
    tol: target duality gap :math:`P(w) - D(\lambda) \le` ``tol``.
    max_iter: iteration cap (solver-specific default when None).
    lam0: warm start: a previous :class:`DualResult`, a length-N vector or a
        ``(lam_real, lam_fake)`` pair.
    warn: emit a :class:`DualSolverWarning` when the gap is not certified.

    Returns
    -------
    DualResult; ``status != "converged"`` says why the certificate was not reached.
    """
    if not isinstance(problem, LinearDual):
        raise ValueError(f"problem must be a dualgan.duals.LinearDual, got {type(problem).__name__}; "
                         f"build one with LinearDual(phi_real, phi_fake, C)")
    if method not in _SOLVERS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(_SOLVERS)}")
    tol = check_positive(tol, "tol")
    if max_iter is not None and (not isinstance(max_iter, int) or max_iter < 1):
        raise ValueError(f"max_iter must be a positive integer or None, got {max_iter!r}")
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
    result = spec.fn(problem, tol, max_iter, lam0)
    if warn and not result.converged:
        warnings.warn(f"dual solver {method!r} stopped with status {result.status!r}: gap {result.gap:.3g} "
                      f"> tol {tol:.3g} after {result.iterations} iterations", DualSolverWarning, stacklevel=2)
    return result
