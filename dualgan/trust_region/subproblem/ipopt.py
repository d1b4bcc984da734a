r"""``"ipopt"``: Ipopt through cyipopt on the joint concave problem (2.7) in :math:`(\lambda, \mu \ge 0)`.

The callbacks are the sub-problem's own dual (2.7) of the theory page
(docs/theory.md), its gradient and exact Hessian, negated, evaluated on the CPU.
Needs the optional package cyipopt (``pip install 'dualgan[ipopt]'``).
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from ._joint import check_joint_options, joint_solve
from .problem import ScoreSubproblem
from .registry import SUBPROBLEM_SOLVERS
from .result import ScoreDualResult

__all__ = ["joint_cyipopt"]


@SUBPROBLEM_SOLVERS.register("ipopt", requires="cyipopt", default_tol=1e-12,
                             check_options=functools.partial(check_joint_options, "ipopt"))
def joint_cyipopt(problem: ScoreSubproblem, tol: float, lam, slack, mu0, *, max_iter: int = 500) -> ScoreDualResult:
    r"""Ipopt (cyipopt) on the joint concave problem (2.7) in :math:`(\lambda, \mu \ge 0)`, exact Hessian.

    The callbacks evaluate :meth:`ScoreSubproblem.dual_value <dualgan.trust_region.ScoreSubproblem.dual_value>`,
    :meth:`~dualgan.trust_region.ScoreSubproblem.dual_gradient` and
    :meth:`~dualgan.trust_region.ScoreSubproblem.dual_hessian` (negated), on the CPU.

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
    from ...duals.ipopt import run_cyipopt

    def run(x0, lb, ub, max_iter):
        cpu = problem if problem.device.type == "cpu" else problem.to("cpu")
        return run_cyipopt(_JointNlp(cpu), problem.N + 1, 0, x0, lb, ub, tol, max_iter)

    return joint_solve(problem, "ipopt", lam, mu0, max_iter, run)


class _JointNlp:
    r"""-D(lambda, mu) of eq. (2.7) in cyipopt's callback form, from :class:`ScoreSubproblem`'s own methods."""

    def __init__(self, problem: ScoreSubproblem):
        self.problem, self.N = problem, problem.N
        self.a = problem.a
        self._rows, self._cols = np.tril_indices(self.N + 1)
        self.iterations = 0

    def _split(self, x):
        lam = torch.from_numpy(np.array(x[: self.N], dtype=np.float64))
        return lam, self.a - lam, float(x[self.N])

    def objective(self, x):
        return -self.problem.dual_value(*self._split(x))

    def gradient(self, x):
        return -self.problem.dual_gradient(*self._split(x)).numpy()

    def hessianstructure(self):
        return self._rows, self._cols

    def hessian(self, x, lagrange, obj_factor):
        return -obj_factor * self.problem.dual_hessian(*self._split(x)).numpy()[self._rows, self._cols]

    def intermediate(self, alg_mod, iter_count, *args):
        self.iterations = int(iter_count)
        return True
