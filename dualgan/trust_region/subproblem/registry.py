"""One entry point, several solvers: ``solve(problem, method=..., options=...)`` for the trust-region sub-problem.

The solvers live in :data:`SUBPROBLEM_SOLVERS`, a :class:`~dualgan.registry.Registry`
over the modules of :mod:`dualgan.trust_region.subproblem` (as :data:`dualgan.duals.SOLVERS`
over :mod:`dualgan.duals`). A solver is a function with the one signature
``fn(problem, tol, lam, slack, mu0, *, option=default, ...) -> ScoreDualResult``
registered by the module that defines it::

    from dualgan.trust_region.subproblem import SUBPROBLEM_SOLVERS, certified_result

    @SUBPROBLEM_SOLVERS.register("mine", requires=None, default_tol=1e-12)
    def solve_mine(problem, tol, lam, slack, mu0, *, max_iter=100):
        ...
        return certified_result(problem, lam, slack, mu, status, inner_iterations=its,
                                outer_iterations=1, method="mine")

so adding a solver is adding one file to the package: ``problem`` is the
:class:`~dualgan.trust_region.ScoreSubproblem`, ``tol`` the solver's tolerance,
``lam, slack`` a start strictly inside the box with its complement
(:meth:`ScoreSubproblem.initial_point <dualgan.trust_region.ScoreSubproblem.initial_point>`),
``mu0`` a warm start of the radius multiplier or None. Each entry declares

* ``requires``: an importable module it needs at run time, or None;
* ``default_tol``: the tolerance used when the caller passes none;
* ``check_options`` (optional): ``check(**options) -> options``, which
  validates the values of its options (:meth:`Registry.check_options
  <dualgan.registry.Registry.check_options>` runs it before any solve).

Its keyword-only parameters are its options (:meth:`Registry.options
<dualgan.registry.Registry.options>`), passed as ``solve(..., options={...})``.
"""
from __future__ import annotations

import dataclasses
import time

import torch

from ..._checks import check_int, check_number, check_positive
from ...registry import Registry
from .problem import ScoreSubproblem
from .result import ScoreDualResult, SubproblemSolution, certified_result

__all__ = ["SUBPROBLEM_SOLVERS", "solve", "solve_score_dual"]

#: the solvers of the score-linearisation dual, by name: ``fn(problem, tol, lam, slack, mu0, *, ...)``
#: returning a :class:`~dualgan.trust_region.ScoreDualResult`; info ``requires`` (an importable module or
#: None), ``default_tol`` (float) and, optionally, ``check_options`` (a function of the options)
SUBPROBLEM_SOLVERS = Registry("trust-region subproblem solver", package="dualgan.trust_region.subproblem",
                              required_info=("default_tol",))


