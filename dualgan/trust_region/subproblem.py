r"""The score-linearisation trust-region subproblem, solved through its dual (eqs. (2.4)-(2.10) of the theory page, docs/theory.md).

Primal (model of the discriminator cost around :math:`w`, :math:`\delta \in \mathbb R^P`):

.. math::

    \min_{\|\delta\| \le \Delta}\; m(\delta) = \tfrac{C}{2}\|w+\delta\|^2
        + \sum_i a_i\,\ell\big(y_i(F_i + g_i^\top\delta)\big).

Dual, with :math:`s = C + \mu`, :math:`K = \mathrm{diag}(y)\,G\,\mathrm{diag}(y)`,
:math:`b = y \odot Jw` and :math:`q(\lambda) = \|u(\lambda) - Cw\|^2 =
\lambda^\top K\lambda - 2C\lambda^\top b + C^2\|w\|^2`:

.. math::

    D(\lambda, \mu) = \tfrac{C}{2}\|w\|^2 - \frac{q(\lambda)}{2s} - \lambda^\top(y\odot F)
        + \sum_i a_i H(\lambda_i/a_i) - \frac{\mu\Delta^2}{2},
    \qquad \delta^* = \frac{u(\lambda^*) - Cw}{s^*}.

For fixed :math:`\mu` the problem in :math:`\lambda` is
:func:`dualgan.duals.maximize_entropy_dual` with ``scale = s``, ``K`` and the
linear term :math:`c = C b/s - y\odot F` (the constant
:math:`C\|w\|^2/2 - C^2\|w\|^2/(2s) - \mu\Delta^2/2` aside). The outer function
:math:`\varphi(\mu) = \max_\lambda D` is concave with
:math:`\varphi'(\mu) = (\|\delta(\mu)\|^2 - \Delta^2)/2`: :math:`\mu = 0` when the
unconstrained model step fits, otherwise :math:`\mu` solves the secular
equation :math:`\|\delta(\mu)\| = \Delta`. We solve it by safeguarded Newton on
:math:`h(s) = s/\sqrt{q(\lambda(s))} - 1/\Delta` (nearly linear in s, as in
Moré-Sorensen), with the derivative from the implicit function theorem,

.. math::

    \lambda'(s) = (K/s + \mathrm{diag}(h))^{-1} r / s^2,\quad r = K\lambda - Cb,
    \qquad q'(s) = 2 r^\top\lambda'(s),

and every inner solve warm-started at the previous :math:`\lambda`.

Certificate: the recovered step is scaled by :math:`t \le 1` so that
:math:`\|\delta\| \le \Delta` holds exactly; then :math:`m(\delta) \ge D(\lambda,\mu)`
(weak duality) and ``gap = m(delta) - D`` bounds the step's suboptimality.
Only N x N and N-vector arithmetic happens here, all in float64.

The sub-problem is a validated, frozen :class:`ScoreSubproblem`; it owns the
dual (2.7), its derivatives, the recovered step and its certificate, and the
start point. :func:`solve_score_dual` runs a solver of :data:`SUBPROBLEM_SOLVERS`
(a :class:`~dualgan.registry.Registry`): ``"newton"`` (default, our interior
Newton inside the secular iteration), ``"ipopt"`` (cyipopt) and ``"casadi"``
(casadi's Ipopt), the last two on the joint problem in :math:`(\lambda, \mu)`.
Adding a solver is registering one function
``fn(subproblem, tol, lam, slack, mu0, *, option=default) -> SubproblemSolution``,
optionally with ``check_options=`` a function that validates its option values
(``SUBPROBLEM_SOLVERS.check_options`` runs it before any solve).

References
----------
Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. "Dualing GANs."
NeurIPS 2017 (section 4 and appendix C). Jorge J. Moré, Danny C. Sorensen.
"Computing a Trust Region Step." SIAM Journal on Scientific and Statistical
Computing 4(3), 1983.
"""
from __future__ import annotations

import functools

import math
import time
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from .._checks import check_int, check_number, check_positive
from ..duals._backend import TorchOps
from ..duals.newton import maximize_entropy_dual
from ..duals.objective import dual_gradient, separable_term
from ..registry import Registry
from ..status import Status, StatusCode

__all__ = ["ScoreSubproblem", "ScoreCertificate", "ScoreDualResult", "SubproblemSolution", "solve_score_dual",
           "SUBPROBLEM_SOLVERS", "secular_newton", "joint_cyipopt", "joint_casadi", "symbolic_score_dual"]

