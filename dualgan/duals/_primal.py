r"""Primal-dual pairs of the linear discriminator, and Newton's method on the primal side.

Why a primal side at all
------------------------
The dual variables determine the discriminator only through
:math:`w = G^\top\lambda / C`. In float64 the sum :math:`G^\top\lambda` carries
an absolute error of about :math:`\epsilon\sum_i\lambda_i\|g_i\|`, so ``w`` is
known only to :math:`\epsilon\sum_i\lambda_i\|g_i\|/C`, and the margins
:math:`Gw` to that times :math:`\max_i\|g_i\|`. With features of magnitude
:math:`10^2` and :math:`C = 10^{-9}` the margins are uncertain by
:math:`10^{-2}`: no dual point, from any solver, then certifies a gap of
:math:`10^{-10}` (this is what made every dual method stall on such problems).

When :math:`d < N` the primal is the smaller problem. Newton's method on
:math:`P(w, b)` keeps ``w`` to full relative precision, and the multipliers
follow from the primal-dual relation :math:`\lambda_i = a_i\sigma(-m_i)` (eq.
(1.17) of the theory page). The pair ``(w, lambda)`` is certified by the gap

.. math::

    P(w, b) - D(\lambda) = \frac{\|Cw - G^\top\lambda\|^2}{2C}
        + \sum_i a_i\,\mathrm{KL}\big(\lambda_i/a_i \,\|\, \sigma(-m_i)\big),
    \qquad m = Gw + b\,y,

a sum of non-negative terms without cancellation (eq. (1.16)); with the
relation above the second term vanishes and the gap is
:math:`\|\nabla_w P\|^2/(2C)`. Since :math:`P` is :math:`C`-strongly convex in
``w``, :math:`\|w - w^*\| \le \sqrt{2\,\mathrm{gap}/C}` (eq. (1.6)).

With a bias the relation gives :math:`y^\top\lambda \ne 0` away from the
optimum; the larger of the two class sums is scaled down to the smaller one,
which keeps :math:`\lambda` in the box and makes it dual feasible.

The hinge loss has the same pair structure; its primal is not smooth, so the
hinge dual keeps the interior point method of :mod:`.interior_point`, and its
pairs are certified by the same gap with the hinge term of eq. (1.16).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ._linalg import _robust_cholesky, max_step
from ..status import Status, StatusCode
from .objective import dual_value

__all__ = ["PairCertificate", "pair_certificate", "logistic_primal_newton", "PrimalState", "rounding_level",
           "rounding_floor"]

_EPS = 2.220446049250313e-16


@dataclass
class PairCertificate:
    """The gap of a primal-dual pair and its parts (back-end arrays)."""

    gap: float
    primal: float
    dual: float
    lam: object
    slack: object


def pair_certificate(ops, G, y, a, C, loss, w, b, lam, slack, v=None) -> PairCertificate:
    r"""Gap of the pair ``((w, b), lambda)`` in the cancellation-free form of eq. (1.16).

    ``lam``/``slack`` must be dual feasible (in the box and, with a bias,
    :math:`y^\top\lambda = 0`). ``primal`` and ``dual`` are the two values
    themselves, for reporting; the gap is not their difference (which cancels
    when both are large) but the same quantity summed from non-negative terms. ``v``:
    :math:`G^\top\lambda` when the caller has it (one pass over G fewer; at image scale G is 38 MB).
    """
    margins = G @ w
    if b is not None:
        margins = margins + y * b
    v = G.T @ lam if v is None else v
    r = C * w - v
    if loss == "hinge":
        hinge = ops.maximum(1.0 - margins, ops.zeros_like(margins))
        terms = hinge - (lam / a) * (1.0 - margins)
        loss_sum = float(a @ hinge)
    else:
        terms = kl_terms(ops, lam, slack, a, margins)
        loss_sum = float(a @ ops.softplus(-margins))
    dual = float(dual_value(ops, v, lam, slack, a, C, loss))
    gap = float((r @ r) / (2 * C) + a @ terms)
    primal = float(0.5 * C * (w @ w) + loss_sum)
    return PairCertificate(gap, primal, dual, lam, slack)


def kl_terms(ops, lam, slack, a, margins):
    r""":math:`\mathrm{KL}(u_i \| s_i)`, :math:`u = \lambda/a`, :math:`s = \sigma(-m)`, without cancellation.

    Written :math:`u\log(1 + \delta/s) + (1-u)\log(1 - \delta/(1-s))` with :math:`\delta = u - s`:
    the two terms are first order in :math:`\delta` and their sum second order, so the
    rounding error stays below the value itself (a gap of 1e-30 where the textbook form
    leaves 1e-17). Each coordinate is read from its accurate side, ``lam`` below ``a/2`` and
    ``slack`` above, so that :math:`u + (1-u) = 1` exactly. Where :math:`s` or :math:`1-s`
    is far from u the logarithms are taken directly.
    """
    low = lam <= slack
    u = ops.where(low, lam / a, 1.0 - slack / a)
    uc = ops.where(low, 1.0 - lam / a, slack / a)
    s, sc = ops.sigmoid(-margins), ops.sigmoid(margins)
    delta = ops.where(low, u - s, sc - uc)
    # log(1 + delta/s) by log1p while |delta/s| < 1/2 (where it cancels), else log(u) - log(s) with
    # log s = -softplus(m) (no underflow, no log1p(-1) when u << s)
    one = ops.ones_like(s)
    ratio = delta / ops.where(s > 0, s, one)
    ratio_c = -delta / ops.where(sc > 0, sc, one)
    near = (ops.abs(ratio) < 0.5) & (s > 0)
    near_c = (ops.abs(ratio_c) < 0.5) & (sc > 0)
    r1 = ops.where(near, ops.log1p(ops.where(near, ratio, 0 * one)),
                   ops.log(ops.where(u > 0, u, one)) + ops.softplus(margins))
    r2 = ops.where(near_c, ops.log1p(ops.where(near_c, ratio_c, 0 * one)),
                   ops.log(ops.where(uc > 0, uc, one)) + ops.softplus(-margins))
    zero = ops.zeros_like(u)
    return ops.where(u > 0, u * r1, zero) + ops.where(uc > 0, uc * r2, zero)


def relation_multipliers(ops, y, a, margins, bias: bool):
    r"""``(lam, slack)`` from eq. (1.17), :math:`\lambda_i = a_i\sigma(-m_i)`, made dual feasible.

    With a bias the larger class sum of :math:`\lambda` is scaled down to the smaller one.
    """
    lam, slack = a * ops.sigmoid(-margins), a * ops.sigmoid(margins)
    if bias:
        lam, slack = balance_classes(ops, y, lam, slack)
    return lam, slack


def balance_classes(ops, y, lam, slack):
    r"""Make :math:`y^\top\lambda = 0` (eq. (1.11)) by scaling the larger class sum down to the smaller.

    Scaling down keeps :math:`0 < \lambda \le a`; the slack grows by what ``lam`` loses.
    """
    pos = y > 0
    r, f = float(lam[pos].sum()), float(lam[~pos].sum())
    if r == f or r <= 0 or f <= 0:
        return lam, slack
    c, side = (f / r, pos) if r > f else (r / f, ~pos)
    scaled = lam * c
    return ops.where(side, scaled, lam), ops.where(side, slack + (lam - scaled), slack)


def rounding_level(ops, G, a, C, w, lam, loss: str = "logistic", b=None) -> float:
    r"""Size of the gap (1.16) that float64 rounding alone produces at this pair.

    The residual :math:`Cw - G^\top\lambda` is a difference of vectors of size up to
    :math:`S = C\|w\| + \sum_i\lambda_i\|g_i\|`, so its rounding error is about
    :math:`\epsilon S`, and its square over :math:`2C` enters the gap. The hinge terms
    are first order in the margins, whose rounding error is about
    :math:`\epsilon\|g_i\|\|w\|`; the logistic terms are second order (see
    :func:`kl_terms`) and add nothing comparable.
    """
    residual, hinge = _rounding_parts(ops, G, a, C, w, lam, loss, b)
    return residual * residual / (2 * C) + hinge


def rounding_floor(ops, G, a, C, w, lam, loss: str = "logistic", b=None) -> tuple[float, float]:
    r"""``(gap, bound on w)``: :func:`rounding_level` and :math:`\sqrt{2\,\mathrm{level}/C}`,
    the latter computed without squaring (no underflow where the level itself would)."""
    residual, hinge = _rounding_parts(ops, G, a, C, w, lam, loss, b)
    return residual * residual / (2 * C) + hinge, math.hypot(residual / C, math.sqrt(2 * hinge / C))


def _rounding_parts(ops, G, a, C, w, lam, loss, b) -> tuple[float, float]:
    """The residual's rounding ``8 eps S`` and the hinge terms' part of :func:`rounding_level`."""
    row_norms = ops.sqrt((G * G).sum(1))
    w_norm = float(ops.sqrt(w @ w))
    S = C * w_norm + float(lam @ row_norms)
    hinge = 0.0
    if loss == "hinge":
        # only coordinates strictly inside the box carry rounding in the hinge terms (at u = 0 or 1 the
        # term is an exact 0); u from the multipliers given
        u = lam / a
        inside = (u > 1e-12) & (u < 1 - 1e-12)
        # margins m = G w err by about eps ||g_i|| S / C when w was recovered as v/C (and less when
        # w is a primal iterate): S / C >= ||w|| covers both
        hinge = 8 * _EPS * float(a @ ops.where(inside, 1.0 + row_norms * (S / C) + (abs(b) if b is not None else 0.0),
                                              0 * u))
    return 8 * _EPS * S, hinge


@dataclass
class PrimalState:
    """Outcome of :func:`logistic_primal_newton` and :func:`hinge_primal_interior_point` (back-end arrays).

    ``status`` is ``SUCCESS`` when the method's own stopping test (gap and error bound of
    eq. (1.6)) passed, else ``MAX_ITER``, ``STALLED``, ``NUMERICAL_ERROR`` or ``NON_FINITE``
    with the reason in its message.
    """

    w: object
    b: float | None
    lam: object
    slack: object
    certificate: PairCertificate
    iterations: int
    status: Status
    trace: tuple


def logistic_primal_newton(ops, G, y, a, C, bias: bool, w0, b0, tol: float, w_rtol: float,
                           max_iter: int) -> PrimalState:
    r"""Newton's method with Armijo backtracking on the primal :math:`P(w, b)` (eq. (1.1)).

    Each iteration solves the (d + bias) x (d + bias) system
    :math:`(C I + G^\top S G)\Delta w = -\nabla P` with :math:`S = \mathrm{diag}(a_i\sigma(m_i)\sigma(-m_i))`
    (the bias adds one row and column, unregularised). The pair is certified
    at every iterate; the best certified pair is the one returned.
    Stops when ``gap <= tol`` and :math:`\sqrt{2\,\mathrm{gap}/C} \le` ``w_rtol`` :math:`\|w\|`.
    """
    N, d = G.shape
    w = ops.copy(w0)
    b = float(b0) if bias else None

    def margins_of(w_, b_):
        m = G @ w_
        return m + y * b_ if b_ is not None else m

    def primal(w_, m_):
        return float(0.5 * C * (w_ @ w_) + a @ ops.softplus(-m_))

    m = margins_of(w, b)
    P = primal(w, m)
    trace: list[float] = []
    best = None
    code, message, it, flat = StatusCode.MAX_ITER, "", 0, 0
    for it in range(max_iter + 1):
        lam, slack = relation_multipliers(ops, y, a, m, bias)
        cert = pair_certificate(ops, G, y, a, C, "logistic", w, b, lam, slack)
        gap = max(cert.gap, 0.0)
        trace.append(cert.gap)
        if not math.isfinite(cert.gap):
            code, message = StatusCode.NON_FINITE, f"non-finite duality gap at iteration {it}"
            break
        if best is None or cert.gap < best[0].gap:
            best = (cert, ops.copy(w), b)
        if _within_tolerances(ops, gap, w, C, tol, w_rtol):
            code = StatusCode.SUCCESS
            break
        if it == max_iter:
            break
        s = a * ops.sigmoid(m) * ops.sigmoid(-m)
        lam_w = a * ops.sigmoid(-m)
        grad_w = C * w - G.T @ lam_w
        grad = _concat(ops, grad_w, -float(y @ lam_w)) if bias else grad_w
        L = _factor_newton_system(ops, G, y, s, C, bias)
        if L is None:
            code, message = StatusCode.NUMERICAL_ERROR, f"Newton system not positive definite at iteration {it}"
            break
        step = -ops.cho_solve(L, grad)
        if not ops.all_finite(step):
            code, message = StatusCode.NON_FINITE, f"non-finite Newton direction at iteration {it}"
            break
        dec = -float(grad @ step)
        dw = step[:d]
        db = float(step[d]) if bias else 0.0
        rounding = 64 * _EPS * (1.0 + abs(P))
        alpha, accepted = 1.0, False
        for _ in range(60):
            w_t = w + alpha * dw
            b_t = b + alpha * db if bias else None
            m_t = margins_of(w_t, b_t)
            P_t = primal(w_t, m_t)
            if P_t <= P - 1e-4 * alpha * dec + rounding:
                accepted = True
                break
            alpha *= 0.5
        if not accepted:
            code = StatusCode.STALLED
            message = (f"the line search found no decrease of P at iteration {it} (gap {cert.gap:.3g}; "
                       f"rounding alone gives about {rounding_level(ops, G, a, C, w, lam):.3g})")
            break
        flat = flat + 1 if P - P_t <= rounding else 0
        w, b, m, P = w_t, b_t, m_t, P_t
        if flat >= 5:
            lam, slack = relation_multipliers(ops, y, a, m, bias)
            cert = pair_certificate(ops, G, y, a, C, "logistic", w, b, lam, slack)
            trace.append(cert.gap)
            if cert.gap < best[0].gap:
                best = (cert, ops.copy(w), b)
            code = StatusCode.STALLED
            message = (f"P has not decreased above rounding for 5 iterations (gap {best[0].gap:.3g}; "
                       f"rounding alone gives about {rounding_level(ops, G, a, C, w, lam):.3g})")
            it += 1
            break
    return _best_state(best, (cert, w, b, lam, slack), it, code, message, trace)


def _best_state(best, last, it: int, code: StatusCode, message: str, trace: list) -> PrimalState:
    """The best certified pair ``best = (cert, w, b)``, or ``last = (cert, w, b, lam, slack)`` when there is none."""
    if best is None:  # not even the first pair is finite (features near float64's range)
        cert, w, b, lam, slack = last
    else:
        cert, w, b = best
        lam, slack = cert.lam, cert.slack
    return PrimalState(w=w, b=b, lam=lam, slack=slack, certificate=cert, iterations=it,
                       status=Status(code, message), trace=tuple(trace))


def _within_tolerances(ops, gap: float, w, C: float, tol: float, w_rtol: float) -> bool:
    """The stopping test of the primal methods at a pair of gap ``gap >= 0`` and discriminator ``w``:
    ``gap <= tol`` and :math:`\\sqrt{2\\,\\mathrm{gap}/C} \\le` ``w_rtol`` :math:`\\|w\\|` (eq. (1.6)).
    The result's status is decided afterwards by the certificate, which also counts its rounding."""
    return gap <= tol and (math.isinf(w_rtol) or math.sqrt(2 * gap / C) <= w_rtol * float(ops.sqrt(w @ w)))


