r"""Compiled CPU kernels of the Newton methods for the logistic loss (numba).

Two kernels, the two sides of the primal-dual pair:

* :func:`logistic_primal_newton` (d < N, with or without bias): Newton's method
  on the primal, the interpreted reference being
  :func:`dualgan.duals._primal.logistic_primal_newton`;
* :func:`logistic_newton` (d >= N, no bias): the interior Newton method on the
  dual, the interpreted reference being
  :func:`dualgan.duals.newton.maximize_entropy_dual`.

They are compiled because at the sizes of GAN training (N ~ 200, d ~ 100) an
iteration's arithmetic (a ``syrk``, a Cholesky factorisation and a few O(Nd)
products, about 0.15 ms) is smaller than the overhead of the ~50 numpy calls
the interpreted loops make around it. BLAS and LAPACK (``dsyrk``, ``dpotrf``,
``dpotrs``) are scipy's, called through its Cython exports.

Both certify each iterate by the gap of eq. (1.16) of the theory page, summed
from non-negative terms, and stop when ``gap <= tol`` and
``sqrt(2 gap / C) <= w_rtol * ||w||``. The tests check both kernels against
their interpreted references, the certificates against
:meth:`dualgan.duals.LinearDual.certificate`, and each compiled formula
(:func:`_dual_value`, :func:`_dual_gradient`, :func:`_kl_gap`,
:func:`_primal_value`, :func:`_pair`) against its reference form
(:mod:`dualgan.duals.objective`, :mod:`dualgan.duals._primal`).
"""
from __future__ import annotations

import math

import llvmlite.binding as _llvm
import numba
import numpy as np
from numba import types
from numba.extending import get_cython_function_address

from ..status import StatusCode
from ._linalg import MAX_LOG_SHRINK

__all__ = ["logistic_newton", "logistic_primal_newton", "jit", "STATUS"]

#: (code, message) of each integer the kernels return: the one place the kernels' integers are read.
#: ``StatusCode.SUCCESS`` means the kernel's own stopping test passed (the caller certifies the pair)
STATUS = (
    (StatusCode.SUCCESS, ""),
    (StatusCode.MAX_ITER, ""),
    (StatusCode.NUMERICAL_ERROR, "Newton system not positive definite"),
    (StatusCode.NON_FINITE, "non-finite Newton direction or certificate"),
    (StatusCode.STALLED, "no ascent along either path"),
    (StatusCode.STALLED, "no progress above rounding for 5 iterations"),
    (StatusCode.STALLED, "the line search found no decrease of P"),
)
_CONVERGED, _MAX_ITER, _NOT_PD, _NON_FINITE, _STALLED, _FLOOR, _NO_DECREASE = range(7)

# scipy's BLAS/LAPACK under fixed symbol names: an external function referenced by name (not a
# ctypes pointer baked into the code) lets numba cache the compiled kernel on disk
for _module, _name in (("blas", "dsyrk"), ("lapack", "dpotrf"), ("lapack", "dpotrs")):
    _llvm.add_symbol(f"dualgan_{_name}", get_cython_function_address(f"scipy.linalg.cython_{_module}", _name))
_ptr = types.voidptr
_dsyrk = types.ExternalFunction("dualgan_dsyrk", types.void(*[_ptr] * 10))
_dpotrf = types.ExternalFunction("dualgan_dpotrf", types.void(*[_ptr] * 5))
_dpotrs = types.ExternalFunction("dualgan_dpotrs", types.void(*[_ptr] * 8))

_EPS = float(np.finfo(np.float64).eps)
_UNCACHED_WARNED = []


def jit(fn):
    """``numba.njit(cache=True, nogil=True)``, or uncached (one warning per process) where numba can cache nowhere.

    numba caches next to the source, in ``NUMBA_CACHE_DIR`` or in the user's
    cache folder; where none is writable (a read-only install, a locked-down
    home) ``cache=True`` raises "no locator available" at decoration, which
    would make ``import dualgan.duals`` fail. The kernels then compile in each
    process instead (about 20 s on first use) and say so once.
    """
    try:
        return numba.njit(cache=True, nogil=True)(fn)
    except RuntimeError as exc:
        if "cannot cache" not in str(exc):
            raise
        if not _UNCACHED_WARNED:
            _UNCACHED_WARNED.append(True)
            import warnings

            warnings.warn(f"dualgan.duals: numba found no writable cache folder ({exc}); the dual solvers' kernels "
                          f"are compiled in every process (about 20 s on first use) instead of once. Set "
                          f"NUMBA_CACHE_DIR to a writable folder to cache them", RuntimeWarning, stacklevel=2)
        return numba.njit(cache=False, nogil=True)(fn)


