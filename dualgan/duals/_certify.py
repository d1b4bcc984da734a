r"""The certificate of a primal-dual pair with its own rounding counted (eq. (1.18) of the theory page).

The gap (1.16) of a pair is summed from non-negative terms, but each term is
itself computed in float64: the residual :math:`Cw - \Gamma^\top\lambda` is a
difference of vectors that nearly cancel at the optimum, and the margins
:math:`m = \Gamma w + b\,y` carry the rounding of their dot products. Near the
edge of float64 (classes that nearly coincide, C of 1e6 or 1e-9, weights of
1e-300) the computed gap can then be *smaller* than the exact gap of the same
pair, and a bound :math:`\sqrt{2\,\mathrm{gap}/C}` on :math:`\|w - w^\star\|`
computed from it can be below the true error.

:func:`certify_pair` returns an upper bound on the exact gap of the pair (the
float64 numbers taken as exact reals, the problem's float64 data ``G``, ``a``,
``C``), eq. (1.18):

* the residual and the margins are summed in double-double arithmetic
  (error-free products and pairwise error-free sums), so their error is about
  :math:`u^2\sum|\text{terms}|` instead of :math:`u\sum|\text{terms}|`
  (:math:`u = 2^{-53}`), and it is bounded and added;
* each loss term gets a bound on its own evaluation error and on the effect of
  the margins' error (first order :math:`|u_i - \sigma(-m_i)|\,\mu_i`, the
  logistic term's derivative in the margin; second order :math:`\mu_i^2/8`);
* with a bias, the multipliers satisfy :math:`y^\top\lambda = 0` only up to
  rounding; the gap of the nearest exactly feasible point (one coordinate moved
  by :math:`|y^\top\lambda|`, computed exactly by ``math.fsum``) is bounded by
  its first- and second-order change;
* everything is computed with the weights scaled by a power of two (exact) so
  that weights of 1e-300 neither underflow the gap nor the bound on ``w``.

References
----------
T. J. Dekker, "A floating-point technique for extending the available precision",
Numerische Mathematik 18, 1971. Takeshi Ogita, Siegfried M. Rump, Shin'ichi Oishi,
"Accurate sum and dot product", SIAM Journal on Scientific Computing 26(6), 2005.
Nicholas J. Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed., SIAM, 2002.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import expit

__all__ = ["CertifiedGap", "certify_pair", "power_of_two_scale"]

#: the unit roundoff of float64
_U = 2.0 ** -53
#: the smallest positive subnormal float64: the absolute error of a product that underflows
_ETA = 2.0 ** -1074
_SPLIT = 134217729.0  # 2^27 + 1, Dekker's splitter
#: elements per block of the double-double sums (bounds the temporary memory to a few hundred MB)
_BLOCK = 1 << 21


@dataclass(frozen=True)
class CertifiedGap:
    """The gap of a pair and an upper bound on its exact value (see :func:`certify_pair`).

    Parameters
    ----------
    gap : float
        The gap (1.16) summed with the accurate residual and margins (rounded to float64).
    gap_bound : float
        An upper bound on the exact gap of the pair (eq. (1.18)), >= 0; inf when none can be given.
    w_error_bound : float
        :math:`\\sqrt{2\\,\\mathrm{gap\\_bound}/C}` rounded up, computed without underflow: a bound on
        :math:`\\|w - w^\\star\\|` (eq. (1.6)).
    scale : float
        The power of two ``s`` the weights were scaled by (the gaps in ``a s`` units are ``s`` times these).
    """

    gap: float
    gap_bound: float
    w_error_bound: float
    scale: float


def power_of_two_scale(a: np.ndarray, C: float) -> float:
    """A power of two ``s`` with ``max(a) s`` in [1/2, 1) and ``C s`` finite (1 when none is needed)."""
    top = float(np.max(a)) if a.size else 1.0
    if not (math.isfinite(top) and top > 0):
        return 1.0
    s = math.ldexp(1.0, -math.frexp(top)[1])
    return s if math.isfinite(C * s) and C * s > 0 else 1.0


def certify_pair(G, y, a, C: float, loss: str, bias: bool, w, b, lam, target=None) -> CertifiedGap:
    r"""An upper bound on the exact duality gap (1.16) of the pair ``((w, b), lam)``, eq. (1.18).

    Parameters
    ----------
    G : numpy.ndarray or torch.Tensor, shape (N, d), float64
        :math:`\Gamma = \mathrm{diag}(y)\Phi`.
    y : numpy.ndarray or torch.Tensor, shape (N,), float64
        Labels, +1 (real) or -1 (generated).
    a : numpy.ndarray or torch.Tensor, shape (N,), float64
        The box's upper bounds, > 0.
    C : float
        The L2 weight, > 0.
    loss : str
        ``"logistic"`` or ``"hinge"``.
    bias : bool
        Whether the problem has a bias (the equality (1.11)).
    w : numpy.ndarray or torch.Tensor, shape (d,), float64
        The discriminator.
    b : float or None
        Its bias (None without one).
    lam : numpy.ndarray or torch.Tensor, shape (N,), float64
        The multipliers, in the box :math:`[0, a]`; the pair is certified for these exact numbers.
    target : tuple of float, optional
        ``(tol, allowed)``: when the bound from plain float64 sums (with the classical
        bound :math:`\gamma_q\sum|\text{terms}|` on their rounding, two extra
        matrix-vector products) already gives ``gap_bound <= tol`` and
        ``w_error_bound <= allowed``, it is returned without the double-double sums
        (several times the cost of a solve's matrix-vector product). Default None:
        always the double-double sums.

    Returns
    -------
    CertifiedGap
        The gap, its upper bound and the bound on :math:`\|w - w^\star\|`.
    """
    G, y, a, w, lam = (_numpy(t) for t in (G, y, a, w, lam))
    if target is not None:
        fast = _certify(G, y, a, C, loss, bias, w, b, lam, accurate=False)
        if fast.gap_bound <= target[0] and fast.w_error_bound <= target[1]:
            return fast
    return _certify(G, y, a, C, loss, bias, w, b, lam, accurate=True)


def _certify(G, y, a, C, loss, bias, w, b, lam, accurate: bool) -> CertifiedGap:
    N, d = G.shape
    s = power_of_two_scale(a, C)
    a_s, lam_s, C_s = a * s, lam * s, C * s
    slack_s = a_s - lam_s  # exact where lam >= a/2 (Sterbenz), the side slack is read from
    # the residual r = C w - G^T lam (eq. (1.16)'s first term), to about u^2 sum |terms|
    r, r_err = _rowsums(G.T, -lam_s, accurate, extra=(C_s, w))
    rho = (_norm(r) * (1 + (d + 4) * _U) + _norm(r_err)) / C_s * (1 + 4 * _U)  # >= ||r|| / C
    rho = rho + 4 * _ETA if rho > 0 else rho  # a quotient that can be subnormal; an exact 0 stays 0
    rho_c = _norm(r) / C_s
    # the margins m = G w + b y
    m, mu = _rowsums(G, w, accurate, shift=(y * b if bias and b is not None else None))
    low = lam_s <= slack_s
    u = np.where(low, lam_s / a_s, 1.0 - slack_s / a_s)
    uc = np.where(low, 1.0 - lam_s / a_s, slack_s / a_s)
    if loss == "hinge":
        # max(0, 1 - m) - u (1 - m) written as the product of two accurately known factors, uc (1 - m)
        # where m < 1 and u (m - 1) where m >= 1: relative rounding only, no cancellation
        one_m = 1.0 - m
        terms = np.where(one_m > 0, uc * one_m, -u * one_m)
        mu_h = mu + _U * np.abs(one_m)  # the rounding of 1 - m acts as an error of the margin
        near_kink = np.abs(one_m) <= mu_h
        slope = np.where(near_kink, np.maximum(u, uc), np.where(one_m > 0, uc, u))
        err = mu_h * slope + 6 * _U * np.abs(terms)
        kappa = np.abs(one_m) * (1 + 2 * _U) + mu
    else:
        terms, err = _logistic_terms(u, uc, lam_s, a_s, m, mu)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where((lam_s > 0) & (slack_s > 0),
                             np.log(np.where(slack_s > 0, slack_s, 1.0)) - np.log(np.where(lam_s > 0, lam_s, 1.0)),
                             np.inf)
        kappa = np.abs(ratio - m) + 4 * _U * (np.abs(ratio) + np.abs(m) + 1) + mu
    loss_sum = float(a_s @ np.maximum(terms, 0.0))
    loss_bound = (loss_sum + float(a_s @ err)) * (1 + (N + 4) * _U)
    if loss_bound > 0:  # subnormal products in the sum (an exact 0, e.g. all-zero features, stays 0)
        loss_bound += 16 * N * _ETA
    extra = _feasibility_cost(G, y, a_s, lam_s, slack_s, C_s, loss, rho, kappa) if bias else 0.0
    gap_s = 0.5 * C_s * rho_c * rho_c + float(a_s @ terms)
    bound_s = 0.5 * C_s * rho * rho + loss_bound + extra
    # sqrt(2 K / C) as sqrt(2 K) / sqrt(C): no underflow of K / C (weights of 1e-300 against C of 1)
    w_bound = math.hypot(rho, math.sqrt(2 * (loss_bound + extra)) / math.sqrt(C_s)) * (1 + 8 * _U)
    w_bound = w_bound + 4 * _ETA if w_bound > 0 else w_bound
    if not math.isfinite(bound_s) or not math.isfinite(w_bound):
        return CertifiedGap(gap_s / s, math.inf, math.inf, s)
    gap_bound = bound_s / s * (1 + 4 * _U)
    if gap_bound == 0.0 and bound_s > 0:
        gap_bound = _ETA  # underflowed: the smallest positive number is still an upper bound
    return CertifiedGap(gap_s / s, gap_bound, w_bound, s)


def _logistic_terms(u, uc, lam, a, m, mu):
    r""":math:`\mathrm{KL}(u_i \| \sigma(-m_i))` of eq. (1.16) and a bound on the error of each, for margins
    ``m`` known to ``mu``.

    With :math:`s = \sigma(-m)` and :math:`\delta = u - s` the term is
    :math:`s f(\delta/s) + (1-s) f(-\delta/(1-s))`, :math:`f(x) = (1+x)\log(1+x) - x \approx x^2/2`
    (a series below 1e-2): second order in :math:`\delta` as computed, not only in exact arithmetic
    (the textbook form leaves :math:`\epsilon|\delta|` where the term is :math:`\delta^2`). Near
    :math:`m = 0` the difference is formed as :math:`(u - 1/2) + \tanh(m/2)/2`, exact to rounding
    even where :math:`s` rounds to 1/2 (classes that nearly coincide: margins of 1e-23, terms of 1e-47).
    """
    s, sc = expit(-m), expit(m)
    near = np.abs(m) <= 1.0
    half_t = 0.5 * np.tanh(0.5 * m)  # 1/2 - s
    # u - 1/2 = (lam - a/2) / a: the difference is exact (Sterbenz) for lam in [a/4, a], then one rounding
    u_half = (lam - 0.5 * a) / a
    e_half = 2 * _U * np.abs(u_half) + np.where((lam >= 0.25 * a) & (lam <= a), 0.0, _U * (u + 0.5))
    delta = np.where(near, u_half + half_t, np.where(u <= 0.5, u - s, sc - uc))
    # the error of delta: its rounding, and the margins' error through ds/dm = -s (1 - s)
    e_delta = np.where(near, e_half + 2 * _U * np.abs(half_t) + _U * np.abs(delta),
                       4 * _U * (np.minimum(u, uc) + np.minimum(s, sc)))
    e_delta = e_delta + mu * s * sc * 1.01 + mu * mu / 8
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        x1, x2 = delta / s, -delta / sc
        # each side: s f(x) by the series where |x| < 1e-2 (the second-order regime), else directly as
        # u log(u / s) - delta with log s = -softplus(m) (no underflow of s): relative rounding only
        log_s, log_sc = -np.logaddexp(0.0, m), -np.logaddexp(0.0, -m)
        series1, series2 = np.abs(x1) < 1e-2, np.abs(x2) < 1e-2
        direct1 = np.where(u > 0, u * (np.log(np.where(u > 0, u, 1.0)) - log_s), 0.0)
        direct2 = np.where(uc > 0, uc * (np.log(np.where(uc > 0, uc, 1.0)) - log_sc), 0.0)
        side1 = np.where(series1, s * _f(np.where(series1, x1, 0.0)), direct1 - delta)
        side2 = np.where(series2, sc * _f(np.where(series2, x2, 0.0)), direct2 + delta)
        terms = side1 + side2
        err_direct = 16 * _U * (np.where(series1, 0.0, np.abs(direct1) + np.abs(delta))
                                + np.where(series2, 0.0, np.abs(direct2) + np.abs(delta)))
        # d KL / d delta = log(u / s) - log((1 - u) / (1 - s))
        L = np.abs(np.where(u > 0, np.log(np.where(u > 0, u, 1.0)) - log_s, np.inf)
                   - np.where(uc > 0, np.log(np.where(uc > 0, uc, 1.0)) - log_sc, np.inf))
        # d^2 KL / d delta^2 = 1/u' + 1/(1 - u') for u' = s + delta within e_delta of u: bounded while
        # u and 1 - u exceed 2 e_delta
        h = 1.0 / (u - e_delta) + 1.0 / (uc - e_delta)
        interior = (u > 2 * e_delta) & (uc > 2 * e_delta) & np.isfinite(L)
        err_inside = e_delta * L + 0.5 * e_delta * e_delta * h * 1.01
        # u within 2 e_delta of a face: |d KL / d delta| <= |log u'| + |log(1 - u')| + |log s| + |log(1 - s)|,
        # each log of a positive float64 at most 745 in magnitude
        err_edge = e_delta * (1500.0 + np.abs(log_s) + np.abs(log_sc))
        # on a face (u = 0 or 1, exact) the term is -log(1 - s) or -log(s): relative rounding, and the
        # margins' error through its derivative |u - s|
        err_face = 16 * _U * np.abs(terms) + mu * np.abs(u - s) + mu * mu / 8
    on_face = (u == 0) | (uc == 0)
    err = (np.where(interior, err_inside, np.where(on_face, err_face, err_edge)) + 400 * _U * np.abs(terms)
           + err_direct)
    terms = np.where(np.isfinite(terms), terms, np.inf)
    return np.maximum(terms, 0.0), np.where(np.isfinite(err), err, np.inf)


def _f(x):
    """(1 + x) log(1 + x) - x for x >= -1, to a relative error of about 200 u (a series for |x| < 1e-2)."""
    from scipy.special import xlogy

    small = np.abs(x) < 1e-2
    xs = np.where(small, x, 0.0)
    series = xs * xs * (0.5 - xs * (1.0 / 6 - xs * (1.0 / 12 - xs * (1.0 / 20 - xs / 30))))
    direct = xlogy(1.0 + x, 1.0 + x) - x
    return np.where(small, series, direct)


def _feasibility_cost(G, y, a, lam, slack, C, loss, rho, kappa) -> float:
    r"""An upper bound on :math:`P - D(\lambda') - \text{(1.16)}` for the exactly feasible :math:`\lambda'`.

    :math:`\lambda' = \lambda \mp t e_i` with :math:`t = |y^\top\lambda|` (exact by ``math.fsum``) on the
    coordinate ``i`` of least cost. With :math:`\partial D/\partial\lambda_i = g_i^\top r/C + b y_i + \kappa_i`
    the bias terms cancel and :math:`P - D(\lambda') \le` (1.16)
    :math:`+ t(\|g_i\|\,\|r\|/C + |\kappa_i|) + \tfrac{t^2}{2}(\|g_i\|^2/C + h_i)`, ``h_i`` the entropy's
    curvature on the segment (0 for the hinge loss).
    """
    delta = math.fsum((y * lam).tolist())
    if delta == 0.0:
        return 0.0
    t = abs(delta) * (1 + 2 * _U)
    # delta > 0: lower y^T lam by moving a real multiplier down or a generated one up
    down = (y > 0) if delta > 0 else (y < 0)
    up = ~down
    can_down = down & (lam >= 2 * t)
    can_up = up & (slack >= 2 * t)
    if not (can_down.any() or can_up.any()):
        return math.inf
    gnorm = np.sqrt(np.einsum("ij,ij->i", G, G)) * (1 + (G.shape[1] + 2) * _U)
    with np.errstate(divide="ignore", invalid="ignore"):
        if loss == "hinge":
            h = np.zeros_like(a)
        else:
            h = np.where(can_down, a / ((lam - t) * slack), a / (lam * (slack - t)))
        cost = t * (gnorm * rho + kappa) + 0.5 * t * t * (gnorm * gnorm / C + h)
    cost = np.where(can_down | can_up, cost, np.inf)
    cost = cost[np.isfinite(cost)]
    return float(cost.min()) * (1 + 16 * _U) if cost.size else math.inf


def _numpy(x):
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def _norm(x: np.ndarray) -> float:
    """The 2-norm without underflow or overflow (scaled by the largest entry), rounded up."""
    top = float(np.max(np.abs(x))) if x.size else 0.0
    if top == 0.0 or not math.isfinite(top):
        return top
    return top * math.sqrt(float((x / top) @ (x / top))) * (1 + (x.size + 2) * _U)


def _two_sum(x, y):
    s = x + y
    z = s - x
    return s, (x - (s - z)) + (y - z)


def _split(x):
    c = _SPLIT * x
    hi = c - (c - x)
    return hi, x - hi


def _two_prod(x, y):
    p = x * y
    xh, xl = _split(x)
    yh, yl = _split(y)
    return p, ((xh * yh - p) + xh * yl + xl * yh) + xl * yl


def _rowsums(A: np.ndarray, x: np.ndarray, accurate: bool, extra=None, shift=None):
    r"""``A @ x`` (plus ``extra[0] * extra[1]`` and ``shift``) accurately, with a bound on its error.

    Error-free products and a pairwise error-free sum (double-double); the low parts are
    added in float64, so the error of ``hi + lo`` is at most :math:`(2L(L+1)+8)u^2\sum_k|A_{jk}x_k|`
    for :math:`L = \lceil\log_2 q\rceil` levels, plus the underflow of the products. Where the
    error-free transformations overflow (entries near 1e300) the plain product is used with
    the bound :math:`\gamma_{q+2}\sum_k|A_{jk}x_k|`.

    With ``accurate`` False: the plain float64 sum and that classical bound (the fast path).

    Returns ``(value, error_bound)``, both shape ``(rows,)``: value rounded to float64,
    ``|value - exact| <= error_bound``.
    """
    P, Q = A.shape
    absolute = _absolute_products(A, x)
    if not accurate:
        return _plain_rowsums(A, x, absolute, extra, shift)
    hi_all, lo_all = np.empty(P), np.empty(P)
    rows = max(1, _BLOCK // max(Q, 1))
    for start in range(0, P, rows):
        blk = A[start:start + rows]
        hi, lo = _two_prod(blk, x[None, :])
        while hi.shape[1] > 1:
            if hi.shape[1] % 2:
                hi = np.concatenate([hi, np.zeros((hi.shape[0], 1))], axis=1)
                lo = np.concatenate([lo, np.zeros((lo.shape[0], 1))], axis=1)
            hi, t = _two_sum(hi[:, 0::2], hi[:, 1::2])
            lo = lo[:, 0::2] + lo[:, 1::2] + t
        hi_all[start:start + rows] = hi[:, 0] if Q else 0.0
        lo_all[start:start + rows] = lo[:, 0] if Q else 0.0
    terms = absolute
    if extra is not None:
        scalar, vec = extra
        p, e = _two_prod(scalar, vec)
        hi_all, t = _two_sum(hi_all, p)
        lo_all = lo_all + e + t
        terms = terms + np.abs(scalar * vec)
    if shift is not None:
        hi_all, t = _two_sum(hi_all, shift)
        lo_all = lo_all + t
        terms = terms + np.abs(shift)
    levels = max(1, math.ceil(math.log2(max(Q, 1)))) + 2
    value = hi_all + lo_all
    # products below 2^-800 can lose their error term to underflow (at most one subnormal unit each);
    # above, the relative term covers it, and a row of exact zeros has no error at all
    underflow = np.where((terms > 0) & (terms < 2.0 ** -800), (5 * Q + 16) * _ETA, 0.0)
    bound = np.abs(value) * _U + (2 * levels * (levels + 1) + 8) * _U * _U * terms * (1 + 1e-6) + underflow
    if not (np.isfinite(value).all() and np.isfinite(bound).all()):
        # the split overflowed (entries above ~1e300): the plain sum and its classical bound
        return _plain_rowsums(A, x, absolute, extra, shift)
    return value, bound


def _absolute_products(A: np.ndarray, x: np.ndarray) -> np.ndarray:
    r""":math:`\sum_k |A_{jk}||x_k|` for every row ``j``: ``np.abs(A) @ np.abs(x)`` in one pass, without the
    temporary ``|A|``.

    At image scale (G of 256 x 18,816 float64, 38 MB) the temporary's allocation and its page faults
    cost 15 to 20 matrix-vector products, more than the dual solve it certifies. Compiled where numba
    is (``A`` C- or Fortran-contiguous, e.g. ``G`` and ``G.T``); numpy's form otherwise.
    """
    if _abs_rows is not None and x.dtype == np.float64 and A.dtype == np.float64 and A.ndim == 2:
        xa = np.ascontiguousarray(x)
        if A.flags.c_contiguous:
            return _abs_rows(A, xa)
        if A.T.flags.c_contiguous:
            return _abs_cols(A.T, xa)
    return np.abs(A) @ np.abs(x)


def _compile_absolute_products():
    try:
        from ._kernel import jit
    except ImportError:  # pragma: no cover - numba is a dependency
        return None, None

    @jit
    def rows(A, x):  # out_j = sum_k |A_jk| |x_k|, A C-contiguous
        out = np.zeros(A.shape[0])
        q = A.shape[1]
        for j in range(A.shape[0]):
            # four partial sums: four independent addition chains (one chain waits on each add's latency);
            # the order of a sum of non-negative terms does not matter to the bound gamma_q sum |terms|
            s0 = s1 = s2 = s3 = 0.0
            k = 0
            while k + 4 <= q:
                s0 += abs(A[j, k]) * abs(x[k])
                s1 += abs(A[j, k + 1]) * abs(x[k + 1])
                s2 += abs(A[j, k + 2]) * abs(x[k + 2])
                s3 += abs(A[j, k + 3]) * abs(x[k + 3])
                k += 4
            while k < q:
                s0 += abs(A[j, k]) * abs(x[k])
                k += 1
            out[j] = (s0 + s1) + (s2 + s3)
        return out

    @jit
    def cols(B, x):  # out_k = sum_i |B_ik| |x_i|, B C-contiguous (A = B^T)
        out = np.zeros(B.shape[1])
        for i in range(B.shape[0]):
            xi = abs(x[i])
            for k in range(B.shape[1]):
                out[k] += abs(B[i, k]) * xi
        return out
    return rows, cols


_abs_rows, _abs_cols = _compile_absolute_products()


def _plain_rowsums(A, x, absolute, extra, shift):
    r"""``A @ x`` (+ ``extra[0] * extra[1]`` + ``shift``) in float64 and the bound
    :math:`\gamma_{q+4}\sum_k|\text{terms}_k|` on its error (any summation order)."""
    Q = A.shape[1]
    value = A @ x
    terms = absolute
    if extra is not None:
        value = value + extra[0] * extra[1]
        terms = terms + np.abs(extra[0] * extra[1])
    if shift is not None:
        value = value + shift
        terms = terms + np.abs(shift)
    gamma = (Q + 4) * _U / (1 - (Q + 4) * _U)
    underflow = np.where(terms > 0, (Q + 4) * _ETA, 0.0)
    return value, gamma * terms * (1 + 1e-6) + np.abs(value) * _U + underflow
