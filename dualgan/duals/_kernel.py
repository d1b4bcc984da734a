r"""Compiled CPU kernel of the Newton method for the logistic dual (no bias).

The algorithm is :func:`dualgan.duals.newton.maximize_entropy_dual` for the
linear discriminator's logistic dual (``Q = G G^T``, ``s = C``, ``c = 0``,
``tau = 1``), with the same curved-path Armijo search, straight-step fallback,
stopping rules and statuses. It is compiled with numba because at the sizes of
GAN training (N ~ 200, d ~ 100) an iteration's arithmetic (a ``syrk``, a
Cholesky factorisation and a few O(Nd) products, about 0.15 ms) is smaller
than the overhead of the ~50 numpy calls the interpreted loop makes around it.

Two things differ from the interpreted loop, both only in rounding:

* The duality gap is formed from quantities the iteration already has.
  With :math:`q = Q\lambda` (computed for the gradient and the line search),
  the recovered discriminator's margins are :math:`q/C` and
  :math:`\tfrac C2\|w\|^2 = \lambda^\top q/(2C)`, so
  :math:`\mathrm{gap} = \lambda^\top q/(2C) + \sum_i a_i\,\mathrm{softplus}(-q_i/C) - D(\lambda)`
  with :math:`D(\lambda)` the objective value the line search computed.
  :func:`dualgan.duals.newton.problem_result` recomputes the certificate from
  scratch at the returned point.
* BLAS and LAPACK (``dsyrk``, ``dpotrf``, ``dpotrs``) are scipy's, called
  through its Cython exports, so the kernel uses the same library as the rest
  of the CPU code.

Status codes returned by :func:`logistic_newton` are mapped to the strings of
the interpreted loop by :data:`STATUS`.
"""
from __future__ import annotations

import math

import llvmlite.binding as _llvm
import numba
import numpy as np
from numba import types
from numba.extending import get_cython_function_address

from ._linalg import MAX_LOG_SHRINK

__all__ = ["logistic_newton", "certificate", "jit", "STATUS"]

STATUS = (
    "converged",
    "max_iter",
    "failed: Newton system not positive definite",
    "failed: non-finite Newton direction",
    "stalled",
    "stalled: at the rounding floor",
)
_CONVERGED, _MAX_ITER, _NOT_PD, _NON_FINITE, _STALLED, _FLOOR = range(6)

# scipy's BLAS/LAPACK under fixed symbol names: an external function referenced by name (not a
# ctypes pointer baked into the code) lets numba cache the compiled kernel on disk
for _module, _name in (("blas", "dsyrk"), ("lapack", "dpotrf"), ("lapack", "dpotrs")):
    _llvm.add_symbol(f"dualgan_{_name}", get_cython_function_address(f"scipy.linalg.cython_{_module}", _name))
_ptr = types.voidptr
_dsyrk = types.ExternalFunction("dualgan_dsyrk", types.void(*[_ptr] * 10))
_dpotrf = types.ExternalFunction("dualgan_dpotrf", types.void(*[_ptr] * 5))
_dpotrs = types.ExternalFunction("dualgan_dpotrs", types.void(*[_ptr] * 8))

_EPS = float(np.finfo(np.float64).eps)
_jit = jit = numba.njit(cache=True, nogil=True)


@_jit
def _syrk(A, n, k, trans, out):
    """Upper triangle (Fortran order) of ``out = A^T A`` for ``trans='N'`` on the Fortran view.

    ``A`` is a C-ordered (k, n) array, i.e. Fortran (n, k) with leading dimension n: with
    ``trans = 'N'`` the result is the n x n matrix ``A^T A`` of the C view; with ``trans = 'T'``
    (``A`` C-ordered (n, k)) it is ``A A^T`` of the C view.
    """
    uplo = np.array([ord("U")], np.uint8)
    tr = np.array([trans], np.uint8)
    n_ = np.array([n], np.int32)
    k_ = np.array([k], np.int32)
    lda = np.array([n if trans == ord("N") else k], np.int32)
    one = np.array([1.0])
    zero = np.array([0.0])
    _dsyrk(uplo.ctypes, tr.ctypes, n_.ctypes, k_.ctypes, one.ctypes, A.ctypes, lda.ctypes, zero.ctypes,
           out.ctypes, n_.ctypes)


@_jit
def _potrf(M):
    """In-place upper Cholesky factor (Fortran 'U' of the symmetric M); returns LAPACK's info."""
    uplo = np.array([ord("U")], np.uint8)
    n_ = np.array([M.shape[0]], np.int32)
    info = np.zeros(1, np.int32)
    _dpotrf(uplo.ctypes, n_.ctypes, M.ctypes, n_.ctypes, info.ctypes)
    return info[0]