_jit = jit


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
def _dual_value(lam, slack, q, a, C):
    """D(lambda) = -lam^T q/(2C) + sum_i a_i H(lam_i/a_i), with q = Q lam (eq. (1.3); compiled form of
    :func:`dualgan.duals.objective.dual_value`, tested against it)."""
    return -0.5 * np.dot(lam, q) / C - _neg_entropy(lam, slack, a)


@_jit
def _dual_gradient(q, lam, slack, C, out):
    """grad D = -q/C + log(slack/lam) into ``out``, with q = Q lam (eq. (1.7); compiled form of
    :func:`dualgan.duals.objective.dual_gradient`, tested against it)."""
    for i in range(lam.shape[0]):
        out[i] = -q[i] / C + (math.log(slack[i]) - math.log(lam[i]))
    return out


@_jit
def _softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@_jit
def _sigmoid(x):
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@_jit
def _kl_gap(lam, slack, a, margins):
    """sum_i a_i KL(u_i || sigma(-m_i)), u = lam/a: the gap (1.16) of a pair with w = v(lam)/C."""
    total = 0.0
    for i in range(lam.shape[0]):
        m = margins[i]
        # see _primal.kl_terms: each coordinate from its accurate side, KL in the log1p form
        if lam[i] <= slack[i]:
            u = lam[i] / a[i]
            uc = 1.0 - u
            delta = u - _sigmoid(-m)
        else:
            uc = slack[i] / a[i]
            u = 1.0 - uc
            delta = _sigmoid(m) - uc
        s = _sigmoid(-m)
        sc = _sigmoid(m)
        t = 0.0
        if u > 0.0:
            if s > 0.0 and abs(delta / s) < 0.5:
                t += u * math.log1p(delta / s)
            else:
                t += u * (math.log(u) + _softplus(m))
        if uc > 0.0:
            if sc > 0.0 and abs(delta / sc) < 0.5:
                t += uc * math.log1p(-delta / sc)
            else:
                t += uc * (math.log(uc) + _softplus(-m))
        total += a[i] * t
    return total


@_jit
def _search(K, a, C, lam, slack, delta, rates, straight, alpha, F, decrement, rounding):
    """Armijo backtracking along the curved (or straight) path; returns (found, alpha, lam, slack, q, F).

    ``K`` is the full symmetric Gram G G^T: q = K lam costs N^2 per trial, where G (G^T lam) costs
    2 N d (at d = 18,816, N = 256 two passes over a 38 MB matrix, most of a solve's time).
    """
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
            q_t = K @ lam_t
            F_t = _dual_value(lam_t, slack_t, q_t, a, C)
            if F_t >= F + 1e-4 * alpha * decrement - rounding:
                return True, alpha, lam_t, slack_t, q_t, F_t
        alpha *= 0.5
    return False, 0.0, lam, slack, lam, F


@_jit
def _norm(x):
    return math.sqrt(np.dot(x, x))