def _factor_newton_system(ops, G, y, weights, C, bias: bool):
    """Cholesky factor of ``C I + G^T diag(weights) G``, bordered by the bias row and column when
    ``bias`` (not regularised); None if not positive definite. Both primal methods solve it."""
    top = ops.gram_t(G, weights)  # the upper triangle is what the factorisation reads
    M = _bordered(ops, top, G.T @ (weights * y), float(weights.sum()), C) if bias else ops.diag_add(top, C)
    return _robust_cholesky(ops, M)


def _bordered(ops, top, col, corner, C):
    """[[top + C I, col], [col^T, corner]] (the bias row and column are not regularised)."""
    d = top.shape[0]
    if ops.name == "numpy":
        import numpy as np

        M = np.empty((d + 1, d + 1))
        M[:d, :d] = top
        M[:d, :d].flat[:: d + 1] += C
        M[:d, d] = col
        M[d, :d] = col
        M[d, d] = corner
        return M
    import torch

    M = torch.empty((d + 1, d + 1), dtype=top.dtype, device=top.device)
    M[:d, :d] = top + C * torch.eye(d, dtype=top.dtype, device=top.device)
    M[:d, d] = col
    M[d, :d] = col
    M[d, d] = corner
    return M


def _concat(ops, vec, scalar):
    if ops.name == "numpy":
        import numpy as np

        return np.concatenate([vec, [scalar]])
    import torch

    return torch.cat([vec, torch.tensor([scalar], dtype=vec.dtype, device=vec.device)])