#: the solvers of the score-linearisation dual, by name: ``fn(subproblem, tol, lam, slack, mu0, *, ...)``
#: returning a :class:`SubproblemSolution`; ``info``: ``requires`` (an importable module or None) and
#: ``default_tol`` (the tolerance used when the caller passes none) and, optionally, ``check``: a function
#: ``check(method, options) -> options`` that validates the values of the solver's options before any run
SUBPROBLEM_SOLVERS = Registry("trust-region subproblem solver")

_EPS = 2.220446049250313e-16
#: a certified step needs gap <= _GAP_RTOL (1 + |m(delta)|)
_GAP_RTOL = 1e-9
#: statuses after which the multipliers are not used for a step
_BREAKDOWN = frozenset({StatusCode.NUMERICAL_ERROR, StatusCode.NON_FINITE, StatusCode.ERROR,
                        StatusCode.INTERRUPTED})


def _vector(x, name: str, N: int, device) -> torch.Tensor:
    """``x`` as a finite float64 vector of length N on ``device`` (TypeError/ValueError naming ``name``)."""
    t = _floating(x, name, device)
    if t.ndim != 1 or t.shape[0] != N:
        raise ValueError(f"{name} must be a vector of length N = {N} (one entry per sample, real then generated), "
                         f"got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or inf; the sub-problem needs finite inputs (check the "
                         f"discriminator's scores and the linearisation)")
    return t


def _floating(x, name: str, device) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor or a numpy array, got {type(x).__name__}")
    if x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}; pass a floating-point tensor")
    if device is not None and x.device != device:
        raise ValueError(f"{name} is on {x.device} but gram is on {device}; move every input to one device")
    return x.detach().to(torch.float64)


