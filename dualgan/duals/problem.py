r"""The validated linear-discriminator problem and its primal / dual functions.

Eqs. (1.1)-(1.5), (1.11) and (1.12) of the theory page, docs/theory.md. Real features :math:`\phi_1..\phi_n`, generated features
:math:`\tilde\phi_1..\tilde\phi_m` are stacked into :math:`\Phi` (N x d) with
labels :math:`y_i = \pm 1` and weights :math:`a_i = 1/n` (real), :math:`1/m`
(generated). With :math:`G = \mathrm{diag}(y)\Phi` and
:math:`v(\lambda) = G^\top\lambda`:

.. math::

    P(w, b) = \tfrac{C}{2}\|w\|^2 + \sum_i a_i\, \ell(y_i(w^\top\phi_i + b)),
    \qquad
    D(\lambda) = -\tfrac{1}{2C}\|v(\lambda)\|^2 + \sum_i a_i H(\lambda_i / a_i)

for the logistic loss (``H`` the binary entropy), and
:math:`D(\lambda) = -\tfrac{1}{2C}\|v\|^2 + \sum_i \lambda_i` for the hinge
loss, both over the box :math:`0 \le \lambda_i \le a_i` (plus
:math:`y^\top\lambda = 0` with a bias). Primal recovery: :math:`w = v/C`.

All arithmetic runs in float64 on the features' device.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from scipy.special import expit

from .._checks import check_bool, check_choice, check_matrix, check_positive, is_numpy_input
from ._backend import TorchOps, ops_for
from ._primal import balance_classes, pair_certificate
from .objective import DISCRIMINATOR_LOSSES, _check_weights, dual_gradient, separable_curvature

__all__ = ["LinearDual", "DISCRIMINATOR_LOSSES"]


class LinearDual:
    r"""A validated dual problem for a linear discriminator on fixed features.

    The primal is eq. (1.1) of the theory page and the dual eq. (1.3)
    (logistic) or eq. (1.12) (hinge), with eq. (1.11) for a bias.

    Parameters
    ----------
    phi_real : numpy.ndarray or torch.Tensor
        Feature matrix of the real samples, shape ``(n, d)`` (any device);
        copied to float64.
    phi_fake : numpy.ndarray or torch.Tensor
        Feature matrix of the generated samples, shape ``(m, d)``, same
        ``d``; copied to float64.
    C : float
        L2 weight of the primal, > 0.
    loss : str, default "logistic"
        ``"logistic"`` (entropy-regularised dual) or ``"hinge"`` (box QP dual).
    bias : bool, default False
        Adds a free bias ``b`` to the score, i.e. the dual constraint
        :math:`\sum_i \lambda_i y_i = 0`.
    weights : tuple of array_like, optional
        Optional per-sample loss weights :math:`a_i` replacing ``1/n`` and ``1/m``:
        a pair ``(weights_real, weights_fake)`` of 1-d arrays (or tensors) of
        lengths n and m, finite and > 0 (the dual box is :math:`0 \le \lambda_i \le a_i`).
        Default None: :math:`a_i = 1/n` (real), :math:`1/m` (generated).

    Examples
    --------
    >>> import numpy as np
    >>> from dualgan.duals import LinearDual, solve
    >>> rng = np.random.default_rng(0)
    >>> prob = LinearDual(rng.normal(1, 1, (50, 3)), rng.normal(0, 1, (40, 3)), C=0.1)
    >>> res = solve(prob)
    >>> res.success and res.gap <= 1e-10
    True
    """

    def __init__(self, phi_real, phi_fake, C, loss: str = "logistic", bias: bool = False, weights=None):
        self.loss = check_choice(loss, "loss", DISCRIMINATOR_LOSSES)
        self.C = check_positive(C, "C")
        if self.C < np.finfo(np.float64).tiny:
            raise ValueError(f"C must be at least {np.finfo(np.float64).tiny:.3g} (1/C must be a finite float64), "
                             f"got {self.C!r}; rescale the features instead (C/s^2 with features phi/s)")
        self.bias = check_bool(bias, "bias")
        self.numpy_input = is_numpy_input(phi_real) and is_numpy_input(phi_fake)
        device = phi_real.device if isinstance(phi_real, torch.Tensor) else (
            phi_fake.device if isinstance(phi_fake, torch.Tensor) else torch.device("cpu"))
        # on the CPU the float64 copy is made once, into G (training loops build a problem per solve)
        dtype = None if device.type == "cpu" else torch.float64
        real = check_matrix(phi_real, "phi_real", dtype=dtype, device=device)
        fake = check_matrix(phi_fake, "phi_fake", dtype=dtype, device=device)
        if real.shape[1] != fake.shape[1]:
            raise ValueError(
                f"phi_real and phi_fake must have the same number of features (columns), got "
                f"{real.shape[1]} and {fake.shape[1]}; compute both with the same feature map")
        self.device = device
        self.n, self.d = real.shape
        self.m = fake.shape[0]
        n, m = self.n, self.m
        self.N = N = n + m
        # G = diag(y) Phi: v(lambda) = G^T lambda, margins y_i w^T phi_i = (G w)_i.
        if device.type == "cpu":  # numpy: a quarter of torch's per-call cost at these sizes
            G, y, a = np.empty((N, self.d)), np.empty(N), np.empty(N)
            G[:n] = _numpy_float(real)
            np.negative(_numpy_float(fake), out=G[n:])
            y[:n], y[n:], a[:n], a[n:] = 1.0, -1.0, 1.0 / n, 1.0 / m
            self.G, self.y, self.a = torch.from_numpy(G), torch.from_numpy(y), torch.from_numpy(a)
        else:
            kw = dict(dtype=torch.float64, device=device)
            self.y = torch.cat([torch.ones(n, **kw), -torch.ones(m, **kw)])
            self.a = torch.cat([torch.full((n,), 1.0 / n, **kw), torch.full((m,), 1.0 / m, **kw)])
            self.G = torch.cat([real.detach(), -fake.detach()])
        if weights is not None:  # per-sample a_i (e.g. scikit-learn's sample_weight, see DualLogisticRegression)
            self.a = _check_weights(weights, n, m, self.a)

    @property
    def phi_real(self) -> torch.Tensor:
        """The real features as float64, (n, d) (a view of ``G``)."""
        return self.G[: self.n]

    @property
    def phi_fake(self) -> torch.Tensor:
        """The generated features as float64, (m, d) (``-G`` of the generated rows)."""
        return -self.G[self.n:]

    def scaled(self, s: float, t: float = 1.0) -> "LinearDual":
        r"""The same problem in other units: weights ``a s``, features ``phi t``, L2 weight ``C s t^2``.

        :math:`P'(w', b) = s\,P(t w', b)` (eq. (1.1)): the minimiser is
        :math:`w'^\star = w^\star / t`, :math:`b'^\star = b^\star`, the multipliers are
        :math:`s\lambda^\star` (eq. (1.4)) and gaps are ``s`` times larger; the margins do not
        change. Powers of two make the rescaling exact (:func:`dualgan.duals.solve` uses it for
        weights of 1e-300).

        Parameters
        ----------
        s : float
            The factor of the weights, > 0.
        t : float, default 1.0
            The factor of the features, > 0.

        Returns
        -------
        LinearDual
            The rescaled problem.

        Raises
        ------
        ValueError
            If ``s`` or ``t`` is not > 0, or ``C s t^2`` or a feature would leave float64's normal range.
        """
        s, t = check_positive(s, "s"), check_positive(t, "t")
        C = self.C * s * t * t
        if not (np.finfo(np.float64).tiny <= C < float("inf")):
            raise ValueError(f"C * s * t^2 = {C!r} is outside float64's normal range; pick other factors s, t")
        other = copy.copy(self)
        other.a, other.C = self.a * s, C
        if t != 1.0:
            other.G = self.G * t
            if not bool(torch.isfinite(other.G).all()):
                raise ValueError(f"features times t = {t!r} overflow float64; pick a smaller factor t")
        return other

    def __repr__(self) -> str:
        return (f"LinearDual(n={self.n}, m={self.m}, d={self.d}, C={self.C:g}, loss={self.loss!r}, "
                f"bias={self.bias}, device={self.device})")

    # ------------------------------------------------------------------ values
    def v(self, lam: torch.Tensor) -> torch.Tensor:
        r""":math:`v(\lambda) = \sum_i \lambda_i y_i \phi_i` (eq. (1.2) of the theory page).

        Parameters
        ----------
        lam : torch.Tensor
            Shape ``(N,)``, float64: feasible multipliers :math:`0 \le \lambda_i \le a_i`
            (real samples first, then generated).

        Returns
        -------
        torch.Tensor
            Shape ``(d,)``, float64.
        """
        return self.G.T @ lam

    def dual_value(self, lam: torch.Tensor, slack: torch.Tensor | None = None) -> float:
        """D(lambda) (``slack = a - lambda`` may be passed for accuracy near the upper bound).

        Eq. (1.3) of the theory page (logistic) or eq. (1.12) (hinge).

        Parameters
        ----------
        lam : torch.Tensor
            Shape ``(N,)``, float64: feasible multipliers :math:`0 \\le \\lambda_i \\le a_i`
            (real samples first, then generated).
        slack : torch.Tensor, optional
            Shape ``(N,)``: :math:`a - \\lambda`, passed for accuracy near the
            upper bound. Default None: computed as ``a - lam``.

        Returns
        -------
        float
            The dual value :math:`D(\\lambda)`.
        """
        return self.certificate(lam, slack)[1]

    def primal_value(self, w, b: float | None = None, ops=TorchOps) -> float:
        """P(w, b); ``b=None`` means no bias term.

        Eq. (1.1) of the theory page (hinge loss instead of the logistic one for ``loss="hinge"``).

        Parameters
        ----------
        w : array_like or torch.Tensor
            Shape ``(d,)``: the linear discriminator's weights.
        b : float, optional
            The bias. Default None: no bias term.
        ops : type, default TorchOps
            The arithmetic back end (``NumpyOps`` is faster on the CPU); same formula either way.

        Returns
        -------
        float
            The primal value :math:`P(w, b)`.
        """
        cv = ops.to_backend
        w = cv(torch.as_tensor(w, dtype=torch.float64, device=self.device))
        margins = cv(self.G) @ w
        if b is not None:
            margins = margins + cv(self.y) * float(b)
        return float(0.5 * self.C * (w @ w) + _loss_sum(ops, self.loss, margins, cv(self.a)))

    def recover(self, lam: torch.Tensor) -> tuple[torch.Tensor, float | None]:
        """Primal recovery ``w = v(lambda)/C`` and, with a bias, the best ``b`` for that ``w``.

        Eq. (1.4) of the theory page.

        Parameters
        ----------
        lam : torch.Tensor
            Shape ``(N,)``, float64: feasible multipliers :math:`0 \\le \\lambda_i \\le a_i`
            (real samples first, then generated).

        Returns
        -------
        tuple of (torch.Tensor, float or None)
            ``w`` of shape ``(d,)``, float64, and the best bias (None without bias).
        """
        _, _, _, w, b = self.certificate(lam)
        return w, b

    def certificate(self, lam: torch.Tensor, slack: torch.Tensor | None = None, ops=TorchOps, w=None,
                    b: float | None = None):
        r"""Return ``(primal_value, dual_value, gap, w, b)`` of a primal-dual pair; ``w`` a tensor.

        Parameters
        ----------
        lam : torch.Tensor or numpy.ndarray, shape (N,), float64
            Dual feasible multipliers (in the box; with a bias, :math:`y^\top\lambda = 0`).
        slack : torch.Tensor or numpy.ndarray, shape (N,), optional
            ``a - lam`` computed without cancellation (default: formed here).
        ops : type, default TorchOps
            The arithmetic back end (``NumpyOps`` is faster on the CPU); same formulas either way.
        w : torch.Tensor or numpy.ndarray, shape (d,), optional
            The primal half of the pair; default the dual recovery ``v(lam)/C`` (eq. (1.4)).
        b : float, optional
            The bias paired with ``w`` (problems with a bias; default the best bias for ``w``).

        Returns
        -------
        tuple
            ``(primal_value, dual_value, gap, w, b)``; the gap is eq. (1.16) of the theory page.
        """
        lam = torch.as_tensor(lam, dtype=torch.float64, device=self.device)
        slack = self.a - lam if slack is None else torch.as_tensor(slack, dtype=torch.float64, device=self.device)
        cv = ops.to_backend
        if w is not None:
            w = cv(torch.as_tensor(w, dtype=torch.float64, device=self.device))
            if self.bias and b is None:
                b = best_bias(self.loss, _as_numpy(cv(self.G) @ w), _as_numpy(self.y), _as_numpy(self.a))
        primal, dual, gap, w, b = _certificate(ops, cv(self.G), cv(self.y), cv(self.a), self.C, self.loss,
                                               self.bias, cv(lam), cv(slack), w, b)
        return primal, dual, gap, ops.to_torch(w, lam), b

    def gap(self, lam: torch.Tensor, slack: torch.Tensor | None = None) -> float:
        """Duality gap P(v(lambda)/C, b*) - D(lambda) >= 0 (lambda feasible).

        Eq. (1.5) of the theory page, summed as in eq. (1.16).

        Parameters
        ----------
        lam : torch.Tensor
            Shape ``(N,)``, float64: feasible multipliers :math:`0 \\le \\lambda_i \\le a_i`
            (real samples first, then generated).
        slack : torch.Tensor, optional
            Shape ``(N,)``: :math:`a - \\lambda`, passed for accuracy near the
            upper bound. Default None: computed as ``a - lam``.

        Returns
        -------
        float
            The gap, >= 0; by eq. (1.6) it bounds :math:`\\|w(\\lambda) - w^\\star\\|`.
        """
        return self.certificate(lam, slack)[2]

    def gap_function(self, ops):
        """``gap(lam, slack)`` on arrays of the back end ``ops`` (used inside the solvers' loops).

        Parameters
        ----------
        ops : object
            The array back end (numpy or torch operations) of the solver.

        Returns
        -------
        callable
            ``gap(lam, slack) -> float``, the duality gap of eq. (1.5) of the
            theory page on that back end's arrays of shape ``(N,)``.
        """
        G, y, a = (ops.to_backend(t) for t in (self.G, self.y, self.a))

        def gap(lam, slack):
            return _certificate(ops, G, y, a, self.C, self.loss, self.bias, lam, slack)[2]
        return gap

    # -------------------------------------------------------- derivatives
    def dual_gradient(self, lam: torch.Tensor) -> torch.Tensor:
        r""":math:`\partial D/\partial\lambda_i = -y_i\phi_i^\top v/C + \log((a_i-\lambda_i)/\lambda_i)` (logistic).

        Eq. (1.7) of the theory page; for the hinge loss the log term is replaced by 1.

        Parameters
        ----------
        lam : torch.Tensor
            Shape ``(N,)``, float64: multipliers strictly inside the box.

        Returns
        -------
        torch.Tensor
            Shape ``(N,)``, float64: :math:`\nabla D(\lambda)`.
        """
        lam = torch.as_tensor(lam, dtype=torch.float64, device=self.device)
        return dual_gradient(TorchOps, self.G @ self.v(lam), lam, self.a - lam, self.C, self.loss)

    def dual_hessian(self, lam: torch.Tensor) -> torch.Tensor:
        r""":math:`-\frac1C GG^\top - \mathrm{diag}(a_i/(\lambda_i(a_i-\lambda_i)))` (logistic).

        Eq. (1.8) of the theory page; for the hinge loss only the first term.

        Parameters
        ----------
        lam : torch.Tensor
            Shape ``(N,)``, float64: multipliers strictly inside the box.

        Returns
        -------
        torch.Tensor
            Shape ``(N, N)``, float64: :math:`\nabla^2 D(\lambda)`, negative definite inside the box.
        """
        lam = torch.as_tensor(lam, dtype=torch.float64, device=self.device)
        h = separable_curvature(TorchOps, lam, self.a - lam, self.a, self.loss)
        return -(self.G @ self.G.T) / self.C - torch.diag(h)

    # ------------------------------------------------------------ helpers
    def split(self, lam: torch.Tensor):
        """Split a length-N vector into its real and generated parts.

        Parameters
        ----------
        lam : torch.Tensor
            Shape ``(N,)``, real samples first.

        Returns
        -------
        tuple of torch.Tensor
            The first ``n`` and the last ``m`` entries.
        """
        return lam[: self.n], lam[self.n:]

    def initial_point(self, lam0=None):
        """A strictly feasible start: ``a/2`` or a clipped warm start; returns ``(lam, slack)``.

        ``lam0`` may be a :class:`DualResult`, a length-N vector, or a
        ``(lam_real, lam_fake)`` pair. A logistic result without bias warm-starts
        from its discriminator ``w`` (any batch of the same feature dimension);
        otherwise its multipliers and stored slack are reused (the relation
        :math:`\\lambda_i = a_i \\sigma(-m_i)` of eq. (1.17) of the theory page).

        Parameters
        ----------
        lam0 : DualResult or array_like or tuple, optional
            The warm start (see above). Default None: :math:`a/2`.

        Returns
        -------
        tuple of torch.Tensor
            ``(lam, slack)``, each ``(N,)`` float64, strictly inside the box
            (and, with a bias, feasible for eq. (1.11)).

        Raises
        ------
        ValueError
            If ``lam0`` does not have ``N`` entries or is not finite.
        """
        from .result import DualResult

        if lam0 is None:
            lam = 0.5 * self.a
            return self._balance(lam, self.a - lam)
        slack = None
        if isinstance(lam0, DualResult) and lam0.w is not None and self.loss == "logistic":
            w = torch.as_tensor(lam0.w, dtype=torch.float64, device=self.device).reshape(-1)
            ops = ops_for(self.device)  # numpy on the CPU: a quarter of torch's per-call cost at these sizes
            w, G, a = ops.to_backend(w), ops.to_backend(self.G), ops.to_backend(self.a)
            if w.shape[0] == self.d and ops.all_finite(w):
                # the previous discriminator on this batch: lambda_i = a_i sigma(-y_i (w^T phi_i + b)) is the
                # primal-dual relation at the optimum (eq. (1.17)), so it is exact for an unchanged problem
                # and a good start for a moved or a fresh batch of any size (minibatch training)
                # clipped to [1e-6 a, (1 - 1e-6) a]: Newton moves a coordinate towards a face
                # geometrically (curved path) but away from it only by a factor per step
                margins = G @ w
                if self.bias and lam0.b is not None and np.isfinite(lam0.b):
                    margins = margins + ops.to_backend(self.y) * float(lam0.b)
                margins = margins.clip(-13.8, 13.8)
                lam, slack = _clip(ops, a, a * ops.sigmoid(-margins), a * ops.sigmoid(margins))
                return self._balance(ops.to_torch(lam, self.a), ops.to_torch(slack, self.a))
        if isinstance(lam0, DualResult) and lam0.lam_real.shape[0] + lam0.lam_fake.shape[0] != self.N:
            # a result of another batch size without a usable w (hinge): the cold start
            return self.initial_point(None)
        if isinstance(lam0, DualResult):
            if lam0.slack is not None:
                slack = torch.as_tensor(lam0.slack, dtype=torch.float64, device=self.device)
            lam0 = (lam0.lam_real, lam0.lam_fake)
        try:
            if isinstance(lam0, (tuple, list)) and len(lam0) == 2:
                parts = [torch.as_tensor(np.asarray(p, dtype=np.float64) if not isinstance(p, torch.Tensor) else p,
                                         dtype=torch.float64, device=self.device).reshape(-1) for p in lam0]
                lam = torch.cat(parts)
            else:
                lam = torch.as_tensor(np.asarray(lam0, dtype=np.float64) if not isinstance(lam0, torch.Tensor)
                                      else lam0, dtype=torch.float64, device=self.device).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"lam0 must be a DualResult, a length-N vector of numbers or a pair (lam_real, "
                             f"lam_fake), got {type(lam0).__name__} ({exc}); pass None for the cold start") from exc
        if lam.shape[0] != self.N:
            raise ValueError(f"lam0 has {lam.shape[0]} entries but the problem has n + m = {self.N} samples; "
                             f"pass None or a result of a problem with the same batch sizes")
        if not bool(torch.isfinite(lam).all()):
            raise ValueError("lam0 contains NaN or inf; pass None to start from a/2")
        if slack is None or slack.shape[0] != self.N:
            slack = self.a - lam
        return self._balance(*self._clip(lam, slack))

    def _balance(self, lam, slack):
        """With a bias, make the start feasible for eq. (1.11) (a certificate needs a feasible point)."""
        if not self.bias:
            return lam, slack
        return balance_classes(TorchOps, self.y, lam, slack)

    def _clip(self, lam, slack):
        return _clip(TorchOps, self.a, lam, slack)

    def output(self, t: torch.Tensor):
        """Convert a result tensor to the user's array type (numpy for numpy input).

        Parameters
        ----------
        t : torch.Tensor
            A result tensor.

        Returns
        -------
        numpy.ndarray or torch.Tensor
            ``t`` as a numpy array when the features were numpy arrays, else ``t`` itself.
        """
        return t.detach().cpu().numpy() if self.numpy_input else t


def _clip(ops, a, lam, slack):
    """Keep strictly inside the box (the entropy barrier is infinite on its faces), on ``ops``'s arrays."""
    floor = a * 1e-12
    lam = ops.maximum(lam, floor)
    slack = ops.maximum(ops.minimum(slack, a - lam), floor)
    lam = ops.minimum(lam, a - slack)
    return lam, slack


def _certificate(ops, G, y, a, C, loss, bias, lam, slack, w=None, b=None):
    """Primal value, dual value, gap (eq. (1.16)), w and b of the pair ``((w, b), lam)``, on back-end arrays.

    Without ``w`` the dual recovery ``w = v(lam)/C`` (eq. (1.4)) and its best bias are used.
    """
    v = None
    if w is None:
        v = G.T @ lam
        w = v / C
        if bias:
            b = best_bias(loss, _as_numpy(G @ w), _as_numpy(y), _as_numpy(a))
    cert = pair_certificate(ops, G, y, a, C, loss, w, b if bias else None, lam, slack, v=v)
    return cert.primal, cert.dual, cert.gap, w, (b if bias else None)


def _loss_sum(ops, loss, margins, a):
    if loss == "hinge":
        return a @ ops.maximum(1.0 - margins, ops.zeros_like(margins))
    return a @ ops.softplus(-margins)  # log(1 + exp(-m)), stable


def _numpy_float(t: torch.Tensor) -> np.ndarray:
    """A CPU tensor as a numpy array numpy can cast to float64 (bfloat16 goes through torch)."""
    t = t.detach()
    if t.dtype not in (torch.float64, torch.float32, torch.float16):
        t = t.to(torch.float64)
    return t.numpy()


def _as_numpy(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x


def best_bias(loss: str, margins: np.ndarray, y: np.ndarray, a: np.ndarray) -> float:
    r"""Exact minimiser over b of :math:`\sum_i a_i \ell(m_i + y_i b)` for fixed margins ``m``."""
    if loss == "hinge":
        return _best_hinge_bias(margins, y, a)
    return _best_logistic_bias(margins, y, a)


def _best_logistic_bias(m, y, a, iters: int = 100) -> float:
    """Safeguarded 1-D Newton on the convex sum_i a_i softplus(-(m_i + y_i b))."""
    def deriv(b):
        s = expit(-(m + y * b))
        return float(-(a * y * s).sum()), float((a * s * (1 - s)).sum())

    lo, hi = -1.0, 1.0
    while deriv(lo)[0] > 0 and lo > -1e12:
        lo *= 2
    while deriv(hi)[0] < 0 and hi < 1e12:
        hi *= 2
    b = 0.5 * (lo + hi)
    for _ in range(iters):
        g, h = deriv(b)
        if g == 0.0 or (h > 0 and abs(g / h) <= 1e-15 * max(1.0, abs(b))):
            break
        if g > 0:
            hi = b
        else:
            lo = b
        step = b - g / h if h > 0 else 0.5 * (lo + hi)
        b = step if lo <= step <= hi else 0.5 * (lo + hi)
        if hi - lo <= 1e-15 * max(1.0, abs(b)):
            break
    return b


def _best_hinge_bias(m, y, a) -> float:
    """Exact minimiser of the convex piecewise-linear sum_i a_i max(0, 1 - m_i - y_i b).

    Each term has its kink at ``b_i = y_i (1 - m_i)``; the minimum sits at the kink
    where the slope changes sign, found by sorting the kinks.
    """
    kinks = y * (1.0 - m)
    order = np.argsort(kinks, kind="stable")
    k, ys, ws = kinks[order], y[order], a[order]
    # slope just right of kink j: y=+1 terms are active for b < kink (slope -a),
    # y=-1 terms for b > kink (slope +a)
    pos = ws * (ys > 0)
    pos_after = pos[::-1].cumsum()[::-1] - pos
    slope_right = np.cumsum(ws * (ys < 0)) - pos_after
    nonneg = np.nonzero(slope_right >= 0)[0]
    return float(k[nonneg[0]] if len(nonneg) else k[-1])