@_jit
def logistic_newton(G, a, C, lam, slack, tol, w_rtol, max_iter, trace):
    """Maximise the logistic dual (d >= N, no bias) from the strictly feasible ``(lam, slack)``.

    ``G`` is the C-contiguous (N, d) matrix diag(y) Phi; the Newton systems are the diagonally
    scaled N x N systems with K = G G^T formed once. Each iteration takes the better of the
    straight step (fraction to the boundary) and the curved path. ``trace`` (length >=
    max_iter + 1) receives the gap at each iterate. Returns
    ``(lam, slack, value, decrement, gap, iterations, status)``.
    """
    N, d = G.shape
    K = np.empty((N, N))
    _syrk(G, N, d, ord("T"), K)  # Fortran-'U' triangle of K = G G^T
    for j in range(N):  # the other triangle: every q = K lam below is then one N x N product, not two N x d
        for i in range(j):
            K[i, j] = K[j, i]
    M = np.empty((N, N))
    lam = lam.copy()
    slack = slack.copy()
    q = K @ lam
    F = _dual_value(lam, slack, q, a, C)
    grad = np.empty(N)
    Dinv = np.empty(N)
    rates = np.empty(N)
    status, decrement, gap, it, flat_steps = _MAX_ITER, np.inf, np.inf, 0, 0
    best_lam, best_slack, best_gap, best_F = lam.copy(), slack.copy(), np.inf, F
    prev_best = np.inf
    for it in range(max_iter + 1):
        gap = _kl_gap(lam, slack, a, q / C)
        trace[it] = gap
        if not math.isfinite(gap):
            status = _NON_FINITE
            break
        if gap < best_gap:  # never return a point worse than the best certified iterate
            best_lam[:] = lam
            best_slack[:] = slack
            best_gap, best_F = gap, F
        if gap <= tol and (w_rtol == np.inf or math.sqrt(2.0 * max(gap, 0.0) / C) <= w_rtol * _norm(G.T @ lam) / C):
            status = _CONVERGED
            break
        _dual_gradient(q, lam, slack, C, grad)
        for i in range(N):
            Dinv[i] = lam[i] * slack[i] / a[i]
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
        # both paths, the better ascent kept (see maximize_entropy_dual)
        step = np.inf
        for i in range(N):
            if delta[i] < 0.0:
                step = min(step, lam[i] / -delta[i])
            elif delta[i] > 0.0:
                step = min(step, slack[i] / delta[i])
        found, alpha, lam_t, slack_t, q_t, F_t = _search(K, a, C, lam, slack, delta, rates, True,
                                                         min(1.0, 0.995 * step), F, decrement, rounding)
        ok, alpha2, lam2, slack2, q2, F2 = _search(K, a, C, lam, slack, delta, rates, False, 1.0, F,
                                                   decrement, rounding)
        if ok and (not found or F2 > F_t):
            found, lam_t, slack_t, q_t, F_t = True, lam2, slack2, q2, F2
        if not found:
            status = _STALLED
            break
        # no progress: neither the objective above its rounding nor the certificate (see newton.py)
        flat_steps = flat_steps + 1 if (F_t - F <= rounding and not gap < prev_best) else 0
        prev_best = min(prev_best, gap)
        lam, slack, q, F = lam_t, slack_t, q_t, F_t
        if flat_steps >= 5:
            status = _FLOOR
            break
    if not gap <= best_gap:
        return best_lam, best_slack, best_F, decrement, best_gap, it, status
    return lam, slack, F, decrement, gap, it, status


@_jit
def _primal_value(w, margins, a, C):
    """P(w, b) = C ||w||^2 / 2 + sum_i a_i softplus(-m_i) at the margins m (eq. (1.1); compiled form of
    :meth:`dualgan.duals.LinearDual.primal_value`, tested against it)."""
    total = 0.5 * C * np.dot(w, w)
    for i in range(a.shape[0]):
        total += a[i] * _softplus(-margins[i])
    return total


@_jit
def _pair(G, y, a, C, bias, w, margins, lam, slack):
    """Multipliers of eq. (1.17) (made feasible with a bias) into ``lam``/``slack``; returns the gap (1.16).

    Compiled form of :func:`dualgan.duals._primal.relation_multipliers` and
    :func:`dualgan.duals._primal.pair_certificate`, tested against them."""
    N = a.shape[0]
    pos, neg = 0.0, 0.0
    for i in range(N):
        lam[i] = a[i] * _sigmoid(-margins[i])
        slack[i] = a[i] * _sigmoid(margins[i])
        if y[i] > 0:
            pos += lam[i]
        else:
            neg += lam[i]
    if bias and pos != neg:
        big_is_pos = pos > neg
        c = neg / pos if big_is_pos else pos / neg
        for i in range(N):
            if (y[i] > 0) == big_is_pos:
                scaled = lam[i] * c
                slack[i] += lam[i] - scaled
                lam[i] = scaled
    r = C * w - G.T @ lam
    return np.dot(r, r) / (2.0 * C) + _kl_gap(lam, slack, a, margins)


@_jit
def _keep_pair(best_w, best_lam, best_slack, w, lam, slack):
    """Copy the pair ``(w, lam, slack)`` into the best pair's arrays (the best certified pair is returned)."""
    best_w[:] = w
    best_lam[:] = lam
    best_slack[:] = slack


