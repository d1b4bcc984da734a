r"""The records the dual solvers return, and the certificate that decides a result's status.

* :class:`DualResult`: the one result of every solver of a
  :class:`~dualgan.duals.LinearDual` (eqs. (1.1)-(1.6) of the theory page, docs/theory.md);
* :func:`problem_result`: the certificate every solver ends with: it recomputes
  the duality gap of the returned pair with its own rounding counted (eqs. (1.16)
  and (1.18)) and gives ``SUCCESS`` exactly when the tolerances hold, whatever
  the method claims;
* :class:`NewtonState`: the outcome of the two box-dual methods
  (:func:`~dualgan.duals.maximize_entropy_dual`,
  :func:`~dualgan.duals.box_qp_interior_point`; eq. (1.10)), which the linear
  dual, the kernel dual and the trust-region dual share.

The state lives here so that ``interior_point`` need not import ``newton``: the
import between the two goes one way (``newton`` calls the hinge dual's box method).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from ..status import Status, StatusCode, check_status
from ._backend import ops_for
from ._certify import certify_pair
from ._primal import rounding_floor

__all__ = ["DualResult", "DualSolverWarning", "NewtonState", "problem_result", "DEFAULT_TOL", "DEFAULT_W_RTOL",
           "gap_target"]

#: default bound on the duality gap (eq. (1.5) of the theory page)
DEFAULT_TOL = 1e-10
#: default bound on sqrt(2 gap / C) relative to ||w|| (eq. (1.6))
DEFAULT_W_RTOL = 1e-6


def gap_target(C: float, w_norm: float, tol: float, w_rtol: float) -> float:
    r"""The largest gap that certifies both tolerances for a discriminator of norm ``w_norm``.

    ``gap <= tol`` and :math:`\sqrt{2\,\mathrm{gap}/C} \le` ``w_rtol * w_norm`` (eq. (1.6)),
    i.e. ``gap <= min(tol, C (w_rtol w_norm)^2 / 2)``.
    """
    if w_rtol == float("inf"):
        return tol
    r = w_rtol * w_norm
    return min(tol, 0.5 * C * r * r)  # float ** 2 raises OverflowError at w_rtol = 1e300; * gives inf


class DualSolverWarning(RuntimeWarning):
    """Emitted when a dual solver stops without certifying its tolerances."""


@dataclass(frozen=True)
class DualResult:
    r"""Solution of the linear-discriminator dual (eqs. (1.1)-(1.6) of the theory page).

    Parameters
    ----------
    lam_real : numpy.ndarray or torch.Tensor, shape (n,), float64
        Dual variables of the real samples, :math:`0 < \lambda_i < a_i`
        (numpy for numpy input, tensors on the input's device otherwise).
    lam_fake : numpy.ndarray or torch.Tensor, shape (m,), float64
        Dual variables of the generated samples.
    w : numpy.ndarray or torch.Tensor, shape (d,), float64
        The discriminator certified together with ``lam`` (the primal half of the pair).
    b : float or None
        The bias (None for a problem without bias).
    dual_value : float
        :math:`D(\lambda)` of eq. (1.3).
    primal_value : float
        :math:`P(w, b)` of eq. (1.1).
    gap : float
        The duality gap of the pair, :math:`P(w, b) - D(\lambda) \ge 0`, summed from
        non-negative terms (eq. (1.16)) with the residual and the margins in double-double
        arithmetic; it can be negative only by rounding.
    iterations : int
        Iterations of the method (Newton iterations, Ipopt iterations, L-BFGS-B iterations).
    seconds : float
        Wall time of the solve, in seconds.
    status : dualgan.status.Status
        ``SUCCESS`` exactly when ``gap_bound <= tol`` and ``w_error_bound <= w_rtol * ||w||``;
        otherwise ``MAX_ITER``, ``STALLED``, ``NUMERICAL_ERROR`` or ``NON_FINITE`` with a message.
    method : str
        The registered name of the solver.
    loss : str, default "logistic"
        ``"logistic"`` or ``"hinge"``.
    C : float, default nan
        The L2 weight of the problem.
    tol : float, default nan
        The gap tolerance the solve was asked for.
    w_rtol : float, default nan
        The relative tolerance on the discriminator's error bound.
    w_error_bound : float, default nan
        :math:`\sqrt{2\,\mathrm{gap\_bound}/C}` (rounded up, computed without underflow): a
        certified bound on :math:`\|w - w^\star\|` (eqs. (1.6) and (1.18)), :math:`w^\star` the
        optimum of the problem with the float64 data (features, weights ``a`` and ``C`` as stored).
    slack : numpy.ndarray or torch.Tensor, shape (N,), float64, optional
        :math:`a - \lambda` (real then generated), computed without cancellation.
    gap_trace : tuple of float
        The gap at each iterate, where the method reports it.
    float64_limited : bool, default False
        True when the solve is not a success and an upper estimate of the gap
        that float64 rounding alone can leave at this pair exceeds what the
        tolerances ask (``tol``, or ``w_rtol`` through the bound on ``w``): the
        tolerances may ask for more than float64 can certify. The status
        message gives the estimate.
    gap_bound : float, default nan
        An upper bound on the exact gap of the returned pair (the float64 numbers
        taken as exact), eq. (1.18): ``gap`` plus a bound on the rounding of its own
        computation and, with a bias, on the cost of making :math:`y^\top\lambda = 0`
        exact. Never below the exact gap, so ``SUCCESS`` is a fact, not an estimate.
    """

    lam_real: Any
    lam_fake: Any
    w: Any
    b: float | None
    dual_value: float
    primal_value: float
    gap: float
    iterations: int
    seconds: float
    status: Status
    method: str
    loss: str = "logistic"
    C: float = float("nan")
    tol: float = float("nan")
    w_rtol: float = float("nan")
    w_error_bound: float = float("nan")
    slack: Any = field(default=None, repr=False)
    gap_trace: tuple[float, ...] = field(default=(), repr=False)
    float64_limited: bool = False
    gap_bound: float = float("nan")

    @property
    def success(self) -> bool:
        """True when both tolerances are certified (``status.code is StatusCode.SUCCESS``)."""
        return self.status.code is StatusCode.SUCCESS

    @property
    def lam(self):
        """All dual variables, real first then generated, shape (N,)."""
        import numpy as np

        if isinstance(self.lam_real, torch.Tensor):
            return torch.cat([self.lam_real, self.lam_fake])
        return np.concatenate([self.lam_real, self.lam_fake])


@dataclass(frozen=True)
class NewtonState:
    """Outcome of :func:`~dualgan.duals.maximize_entropy_dual` and :func:`~dualgan.duals.box_qp_interior_point`
    (tensors on the input's device).

    Parameters
    ----------
    lam : torch.Tensor
        Shape ``(N,)``, float64: the multipliers :math:`\\lambda`.
    slack : torch.Tensor
        Shape ``(N,)``, float64: :math:`a - \\lambda`, computed without cancellation.
    value : float
        The objective :math:`F(\\lambda)` of eq. (1.10) of the theory page.
    decrement : float
        The last Newton decrement estimate :math:`\\tfrac12\\nabla F^\\top\\Delta` (inf if none; nan
        from :func:`~dualgan.duals.box_qp_interior_point`, which has none).
    certificate : float
        The last certificate (duality gap, eq. (1.5)) or the decrement without one.
    iterations : int
        Newton iterations taken.
    status : dualgan.status.Status
        ``SUCCESS`` when the method's own stopping test passed (``accept``, or the
        certificate at most ``tol``, or the decrement at most ``tol`` without a
        certificate), else ``MAX_ITER``, ``STALLED``, ``NUMERICAL_ERROR`` or
        ``NON_FINITE``, with why the method stopped in its message.
    trace : tuple of float
        The certificate at every iteration.
    system_solve : callable, optional
        ``r -> (Q/s + diag(h(lam)))^{-1} r`` at the returned ``lam`` (torch in,
        torch out) when the last factorisation was made there; else None. Lets
        callers differentiate the solution (implicit function theorem, eq. (2.10)).
    """

    lam: torch.Tensor
    slack: torch.Tensor
    value: float
    decrement: float
    certificate: float
    iterations: int
    status: Status
    trace: tuple[float, ...]
    #: ``r -> (Q/s + diag(h(lam)))^{-1} r`` at the returned ``lam`` (torch in, torch out), when the
    #: last factorisation was made there (a converged decrement test); else None. Lets callers
    #: differentiate the solution (implicit function theorem) without factorising the system again.
    system_solve: Callable | None = None


def problem_result(problem, lam, slack, iterations, seconds, stopped: Status, method, tol, w_rtol,
                   trace=(), certificate=None) -> DualResult:
    r"""Build the common :class:`DualResult` and decide its status from the certificate.

    The certificate ``(primal, dual, gap, w, b)`` is recomputed from ``lam`` by
    :meth:`LinearDual.certificate <dualgan.duals.LinearDual.certificate>` (the dual recovery ``w = v/C``) unless the caller
    passes the certificate of its own pair. The pair is then certified with its own
    rounding counted (eq. (1.18) of the theory page, :func:`~dualgan.duals._certify.certify_pair`):
    ``gap_bound`` is an upper bound on the exact gap of the returned pair and
    ``w_error_bound = sqrt(2 gap_bound / C)``. ``SUCCESS`` is given exactly when
    ``gap_bound <= tol`` and ``w_error_bound <= w_rtol * ||w||``, whatever ``stopped`` says;
    otherwise ``stopped`` (a :class:`~dualgan.status.Status`: ``SUCCESS`` for the method's
    own stopping test, else why the method stopped) gives the code and the reason.

    Parameters
    ----------
    problem : LinearDual
        The problem solved.
    lam : torch.Tensor
        Shape ``(N,)``, float64: the multipliers (clipped into ``[0, a]`` against rounding).
    slack : torch.Tensor or None
        Shape ``(N,)``, float64: ``a - lam`` computed without cancellation; None: ``a - lam``.
    iterations : int
        Iterations the method took.
    seconds : float
        Wall time of the solve, in seconds.
    stopped : dualgan.status.Status
        Why the method stopped: ``SUCCESS`` when its own stopping test passed, else
        ``MAX_ITER``, ``STALLED``, ``NUMERICAL_ERROR`` or ``NON_FINITE`` with a message.
    method : str
        The registered solver name recorded in the result.
    tol : float
        Bound on the duality gap (eq. (1.5)), > 0.
    w_rtol : float
        Relative bound on the discriminator's error (eq. (1.6)), > 0 or inf.
    trace : sequence of float, default ()
        The gap at each iterate.
    certificate : tuple, optional
        ``(primal, dual, gap, w, b)`` of the method's own pair (eq. (1.16)); default None:
        recomputed by :meth:`LinearDual.certificate <dualgan.duals.LinearDual.certificate>`.

    Returns
    -------
    DualResult
        The result; its ``status`` is ``SUCCESS`` exactly when both tolerances are certified.

    Raises
    ------
    TypeError
        If ``stopped`` is not a :class:`~dualgan.status.Status`.
    """
    check_status(stopped, "stopped")
    if slack is None:
        slack = problem.a - lam
    lam = torch.minimum(torch.clamp(torch.as_tensor(lam), min=0.0), problem.a)  # an ulp outside by rounding
    slack = torch.clamp(torch.as_tensor(slack), min=0.0)
    if certificate is None:
        certificate = problem.certificate(lam, slack, ops=ops_for(problem.device))
    primal, dual, gap, w, b = certificate
    w_norm = float(torch.linalg.vector_norm(torch.as_tensor(w)))
    allowed = math.inf if math.isinf(w_rtol) else w_rtol * w_norm * (1 - (problem.d + 4) * 2.0 ** -53)
    gap_bound, bound, floor = float("nan"), float("nan"), None
    if math.isfinite(gap) and math.isfinite(w_norm):
        # eq. (1.18): the exact gap of the returned pair is at most gap_bound, counting the rounding of
        # the certificate itself (the gap computed in float64 can be below the exact one near float64's edge)
        cert = certify_pair(problem.G, problem.y, problem.a, problem.C, problem.loss, problem.bias, w,
                            b if problem.bias else None, lam, target=(tol, allowed))
        gap, gap_bound, bound = cert.gap, cert.gap_bound, cert.w_error_bound
        extra = problem.gap_extra(lam) if hasattr(problem, "gap_extra") else 0.0
        if extra:  # a KernelDual on a truncated factor: the part of the quadratic the factor leaves out (eq. (1.23))
            gap, gap_bound = gap + extra, gap_bound + extra
            bound = math.sqrt(2 * max(gap_bound, 0.0) / problem.C)
        if not (gap_bound <= tol and bound <= allowed) and stopped.code is not StatusCode.MAX_ITER:
            floor = _rounding_floor(problem, w, lam, b, cert.scale)
            if extra:  # the truncated factor's part and its rounding bound: no iteration removes them
                level = floor[0] + extra
                floor = (level, math.hypot(floor[1], math.sqrt(2 * extra / problem.C)))
    status = _status(stopped, gap, gap_bound, tol, bound, allowed, w_norm, iterations, floor)
    limited = not status.success and _float64_limited(floor, tol, allowed)
    lam_real, lam_fake = problem.split(lam)
    return DualResult(
        lam_real=problem.output(lam_real), lam_fake=problem.output(lam_fake), w=problem.output(w), b=b,
        dual_value=dual, primal_value=primal, gap=gap, iterations=int(iterations), seconds=float(seconds),
        status=status, method=method, loss=problem.loss, C=problem.C, tol=tol, w_rtol=w_rtol,
        w_error_bound=bound, slack=problem.output(slack), gap_trace=tuple(float(t) for t in trace),
        float64_limited=limited, gap_bound=gap_bound)


def _rounding_floor(problem, w, lam, b, scale: float) -> tuple[float, float]:
    """``(gap, bound on w)`` that float64 rounding alone can leave at this pair (:func:`rounding_floor`),
    computed with the weights scaled by the power of two ``scale`` (no underflow at weights of 1e-300)."""
    ops = ops_for(problem.device)
    cv = lambda t: ops.to_backend(torch.as_tensor(t, dtype=torch.float64, device=problem.device))  # noqa: E731
    level, w_level = rounding_floor(ops, cv(problem.G), cv(problem.a) * scale, problem.C * scale, cv(w),
                                    cv(lam) * scale, problem.loss, b=b)
    return level / scale, w_level


def _float64_limited(floor: tuple[float, float] | None, tol: float, allowed: float) -> bool:
    """Whether the rounding estimate ``floor`` = (gap, bound on w) exceeds ``tol`` or ``allowed``."""
    return floor is not None and (floor[0] > tol or floor[1] > allowed)


def _status(stopped: Status, gap: float, gap_bound: float, tol: float, bound: float, allowed: float,
            w_norm: float, iterations: int, floor: tuple[float, float] | None = None) -> Status:
    """The typed status of a solve from its certificate and why the method stopped (``stopped``;
    see :func:`problem_result`). ``SUCCESS`` exactly when ``gap_bound <= tol`` and ``bound <= allowed``."""
    code, message = stopped.code, stopped.message
    facts = (f"gap {gap:.3g} (at most {gap_bound:.3g} counting rounding; tol {tol:.3g}), ||w - w*|| <= {bound:.3g} "
             f"(w_rtol * ||w|| = {allowed:.3g})")
    if _float64_limited(floor, tol, allowed):
        facts += (f"; float64 rounding alone can leave a gap of up to about {floor[0]:.3g} here (an upper "
                  f"estimate; ||w - w*|| <= {floor[1]:.3g}): the tolerances may ask for more than "
                  f"float64 can certify")
        # a breakdown past that floor: the best pair stands
        if code in (StatusCode.NUMERICAL_ERROR, StatusCode.NON_FINITE):
            return Status(StatusCode.STALLED, f"{facts}; the method then stopped: {message}")
    if not (math.isfinite(gap) and math.isfinite(w_norm)):
        return Status(StatusCode.NON_FINITE, message or f"non-finite certificate: {facts}")
    if gap_bound <= tol and bound <= allowed:
        return Status(StatusCode.SUCCESS, f"certified after {iterations} iterations: {facts}")
    if code is StatusCode.SUCCESS:  # the method's own test, not the certificate
        return Status(StatusCode.STALLED, f"the method's own stopping test passed but the certificate does "
                                          f"not hold: {facts}" + (f"; {message}" if message else ""))
    if code is StatusCode.MAX_ITER and not message:
        message = f"{iterations} iterations"
    return Status(code, f"{message}: {facts}" if message else facts)


def _acceptance(problem, ops, tol: float, w_rtol: float):
    """``accept(lam, slack, gap)``: the stopping rule of :func:`problem_result` inside a dual loop."""
    G = ops.to_backend(problem.G)
    C = problem.C

    def accept(lam, slack, gap):
        if not gap <= tol:
            return False
        v = G.T @ lam
        return math.isinf(w_rtol) or math.sqrt(2 * max(gap, 0.0) / C) <= w_rtol * float(ops.sqrt(v @ v)) / C
    return accept
