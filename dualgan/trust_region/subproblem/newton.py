r"""``"newton"``: interior Newton on the inner problem inside safeguarded Newton on the secular equation.

For fixed :math:`s = C + \mu` the dual (2.7) of the theory page (docs/theory.md) in
:math:`\lambda` is the entropy dual (1.10) solved by
:func:`dualgan.duals.maximize_entropy_dual`; :math:`\mu` solves the secular equation
:math:`\|\delta(\mu)\| = \Delta` (eq. (2.9)) by Newton on :math:`h(s) = s/\sqrt{q(\lambda(s))} - 1/\Delta`,
with :math:`q'(s)` from the implicit function theorem (eq. (2.10)), as in Moré and Sorensen.

References
----------
Jorge J. Moré, Danny C. Sorensen. "Computing a Trust Region Step." SIAM Journal
on Scientific and Statistical Computing 4(3), 1983.
"""
from __future__ import annotations

import math
import time

import torch

from ...duals import maximize_entropy_dual
from ...status import Status, StatusCode
from .problem import ScoreSubproblem
from .registry import SUBPROBLEM_SOLVERS, check_option
from .result import ScoreDualResult, certified_result

__all__ = ["secular_newton"]

_EPS = 2.220446049250313e-16


def _check_newton_options(**options) -> dict:
    """Values of ``secular_newton``'s options: ``radius_rtol`` in (0, 1), ``max_outer`` a positive integer."""
    method = "newton"
    check_option(method, options, "radius_rtol", "number", low=0.0, high=1.0, low_open=True, high_open=True)
    check_option(method, options, "max_outer", "int", low=1)
    return options


@SUBPROBLEM_SOLVERS.register("newton", requires=None, default_tol=1e-18, check_options=_check_newton_options)
def secular_newton(problem: ScoreSubproblem, tol: float, lam, slack, mu0, *, radius_rtol: float = 1e-10,
                   max_outer: int = 60) -> ScoreDualResult:
    r"""Interior Newton on the inner problem inside safeguarded Newton on the secular equation.

    :math:`\mu = 0` if the unconstrained model step fits (eq. (2.9)); otherwise Newton on
    :math:`h(s) = s/\sqrt{q(\lambda(s))} - 1/\Delta` with :math:`q'(s)` from eq. (2.10),
    each inner solve (eq. (1.10)) warm-started at the first-order predictor.

    Parameters
    ----------
    problem : ScoreSubproblem
        The problem-problem.
    tol : float
        Inner tolerance on half the Newton decrement, > 0.
    lam, slack : torch.Tensor
        Shape ``(N,)``: a strictly feasible start and its complement.
    mu0 : float or None
        Warm start of :math:`\mu`.
    radius_rtol : float, default 1e-10
        The secular equation is solved to :math:`|\|\delta\| - \Delta| \le` ``radius_rtol * radius``; in (0, 1).
    max_outer : int, default 60
        Maximum number of secular-equation iterations, a positive integer.

    Returns
    -------
    ScoreDualResult
        Certified from the returned multipliers (:func:`~dualgan.trust_region.subproblem.result.certified_result`).

    Raises
    ------
    ValueError
        If ``radius_rtol`` or ``max_outer`` is out of range (the message names the option).
    """
    t0 = time.perf_counter()
    checked = _check_newton_options(radius_rtol=radius_rtol, max_outer=max_outer)
    radius_rtol, max_outer = checked["radius_rtol"], checked["max_outer"]
    C, radius = problem.C, problem.radius
    inner_its = 0
    system = None  # the inner Newton system's factorisation at the current (lam, s), when there is one

    def solve_at(s, lam_, slack_):
        nonlocal inner_its, system
        state = _inner_solve(problem, s, lam_, slack_, tol)
        inner_its += state.iterations
        st = state.status
        # at the rounding floor the decrement may neither reach tol nor stall the line search:
        # an iterate whose decrement is already tiny is as good as converged
        ok = (st.code in (StatusCode.SUCCESS, StatusCode.STALLED) or state.certificate <= 1e-12) and \
            bool(torch.isfinite(state.lam).all())
        system = state.system_solve
        return state.lam, state.slack, ok, st

    def done(lam_, slack_, s_, outer, status):
        return certified_result(problem, lam_, slack_, s_ - C, status, inner_iterations=inner_its, outer_iterations=outer,
                                method="newton", seconds=time.perf_counter() - t0)

    def failed(where, st):
        return Status(StatusCode.NUMERICAL_ERROR, f"inner solve at {where} failed ({st})")

    # phi is concave in mu with phi'(mu) = (||delta(mu)||^2 - Delta^2)/2: mu* = 0 iff the step at mu = 0
    # fits. With a warm multiplier mu0 > 0 (from the previous trust-region step) we start at mu0 and
    # solve at mu = 0 only if the iteration heads there (a step at mu0 that is too long proves mu* > mu0).
    lo, hi = C, math.inf  # h(lo) < 0 once zero_checked; h(hi) > 0
    s, zero_checked = None, False
    if mu0 is not None and mu0 > 0:
        lam_s, slack_s, ok, st = solve_at(C + mu0, lam, slack)
        if ok:
            s, lam, slack = C + mu0, lam_s, slack_s
            q, r = problem.q_and_r(lam)
    if s is None:
        lam, slack, ok, st = solve_at(C, lam, slack)
        if not ok:
            return done(lam, slack, C, 0, failed("mu = 0", st))
        q, r = problem.q_and_r(lam)
        if math.sqrt(q) / C <= radius:
            return done(lam, slack, C, 0, Status(StatusCode.SUCCESS, "mu = 0: the unconstrained model step fits"))
        s, zero_checked = C, True
    status = Status(StatusCode.MAX_ITER, f"secular equation unsolved after {max_outer} iterations")
    outer = 0
    for outer in range(1, max_outer + 1):
        norm = math.sqrt(q) / s
        if abs(norm - radius) <= radius_rtol * radius:
            status = Status(StatusCode.SUCCESS, f"secular equation solved in {outer} iterations")
            break
        if norm > radius:
            lo = max(lo, s)
            zero_checked = True  # mu* > s - C >= 0
        else:
            hi = min(hi, s)
        h = s / math.sqrt(q) - 1.0 / radius if q > 0 else math.inf
        dq, dlam = _dq_ds(problem, lam, slack, s, r, system)
        dh = 1.0 / math.sqrt(q) - s * dq / (2 * q ** 1.5) if q > 0 and math.isfinite(dq) else math.nan
        s_new = s - h / dh if (math.isfinite(dh) and dh > 0 and math.isfinite(h)) else math.nan
        if not zero_checked and not (math.isfinite(s_new) and s_new > C):
            # the iteration heads for mu <= 0: mu* = 0 if the step at mu = 0 fits
            lam_c, slack_c, ok, st = solve_at(C, lam, slack)
            if not ok:
                status = failed("mu = 0", st)
                break
            q_c, r_c = problem.q_and_r(lam_c)
            zero_checked = True
            if math.sqrt(q_c) / C <= radius:
                lam, slack, s, q, r = lam_c, slack_c, C, q_c, r_c
                status = Status(StatusCode.SUCCESS, "mu = 0: the unconstrained model step fits")
                break
            s, lam, slack, q, r = C, lam_c, slack_c, q_c, r_c
            continue
        if not (math.isfinite(s_new) and lo < s_new < hi):
            s_new = math.sqrt(lo * hi) if math.isfinite(hi) else 4.0 * max(s, lo)
        if abs(s_new - s) <= 4 * _EPS * s:
            # rounding floor reached: the final scaling keeps ||delta|| <= Delta exactly
            if abs(norm - radius) <= 1e-6 * radius:
                status = Status(StatusCode.SUCCESS, f"secular equation at the rounding floor after {outer} "
                                                    f"iterations (| ||delta|| - Delta | <= 1e-6 Delta)")
            else:
                status = Status(StatusCode.STALLED, f"secular equation stalled at the rounding floor with "
                                                    f"||delta|| = {norm:.6g}, Delta = {radius:.6g}")
            break
        # first-order predictor lam + lam'(s) (s_new - s) as the warm start, when it stays inside the box
        lam_p, slack_p = lam, slack
        if dlam is not None:
            step = dlam * (s_new - s)
            if bool((lam + step > 0).all()) and bool((slack - step > 0).all()):
                lam_p, slack_p = lam + step, slack - step
        if lam_p is not lam and abs(s_new - s) <= 1e-4 * s:
            # a tiny secular correction: the first-order predictor is exact up to O(ds^2), far below
            # what the inner tolerance resolves; if its step norm meets the radius we stop without
            # another inner solve (the duality gap of the certificate certifies it)
            q_p, r_p = problem.q_and_r(lam_p)
            if abs(math.sqrt(q_p) / s_new - radius) <= radius_rtol * radius:
                s, lam, slack, q, r = s_new, lam_p, slack_p, q_p, r_p
                status = Status(StatusCode.SUCCESS, f"secular equation solved in {outer} iterations (predictor)")
                break
        lam_new, slack_new, ok, st = solve_at(s_new, lam_p, slack_p)
        if not ok:
            status = failed(f"mu = {s_new - C:.3g}", st)
            break
        s, lam, slack = s_new, lam_new, slack_new
        q, r = problem.q_and_r(lam)
    return done(lam, slack, s, outer, status)


