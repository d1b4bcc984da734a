r"""What the two Ipopt front ends share: the joint problem (2.7) in :math:`x = (\lambda, \mu)` with its box,
the check of ``max_iter``, and Ipopt's point back into the box as a certified result.

Both ``"ipopt"`` (cyipopt, :mod:`~dualgan.trust_region.subproblem.ipopt`) and ``"casadi"``
(:mod:`~dualgan.trust_region.subproblem.casadi_ipopt`) maximise the dual (2.7) of the
theory page (docs/theory.md) jointly in :math:`(\lambda, \mu \ge 0)`; they differ only in
how Ipopt is called, which :func:`joint_solve` takes as a function.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch

from ...status import Status
from .problem import ScoreSubproblem
from .registry import check_option
from .result import ScoreDualResult, certified_result


def joint_solve(problem: ScoreSubproblem, method: str, lam: torch.Tensor, mu0, max_iter: int,
                run: Callable) -> ScoreDualResult:
    """Check ``max_iter``, start Ipopt at ``(lam, mu0)`` in the box by ``run(x0, lb, ub, max_iter) ->
    (x, iterations, status)``, and certify the point it returns."""
    t0 = time.perf_counter()
    max_iter = check_joint_options(method, max_iter=max_iter)["max_iter"]
    x0, lb, ub = _joint_start(problem, lam, mu0)
    xs, iterations, status = run(x0, lb, ub, max_iter)
    return _joint_result(problem, xs, iterations, status, method, time.perf_counter() - t0)


def check_joint_options(method: str, **options) -> dict:
    """Values of the Ipopt solvers' options: ``max_iter`` a positive integer."""
    check_option(method, options, "max_iter", "int", low=1)
    return options


def _joint_start(problem: ScoreSubproblem, lam, mu0):
    """Start and bounds of the joint problem in ``x = (lambda, mu)`` (numpy, on the CPU)."""
    a = problem.a.cpu().numpy()
    N = a.shape[0]
    x0 = np.concatenate([np.clip(lam.cpu().numpy(), 1e-12 * a, a * (1 - 1e-12)),
                         [0.0 if mu0 is None else max(float(mu0), 0.0)]])
    lb = np.concatenate([np.zeros(N), [0.0]])
    ub = np.concatenate([a, [np.inf]])
    return x0, lb, ub


def _joint_result(problem: ScoreSubproblem, xs, iterations: int, status: Status, method: str,
                  seconds: float) -> ScoreDualResult:
    """Ipopt's point back into the box, on the sub-problem's device, certified."""
    N = problem.N
    lam = torch.as_tensor(xs[:N], dtype=torch.float64, device=problem.device)
    floor = problem.a * 1e-300
    lam = torch.clamp(torch.minimum(lam, problem.a), min=floor)
    slack = torch.clamp(problem.a - lam, min=floor)
    return certified_result(problem, lam, slack, max(float(xs[N]), 0.0), status, inner_iterations=iterations,
                            outer_iterations=1, method=method, seconds=seconds)
