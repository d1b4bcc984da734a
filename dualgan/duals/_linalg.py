"""Newton-system algebra shared by the interior solvers (back-end agnostic)."""
from __future__ import annotations

import functools
from dataclasses import dataclass

from ._backend import ops_for


def limit_blas_threads(solver):
    """Run ``solver(a, *, G=..., K=..., ...)`` under its back end's BLAS thread policy."""
    @functools.wraps(solver)
    def wrapped(a, **kwargs):
        G, K = kwargs.get("G"), kwargs.get("K")
        N = a.shape[0]
        flops = N * min(N, G.shape[1]) ** 2 if G is not None else (N ** 3 if K is not None else 0)
        with ops_for(a.device).thread_limit(flops):
            return solver(a, **kwargs)
    return wrapped


class Quadratic:
    r"""The quadratic :math:`Q/s` with fast products and Newton-system solves.

    ``Q = G G^T`` from its factor ``G`` (N x d) or ``Q = K`` (N x N). Systems
    :math:`(Q/s + \mathrm{diag}(h))x = r` are solved with the Woodbury identity
    (O(N d^2 + d^3)) when d < N, otherwise with a Cholesky factorisation of the
    diagonally scaled :math:`I + D^{-1/2}KD^{-1/2}/s` (K formed once).
    """

    def __init__(self, ops, G, K, scale):
        self.ops, self.s = ops, scale
        self.G, self.K = G, K
        self.woodbury = G is not None and G.shape[1] < G.shape[0]
        if G is not None and not self.woodbury:
            self.K, self.G = G @ G.T, None

    def matvec(self, lam):
        if self.G is not None:
            return self.G @ (self.G.T @ lam)
        return self.K @ lam

    def factor(self, h):
        """Return ``solve(r)`` for ``(Q/s + diag(h)) x = r``, r of shape (N,) or (N, k); None if not PD."""
        ops, s = self.ops, self.s
        if self.woodbury:
            # (D + G G^T/s)^{-1} = D^{-1} - D^{-1} G (s I + G^T D^{-1} G)^{-1} G^T D^{-1}
            G, Dinv = self.G, 1.0 / h
            L = _robust_cholesky(ops, ops.diag_add(ops.gram_t(G, Dinv), s))
            if L is None:
                return None

            def solve(r):
                t = Dinv * r if r.ndim == 1 else Dinv[:, None] * r
                corr = G @ ops.cho_solve(L, G.T @ t)
                return t - (Dinv * corr if r.ndim == 1 else Dinv[:, None] * corr)
            return solve
        dm = 1.0 / ops.sqrt(h)
        B = ops.diag_add((self.K * dm[:, None] * dm[None, :]) / s, 1.0)
        L = _robust_cholesky(ops, B)
        if L is None:
            return None

        def solve(r):
            if r.ndim == 1:
                return dm * ops.cho_solve(L, dm * r)
            return dm[:, None] * ops.cho_solve(L, dm[:, None] * r)
        return solve


def _robust_cholesky(ops, M):
    scale = float(abs(M[0, 0])) if M.shape[0] else 1.0
    L = ops.cholesky(ops.copy(M))
    if L is None:  # rounding made a PD matrix look indefinite: a relative jitter fixes it
        L = ops.cholesky(ops.copy(M), shift=1e-13 * max(scale, 1e-300))
    return L


MAX_LOG_SHRINK = 9.0


@dataclass
class BoxProblem:
    """The arrays of a box dual on its back end (what both interior solvers start from)."""

    ops: type
    a: object
    quad: Quadratic
    lam: object
    slack: object
    linear: object
    eq: object


def box_problem(a, scale, G, K, linear, eq, lam0, slack0, default_linear: float) -> BoxProblem:
    """Validate the quadratic's form, move everything to the back end, default start ``a/2``."""
    if (G is None) == (K is None):
        raise ValueError("pass exactly one of G (factor) and K (Gram matrix)")
    ops = ops_for(a.device)
    cv = ops.to_backend
    a_ = cv(a)
    quad = Quadratic(ops, None if G is None else cv(G), None if K is None else cv(K), scale)
    lam = 0.5 * a_ if lam0 is None else ops.copy(cv(lam0))
    slack = a_ - lam if slack0 is None else ops.copy(cv(slack0))
    c = ops.zeros_like(a_) + default_linear if linear is None else cv(linear)
    return BoxProblem(ops, a_, quad, lam, slack, c, None if eq is None else cv(eq))


def curved_path(ops, lam, slack, delta):
    """Step path that never leaves the box (see :func:`maximize_entropy_dual`)."""
    down = delta < 0
    # at most a factor e^-9 (~1e-4) per unit step: far from the optimum a Newton
    # direction can ask for an absurd shrink, and a coordinate sent to 1e-20 climbs
    # back only by a bounded factor per iteration
    rate_down = ops.where(down, ops.maximum(delta / lam, ops.zeros_like(delta) - MAX_LOG_SHRINK), 0.0)
    rate_up = ops.where(down, 0.0, ops.maximum(-delta / slack, ops.zeros_like(delta) - MAX_LOG_SHRINK))

    def path(alpha):
        # the complement moves by the same amount, written with expm1: a coordinate near 0
        # moving up by far less than eps * slack must still move (lam + (slack - slack_up)
        # would round to lam and the iteration would stall with the gap stuck)
        shrink_dn = ops.expm1(alpha * rate_down)  # in (-1, 0]
        shrink_up = ops.expm1(alpha * rate_up)
        return (ops.where(down, lam + lam * shrink_dn, lam - slack * shrink_up),
                ops.where(down, slack - lam * shrink_dn, slack + slack * shrink_up))
    return path


def straight_path(lam, slack, delta):
    return lambda alpha: (lam + alpha * delta, slack - alpha * delta)


def equality_step(ops, solve, rhs, e, lam):
    """``(x, nu)``: ``x = solve(rhs)``, or with an equality ``e`` the solution of the system bordered by ``e``
    whose step restores ``e^T (lam + x) = 0`` (two solves); ``nu`` its multiplier (0.0 without ``e``)."""
    if e is None:
        return solve(rhs), 0.0
    X = solve(ops.stack_cols([rhs, e]))
    nu = float((e @ X[:, 0] + e @ lam) / (e @ X[:, 1]))
    return X[:, 0] - nu * X[:, 1], nu


def max_step(pairs) -> float:
    """Largest alpha <= inf keeping every ``value + alpha * direction`` >= 0."""
    alpha = float("inf")
    for value, direction in pairs:
        neg = direction < 0
        if bool(neg.any()):
            alpha = min(alpha, float((value[neg] / -direction[neg]).min()))
    return alpha