def _inner_solve(sub: ScoreSubproblem, s: float, lam, slack, tol: float):
    r"""The inner problem at fixed :math:`s = C + \mu`: eq. (1.10) with :math:`Q = K`, scale ``s``,
    :math:`c = C (y \odot Jw)/s - y \odot F`, :math:`\tau = 1` (a :class:`~dualgan.duals.NewtonState`)."""
    linear = sub.C * sub.yjw / s - sub.yF
    return maximize_entropy_dual(sub.a, scale=s, K=sub.K, linear=linear, tau=1.0, lam0=lam, slack0=slack,
                                 tol=tol, max_iter=100)


def _dq_ds(sub: ScoreSubproblem, lam, slack, s: float, r, system_solve=None):
    r""":math:`q'(s) = 2 r^\top\lambda'(s)`, :math:`\lambda'(s) = (K/s + \mathrm{diag}(h))^{-1} r / s^2` (eq. (2.10)).

    ``system_solve`` is the inner Newton method's last factorisation of that same matrix at
    ``lam`` (:attr:`dualgan.duals.NewtonState.system_solve`), reused when given.
    Returns ``(q'(s), lam'(s))``; ``(nan, None)`` when the system cannot be factorised.
    """
    if system_solve is not None:
        dlam = system_solve(r) / s ** 2
        if bool(torch.isfinite(dlam).all()):
            return float(2 * (r @ dlam)), dlam
    h = sub.a / (lam * slack)
    dm = torch.rsqrt(h)
    B = sub.K * dm[:, None] * dm[None, :] / s
    B.diagonal().add_(1.0)
    L, info = torch.linalg.cholesky_ex(B)
    if int(info) != 0:
        return math.nan, None
    dlam = dm * torch.cholesky_solve((dm * r)[:, None], L)[:, 0] / s ** 2
    return float(2 * (r @ dlam)), dlam

