r"""The records of the trust-region sub-problem: the certificate of a point and the one result every solver returns.

* :class:`ScoreCertificate`: what :meth:`ScoreSubproblem.certificate
  <dualgan.trust_region.ScoreSubproblem.certificate>` says about any
  multipliers :math:`(\lambda, \mu)`, with no solver involved: the step
  recovered by eq. (2.8) of the theory page (docs/theory.md), scaled into the
  ball, the model (2.4) there and the duality gap against the dual (2.7).
* :class:`ScoreDualResult`: the one result type. Every solver of
  :data:`~dualgan.trust_region.SUBPROBLEM_SOLVERS` returns it, built by
  :func:`certified_result` from the solver's multipliers, so its gap and its
  status come from the certificate of the returned point, whatever the solver's
  own test said; :func:`~dualgan.trust_region.solve_score_dual` returns it.
* :class:`SubproblemSolution`: the record solvers returned before they
  returned :class:`ScoreDualResult`; a solver registered outside the library
  that still returns one is certified by :func:`certified_result` in
  :func:`~dualgan.trust_region.solve_score_dual`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

from ...status import Status, StatusCode

__all__ = ["ScoreCertificate", "ScoreDualResult", "SubproblemSolution", "certified_result"]

#: a certified step needs gap <= _GAP_RTOL (1 + |m(delta)|)
_GAP_RTOL = 1e-9
#: statuses after which the multipliers are not used for a step
_BREAKDOWN = frozenset({StatusCode.NUMERICAL_ERROR, StatusCode.NON_FINITE, StatusCode.ERROR,
                        StatusCode.INTERRUPTED})


def certified_result(problem, lam: torch.Tensor, slack: torch.Tensor, mu: float, status: Status, *,
                     inner_iterations: int, outer_iterations: int, method: str,
                     seconds: float = 0.0) -> "ScoreDualResult":
    r"""The :class:`ScoreDualResult` of a solver's multipliers, certified from them (eqs. (2.7)-(2.8)).

    The certificate of :math:`(\lambda, \mu)` (:meth:`ScoreSubproblem.certificate
    <dualgan.trust_region.ScoreSubproblem.certificate>`) gives the step, the model
    value and the gap; the solver's own ``status`` stands only when the gap
    certifies it: a non-finite certificate makes it ``NON_FINITE``, a solver's
    ``SUCCESS`` with ``gap > 1e-9 (1 + |m(delta)|)`` becomes ``STALLED``.

    Parameters
    ----------
    problem : ScoreSubproblem
        The sub-problem the multipliers belong to.
    lam : torch.Tensor
        Shape ``(N,)``, float64: multipliers in the box, on the sub-problem's device.
    slack : torch.Tensor
        Shape ``(N,)``, float64: :math:`a - \lambda`, computed without cancellation.
    mu : float
        The radius multiplier, >= 0.
    status : dualgan.status.Status
        How the solver stopped (``SUCCESS``: its own test passed).
    inner_iterations : int
        Newton (or Ipopt) iterations of the solver.
    outer_iterations : int
        Secular-equation iterations (1 for the joint methods).
    method : str
        The registered name of the solver.
    seconds : float, default 0.0
        Wall time of the solve, in seconds.

    Returns
    -------
    ScoreDualResult
        The multipliers, the step's coefficients, the certified gap and the status.

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. "Dualing GANs."
    NeurIPS 2017 (section 4 and appendix C).
    """
    cert = problem.certificate(lam, slack, mu)
    if not (math.isfinite(cert.gap) and math.isfinite(cert.model_value)):
        status = Status(StatusCode.NON_FINITE, f"non-finite certificate (model {cert.model_value!r}, dual "
                                               f"{cert.dual_value!r}) after: {status}")
    elif status.success and not cert.gap <= _GAP_RTOL * (1.0 + abs(cert.model_value)):
        status = Status(StatusCode.STALLED, f"the solver's own test passed but the duality gap {cert.gap:.3g} > "
                                            f"{_GAP_RTOL * (1.0 + abs(cert.model_value)):.3g} ({status.message})")
    elif status.success:
        status = Status(StatusCode.SUCCESS, f"duality gap {cert.gap:.3g} certified ({status.message})"
                        if status.message else f"duality gap {cert.gap:.3g} certified")
    radius = problem.radius
    on_boundary = (mu > 0 and abs(cert.unscaled_norm - radius) <= 1e-9 * radius) or cert.step_scale < 1.0
    return ScoreDualResult(
        lam=lam, slack=slack, mu=float(mu), dual_value=cert.dual_value, model_value=cert.model_value,
        model_decrease=cert.model_decrease, gap=cert.gap, step_norm=cert.step_norm, step_scale=cert.step_scale,
        on_boundary=bool(on_boundary), score_weights=cert.score_weights, weight_decay=cert.weight_decay,
        jdelta=cert.jdelta, inner_iterations=int(inner_iterations), outer_iterations=int(outer_iterations),
        seconds=float(seconds), status=status, method=method)


class ScoreCertificate(NamedTuple):
    r"""The certificate of a point: what :meth:`ScoreSubproblem.certificate
    <dualgan.trust_region.ScoreSubproblem.certificate>` returns (the fields of :class:`ScoreDualResult` of
    the same names).

    Parameters
    ----------
    model_value : float
        :math:`m(t\delta)` of eq. (2.4).
    dual_value : float
        :math:`D(\lambda, \mu)` of eq. (2.7).
    gap : float
        ``model_value - dual_value`` (>= 0 up to rounding by weak duality).
    model_decrease : float
        :math:`m(0) - m(t\delta)`.
    unscaled_norm : float
        :math:`\|\delta\|` before the scaling into the ball.
    step_norm : float
        :math:`\|t\delta\| \le \Delta`.
    step_scale : float
        :math:`t \le 1`.
    score_weights : torch.Tensor
        Shape ``(N,)``: ``t lam y / s``.
    weight_decay : float
        ``t C / s``.
    jdelta : torch.Tensor
        Shape ``(N,)``: :math:`y \odot J(t\delta)`, the margin changes.
    """

    model_value: float
    dual_value: float
    gap: float
    model_decrease: float
    unscaled_norm: float
    step_norm: float
    step_scale: float
    score_weights: torch.Tensor
    weight_decay: float
    jdelta: torch.Tensor


class SubproblemSolution(NamedTuple):
    """What solvers of :data:`~dualgan.trust_region.SUBPROBLEM_SOLVERS` returned before they returned
    :class:`ScoreDualResult`: the multipliers and the solver's own status, not yet certified.

    Kept so that a solver registered outside the library with the former protocol still
    runs: :func:`~dualgan.trust_region.solve_score_dual` certifies the record it returns
    with :func:`certified_result`.

    Parameters
    ----------
    lam : torch.Tensor
        Shape ``(N,)``, float64: multipliers in the box, on the sub-problem's device.
    slack : torch.Tensor
        Shape ``(N,)``, float64: :math:`a - \\lambda`.
    mu : float
        The radius multiplier, >= 0.
    inner_iterations : int
        Newton (or Ipopt) iterations.
    outer_iterations : int
        Secular-equation iterations (1 for the joint methods).
    status : Status
        How the solver stopped (``SUCCESS``: its own test passed; the certificate is checked after).
    """

    lam: torch.Tensor
    slack: torch.Tensor
    mu: float
    inner_iterations: int
    outer_iterations: int
    status: Status


@dataclass(frozen=True)
class ScoreDualResult:
    r"""Solution of the score-linearisation dual.

    The primal step is :math:`\delta = J^\top \text{score\_weights} - \text{weight\_decay}\cdot w`
    (one backward pass of :math:`\sum_i \text{score\_weights}_i F(w, x_i)`), with
    ``score_weights = t * lam * y / s`` and ``weight_decay = t * C / s``;
    ``jdelta`` is :math:`J\delta` times the labels, ``step_norm`` its norm as the Gram matrix
    predicts it. ``model_decrease = m(0) - m(delta)``; ``gap = m(delta) - D >= 0``.
    The dual is eq. (2.7) of the theory page and the step eq. (2.8).

    Parameters
    ----------
    lam : torch.Tensor
        Shape ``(N,)``, float64: the multipliers :math:`\lambda`, :math:`0 < \lambda_i < a_i`.
    slack : torch.Tensor
        Shape ``(N,)``, float64: :math:`a - \lambda`, computed without cancellation.
    mu : float
        The radius multiplier :math:`\mu \ge 0`.
    dual_value : float
        :math:`D(\lambda, \mu)` of eq. (2.7), a lower bound of the model's minimum.
    model_value : float
        :math:`m(\delta)` of eq. (2.4) at the recovered (scaled) step.
    model_decrease : float
        :math:`m(0) - m(\delta)`, the predicted decrease of the cost.
    gap : float
        :math:`m(\delta) - D \ge 0`, the sub-problem's duality gap.
    step_norm : float
        :math:`\|\delta\|` as the Gram matrix predicts it (parameter-space units).
    step_scale : float
        The factor :math:`t \le 1` that puts the step inside the ball.
    on_boundary : bool
        Whether the step lies on the sphere :math:`\|\delta\| = \Delta` (:math:`\mu > 0`, or the step was scaled).
    score_weights : torch.Tensor
        Shape ``(N,)``, float64: ``t * lam * y / s``.
    weight_decay : float
        ``t * C / s``, the coefficient of :math:`-w` in the step.
    jdelta : torch.Tensor
        Shape ``(N,)``, float64: :math:`y \odot J\delta`, the change of the margins.
    inner_iterations : int
        Total Newton (or Ipopt) iterations of the inner solves.
    outer_iterations : int
        Iterations of the secular equation (1 for the joint Ipopt methods).
    seconds : float
        Wall time of the solve, in seconds.
    status : Status
        ``SUCCESS`` when the solver's own test passed and ``gap <= 1e-9 (1 + |m(delta)|)``;
        ``STALLED`` or ``MAX_ITER`` when the step is usable but not certified;
        ``NUMERICAL_ERROR``, ``NON_FINITE``, ``ERROR`` or ``INTERRUPTED`` when no usable
        step came out (:attr:`usable` is False).
    method : str
        The registered name of the solver that ran (a name of :data:`~dualgan.trust_region.SUBPROBLEM_SOLVERS`).
    """

    lam: torch.Tensor
    slack: torch.Tensor
    mu: float
    dual_value: float
    model_value: float
    model_decrease: float
    gap: float
    step_norm: float
    step_scale: float
    on_boundary: bool
    score_weights: torch.Tensor
    weight_decay: float
    jdelta: torch.Tensor
    inner_iterations: int
    outer_iterations: int
    seconds: float
    status: Status
    method: str

    @property
    def success(self) -> bool:
        """True when the step is certified (``status.code is StatusCode.SUCCESS``)."""
        return self.status.success

    @property
    def usable(self) -> bool:
        """True unless the solve broke down (``NUMERICAL_ERROR``, ``NON_FINITE``, ``ERROR``, ``INTERRUPTED``).

        A usable step lies in the ball and its model decrease is exact for it; an
        uncertified one (``STALLED``, ``MAX_ITER``) may be short of the model's optimum.
        """
        return self.status.code not in _BREAKDOWN