@_jit
def _potrs(U, b):
    """Solve with the factor from :func:`_potrf`; returns a new vector."""
    uplo = np.array([ord("U")], np.uint8)
    n_ = np.array([U.shape[0]], np.int32)
    nrhs = np.array([1], np.int32)
    info = np.zeros(1, np.int32)
    x = b.copy()
    _dpotrs(uplo.ctypes, n_.ctypes, nrhs.ctypes, U.ctypes, n_.ctypes, x.ctypes, n_.ctypes, info.ctypes)
    return x


@_jit
def _factor(M, jitter_scale):
    """Cholesky of M in place; on failure retry once with a relative jitter (rounding). True if PD."""
    n = M.shape[0]
    backup = M.copy()
    if _potrf(M) == 0:
        return True
    M[:, :] = backup
    shift = 1e-13 * max(abs(jitter_scale), 1e-300)
    for j in range(n):
        M[j, j] += shift
    return _potrf(M) == 0


@_jit
def _neg_entropy(lam, slack, a):
    """-sum_i a_i H(lam_i/a_i) = sum_i lam_i log(lam_i/a_i) + slack_i log(slack_i/a_i) (0 log 0 = 0)."""
    ent = 0.0
    for i in range(lam.shape[0]):
        if lam[i] > 0.0:
            ent += lam[i] * math.log(lam[i] / a[i])
        if slack[i] > 0.0:
            ent += slack[i] * math.log(slack[i] / a[i])
    return ent


@_jit
def _logistic_loss(a, margins, divisor):
    """sum_i a_i softplus(-margins_i / divisor), in the stable form max(x, 0) + log1p(exp(-|x|))."""
    loss = 0.0
    for i in range(a.shape[0]):
        m = margins[i] / divisor
        loss += a[i] * (max(-m, 0.0) + math.log1p(math.exp(-abs(m))))
    return loss


@_jit
def _dual_value(lam, slack, q, a, C):
    """D(lambda) = -lam^T q/(2C) + sum_i a_i H(lam_i/a_i), with q = Q lam."""
    return -0.5 * np.dot(lam, q) / C - _neg_entropy(lam, slack, a)


@_jit
def _gap(lam, q, a, C, dual):
    """Duality gap at w = v(lam)/C from q = Q lam (see the module docstring)."""
    return 0.5 * np.dot(lam, q) / C + _logistic_loss(a, q, C) - dual


@_jit
def _matvec(G, lam):
    return G @ (G.T @ lam)


@_jit
def _search(G, a, C, lam, slack, delta, rates, straight, alpha, F, decrement, rounding):
    """Armijo backtracking along the curved (or straight) path; returns (found, alpha, lam, slack, q, F)."""
    N = lam.shape[0]
    for _ in range(60):
        lam_t = np.empty(N)
        slack_t = np.empty(N)
        inside = True
        for i in range(N):
            if straight:
                lam_t[i] = lam[i] + alpha * delta[i]
                slack_t[i] = slack[i] - alpha * delta[i]
            else:
                # the complement moves by the same amount, written with expm1 (see _linalg.curved_path)
                e = math.expm1(alpha * rates[i])
                if delta[i] < 0.0:
                    lam_t[i] = lam[i] + lam[i] * e
                    slack_t[i] = slack[i] - lam[i] * e
                else:
                    lam_t[i] = lam[i] - slack[i] * e
                    slack_t[i] = slack[i] + slack[i] * e
            if not (lam_t[i] > 0.0 and slack_t[i] > 0.0):
                inside = False
        if inside:
            q_t = _matvec(G, lam_t)
            F_t = _dual_value(lam_t, slack_t, q_t, a, C)
            if F_t >= F + 1e-4 * alpha * decrement - rounding:
                return True, alpha, lam_t, slack_t, q_t, F_t
        alpha *= 0.5
    return False, 0.0, lam, slack, lam, F