def solve(problem: ScoreSubproblem, method: str = "newton", *, tol: float | None = None,
          lam0: torch.Tensor | None = None, slack0: torch.Tensor | None = None,
          mu0: float | None = None, options: dict | None = None) -> ScoreDualResult:
    r"""Solve the dual (2.7) of a :class:`~dualgan.trust_region.ScoreSubproblem` and certify the recovered step.

    The dual (2.7) of the sub-problem (2.2) with the score model (2.4), eqs.
    (2.6)-(2.10) of the theory page; the inner problem is eq. (1.10).

    Parameters
    ----------
    problem : ScoreSubproblem
        The validated sub-problem.
    method : str, default "newton"
        A name of :data:`SUBPROBLEM_SOLVERS` (``list(SUBPROBLEM_SOLVERS)``): ``"newton"``
        (interior Newton inside the secular iteration), ``"ipopt"`` (cyipopt) or
        ``"casadi"`` (the joint problem in :math:`(\lambda, \mu)`).
    tol : float, optional
        The solver's tolerance (> 0). Default None: the solver's ``default_tol``
        (``newton``: 1e-18 on half the Newton decrement, so that warm re-solves inside
        the secular iteration still move; rounding stops earlier as stalled, which is
        accepted. The Ipopt methods: 1e-12, Ipopt's ``tol``).
    lam0 : torch.Tensor, optional
        Shape ``(N,)``: warm start of :math:`\lambda` (see :meth:`ScoreSubproblem.initial_point
        <dualgan.trust_region.ScoreSubproblem.initial_point>`). Default None: :math:`a/2`.
    slack0 : torch.Tensor, optional
        Shape ``(N,)``: warm start of :math:`a - \lambda`. Default None: ``a - lam0``.
    mu0 : float, optional
        Warm start of :math:`\mu` (>= 0). Default None: none.
    options : dict, optional
        The solver's own keyword-only options (``SUBPROBLEM_SOLVERS.options(method)``):
        ``newton``: ``radius_rtol=1e-10`` (in (0, 1); the secular equation is solved to
        :math:`|\|\delta\| - \Delta| \le` ``radius_rtol * radius``) and ``max_outer=60``
        (a positive integer); the Ipopt methods: ``max_iter=500`` (a positive integer).
        Default None: the defaults.

    Returns
    -------
    ScoreDualResult
        The multipliers, the step's coefficients, the certified gap and the status
        (:func:`~dualgan.trust_region.subproblem.result.certified_result`: the library's
        solvers end with it; the multipliers of a solver registered from outside the
        library are certified again here); ``seconds`` counts the whole call.

    Raises
    ------
    TypeError
        If ``problem`` is not a :class:`~dualgan.trust_region.ScoreSubproblem`, or the solver returns
        something other than a :class:`~dualgan.trust_region.ScoreDualResult`.
    ValueError
        If ``method`` is unknown, an option is unknown or has a bad value
        (``SUBPROBLEM_SOLVERS.check_options``; checked before anything runs),
        ``tol`` is not > 0 or ``mu0`` is negative, or a solver registered from outside
        the library returns multipliers that are not tensors of shape ``(N,)``.
    ImportError
        When the method's optional package is not installed.

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. "Dualing GANs."
    NeurIPS 2017 (section 4 and appendix C). Jorge J. Moré, Danny C. Sorensen.
    "Computing a Trust Region Step." SIAM Journal on Scientific and
    Statistical Computing 4(3), 1983.
    """
    t0 = time.perf_counter()
    if not isinstance(problem, ScoreSubproblem):
        raise TypeError(f"problem must be a ScoreSubproblem, got {type(problem).__name__}; build one with "
                        f"ScoreSubproblem(gram, jw, scores, y, a, C, w_sqnorm, radius)")
    entry = SUBPROBLEM_SOLVERS.entry(method)
    options = SUBPROBLEM_SOLVERS.check_options(method, options)
    entry.import_requirement(SUBPROBLEM_SOLVERS.kind, "install it or use method='newton'")
    tol = entry.default_tol if tol is None else check_positive(tol, "tol")
    if mu0 is not None:
        mu0 = check_number(mu0, "mu0", low=0.0)
    lam, slack = problem.initial_point(lam0, slack0)
    result = entry.obj(problem, tol, lam, slack, mu0, **options)
    if not isinstance(result, (SubproblemSolution, ScoreDualResult)):
        raise TypeError(f"trust-region subproblem solver {method!r} returned a {type(result).__name__}; a solver "
                        f"returns a ScoreDualResult (build it with certified_result(problem, lam, slack, mu, status, "
                        f"...))")
    # a solver of the former protocol, or one registered from outside the library (which may have built its
    # result by other means): its multipliers are certified here
    if isinstance(result, SubproblemSolution) or not entry.from_library:
        for name in ("lam", "slack"):
            got = getattr(result, name)
            if not isinstance(got, torch.Tensor) or tuple(got.shape) != (problem.N,):
                raise ValueError(f"trust-region subproblem solver {method!r} returned {name} of shape "
                                 f"{tuple(getattr(got, 'shape', ()))} ({type(got).__name__}); the sub-problem has "
                                 f"N = {problem.N} samples: return a tensor of shape ({problem.N},)")
        result = certified_result(problem, result.lam, result.slack, result.mu, result.status,
                                  inner_iterations=result.inner_iterations,
                                  outer_iterations=result.outer_iterations, method=method)
    return dataclasses.replace(result, seconds=float(time.perf_counter() - t0), method=method)


#: the name of :func:`solve` under :mod:`dualgan.trust_region`
solve_score_dual = solve


def check_option(method: str, options: dict, option: str, kind: str, **bounds) -> None:
    """Check ``options[option]`` in place (``kind``: "int" or "number"), naming the option, solver and default.

    The solvers' ``check_options`` functions are written with it, so that every bad option value
    is refused with the same message before anything runs.
    """
    if option not in options:
        return
    default = SUBPROBLEM_SOLVERS.options(method)[option]
    name = f"option {option!r} of the trust-region subproblem solver {method!r}"
    try:
        options[option] = (check_int if kind == "int" else check_number)(options[option], name, **bounds)
    except ValueError as exc:
        raise ValueError(f"{exc}; pass options={{{option!r}: ...}} with a value in that range, or leave it out for "
                         f"the default {default!r}") from None
