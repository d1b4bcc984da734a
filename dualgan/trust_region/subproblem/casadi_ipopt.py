r"""``"casadi"``: casadi's Ipopt on the joint concave problem (2.7) in :math:`(\lambda, \mu \ge 0)`.

The objective is :func:`symbolic_score_dual`, the dual (2.7) of the theory page
(docs/theory.md) written as a casadi expression; its derivatives come from
casadi's automatic differentiation. Needs the optional package casadi.
"""
from __future__ import annotations

import functools

from ._joint import check_joint_options, joint_solve
from .problem import ScoreSubproblem
from .registry import SUBPROBLEM_SOLVERS
from .result import ScoreDualResult

__all__ = ["joint_casadi", "symbolic_score_dual"]


@SUBPROBLEM_SOLVERS.register("casadi", requires="casadi", default_tol=1e-12,
                             check_options=functools.partial(check_joint_options, "casadi"))
def joint_casadi(problem: ScoreSubproblem, tol: float, lam, slack, mu0, *, max_iter: int = 500) -> ScoreDualResult:
    r"""casadi's Ipopt on the joint concave problem (2.7) in :math:`(\lambda, \mu \ge 0)`.

    The objective is :func:`symbolic_score_dual` (negated), derivatives by casadi's AD.

    Parameters
    ----------
    problem : ScoreSubproblem
        The sub-problem.
    tol : float
        Ipopt's ``tol``, > 0.
    lam, slack : torch.Tensor
        Shape ``(N,)``: the start and its complement.
    mu0 : float or None
        Start of :math:`\mu` (0 when None).
    max_iter : int, default 500
        Ipopt's iteration cap, a positive integer.

    Returns
    -------
    ScoreDualResult
        Certified from Ipopt's point; the solver's ``status`` from :func:`dualgan.duals.ipopt.ipopt_status`.

    Raises
    ------
    ValueError
        If ``max_iter`` is not a positive integer (checked before Ipopt starts).
    """

    def run(x0, lb, ub, max_iter):
        import casadi as ca

        from ...duals.casadi_ipopt import run_casadi

        x = ca.MX.sym("x", problem.N + 1)
        return run_casadi(ca, {"x": x, "f": -symbolic_score_dual(ca, x, problem)}, x0, lb, ub, tol, max_iter,
                          name="tr_dual")

    return joint_solve(problem, "casadi", lam, mu0, max_iter, run)


def symbolic_score_dual(ca, x, problem: ScoreSubproblem):
    r""":math:`D(\lambda, \mu)` of eq. (2.7) as a casadi expression of ``x = (lambda, mu)``.

    The symbolic form of :meth:`ScoreSubproblem.dual_value
    <dualgan.trust_region.ScoreSubproblem.dual_value>`; the tests check its value and gradient against it.

    Parameters
    ----------
    ca : module
        The ``casadi`` module.
    x : casadi.MX or casadi.SX, shape (N + 1, 1)
        The variables :math:`(\lambda, \mu)`.
    problem : ScoreSubproblem
        The sub-problem (its data are read as numpy constants).

    Returns
    -------
    casadi expression
    """
    K, b, yF, a = (t.cpu().numpy() for t in (problem.K, problem.yjw, problem.yF, problem.a))
    N, C, ww = problem.N, problem.C, problem.w_sqnorm
    lam, mu = x[:N], x[N]
    s = C + mu
    q = ca.dot(lam, ca.mtimes(ca.DM(K), lam)) - 2 * C * ca.dot(lam, ca.DM(b)) + C ** 2 * ww
    rest = a - lam
    entropy = -ca.sum1(lam * ca.log(lam / a) + rest * ca.log(rest / a))
    return 0.5 * C * ww - q / (2 * s) - ca.dot(lam, ca.DM(yF)) + entropy - mu * problem.radius ** 2 / 2