def hinge_primal_interior_point(ops, G, y, a, C, bias: bool, w0, b0, tol: float, w_rtol: float,
                                max_iter: int) -> PrimalState:
    r"""Mehrotra's predictor-corrector on the primal of the hinge loss, in ``(w, b, xi)`` (d < N).

    The quadratic programme :math:`\min \tfrac C2\|w\|^2 + a^\top\xi` subject to
    :math:`Gw + by + \xi - 1 = t \ge 0`, :math:`\xi \ge 0`, with multipliers
    :math:`\lambda` (of ``t``) and :math:`z = a - \lambda` (of :math:`\xi`), whose dual is
    (1.12). Eliminating the diagonal blocks leaves the (d + bias) x (d + bias) system
    :math:`(CI + G^\top D^{-1}G)\Delta w = \dots`, :math:`D = \Xi Z^{-1} + T\Lambda^{-1}`, the
    structure of the logistic primal Newton system. ``w`` is carried as an unknown, so its
    precision does not depend on :math:`\sum_i \lambda_i g_i` cancelling (see the module
    docstring). Each iterate is certified by the gap (1.16) of ``(w, b)`` with the
    multipliers clipped to the box (and balanced with a bias).

    References
    ----------
    Sanjay Mehrotra, "On the Implementation of a Primal-Dual Interior Point Method",
    SIAM Journal on Optimization 2(4), 1992. Michael C. Ferris, Todd S. Munson,
    "Interior-Point Methods for Massive Support Vector Machines", SIAM Journal on
    Optimization 13(3), 2002.
    """
    N, d = G.shape
    w = ops.copy(w0)
    b = float(b0) if bias else 0.0
    one = ops.ones_like(a)
    m = G @ w + (y * b if bias else 0.0)
    xi = 1.0 + ops.maximum(1.0 - m, 0 * one)
    t = m + xi - 1.0
    lam, z = 0.5 * a, 0.5 * a
    trace: list[float] = []
    best, code, message, it = None, StatusCode.MAX_ITER, "", 0
    stuck, mu0 = 0, None
    for it in range(max_iter + 1):
        m = G @ w + (y * b if bias else 0.0)
        lam_c = ops.minimum(ops.maximum(lam, 0 * one), a)
        lam_c, slack_c = (balance_classes(ops, y, lam_c, a - lam_c) if bias else (lam_c, a - lam_c))
        cert = pair_certificate(ops, G, y, a, C, "hinge", w, b if bias else None, lam_c, slack_c)
        trace.append(cert.gap)
        if not math.isfinite(cert.gap):
            code, message = StatusCode.NON_FINITE, f"non-finite duality gap at iteration {it}"
            break
        improved = best is None or cert.gap < best[0].gap
        if improved:
            best = (cert, ops.copy(w), b if bias else None)
        gap = max(cert.gap, 0.0)
        if _within_tolerances(ops, gap, w, C, tol, w_rtol):
            code = StatusCode.SUCCESS
            break
        if it == max_iter:
            break
        mu = float((lam @ t + z @ xi) / (2 * N))
        mu0 = mu if mu0 is None else mu0
        # only a converged complementarity with a stalled certificate is the floor
        stuck = 0 if improved or mu > 1e-12 * mu0 else stuck + 1
        if stuck >= 8 or mu <= 0 or not math.isfinite(mu):
            code = StatusCode.STALLED
            message = (f"the gap has not improved for {stuck} iterations (complementarity {mu:.3g}; rounding "
                       f"alone gives a gap of about {rounding_level(ops, G, a, C, w, lam_c, 'hinge', b):.3g})")
            break
        r_w = C * w - G.T @ lam
        r_b = float(y @ lam) if bias else 0.0
        r_a = a - lam - z
        r_t = m + xi - 1.0 - t
        Dg = xi / z + t / lam
        Dinv = 1.0 / Dg
        L = _factor_newton_system(ops, G, y, Dinv, C, bias)
        if L is None:
            code, message = StatusCode.NUMERICAL_ERROR, f"interior-point system not positive definite at iteration {it}"
            break

        def direction(r5, r6):
            q = -r_t - (r6 - xi * r_a) / z + r5 / lam
            rhs_w = -r_w + G.T @ (Dinv * q)
            rhs = _concat(ops, rhs_w, float(y @ (Dinv * q)) + r_b) if bias else rhs_w
            sol = ops.cho_solve(L, rhs)
            dw = sol[:d]
            db = float(sol[d]) if bias else 0.0
            dlam = Dinv * (q - G @ dw - (y * db if bias else 0.0))
            dt = (r5 - t * dlam) / lam
            dxi = (r6 - xi * r_a) / z + (xi / z) * dlam
            dz = r_a - dlam
            return dw, db, dlam, dt, dxi, dz

        aff = direction(-lam * t, -z * xi)
        a_aff = min(1.0, max_step([(lam, aff[2]), (t, aff[3]), (xi, aff[4]), (z, aff[5])]))
        mu_aff = float(((lam + a_aff * aff[2]) @ (t + a_aff * aff[3])
                        + (z + a_aff * aff[5]) @ (xi + a_aff * aff[4])) / (2 * N))
        sigma = (mu_aff / mu) ** 3
        dw, db, dlam, dt, dxi, dz = direction(sigma * mu - lam * t - aff[2] * aff[3],
                                              sigma * mu - z * xi - aff[5] * aff[4])
        if not (ops.all_finite(dw) and ops.all_finite(dlam)):
            code, message = StatusCode.NON_FINITE, f"non-finite interior-point direction at iteration {it}"
            break
        alpha = 0.995 * min(1.0, max_step([(lam, dlam), (t, dt), (xi, dxi), (z, dz)]))
        w, b = w + alpha * dw, b + alpha * db
        lam, t, xi, z = lam + alpha * dlam, t + alpha * dt, xi + alpha * dxi, z + alpha * dz
    return _best_state(best, (cert, w, b if bias else None, lam_c, slack_c), it, code, message, trace)
