r"""Mehrotra predictor-corrector interior point method for the box QP (the hinge dual).

.. math::

    \max_{0\le\lambda\le a,\; e^\top\lambda=0}\; -\frac{1}{2s}\lambda^\top Q\lambda + c^\top\lambda,
    \qquad c = 1 \text{ by default (eq. (1.12) of the theory page, hinge variant).}

With bound multipliers :math:`z_l, z_u \ge 0` each Newton system reduces to
:math:`(Q/s + \mathrm{diag}(z_l/\lambda + z_u/(a-\lambda)))\Delta = r`, the
structure :class:`dualgan.duals._linalg.Quadratic` factorises (Woodbury when
d < N). Unlike the logistic dual, the solution lies on faces of the box, so a
primal-dual method (rather than a pure barrier) is what converges fast.
"""
from __future__ import annotations

from typing import Callable

import torch

from ._linalg import box_problem, equality_step, limit_blas_threads, max_step
from ..status import Status, StatusCode
from .result import NewtonState

__all__ = ["box_qp_interior_point"]


@limit_blas_threads
def box_qp_interior_point(
    a: torch.Tensor,
    *,
    scale: float,
    G: torch.Tensor | None = None,
    K: torch.Tensor | None = None,
    linear: torch.Tensor | None = None,
    eq: torch.Tensor | None = None,
    lam0: torch.Tensor | None = None,
    slack0: torch.Tensor | None = None,
    tol: float = 1e-10,
    max_iter: int = 100,
    certificate: Callable | None = None,
    accept: Callable | None = None,
) -> NewtonState:
    """Solve the box QP above; stops when ``certificate(lam, slack) <= tol``.

    Without a certificate the complementarity :math:`\\lambda^\\top z_l + (a-\\lambda)^\\top z_u`
    (the duality gap of the QP at a primal-dual feasible point) is used.
    Arguments as in :func:`dualgan.duals.maximize_entropy_dual`. The problem
    is eq. (1.12) of the theory page (eq. (1.10) without entropy, :math:`c = 1` by default).

    Parameters
    ----------
    a : torch.Tensor
        Shape ``(N,)``, float64, > 0: the upper bounds of the box (its device
        selects the back end: numpy on the CPU, torch on CUDA).
    scale : float
        The ``s`` of the quadratic term, > 0.
    G : torch.Tensor, optional
        Shape ``(N, d)``: the quadratic as a factor :math:`Q = G G^\\top`.
        Exactly one of ``G`` and ``K`` is given.
    K : torch.Tensor, optional
        Shape ``(N, N)``: the quadratic as a Gram matrix :math:`Q = K`.
    linear : torch.Tensor, optional
        Shape ``(N,)``: the linear term ``c``. Default None: the all-ones vector.
    eq : torch.Tensor, optional
        Shape ``(N,)``: the vector ``e`` of the equality :math:`e^\\top\\lambda = 0`
        (``y`` with a bias, eq. (1.11)). Default None: no equality.
    lam0 : torch.Tensor, optional
        Shape ``(N,)``: strictly feasible start. Default None: ``a/2``.
    slack0 : torch.Tensor, optional
        Shape ``(N,)``: its complement ``a - lam0``. Default None: computed.
    tol : float, default 1e-10
        Stop when the certificate is at most ``tol``.
    max_iter : int, default 100
        Maximum number of predictor-corrector iterations.
    certificate : callable, optional
        ``certificate(lam, slack) -> float`` on back-end arrays (numpy on the
        CPU, torch on CUDA), e.g. the duality gap of eq. (1.5). Default None:
        the complementarity above.
    accept : callable, optional
        ``accept(lam, slack, cert) -> bool`` replacing the test ``cert <= tol``.
        Default None.

    Returns
    -------
    NewtonState
        The multipliers, the value, the certificate, the iteration count and the
        :class:`~dualgan.status.Status` (``status.success``: the stopping test passed).

    Raises
    ------
    ValueError
        If the inputs are inconsistent (shapes, not exactly one of ``G`` and ``K``,
        ``scale`` not > 0, a start outside the box).

    References
    ----------
    Sanjay Mehrotra. "On the Implementation of a Primal-Dual Interior Point
    Method." SIAM Journal on Optimization 2(4), 1992.
    """
    bp = box_problem(a, scale, G, K, linear, eq, lam0, slack0, default_linear=1.0)
    ops, a_, quad, lam, slack, c, e = bp.ops, bp.a, bp.quad, bp.lam, bp.slack, bp.linear, bp.eq
    z_l, z_u = ops.ones_like(a_), ops.ones_like(a_)
    nu = 0.0
    N = a_.shape[0]
    trace: list[float] = []
    code, cert, it, message = StatusCode.MAX_ITER, float("inf"), 0, ""

    def direction(solve, r_dual, r_l, r_u):
        d_lam, d_nu = equality_step(ops, solve, -r_dual + r_l / lam - r_u / slack, e, lam)
        return d_lam, (r_l - z_l * d_lam) / lam, (r_u + z_u * d_lam) / slack, d_nu

    def step_bound(d_lam, d_zl, d_zu):
        return min(1.0, max_step([(lam, d_lam), (slack, -d_lam), (z_l, d_zl), (z_u, d_zu)]))

    best, stuck, mu0 = None, 0, None
    for it in range(max_iter + 1):
        mu = float((lam @ z_l + slack @ z_u) / (2 * N))
        mu0 = mu if mu0 is None else mu0
        cert = certificate(lam, slack) if certificate is not None else 2 * N * mu
        trace.append(cert)
        # never return a point worse than the best certified iterate: past float64's floor the
        # iteration wanders (and can break down), so it also stops once the certificate stalls
        if best is None or cert < best[0]:
            best, stuck = (cert, ops.copy(lam), ops.copy(slack), it), 0
        else:
            # early on the certificate (at w = v/C) can stall while the method still progresses;
            # only a converged complementarity with a stalled certificate is the floor
            stuck = stuck + 1 if mu <= 1e-12 * mu0 else 0
            if stuck >= 8:
                code, message = StatusCode.STALLED, f"the certificate has not improved for {stuck} iterations"
                break
        if (accept(lam, slack, cert) if accept is not None and certificate is not None else cert <= tol):
            code = StatusCode.SUCCESS
            break
        if it == max_iter:
            break
        # minimisation form: Q lam / s - c - z_l + z_u + nu e = 0
        r_dual = quad.matvec(lam) / scale - c - z_l + z_u + (nu * e if e is not None else 0.0)
        solve = quad.factor(z_l / lam + z_u / slack)
        if solve is None:
            code, message = StatusCode.NUMERICAL_ERROR, f"interior-point system not positive definite at iteration {it}"
            break
        aff = direction(solve, r_dual, -lam * z_l, -slack * z_u)  # predictor
        alpha_aff = step_bound(*aff[:3])
        mu_aff = float(((lam + alpha_aff * aff[0]) @ (z_l + alpha_aff * aff[1])
                        + (slack - alpha_aff * aff[0]) @ (z_u + alpha_aff * aff[2])) / (2 * N))
        sigma = (mu_aff / mu) ** 3 if mu > 0 else 0.0
        d_lam, d_zl, d_zu, d_nu = direction(solve, r_dual,  # corrector with centring
                                            sigma * mu - lam * z_l - aff[0] * aff[1],
                                            sigma * mu - slack * z_u + aff[0] * aff[2])
        if not ops.all_finite(d_lam):
            code, message = StatusCode.NON_FINITE, f"non-finite interior-point direction at iteration {it}"
            break
        alpha = min(1.0, 0.995 * step_bound(d_lam, d_zl, d_zu))
        lam, slack = lam + alpha * d_lam, slack - alpha * d_lam
        z_l, z_u, nu = z_l + alpha * d_zl, z_u + alpha * d_zu, nu + alpha * d_nu
        tiny = 2.2250738585072014e-308  # keep strictly interior despite rounding
        lam, slack = ops.maximum(lam, ops.zeros_like(lam) + tiny), ops.maximum(slack, ops.zeros_like(slack) + tiny)
    if best is not None and not cert <= best[0]:
        cert, lam, slack = best[0], best[1], best[2]
    lam = ops.minimum(ops.maximum(lam, 0 * lam), a_)  # rounding can leave lam an ulp outside the box
    slack = ops.maximum(slack, 0 * slack)
    value = float(-0.5 * (lam @ quad.matvec(lam)) / scale + c @ lam)
    back = ops.to_torch
    return NewtonState(lam=back(lam, a), slack=back(slack, a), value=value, decrement=float("nan"),
                       certificate=cert, iterations=it, status=Status(code, message),
                       trace=tuple(trace))
