r"""Interior Newton method for entropy-barrier box duals (our own solver).

The generic problem (SPEC.md sections 1 and 2(B)) is

.. math::

    \max_{0<\lambda<a,\; e^\top\lambda = 0}\;
    F(\lambda) = -\frac{1}{2s}\lambda^\top Q\lambda + c^\top\lambda
                 + \tau\sum_i a_i H(\lambda_i/a_i),

with :math:`Q = GG^\top` given by its factor ``G`` (N x d) or as a Gram
matrix ``K`` (N x N). The entropy is a barrier: the optimum is strictly inside
the box and :math:`F` is strictly concave, so Newton's method with a
fraction-to-boundary rule and Armijo backtracking converges quadratically.

Each Newton system :math:`(Q/s + \mathrm{diag}(h))\Delta = \nabla F`,
:math:`h_i = \tau a_i/(\lambda_i(a_i-\lambda_i))`, is solved with the
Woodbury identity in O(N d^2 + d^3) when d < N, and with a diagonally scaled
Cholesky factorisation of the N x N system otherwise. The complement
:math:`a - \lambda` is carried as its own vector (the "slack") so that
coordinates close to the upper bound keep full relative precision.

The linear discriminator's logistic dual is the case ``Q = GG^T``, ``s = C``,
``c = 0``, ``tau = 1``. Its hinge dual, a box QP whose solution sits on the
faces of the box, is solved by the primal-dual interior point method
:func:`box_qp_interior_point`, whose Newton systems have the same structure. The trust-region dual of
:mod:`dualgan.trust_region` uses the Gram form with ``s = C + mu``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch

from .problem import LinearDual
from .registry import register_solver
from .result import DualResult

__all__ = ["maximize_entropy_dual", "box_qp_interior_point", "NewtonState", "solve_newton"]


@dataclass(frozen=True)
class NewtonState:
    """Outcome of :func:`maximize_entropy_dual`."""

    lam: torch.Tensor
    slack: torch.Tensor
    value: float
    decrement: float
    certificate: float
    iterations: int
    status: str
    trace: tuple[float, ...]


def maximize_entropy_dual(
    a: torch.Tensor,
    *,
    scale: float,
    G: torch.Tensor | None = None,
    K: torch.Tensor | None = None,
    linear: torch.Tensor | None = None,
    tau: float = 1.0,
    eq: torch.Tensor | None = None,
    lam0: torch.Tensor | None = None,
    slack0: torch.Tensor | None = None,
    tol: float = 1e-10,
    max_iter: int = 100,
    certificate: Callable[[torch.Tensor, torch.Tensor], float] | None = None,
) -> NewtonState:
    r"""Maximise :math:`F(\lambda)` above by a damped interior Newton method.

    Parameters
    ----------
    a: upper bounds (N,), > 0.
    scale: the ``s`` of the quadratic term, > 0.
    G, K: the quadratic as a factor ``Q = G G^T`` or as a Gram matrix ``Q = K`` (exactly one).
    linear: the vector ``c`` (default 0).
    tau: weight of the entropy barrier.
    eq: optional vector ``e`` of the equality :math:`e^\top\lambda = 0`.
    lam0, slack0: strictly feasible start and its complement ``a - lam0``.
    tol: stop when ``certificate(lam, slack) <= tol``; without a certificate the
        Newton decrement estimate of suboptimality, :math:`\tfrac12\nabla F^\top\Delta`, is used.
    """
    if (G is None) == (K is None):
        raise ValueError("pass exactly one of G (factor) and K (Gram matrix)")
    quad = _Quadratic(G, K, scale)
    lam = 0.5 * a if lam0 is None else lam0.clone()
    slack = a - lam if slack0 is None else slack0.clone()
    c = torch.zeros_like(a) if linear is None else linear
    eps = torch.finfo(a.dtype).eps

    def value(lam_, slack_, Qlam_):
        ent = -(torch.xlogy(lam_, lam_ / a).sum() + torch.xlogy(slack_, slack_ / a).sum())
        return float(-0.5 * (lam_ @ Qlam_) / scale + c @ lam_ + tau * ent)

    Qlam = quad.matvec(lam)
    F = value(lam, slack, Qlam)
    trace: list[float] = []
    status, decrement, cert = "max_iter", float("inf"), float("inf")
    it = 0
    for it in range(max_iter + 1):
        grad = -Qlam / scale + c + tau * (torch.log(slack) - torch.log(lam))
        h = tau * a / (lam * slack)
        solve = quad.factor(h)
        if eq is None:
            delta = solve(grad)
        else:
            X = solve(torch.stack([grad, eq], dim=1))
            residual = eq @ lam
            nu = (eq @ X[:, 0] + residual) / (eq @ X[:, 1])
            delta = X[:, 0] - nu * X[:, 1]
        if not bool(torch.isfinite(delta).all()):
            status = "failed: non-finite Newton direction"
            break
        decrement = float(grad @ delta)
        cert = certificate(lam, slack) if certificate is not None else 0.5 * abs(decrement)
        trace.append(cert)
        if cert <= tol:
            status = "converged"
            break
        if it == max_iter:
            break
        # fraction to the boundary: never touch a face of the box
        alpha_max = 1.0
        neg, pos = delta < 0, delta > 0
        if bool(neg.any()):
            alpha_max = min(alpha_max, float((lam[neg] / -delta[neg]).min()))
        if bool(pos.any()):
            alpha_max = min(alpha_max, float((slack[pos] / delta[pos]).min()))
        alpha = min(1.0, 0.995 * alpha_max)
        # Armijo backtracking; rounding slack so that tiny final steps are not refused
        slack_tol = 64 * eps * (1.0 + abs(F))
        accepted = False
        for _ in range(60):
            lam_t = lam + alpha * delta
            slack_t = slack - alpha * delta
            if bool((lam_t > 0).all()) and bool((slack_t > 0).all()):
                Qlam_t = quad.matvec(lam_t)
                F_t = value(lam_t, slack_t, Qlam_t)
                if F_t >= F + 1e-4 * alpha * decrement - slack_tol:
                    accepted = True
                    break
            alpha *= 0.5
        if not accepted:
            status = "stalled"
            break
        lam, slack, Qlam, F = lam_t, slack_t, Qlam_t, F_t
    return NewtonState(lam=lam, slack=slack, value=F, decrement=decrement, certificate=cert,
                       iterations=it, status=status, trace=tuple(trace))


class _Quadratic:
    """The quadratic ``Q/s`` with fast products and Newton-system solves."""

    def __init__(self, G, K, scale):
        self.G, self.K, self.s = G, K, scale
        self.woodbury = G is not None and G.shape[1] < G.shape[0]
        if G is not None and not self.woodbury:
            self.K, self.G = G @ G.T, None

    def matvec(self, lam):
        if self.G is not None:
            return self.G @ (self.G.T @ lam)
        return self.K @ lam

    def factor(self, h):
        """Return a solver of ``(Q/s + diag(h)) x = r`` for r of shape (N,) or (N, k)."""
        s = self.s
        if self.woodbury:
            # (D + G G^T/s)^{-1} = D^{-1} - D^{-1} G (s I + G^T D^{-1} G)^{-1} G^T D^{-1}
            G = self.G
            Dinv = 1.0 / h
            M = G.T @ (G * Dinv[:, None])
            M.diagonal().add_(s)
            L = _cholesky(M)

            def solve(r):
                r2 = r if r.ndim == 2 else r[:, None]
                t = Dinv[:, None] * r2
                corr = torch.cholesky_solve(G.T @ t, L)
                out = t - Dinv[:, None] * (G @ corr)
                return out if r.ndim == 2 else out[:, 0]
            return solve
        # D^{1/2} (I + D^{-1/2} K D^{-1/2} / s) D^{1/2}: unit diagonal shift keeps it well scaled
        dm = torch.rsqrt(h)
        B = (self.K * dm[:, None] * dm[None, :]) / s
        B.diagonal().add_(1.0)
        L = _cholesky(B)

        def solve(r):
            r2 = r if r.ndim == 2 else r[:, None]
            out = dm[:, None] * torch.cholesky_solve(dm[:, None] * r2, L)
            return out if r.ndim == 2 else out[:, 0]
        return solve


def _cholesky(M):
    L, info = torch.linalg.cholesky_ex(M)
    if int(info) != 0:
        jitter = 1e-14 * float(M.diagonal().abs().max())
        L, info = torch.linalg.cholesky_ex(M + jitter * torch.eye(M.shape[0], dtype=M.dtype, device=M.device))
        if int(info) != 0:
            raise torch.linalg.LinAlgError("Newton system is not positive definite")
    return L


@register_solver("newton", losses=("logistic", "hinge"), bias=True)
def solve_newton(problem: LinearDual, tol: float, max_iter: int | None, lam0) -> DualResult:
    """The default solver: interior Newton on the logistic dual, primal-dual interior point on the hinge QP."""
    t0 = time.perf_counter()
    max_iter = 200 if max_iter is None else max_iter
    lam, slack = problem.initial_point(lam0)
    eq = problem.y if problem.bias else None
    if problem.loss == "logistic":
        state = maximize_entropy_dual(problem.a, scale=problem.C, G=problem.G, eq=eq, lam0=lam, slack0=slack,
                                      tol=tol, max_iter=max_iter, certificate=problem.gap)
        iterations, status, trace = state.iterations, state.status, state.trace
        lam, slack = state.lam, state.slack
    else:
        state = box_qp_interior_point(problem.a, scale=problem.C, G=problem.G, eq=eq, lam0=lam, slack0=slack,
                                      tol=tol, max_iter=max_iter, certificate=problem.gap)
        iterations, status, trace = state.iterations, state.status, state.trace
        lam, slack = state.lam, state.slack
    return problem_result(problem, lam, slack, iterations, time.perf_counter() - t0, status, "newton", tol,
                          tuple(trace))


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
    certificate: Callable[[torch.Tensor, torch.Tensor], float] | None = None,
) -> NewtonState:
    r"""Mehrotra predictor-corrector interior point for the box QP (the hinge dual).

    .. math::

        \max_{0\le\lambda\le a,\; e^\top\lambda=0} -\frac{1}{2s}\lambda^\top Q\lambda + c^\top\lambda,
        \qquad c = 1 \text{ by default.}

    With bound multipliers :math:`z_l, z_u \ge 0` each Newton system reduces to
    :math:`(Q/s + \mathrm{diag}(z_l/\lambda + z_u/(a-\lambda)))\Delta = r`, the same
    structure the entropy-dual solver factorises (Woodbury when d < N).
    Stops when ``certificate(lam, slack) <= tol`` (default: the complementarity
    :math:`\lambda^\top z_l + (a-\lambda)^\top z_u`).
    """
    if (G is None) == (K is None):
        raise ValueError("pass exactly one of G (factor) and K (Gram matrix)")
    quad = _Quadratic(G, K, scale)
    lam = 0.5 * a if lam0 is None else lam0.clone()
    slack = a - lam if slack0 is None else slack0.clone()
    c = torch.ones_like(a) if linear is None else linear
    # start the multipliers where the barrier sub-problem is balanced
    z_l = torch.ones_like(a)
    z_u = torch.ones_like(a)
    nu = torch.zeros((), dtype=a.dtype, device=a.device)
    N = a.shape[0]
    trace: list[float] = []
    status, cert, it = "max_iter", float("inf"), 0

    def direction(solve, r_dual, r_l, r_u, r_eq):
        rhs = -r_dual + r_l / lam - r_u / slack
        if eq is None:
            d_lam = solve(rhs)
            d_nu = torch.zeros((), dtype=a.dtype, device=a.device)
        else:
            X = solve(torch.stack([rhs, eq], dim=1))
            d_nu = (eq @ X[:, 0] + r_eq) / (eq @ X[:, 1])
            d_lam = X[:, 0] - d_nu * X[:, 1]
        return d_lam, (r_l - z_l * d_lam) / lam, (r_u + z_u * d_lam) / slack, d_nu

    def max_step(d_lam, d_zl, d_zu):
        alpha = 1.0
        for val, d in ((lam, d_lam), (slack, -d_lam), (z_l, d_zl), (z_u, d_zu)):
            neg = d < 0
            if bool(neg.any()):
                alpha = min(alpha, float((val[neg] / -d[neg]).min()))
        return alpha

    for it in range(max_iter + 1):
        mu = float((lam @ z_l + slack @ z_u) / (2 * N))
        cert = certificate(lam, slack) if certificate is not None else 2 * N * mu
        trace.append(cert)
        if cert <= tol:
            status = "converged"
            break
        if it == max_iter:
            break
        # minimisation form: Q lam / s - c - z_l + z_u + nu e = 0
        r_dual = quad.matvec(lam) / scale - c - z_l + z_u + (nu * eq if eq is not None else 0.0)
        r_eq = eq @ lam if eq is not None else 0.0
        solve = quad.factor(z_l / lam + z_u / slack)
        # predictor (affine scaling)
        aff = direction(solve, r_dual, -lam * z_l, -slack * z_u, r_eq)
        alpha_aff = max_step(*aff[:3])
        mu_aff = float(((lam + alpha_aff * aff[0]) @ (z_l + alpha_aff * aff[1])
                        + (slack - alpha_aff * aff[0]) @ (z_u + alpha_aff * aff[2])) / (2 * N))
        sigma = (mu_aff / mu) ** 3 if mu > 0 else 0.0
        # corrector with centring
        d_lam, d_zl, d_zu, d_nu = direction(solve, r_dual,
                                            sigma * mu - lam * z_l - aff[0] * aff[1],
                                            sigma * mu - slack * z_u + aff[0] * aff[2], r_eq)
        if not bool(torch.isfinite(d_lam).all()):
            status = "failed: non-finite interior-point direction"
            break
        alpha = min(1.0, 0.995 * max_step(d_lam, d_zl, d_zu))
        lam = lam + alpha * d_lam
        slack = slack - alpha * d_lam
        z_l = z_l + alpha * d_zl
        z_u = z_u + alpha * d_zu
        nu = nu + alpha * d_nu
        # keep the iterate strictly interior despite rounding
        tiny = torch.finfo(a.dtype).tiny
        lam, slack = lam.clamp_min(tiny), slack.clamp_min(tiny)
    value = float(-0.5 * (lam @ quad.matvec(lam)) / scale + c @ lam)
    return NewtonState(lam=lam, slack=slack, value=value, decrement=float("nan"), certificate=cert,
                       iterations=it, status=status, trace=tuple(trace))


def problem_result(problem: LinearDual, lam, slack, iterations, seconds, status, method, tol, trace=()) -> DualResult:
    """Build the common :class:`DualResult` (certificate recomputed from ``lam``)."""
    if slack is None:
        slack = problem.a - lam
    primal, dual, gap, w, b = problem.certificate(lam, slack)
    if status == "converged" and not gap <= tol:
        status = f"stalled: gap {gap:.3g} > tol"
    lam_real, lam_fake = problem.split(lam)
    return DualResult(
        lam_real=problem.output(lam_real), lam_fake=problem.output(lam_fake), w=problem.output(w), b=b,
        dual_value=dual, primal_value=primal, gap=gap, iterations=int(iterations), seconds=float(seconds),
        status=status, method=method, loss=problem.loss, C=problem.C, tol=tol,
        slack=problem.output(slack), gap_trace=tuple(float(t) for t in trace))