@dataclass(frozen=True)
class ScoreSubproblem:
    r"""The score-linearisation trust-region sub-problem (2.2) with the model (2.4), validated and frozen.

    Holds the quantities of eq. (2.5) of the theory page (scores, tangent Gram
    matrix, :math:`Jw`), the labels and weights of eq. (0.1), the L2 weight, the
    squared norm of the parameters and the radius, all as float64 tensors on one
    device. It owns the dual (2.7) (:meth:`dual_value`, :meth:`dual_gradient`,
    :meth:`dual_hessian`), the step it recovers (eq. (2.8)) with its certificate
    (:meth:`certificate`: the model (2.4) at the scaled step minus the dual value),
    and the solvers' start point (:meth:`initial_point`). Solve it with
    :func:`solve_score_dual`.

    Parameters
    ----------
    gram : torch.Tensor or numpy.ndarray
        Shape ``(N, N)``, real: the tangent Gram matrix :math:`G_{ij} = g_i^\top g_j`
        (eq. (2.5); :attr:`ScoreLinearization.gram <dualgan.trust_region.ScoreLinearization>`),
        symmetric to rounding (it is symmetrised), finite, with a non-negative diagonal.
        Its device is the sub-problem's device.
    jw : torch.Tensor or numpy.ndarray
        Shape ``(N,)``: :math:`(Jw)_i = g_i^\top w`, finite.
    scores : torch.Tensor or numpy.ndarray
        Shape ``(N,)``: the scores :math:`F_i = F(w, x_i)` (raw logits), finite.
    y : torch.Tensor or numpy.ndarray
        Shape ``(N,)``: labels, exactly +1 (real) or -1 (generated) (eq. (0.1)).
    a : torch.Tensor or numpy.ndarray
        Shape ``(N,)``: per-sample weights, finite and > 0 (1/n real, 1/m generated, eq. (0.1)).
    C : float
        L2 weight of the cost (2.1), finite and > 0.
    w_sqnorm : float
        :math:`\|w\|^2` of the current parameters, finite and >= 0.
    radius : float
        The trust radius :math:`\Delta`, finite and > 0 (parameter-space Euclidean norm).

    Raises
    ------
    TypeError
        If an array is not a torch tensor or numpy array of real numbers.
    ValueError
        For a wrong shape, a NaN or inf, labels other than +-1, weights <= 0, a
        Gram matrix that is not symmetric or has a negative diagonal, inputs on
        different devices, or ``C``, ``w_sqnorm`` or ``radius`` out of range; the
        message names the argument and the fix.

    Examples
    --------
    >>> import torch
    >>> J = torch.randn(6, 4, dtype=torch.float64); w = torch.randn(4, dtype=torch.float64)
    >>> y = torch.tensor([1., 1., 1., -1., -1., -1.], dtype=torch.float64)
    >>> sub = ScoreSubproblem(J @ J.T, J @ w, J @ w, y, torch.full((6,), 1 / 3, dtype=torch.float64),
    ...                       C=0.1, w_sqnorm=float(w @ w), radius=0.5)
    >>> res = solve_score_dual(sub)
    >>> res.success and res.step_norm <= 0.5 and res.gap <= 1e-9 * (1 + abs(res.model_value))
    True

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. "Dualing GANs."
    NeurIPS 2017 (section 4 and appendix C).
    """

    gram: torch.Tensor
    jw: torch.Tensor
    scores: torch.Tensor
    y: torch.Tensor
    a: torch.Tensor
    C: float
    w_sqnorm: float
    radius: float

    def __post_init__(self):
        gram = _floating(self.gram, "gram", None)
        if gram.ndim != 2 or gram.shape[0] != gram.shape[1] or gram.shape[0] == 0:
            raise ValueError(f"gram must be a square (N, N) matrix with N >= 1 (the tangent Gram matrix of "
                             f"score_linearization), got shape {tuple(gram.shape)}")
        if not bool(torch.isfinite(gram).all()):
            raise ValueError("gram contains NaN or inf; the linearisation of the discriminator is not finite")
        N, device = gram.shape[0], gram.device
        scale = float(gram.diagonal().abs().max()) if N else 0.0
        asym = float((gram - gram.T).abs().max())
        if asym > 1e-8 * max(scale, np.finfo(np.float64).tiny):
            raise ValueError(f"gram must be symmetric (G_ij = g_i^T g_j), but |G - G^T| reaches {asym:.3g} against "
                             f"a diagonal of {scale:.3g}; pass J J^T")
        if float(gram.diagonal().min()) < -1e-12 * scale:
            raise ValueError("gram has a negative diagonal entry, so it is not a Gram matrix g_i^T g_j; pass J J^T")
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        set_("gram", 0.5 * (gram + gram.T))
        set_("jw", _vector(self.jw, "jw", N, device))
        set_("scores", _vector(self.scores, "scores", N, device))
        y = _vector(self.y, "y", N, device)
        if not bool(((y == 1) | (y == -1)).all()):
            raise ValueError("y must hold labels +1 (real samples) and -1 (generated samples) only")
        set_("y", y)
        a = _vector(self.a, "a", N, device)
        if not bool((a > 0).all()):
            raise ValueError("a (the per-sample weights) must be > 0; drop samples of weight 0 before the step")
        set_("a", a)
        set_("C", check_positive(self.C, "C"))
        set_("w_sqnorm", check_number(self.w_sqnorm, "w_sqnorm (||w||^2)", low=0.0))
        set_("radius", check_positive(self.radius, "radius"))

    # ------------------------------------------------------------------ data
    @property
    def N(self) -> int:
        """The number of samples N (real and generated)."""
        return int(self.a.shape[0])

    @property
    def device(self) -> torch.device:
        """The device of every tensor of the sub-problem."""
        return self.a.device

    @cached_property
    def K(self) -> torch.Tensor:
        r""":math:`K = \mathrm{diag}(y)\,G\,\mathrm{diag}(y)` (eq. (2.5)), shape ``(N, N)``, float64."""
        return self.gram * self.y[:, None] * self.y[None, :]

    @cached_property
    def yjw(self) -> torch.Tensor:
        r""":math:`y \odot Jw`, shape ``(N,)``, float64 (the ``b`` of eq. (2.6))."""
        return self.y * self.jw

    @cached_property
    def yF(self) -> torch.Tensor:
        r""":math:`y \odot F`, shape ``(N,)``, float64: the margins of the current scores."""
        return self.y * self.scores

    def with_radius(self, radius: float) -> "ScoreSubproblem":
        """The same linearisation with another trust radius (a rejected step is re-solved this way).

        Parameters
        ----------
        radius : float
            The new radius, finite and > 0.

        Returns
        -------
        ScoreSubproblem
        """
        return replace(self, radius=radius)

    def to(self, device) -> "ScoreSubproblem":
        """A copy on ``device`` (the Ipopt solvers work on the CPU).

        Parameters
        ----------
        device : torch.device or str
            The target device.

        Returns
        -------
        ScoreSubproblem
        """
        return replace(self, **{f.name: getattr(self, f.name).to(device) for f in fields(self)
                                if isinstance(getattr(self, f.name), torch.Tensor)})

    # ------------------------------------------------------------------ the dual (2.7)
    def q_and_r(self, lam: torch.Tensor) -> tuple[float, torch.Tensor]:
        r""":math:`q(\lambda) = \|u(\lambda) - Cw\|^2` (eq. (2.6)) and :math:`r = K\lambda - C\,(y \odot Jw)` (eq. (2.10)).

        Parameters
        ----------
        lam : torch.Tensor
            Shape ``(N,)``, float64: multipliers.

        Returns
        -------
        tuple
            ``(q, r)``: ``q`` a float >= 0 (clipped at 0 against rounding), ``r`` shape ``(N,)``.
        """
        Klam = self.K @ lam
        r = Klam - self.C * self.yjw
        q = float(lam @ Klam - 2 * self.C * (lam @ self.yjw) + self.C ** 2 * self.w_sqnorm)
        return max(q, 0.0), r

    def dual_value(self, lam: torch.Tensor, slack: torch.Tensor, mu: float) -> float:
        r""":math:`D(\lambda, \mu)` of eq. (2.7) of the theory page: a lower bound of the model's minimum.

        Parameters
        ----------
        lam : torch.Tensor
            Shape ``(N,)``, float64: multipliers in the box :math:`0 \le \lambda_i \le a_i`.
        slack : torch.Tensor
            Shape ``(N,)``, float64: :math:`a - \lambda`, computed without cancellation.
        mu : float
            The radius multiplier, >= 0.

        Returns
        -------
        float
        """
        s = self.C + mu
        q, _ = self.q_and_r(lam)
        return (0.5 * self.C * self.w_sqnorm - q / (2 * s) - float(lam @ self.yF)
                + separable_term(TorchOps, lam, slack, self.a, "logistic") - mu * self.radius ** 2 / 2)

    def dual_gradient(self, lam: torch.Tensor, slack: torch.Tensor, mu: float) -> torch.Tensor:
        r"""Gradient of :math:`D(\lambda, \mu)` (eq. (2.7)) in :math:`(\lambda, \mu)`.

        :math:`\partial_\lambda D = -r/s - y\odot F + \log((a-\lambda)/\lambda)` (eq. (1.7) with
        :math:`\Gamma v = r`, scale :math:`s`) and :math:`\partial_\mu D = q/(2s^2) - \Delta^2/2` (eq. (2.9)).

        Parameters
        ----------
        lam : torch.Tensor
            Shape ``(N,)``, float64: multipliers strictly inside the box.
        slack : torch.Tensor
            Shape ``(N,)``, float64: :math:`a - \lambda`.
        mu : float
            The radius multiplier, >= 0.

        Returns
        -------
        torch.Tensor
            Shape ``(N + 1,)``, float64: the :math:`\lambda` part, then the :math:`\mu` entry.
        """
        s = self.C + mu
        q, r = self.q_and_r(lam)
        g_lam = dual_gradient(TorchOps, r, lam, slack, s, "logistic") - self.yF
        g_mu = q / (2 * s ** 2) - self.radius ** 2 / 2
        return torch.cat([g_lam, g_lam.new_tensor([g_mu])])

    def dual_hessian(self, lam: torch.Tensor, slack: torch.Tensor, mu: float) -> torch.Tensor:
        r"""Hessian of :math:`D(\lambda, \mu)` (eq. (2.7)) in :math:`(\lambda, \mu)`; negative semi-definite.

        :math:`\partial^2_{\lambda\lambda} D = -K/s - \mathrm{diag}(h)` (eq. (1.8)),
        :math:`\partial^2_{\lambda\mu} D = r/s^2`, :math:`\partial^2_{\mu\mu} D = -q/s^3`.

        Parameters
        ----------
        lam : torch.Tensor
            Shape ``(N,)``, float64: multipliers strictly inside the box.
        slack : torch.Tensor
            Shape ``(N,)``, float64: :math:`a - \lambda`.
        mu : float
            The radius multiplier, >= 0.

        Returns
        -------
        torch.Tensor
            Shape ``(N + 1, N + 1)``, float64.
        """
        s = self.C + mu
        q, r = self.q_and_r(lam)
        N = self.N
        H = lam.new_zeros((N + 1, N + 1))
        H[:N, :N] = -self.K / s - torch.diag(self.a / (lam * slack))
        H[:N, N] = H[N, :N] = r / s ** 2
        H[N, N] = -q / s ** 3
        return H

    def model_value_at_zero(self) -> float:
        r""":math:`m(0) = f(w) = \tfrac C2\|w\|^2 + \sum_i a_i\,\ell(y_i F_i)` (eqs. (2.1), (2.4))."""
        return 0.5 * self.C * self.w_sqnorm + float(self.a @ F.softplus(-self.yF))

    def certificate(self, lam: torch.Tensor, slack: torch.Tensor, mu: float) -> "ScoreCertificate":
        r"""The step recovered from :math:`(\lambda, \mu)` (eq. (2.8)), scaled into the ball, and its duality gap.

        The step :math:`\delta = (u(\lambda) - Cw)/s` is scaled by :math:`t \le 1` so that
        :math:`\|\delta\| \le \Delta` holds exactly; by weak duality
        :math:`m(t\delta) \ge D(\lambda, \mu)`, so ``gap = m(t delta) - D >= 0``
        bounds the step's sub-optimality in the model (2.4).

        Parameters
        ----------
        lam : torch.Tensor
            Shape ``(N,)``, float64: multipliers in the box.
        slack : torch.Tensor
            Shape ``(N,)``, float64: :math:`a - \lambda`.
        mu : float
            The radius multiplier, >= 0.

        Returns
        -------
        ScoreCertificate
        """
        s = self.C + mu
        q, r = self.q_and_r(lam)
        norm = math.sqrt(q) / s
        scale = 1.0 if norm <= self.radius else self.radius / norm * (1.0 - 1e-15)
        step_norm = scale * norm
        dual = self.dual_value(lam, slack, mu)
        wdelta = scale * (float(lam @ self.yjw) - self.C * self.w_sqnorm) / s
        margin_change = scale * r / s  # y_i g_i^T delta
        model = (0.5 * self.C * (self.w_sqnorm + 2 * wdelta + step_norm ** 2)
                 + float(self.a @ F.softplus(-(self.yF + margin_change))))
        return ScoreCertificate(model_value=float(model), dual_value=float(dual), gap=float(model - dual),
                                model_decrease=float(self.model_value_at_zero() - model), unscaled_norm=float(norm),
                                step_norm=float(step_norm), step_scale=float(scale),
                                score_weights=scale * lam * self.y / s, weight_decay=float(scale * self.C / s),
                                jdelta=margin_change)

    def initial_point(self, lam0: torch.Tensor | None = None,
                      slack0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        r"""A start strictly inside the box: :math:`a/2`, or the warm start clipped inside.

        Parameters
        ----------
        lam0 : torch.Tensor, optional
            Shape ``(N,)``: a previous :math:`\lambda` (a warm start of another batch size is
            ignored). Default None: :math:`a/2`.
        slack0 : torch.Tensor, optional
            Shape ``(N,)``: its :math:`a - \lambda`, computed without cancellation. Default None: ``a - lam0``.

        Returns
        -------
        tuple of torch.Tensor
            ``(lam, slack)``, each ``(N,)`` float64, every coordinate at least ``1e-12 a_i`` from both faces.

        Raises
        ------
        ValueError
            If the warm start contains NaN or inf.
        """
        a = self.a
        if lam0 is None or tuple(lam0.shape) != tuple(a.shape):
            return 0.5 * a, 0.5 * a
        lam0 = _floating(lam0, "lam0", None).to(a.device)
        if not bool(torch.isfinite(lam0).all()):
            raise ValueError("lam0 contains NaN or inf; pass None to start from a/2")
        floor = a * 1e-12
        lam = torch.minimum(torch.maximum(lam0, floor), a - floor)
        if slack0 is None or tuple(slack0.shape) != tuple(a.shape):
            slack = a - lam
        else:
            slack = _floating(slack0, "slack0", None).to(a.device)
            if not bool(torch.isfinite(slack).all()):
                raise ValueError("slack0 contains NaN or inf; pass None to use a - lam0")
        return lam, torch.minimum(torch.maximum(slack, floor), a - floor)


class ScoreCertificate(NamedTuple):
    r"""What :meth:`ScoreSubproblem.certificate` returns (the fields of :class:`ScoreDualResult` of the same names).

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
    """What a registered solver of :data:`SUBPROBLEM_SOLVERS` returns.

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
        The registered name of the solver that ran (a name of :data:`SUBPROBLEM_SOLVERS`).
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


def solve_score_dual(subproblem: ScoreSubproblem, method: str = "newton", *, tol: float | None = None,
                     lam0: torch.Tensor | None = None, slack0: torch.Tensor | None = None,
                     mu0: float | None = None, options: dict | None = None) -> ScoreDualResult:
    r"""Solve the dual (2.7) of a :class:`ScoreSubproblem` and certify the recovered step.

    The dual (2.7) of the sub-problem (2.2) with the score model (2.4), eqs.
    (2.6)-(2.10) of the theory page; the inner problem is eq. (1.10).

    Parameters
    ----------
    subproblem : ScoreSubproblem
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
        Shape ``(N,)``: warm start of :math:`\lambda` (see :meth:`ScoreSubproblem.initial_point`).
        Default None: :math:`a/2`.
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
        The multipliers, the step's coefficients, the certified gap and the status.

    Raises
    ------
    TypeError
        If ``subproblem`` is not a :class:`ScoreSubproblem`.
    ValueError
        If ``method`` is unknown, an option is unknown or has a bad value
        (``SUBPROBLEM_SOLVERS.check_options``; checked before anything runs),
        ``tol`` is not > 0 or ``mu0`` is negative.
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
    if not isinstance(subproblem, ScoreSubproblem):
        raise TypeError(f"subproblem must be a ScoreSubproblem, got {type(subproblem).__name__}; build one with "
                        f"ScoreSubproblem(gram, jw, scores, y, a, C, w_sqnorm, radius)")
    entry = SUBPROBLEM_SOLVERS.entry(method)
    options = SUBPROBLEM_SOLVERS.check_options(method, options)
    if entry.requires is not None:
        try:
            __import__(entry.requires)
        except ImportError as exc:
            raise ImportError(f"trust-region subproblem solver {method!r} needs the package {entry.requires!r}; "
                              f"install it or use method='newton'") from exc
    tol = entry.default_tol if tol is None else check_positive(tol, "tol")
    if mu0 is not None:
        mu0 = check_number(mu0, "mu0", low=0.0)
    lam, slack = subproblem.initial_point(lam0, slack0)
    sol = entry.obj(subproblem, tol, lam, slack, mu0, **options)
    cert = subproblem.certificate(sol.lam, sol.slack, sol.mu)
    status = sol.status
    if not (math.isfinite(cert.gap) and math.isfinite(cert.model_value)):
        status = Status(StatusCode.NON_FINITE, f"non-finite certificate (model {cert.model_value!r}, dual "
                                               f"{cert.dual_value!r}) after: {status}")
    elif status.success and not cert.gap <= _GAP_RTOL * (1.0 + abs(cert.model_value)):
        status = Status(StatusCode.STALLED, f"the solver's own test passed but the duality gap {cert.gap:.3g} > "
                                            f"{_GAP_RTOL * (1.0 + abs(cert.model_value)):.3g} ({status.message})")
    elif status.success:
        status = Status(StatusCode.SUCCESS, f"duality gap {cert.gap:.3g} certified ({status.message})"
                        if status.message else f"duality gap {cert.gap:.3g} certified")
    radius = subproblem.radius
    on_boundary = (sol.mu > 0 and abs(cert.unscaled_norm - radius) <= 1e-9 * radius) or cert.step_scale < 1.0
    return ScoreDualResult(
        lam=sol.lam, slack=sol.slack, mu=float(sol.mu), dual_value=cert.dual_value, model_value=cert.model_value,
        model_decrease=cert.model_decrease, gap=cert.gap, step_norm=cert.step_norm, step_scale=cert.step_scale,
        on_boundary=bool(on_boundary), score_weights=cert.score_weights, weight_decay=cert.weight_decay,
        jdelta=cert.jdelta, inner_iterations=int(sol.inner_iterations), outer_iterations=int(sol.outer_iterations),
        seconds=float(time.perf_counter() - t0), status=status, method=method)


# ---------------------------------------------------------------------------- the secular Newton method
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


def _option(method: str, options: dict, option: str, kind: str, **bounds) -> None:
    """Check ``options[option]`` in place (``kind``: "int" or "number"), naming the option, solver and default."""
    if option not in options:
        return
    default = SUBPROBLEM_SOLVERS.options(method)[option]
    name = f"option {option!r} of the trust-region subproblem solver {method!r}"
    try:
        options[option] = (check_int if kind == "int" else check_number)(options[option], name, **bounds)
    except ValueError as exc:
        raise ValueError(f"{exc}; pass options={{{option!r}: ...}} with a value in that range, or leave it out for "
                         f"the default {default!r}") from None


def _check_newton_options(**options) -> dict:
    """Values of ``secular_newton``'s options: ``radius_rtol`` in (0, 1), ``max_outer`` a positive integer."""
    method = "newton"
    _option(method, options, "radius_rtol", "number", low=0.0, high=1.0, low_open=True, high_open=True)
    _option(method, options, "max_outer", "int", low=1)
    return options


def _check_ipopt_options(method: str, **options) -> dict:
    """Values of the Ipopt solvers' options: ``max_iter`` a positive integer."""
    _option(method, options, "max_iter", "int", low=1)
    return options


@SUBPROBLEM_SOLVERS.register("newton", requires=None, default_tol=1e-18, check_options=_check_newton_options)
def secular_newton(sub: ScoreSubproblem, tol: float, lam, slack, mu0, *, radius_rtol: float = 1e-10,
                   max_outer: int = 60) -> SubproblemSolution:
    r"""Interior Newton on the inner problem inside safeguarded Newton on the secular equation.

    :math:`\mu = 0` if the unconstrained model step fits (eq. (2.9)); otherwise Newton on
    :math:`h(s) = s/\sqrt{q(\lambda(s))} - 1/\Delta` with :math:`q'(s)` from eq. (2.10),
    each inner solve (eq. (1.10)) warm-started at the first-order predictor.

    Parameters
    ----------
    sub : ScoreSubproblem
        The sub-problem.
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
    SubproblemSolution

    Raises
    ------
    ValueError
        If ``radius_rtol`` or ``max_outer`` is out of range (the message names the option).
    """
    checked = _check_newton_options(radius_rtol=radius_rtol, max_outer=max_outer)
    radius_rtol, max_outer = checked["radius_rtol"], checked["max_outer"]
    C, radius = sub.C, sub.radius
    inner_its = 0
    system = None  # the inner Newton system's factorisation at the current (lam, s), when there is one

    def solve_at(s, lam_, slack_):
        nonlocal inner_its, system
        state = _inner_solve(sub, s, lam_, slack_, tol)
        inner_its += state.iterations
        st = state.status
        # at the rounding floor the decrement may neither reach tol nor stall the line search:
        # an iterate whose decrement is already tiny is as good as converged
        ok = (st.code in (StatusCode.SUCCESS, StatusCode.STALLED) or state.certificate <= 1e-12) and \
            bool(torch.isfinite(state.lam).all())
        system = state.system_solve
        return state.lam, state.slack, ok, st

    def done(lam_, slack_, s_, outer, status):
        return SubproblemSolution(lam_, slack_, s_ - C, inner_its, outer, status)

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
            q, r = sub.q_and_r(lam)
    if s is None:
        lam, slack, ok, st = solve_at(C, lam, slack)
        if not ok:
            return done(lam, slack, C, 0, failed("mu = 0", st))
        q, r = sub.q_and_r(lam)
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
        dq, dlam = _dq_ds(sub, lam, slack, s, r, system)
        dh = 1.0 / math.sqrt(q) - s * dq / (2 * q ** 1.5) if q > 0 and math.isfinite(dq) else math.nan
        s_new = s - h / dh if (math.isfinite(dh) and dh > 0 and math.isfinite(h)) else math.nan
        if not zero_checked and not (math.isfinite(s_new) and s_new > C):
            # the iteration heads for mu <= 0: mu* = 0 if the step at mu = 0 fits
            lam_c, slack_c, ok, st = solve_at(C, lam, slack)
            if not ok:
                status = failed("mu = 0", st)
                break
            q_c, r_c = sub.q_and_r(lam_c)
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
            q_p, r_p = sub.q_and_r(lam_p)
            if abs(math.sqrt(q_p) / s_new - radius) <= radius_rtol * radius:
                s, lam, slack, q, r = s_new, lam_p, slack_p, q_p, r_p
                status = Status(StatusCode.SUCCESS, f"secular equation solved in {outer} iterations (predictor)")
                break
        lam_new, slack_new, ok, st = solve_at(s_new, lam_p, slack_p)
        if not ok:
            status = failed(f"mu = {s_new - C:.3g}", st)
            break
        s, lam, slack = s_new, lam_new, slack_new
        q, r = sub.q_and_r(lam)
    return done(lam, slack, s, outer, status)


# ---------------------------------------------------------------------------- Ipopt on the joint problem
def _joint_start(sub: ScoreSubproblem, lam, mu0):
    """Start and bounds of the joint problem in ``x = (lambda, mu)`` (numpy, on the CPU)."""
    a = sub.a.cpu().numpy()
    N = a.shape[0]
    x0 = np.concatenate([np.clip(lam.cpu().numpy(), 1e-12 * a, a * (1 - 1e-12)),
                         [0.0 if mu0 is None else max(float(mu0), 0.0)]])
    lb = np.concatenate([np.zeros(N), [0.0]])
    ub = np.concatenate([a, [np.inf]])
    return x0, lb, ub


def _joint_solution(sub: ScoreSubproblem, xs, iterations: int, status: Status) -> SubproblemSolution:
    """Ipopt's point back into the box, on the sub-problem's device."""
    N = sub.N
    lam = torch.as_tensor(xs[:N], dtype=torch.float64, device=sub.device)
    floor = sub.a * 1e-300
    lam = torch.clamp(torch.minimum(lam, sub.a), min=floor)
    slack = torch.clamp(sub.a - lam, min=floor)
    return SubproblemSolution(lam, slack, max(float(xs[N]), 0.0), iterations, 1, status)


class _JointNlp:
    r"""-D(lambda, mu) of eq. (2.7) in cyipopt's callback form, from :class:`ScoreSubproblem`'s own methods."""

    def __init__(self, sub: ScoreSubproblem):
        self.sub, self.N = sub, sub.N
        self.a = sub.a
        self._rows, self._cols = np.tril_indices(self.N + 1)
        self.iterations = 0

    def _split(self, x):
        lam = torch.from_numpy(np.array(x[: self.N], dtype=np.float64))
        return lam, self.a - lam, float(x[self.N])

    def objective(self, x):
        return -self.sub.dual_value(*self._split(x))

    def gradient(self, x):
        return -self.sub.dual_gradient(*self._split(x)).numpy()

    def hessianstructure(self):
        return self._rows, self._cols

    def hessian(self, x, lagrange, obj_factor):
        return -obj_factor * self.sub.dual_hessian(*self._split(x)).numpy()[self._rows, self._cols]

    def intermediate(self, alg_mod, iter_count, *args):
        self.iterations = int(iter_count)
        return True


@SUBPROBLEM_SOLVERS.register("ipopt", requires="cyipopt", default_tol=1e-12,
                             check_options=functools.partial(_check_ipopt_options, "ipopt"))
def joint_cyipopt(sub: ScoreSubproblem, tol: float, lam, slack, mu0, *, max_iter: int = 500) -> SubproblemSolution:
    r"""Ipopt (cyipopt) on the joint concave problem (2.7) in :math:`(\lambda, \mu \ge 0)`, exact Hessian.

    The callbacks evaluate :meth:`ScoreSubproblem.dual_value`, :meth:`~ScoreSubproblem.dual_gradient`
    and :meth:`~ScoreSubproblem.dual_hessian` (negated), on the CPU.

    Parameters
    ----------
    sub : ScoreSubproblem
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
    SubproblemSolution
        ``status`` from :func:`dualgan.duals.ipopt.ipopt_status`.

    Raises
    ------
    ValueError
        If ``max_iter`` is not a positive integer (checked before Ipopt starts).
    """
    from ..duals.ipopt import run_cyipopt

    max_iter = _check_ipopt_options("ipopt", max_iter=max_iter)["max_iter"]

    cpu = sub if sub.device.type == "cpu" else sub.to("cpu")
    x0, lb, ub = _joint_start(cpu, lam, mu0)
    nlp = _JointNlp(cpu)
    xs, its, status = run_cyipopt(nlp, sub.N + 1, 0, x0, lb, ub, tol, max_iter)
    return _joint_solution(sub, xs, its, status)


def symbolic_score_dual(ca, x, sub: ScoreSubproblem):
    r""":math:`D(\lambda, \mu)` of eq. (2.7) as a casadi expression of ``x = (lambda, mu)``.

    The symbolic form of :meth:`ScoreSubproblem.dual_value`; the tests check its value and
    gradient against it.

    Parameters
    ----------
    ca : module
        The ``casadi`` module.
    x : casadi.MX or casadi.SX, shape (N + 1, 1)
        The variables :math:`(\lambda, \mu)`.
    sub : ScoreSubproblem
        The sub-problem (its data are read as numpy constants).

    Returns
    -------
    casadi expression
    """
    K, b, yF, a = (t.cpu().numpy() for t in (sub.K, sub.yjw, sub.yF, sub.a))
    N, C, ww = sub.N, sub.C, sub.w_sqnorm
    lam, mu = x[:N], x[N]
    s = C + mu
    q = ca.dot(lam, ca.mtimes(ca.DM(K), lam)) - 2 * C * ca.dot(lam, ca.DM(b)) + C ** 2 * ww
    rest = a - lam
    entropy = -ca.sum1(lam * ca.log(lam / a) + rest * ca.log(rest / a))
    return 0.5 * C * ww - q / (2 * s) - ca.dot(lam, ca.DM(yF)) + entropy - mu * sub.radius ** 2 / 2


@SUBPROBLEM_SOLVERS.register("casadi", requires="casadi", default_tol=1e-12,
                             check_options=functools.partial(_check_ipopt_options, "casadi"))
def joint_casadi(sub: ScoreSubproblem, tol: float, lam, slack, mu0, *, max_iter: int = 500) -> SubproblemSolution:
    r"""casadi's Ipopt on the joint concave problem (2.7) in :math:`(\lambda, \mu \ge 0)`.

    The objective is :func:`symbolic_score_dual` (negated), derivatives by casadi's AD.

    Parameters
    ----------
    sub : ScoreSubproblem
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
    SubproblemSolution
        ``status`` from :func:`dualgan.duals.ipopt.ipopt_status`.

    Raises
    ------
    ValueError
        If ``max_iter`` is not a positive integer (checked before Ipopt starts).
    """
    max_iter = _check_ipopt_options("casadi", max_iter=max_iter)["max_iter"]
    import casadi as ca

    from ..duals.casadi_ipopt import run_casadi

    x = ca.MX.sym("x", sub.N + 1)
    x0, lb, ub = _joint_start(sub, lam, mu0)
    xs, its, status = run_casadi(ca, {"x": x, "f": -symbolic_score_dual(ca, x, sub)}, x0, lb, ub, tol, max_iter,
                                 name="tr_dual")
    return _joint_solution(sub, xs, its, status)