@_jit
def logistic_primal_newton(G, y, a, C, bias, w, b, tol, w_rtol, max_iter, trace):
    """Newton's method on the primal P(w, b) (d < N); the multipliers from eq. (1.17).

    Each iteration solves ``(C I + G^T S G) dw = -grad`` (bordered by the bias row and column,
    which are not regularised) with a Cholesky factorisation, then backtracks (Armijo) on P.
    The best certified pair is returned: ``(w, b, lam, slack, gap, iterations, status)``.
    """
    N, d = G.shape
    p = d + 1 if bias else d
    w = w.copy()
    margins = G @ w
    if bias:
        for i in range(N):
            margins[i] += y[i] * b
    P = _primal_value(w, margins, a, C)
    lam = np.empty(N)
    slack = np.empty(N)
    best_w, best_b = w.copy(), b
    best_lam, best_slack = np.empty(N), np.empty(N)
    best_gap = np.inf
    Gs = np.empty((N, d))
    M = np.empty((p, p))
    s = np.empty(N)
    status, it, flat = _MAX_ITER, 0, 0
    for it in range(max_iter + 1):
        gap = _pair(G, y, a, C, bias, w, margins, lam, slack)
        trace[it] = gap
        if not math.isfinite(gap):
            status = _NON_FINITE
            break
        if gap < best_gap:
            best_gap, best_b = gap, b
            _keep_pair(best_w, best_lam, best_slack, w, lam, slack)
        if gap <= tol and (w_rtol == np.inf or math.sqrt(2.0 * max(gap, 0.0) / C) <= w_rtol * _norm(w)):
            status = _CONVERGED
            break
        if it == max_iter:
            break
        gw = C * w
        gb = 0.0
        for i in range(N):
            sn = _sigmoid(-margins[i])
            li = a[i] * sn
            s[i] = li * _sigmoid(margins[i])
            r = math.sqrt(s[i])
            for j in range(d):
                gw[j] -= G[i, j] * li
                Gs[i, j] = G[i, j] * r
            gb -= y[i] * li
        if bias:
            top = np.empty((d, d))
            _syrk(Gs, d, N, ord("N"), top)  # upper triangle (Fortran) of Gs^T Gs
            for j in range(d):
                for k in range(j, d):  # Fortran 'U' is the C view's lower triangle: M[k, j], k >= j
                    M[k, j] = top[k, j]
                M[j, j] += C
            for j in range(d):
                col = 0.0
                for i in range(N):
                    col += G[i, j] * s[i] * y[i]
                M[d, j] = col
            M[d, d] = s.sum()
            grad = np.empty(p)
            grad[:d] = gw
            grad[d] = gb
        else:
            _syrk(Gs, d, N, ord("N"), M)
            for j in range(d):
                M[j, j] += C
            grad = gw
        if not _factor(M, M[0, 0]):
            status = _NOT_PD
            break
        step = -_potrs(M, grad)
        if not np.isfinite(step).all():
            status = _NON_FINITE
            break
        dec = -np.dot(grad, step)
        rounding = 64 * _EPS * (1.0 + abs(P))
        alpha = 1.0
        accepted = False
        w_t = np.empty(d)
        b_t = b
        m_t = np.empty(N)
        P_t = P
        for _ in range(60):
            for j in range(d):
                w_t[j] = w[j] + alpha * step[j]
            m_t = G @ w_t
            if bias:
                b_t = b + alpha * step[d]
                for i in range(N):
                    m_t[i] += y[i] * b_t
            P_t = _primal_value(w_t, m_t, a, C)
            if P_t <= P - 1e-4 * alpha * dec + rounding:
                accepted = True
                break
            alpha *= 0.5
        if not accepted:
            status = _NO_DECREASE
            break
        flat = flat + 1 if P - P_t <= rounding else 0
        w, b, margins, P = w_t, b_t, m_t, P_t
        if flat >= 5:
            it += 1
            gap = _pair(G, y, a, C, bias, w, margins, lam, slack)
            trace[it] = gap
            if gap < best_gap:
                best_gap, best_b = gap, b
                _keep_pair(best_w, best_lam, best_slack, w, lam, slack)
            status = _FLOOR
            break
    if best_gap == np.inf:  # not even the first pair is finite: that pair, as the Python method returns it
        return w, b, lam, slack, gap, it, status
    return best_w, best_b, best_lam, best_slack, best_gap, it, status
