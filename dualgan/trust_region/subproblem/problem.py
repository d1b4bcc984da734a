r"""The score-linearisation sub-problem (2.2) with the model (2.4), validated and frozen: its data, its dual
(2.7) with derivatives, the step it recovers (2.8) with its certificate, and the solvers' start point.

The theory page (docs/theory.md) numbers the equations; the package docstring
(:mod:`dualgan.trust_region.subproblem`) states the primal and the dual.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F

from ..._checks import check_number, check_positive
from ...duals._backend import TorchOps
from ...duals.objective import dual_gradient, separable_term
from .result import ScoreCertificate

__all__ = ["ScoreSubproblem"]


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
    :func:`~dualgan.trust_region.solve_score_dual`.

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
    >>> from dualgan.trust_region import ScoreSubproblem, solve_score_dual
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

    def certificate(self, lam: torch.Tensor, slack: torch.Tensor, mu: float) -> ScoreCertificate:
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

