"""The one result record every dual solver returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..status import Status, StatusCode

__all__ = ["DualResult", "DualSolverWarning", "DEFAULT_TOL", "DEFAULT_W_RTOL", "gap_target"]

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
        import torch

        if isinstance(self.lam_real, torch.Tensor):
            return torch.cat([self.lam_real, self.lam_fake])
        return np.concatenate([self.lam_real, self.lam_fake])