@_jit
def logistic_newton(G, a, C, lam, slack, tol, max_iter, trace):
    """Maximise the logistic dual from the strictly feasible ``(lam, slack)``.

    ``G`` is the C-contiguous (N, d) matrix diag(y) Phi. Newton systems use the Woodbury
    form (a d x d Cholesky factorisation) when d < N, otherwise the diagonally scaled
    N x N system with K = G G^T formed once. ``trace`` (length >= max_iter + 1) receives
    the gap at each iterate. Returns ``(lam, slack, value, decrement, gap, iterations, status)``.
    """
    N, d = G.shape
    woodbury = d < N
    if woodbury:
        Gs = np.empty((N, d))
        M = np.empty((d, d))
    else:
        K = np.empty((N, N))
        _syrk(G, N, d, ord("T"), K)  # Fortran-'U' triangle of K = G G^T
        M = np.empty((N, N))
    lam = lam.copy()
    slack = slack.copy()
    q = _matvec(G, lam)
    F = _dual_value(lam, slack, q, a, C)
    grad = np.empty(N)
    Dinv = np.empty(N)
    rates = np.empty(N)
    status, decrement, gap, it, flat_steps = _MAX_ITER, np.inf, np.inf, 0, 0
    for it in range(max_iter + 1):
        gap = _gap(lam, q, a, C, F)
        trace[it] = gap
        if gap <= tol:
            status = _CONVERGED
            break
        for i in range(N):
            grad[i] = -q[i] / C + (math.log(slack[i]) - math.log(lam[i]))
            Dinv[i] = lam[i] * slack[i] / a[i]
        if woodbury:
            # (D + G G^T/C)^{-1} = D^{-1} - D^{-1} G (C I + G^T D^{-1} G)^{-1} G^T D^{-1}
            for i in range(N):
                r = math.sqrt(Dinv[i])
                for j in range(d):
                    Gs[i, j] = G[i, j] * r
            _syrk(Gs, d, N, ord("N"), M)
            for j in range(d):
                M[j, j] += C
            if not _factor(M, M[0, 0]):
                status = _NOT_PD
                break
            t = Dinv * grad
            x = _potrs(M, G.T @ t)
            delta = t - Dinv * (G @ x)
        else:
            # (I + D^{1/2} K D^{1/2}/C) on the triangle syrk filled (C view: lower)
            for j in range(N):
                dj = math.sqrt(Dinv[j])
                for i in range(j + 1):
                    M[j, i] = K[j, i] * (dj * math.sqrt(Dinv[i])) / C
                M[j, j] += 1.0
            if not _factor(M, M[0, 0]):
                status = _NOT_PD
                break
            sq = np.sqrt(Dinv)
            delta = sq * _potrs(M, sq * grad)
        if not np.isfinite(delta).all():
            status = _NON_FINITE
            break
        decrement = np.dot(grad, delta)
        if it == max_iter:
            break
        rounding = 64 * _EPS * (1.0 + abs(F))  # so that tiny final steps are not refused
        for i in range(N):
            if delta[i] < 0.0:
                rates[i] = max(delta[i] / lam[i], -MAX_LOG_SHRINK)
            else:
                rates[i] = max(-delta[i] / slack[i], -MAX_LOG_SHRINK)
        found, alpha, lam_t, slack_t, q_t, F_t = _search(G, a, C, lam, slack, delta, rates, False, 1.0, F,
                                                         decrement, rounding)
        if not found or alpha < 1e-10:
            # far from the optimum the capped rates can make the curved path barely ascend;
            # the straight step with a fraction-to-boundary rule always ascends
            step = np.inf
            for i in range(N):
                if delta[i] < 0.0:
                    step = min(step, lam[i] / -delta[i])
                elif delta[i] > 0.0:
                    step = min(step, slack[i] / delta[i])
            ok, alpha2, lam2, slack2, q2, F2 = _search(G, a, C, lam, slack, delta, rates, True,
                                                       min(1.0, 0.995 * step), F, decrement, rounding)
            if ok and (not found or F2 > F_t):
                found, lam_t, slack_t, q_t, F_t = True, lam2, slack2, q2, F2
        if not found:
            status = _STALLED
            break
        flat_steps = flat_steps + 1 if F_t - F <= rounding else 0
        lam, slack, q, F = lam_t, slack_t, q_t, F_t
        if flat_steps >= 5:
            status = _FLOOR
            break
    return lam, slack, F, decrement, gap, it, status


@_jit
def certificate(G, a, C, lam, slack):
    """``(primal, dual, w)`` at ``lam`` from the definitions (eqs. (1.1)-(1.4) of the theory page), not from the iteration's q.

    ``v = G^T lam``, ``w = v/C``, ``P(w) = C/2 |w|^2 + sum_i a_i softplus(-(G w)_i)``,
    ``D = -|v|^2/(2C) + sum_i a_i H(lam_i/a_i)`` with the complement ``slack``.
    """
    v = G.T @ lam
    w = v / C
    primal = 0.5 * C * np.dot(w, w) + _logistic_loss(a, G @ w, 1.0)
    return primal, -np.dot(v, v) / (2.0 * C) - _neg_entropy(lam, slack, a), w
