"""Extreme-scale dual problems, every registered method, each result checked against a 50-digit optimum.

    python benchmarks/dual_corpus_extreme.py                      # 320 problems, every method
    python benchmarks/dual_corpus_extreme.py --count 32 --out /tmp/x.jsonl
    python benchmarks/dual_corpus_extreme.py --summarize results/dual_corpus_extreme.jsonl

The corpus (``make_extreme``): near-duplicate classes (``base + 1e-9 * noise`` for both),
identical classes (the same rows real and generated), weights down to 1e-300, and
overlapping or separable classes; feature scales from 1e-8 to 1e8, C from 1e-6 to
1e12, d < N, d ~ N and d > N, logistic and hinge, with and without bias.

The reference (``mp_reference``) is independent of the library: the problem's float64
data (features, weights ``a`` and ``C`` as the library stores them) read exactly into
mpmath at 70 digits, then

* logistic: damped Newton's method on the primal P(w, b) (eq. (1.1)) until its decrement
  reaches the 70-digit rounding, then three full steps, from the library's ``w`` when
  finite and better than 0 (else 0);
* hinge: a primal-dual active-set method on the KKT system of the quadratic programme
  (margins exactly 1 on the free set, multipliers at 0 or ``a`` elsewhere), repaired
  until every KKT condition holds exactly;

and the reference is certified itself: ``ref_err`` bounds its distance to w* (logistic:
``||grad f(w_ref)|| / C`` for the C-strongly convex ``f(w) = min_b P(w, b)``; hinge:
``sqrt(2 gap / C)`` of its own pair, with the digits the problem's scale needs); the
table reports ``ref_err`` against the quantities it checks, so that no check is vacuous. For every result of every method it
records the true error ``||w - w*||`` and the true suboptimality ``P(w, b) - P*``, and
checks

* every ``SUCCESS``: ``||w - w*|| <= w_rtol ||w||`` and ``P(w, b) - P* <= tol`` (none false);
* every result: ``w_error_bound >= ||w - w*||`` and ``gap_bound >= P(w, b) - P*`` (bounds are bounds),

up to the reference's own certified error. ``--out`` appends JSON lines (resumable:
problems already in the file are skipped); the table is printed at the end.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["ExtremeProblem", "make_extreme", "mp_reference", "check_result", "KINDS"]

KINDS = ("near_duplicate", "identical", "tiny_weights", "scaled")
SHAPES = ("d<N", "d~N", "d>N")


@dataclass(frozen=True)
class ExtremeProblem:
    """One problem: features, C, loss, bias, optional weights and what kind of extreme it is."""

    index: int
    phi_real: np.ndarray
    phi_fake: np.ndarray
    C: float
    loss: str
    bias: bool
    weights: tuple | None
    kind: str
    shape: str
    scale: float

    def build(self):
        from dualgan.duals import LinearDual

        return LinearDual(self.phi_real, self.phi_fake, C=self.C, loss=self.loss, bias=self.bias,
                          weights=self.weights)

    def describe(self) -> str:
        n, d = self.phi_real.shape
        return (f"#{self.index} {self.kind} n={n} m={self.phi_fake.shape[0]} d={d} ({self.shape}) "
                f"scale={self.scale:.1e} C={self.C:.1e} {self.loss}{'+bias' if self.bias else ''}"
                + (f" weights~{float(np.max(self.weights[0])):.1e}" if self.weights is not None else ""))


def make_extreme(index: int, seed: int = 0, max_N: int = 24) -> ExtremeProblem:
    """The ``index``-th problem (deterministic in ``seed``); every 16 consecutive indices cover
    loss x bias x kind."""
    rng = np.random.default_rng([seed, index, 24])
    loss = ("logistic", "hinge")[index % 2]
    bias = bool((index // 2) % 2)
    kind = KINDS[(index // 4) % 4]
    shape = SHAPES[(index // 16) % 3]
    N = int(rng.integers(4, max_N + 1))
    d = {"d<N": max(1, N // 3), "d~N": N, "d>N": min(3 * N, 40)}[shape]
    d = max(1, int(round(d * rng.uniform(0.7, 1.3))))
    n = int(rng.integers(2, N - 1)) if kind != "identical" else N // 2
    m = N - n if kind != "identical" else n
    scale = float(10 ** rng.uniform(-8, 8))
    weights = None
    if kind == "near_duplicate":
        base = rng.normal(size=(max(n, m), d))
        real = base[:n] + 1e-9 * rng.normal(size=(n, d))
        fake = base[:m] + 1e-9 * rng.normal(size=(m, d))
    elif kind == "identical":
        real = rng.normal(size=(n, d))
        fake = real.copy()
    else:
        mu = rng.normal(size=d)
        mu /= np.linalg.norm(mu)
        gap = rng.uniform(3, 8) if rng.random() < 0.4 else rng.uniform(0, 1)
        real = rng.normal(size=(n, d)) + 0.5 * gap * mu
        fake = rng.normal(size=(m, d)) - 0.5 * gap * mu
        if kind == "tiny_weights":
            level = float(10 ** rng.uniform(-300, -250))
            weights = (np.full(n, level / n) * rng.uniform(0.5, 2, n), np.full(m, level / m) * rng.uniform(0.5, 2, m))
            scale = float(10 ** rng.uniform(-2, 2))
    C = float(10 ** rng.uniform(-6, 12))
    return ExtremeProblem(index, real * scale, fake * scale, C, loss, bias, weights, kind, shape, scale)


# ---------------------------------------------------------------------------------------------- reference
def _mp_data(prob):
    import mpmath as mp

    G = prob.G.detach().cpu().numpy()
    y = prob.y.detach().cpu().numpy()
    a = prob.a.detach().cpu().numpy()
    Gm = [[mp.mpf(float(x)) for x in row] for row in G]
    return Gm, [mp.mpf(float(v)) for v in y], [mp.mpf(float(v)) for v in a], mp.mpf(prob.C)


def _primal_mp(Gm, y, a, C, loss, w, b):
    import mpmath as mp

    total = C / 2 * mp.fsum(x * x for x in w)
    for gi, yi, ai in zip(Gm, y, a):
        mi = mp.fsum(g * x for g, x in zip(gi, w)) + (b * yi if b is not None else 0)
        total += ai * (mp.log1p(mp.exp(-mi)) if loss == "logistic" else max(mp.mpf(0), 1 - mi))
    return total


def _dual_mp(Gm, a, C, loss, lam):
    import mpmath as mp

    d = len(Gm[0])
    v = [mp.fsum(lam[i] * Gm[i][j] for i in range(len(lam))) for j in range(d)]
    value = -mp.fsum(x * x for x in v) / (2 * C)
    for li, ai in zip(lam, a):
        if loss == "hinge":
            value += li
        else:
            u = li / ai
            value += ai * (-(u * mp.log(u) if u > 0 else 0) - ((1 - u) * mp.log(1 - u) if u < 1 else 0))
    return value


def mp_reference(prob, w0=None, b0=None, dps: int = 70):
    r"""``(w_star, b_star, p_star, ref_err)`` as mpmath numbers, or None when the method does not converge.

    ``ref_err`` bounds the reference's distance to the exact optimum of the problem with the float64
    data. Logistic: :math:`\|\nabla f(w)\|/C` for the C-strongly convex :math:`f(w) = \min_b P(w, b)`
    (the gradient in w at the reference, its bias's residual carried through the coupling
    :math:`\sum_i a_i\|g_i\|/4`, and the rounding of the 70-digit sums). Hinge: sqrt(2 gap / C) of the
    reference's own pair, computed with enough digits for weights of 1e-300 against C of 1e12
    (the gap's rounding is relative to P, the bound must be relative to w*).
    """
    import mpmath as mp

    a_np = prob.a.detach().cpu().numpy()
    if prob.loss == "hinge":
        dps = dps + max(0, int(math.ceil(math.log10(prob.C) - math.log10(float(a_np.min())))))
    with mp.workdps(dps):
        Gm, y, a, C = _mp_data(prob)
        if prob.loss == "logistic":
            out = _mp_logistic(Gm, y, a, C, prob.bias, w0, b0)
        else:
            out = _mp_hinge(Gm, y, a, C, prob.bias, w0, b0)
            if out is None:  # degenerate (free set larger than d + 1, a bias without a unique value)
                out = _mp_hinge_barrier(Gm, y, a, C, prob.bias)
        if out is None:
            return None
        w, b, lam = out
        p_star = _primal_mp(Gm, y, a, C, prob.loss, w, b)
        if prob.loss == "logistic":
            ref_err = _logistic_gradient_bound(Gm, y, a, C, w, b)
        else:
            dual = _dual_mp(Gm, a, C, prob.loss, lam)
            # the gap of the reference pair, plus the rounding of its two values
            gap = max(p_star - dual, 0) + mp.mpf(10) ** (8 - dps) * (abs(p_star) + abs(dual))
            ref_err = mp.sqrt(2 * gap / C)
        return w, b, p_star, ref_err


def _logistic_gradient_bound(Gm, y, a, C, w, b):
    """||w - w*|| <= ||grad f(w)|| / C, f(w) = min_b P(w, b), at the reference (see mp_reference)."""
    import mpmath as mp

    N, d = len(Gm), len(Gm[0])
    margins = [mp.fsum(g * x for g, x in zip(gi, w)) + (b * yi if b is not None else 0) for gi, yi in zip(Gm, y)]
    s = [1 / (1 + mp.exp(mi)) for mi in margins]
    terms = [[C * w[j]] + [-a[i] * s[i] * Gm[i][j] for i in range(N)] for j in range(d)]
    grad = [mp.fsum(t) for t in terms]
    size = [mp.fsum(abs(x) for x in t) for t in terms]
    rounding = mp.mpf(10) ** (5 - mp.mp.dps)
    norm = mp.sqrt(mp.fsum(g * g for g in grad)) + rounding * mp.sqrt(mp.fsum(x * x for x in size))
    if b is not None:
        gb = mp.fsum(a[i] * s[i] * y[i] for i in range(N))  # -dP/db
        hb = mp.fsum(a[i] * s[i] * (1 - s[i]) for i in range(N))
        shift = 2 * (abs(gb) + rounding * mp.fsum(a[i] * s[i] for i in range(N))) / hb
        if shift > mp.mpf("0.1"):
            return mp.inf
        coupling = mp.fsum(a[i] * mp.sqrt(mp.fsum(x * x for x in Gm[i])) for i in range(N)) / 4
        norm += coupling * shift
    return norm / C


def _mp_logistic(Gm, y, a, C, bias, w0, b0, max_iter: int = 300):
    import mpmath as mp

    N, d = len(Gm), len(Gm[0])
    w = [mp.mpf(float(x)) for x in w0] if w0 is not None and np.all(np.isfinite(w0)) else [mp.mpf(0)] * d
    b = mp.mpf(float(b0)) if (bias and b0 is not None and math.isfinite(b0)) else mp.mpf(0)
    if not bias:
        b = None
    P = _primal_mp(Gm, y, a, C, "logistic", w, b)
    zero_P = _primal_mp(Gm, y, a, C, "logistic", [mp.mpf(0)] * d, mp.mpf(0) if bias else None)
    if not P <= zero_P:
        w, b, P = [mp.mpf(0)] * d, (mp.mpf(0) if bias else None), zero_P
    polish = 0
    for _ in range(max_iter):
        margins = [mp.fsum(g * x for g, x in zip(gi, w)) + (b * yi if bias else 0) for gi, yi in zip(Gm, y)]
        s = [1 / (1 + mp.exp(mi)) for mi in margins]  # sigma(-m)
        lam = [ai * si for ai, si in zip(a, s)]
        grad = [C * w[j] - mp.fsum(lam[i] * Gm[i][j] for i in range(N)) for j in range(d)]
        if bias:
            grad.append(-mp.fsum(li * yi for li, yi in zip(lam, y)))
        p = d + (1 if bias else 0)
        H = mp.matrix(p, p)
        curv = [ai * si * (1 - si) for ai, si in zip(a, s)]
        for j in range(d):
            for k in range(j, d):
                H[j, k] = H[k, j] = mp.fsum(curv[i] * Gm[i][j] * Gm[i][k] for i in range(N)) + (C if j == k else 0)
        if bias:
            for j in range(d):
                H[j, d] = H[d, j] = mp.fsum(curv[i] * Gm[i][j] * y[i] for i in range(N))
            H[d, d] = mp.fsum(curv)
        step = _solve_mp(H, mp.matrix([-g for g in grad]))
        if step is None:
            return None
        dec = -mp.fsum(g * st for g, st in zip(grad, step))
        alpha = mp.mpf(1)
        if polish == 0:  # damped until the decrement reaches the arithmetic's rounding, then full steps
            for _ls in range(80):
                w_t = [w[j] + alpha * step[j] for j in range(d)]
                b_t = b + alpha * step[d] if bias else None
                P_t = _primal_mp(Gm, y, a, C, "logistic", w_t, b_t)
                if P_t <= P - alpha * dec / 4:
                    break
                alpha /= 2
        w = [w[j] + alpha * step[j] for j in range(d)]
        b = b + alpha * step[d] if bias else None
        P = _primal_mp(Gm, y, a, C, "logistic", w, b)
        if polish or abs(dec) <= mp.mpf(10) ** (20 - mp.mp.dps) * (abs(P) + C * mp.fsum(x * x for x in w)):
            polish += 1
        if polish >= 3:
            margins = [mp.fsum(g * x for g, x in zip(gi, w)) + (b * yi if bias else 0) for gi, yi in zip(Gm, y)]
            lam = [ai / (1 + mp.exp(mi)) for ai, mi in zip(a, margins)]
            if bias:  # exactly feasible for (1.11): the larger class sum scaled down
                pos = mp.fsum(li for li, yi in zip(lam, y) if yi > 0)
                neg = mp.fsum(li for li, yi in zip(lam, y) if yi < 0)
                if pos > neg:
                    lam = [li * neg / pos if yi > 0 else li for li, yi in zip(lam, y)]
                elif neg > pos:
                    lam = [li * pos / neg if yi < 0 else li for li, yi in zip(lam, y)]
            return w, b, lam
    return None


def _mp_hinge(Gm, y, a, C, bias, w0, b0, max_rounds: int = 60):
    import mpmath as mp

    N, d = len(Gm), len(Gm[0])
    K = [[mp.fsum(Gm[i][k] * Gm[j][k] for k in range(d)) for j in range(N)] for i in range(N)]
    if w0 is not None and np.all(np.isfinite(w0)):
        w = [mp.mpf(float(x)) for x in w0]
        b = mp.mpf(float(b0)) if (bias and b0 is not None and math.isfinite(b0)) else mp.mpf(0)
        margins = [mp.fsum(g * x for g, x in zip(gi, w)) + (b * yi if bias else 0) for gi, yi in zip(Gm, y)]
    else:
        margins = [mp.mpf(0)] * N
    sets = []
    for mi in margins:
        if abs(mi - 1) <= mp.mpf("1e-6") * (1 + abs(mi)):
            sets.append("F")
        else:
            sets.append("U" if mi < 1 else "L")
    seen = set()
    for _ in range(max_rounds):
        key = "".join(sets)
        if key in seen:
            return None
        seen.add(key)
        F = [i for i in range(N) if sets[i] == "F"]
        U = [i for i in range(N) if sets[i] == "U"]
        lam = [a[i] if sets[i] == "U" else mp.mpf(0) for i in range(N)]
        b = mp.mpf(0) if bias else None
        size = len(F) + (1 if bias else 0)
        if size:
            A = mp.matrix(size, size)
            rhs = mp.matrix(size, 1)
            for r, i in enumerate(F):
                for c, j in enumerate(F):
                    A[r, c] = K[i][j] / C
                if bias:
                    A[r, len(F)] = y[i]
                rhs[r] = 1 - mp.fsum(K[i][j] * a[j] for j in U) / C
            if bias:
                for c, j in enumerate(F):
                    A[len(F), c] = y[j]
                rhs[len(F)] = -mp.fsum(y[j] * a[j] for j in U)
            sol = _solve_mp(A, rhs)
            if sol is None:
                return None
            for c, j in enumerate(F):
                lam[j] = sol[c]
            if bias:
                b = sol[len(F)]
        elif bias:  # no free coordinate: b anywhere in the interval the fixed sets allow; feasibility first
            if abs(mp.fsum(y[j] * a[j] for j in U)) > 0:
                return None
            b = mp.mpf(0)
        w = [mp.fsum(lam[i] * Gm[i][j] for i in range(N)) / C for j in range(d)]
        margins = [mp.fsum(g * x for g, x in zip(gi, w)) + (b * yi if bias else 0) for gi, yi in zip(Gm, y)]
        changed = False
        for i in range(N):
            if sets[i] == "F" and lam[i] < 0:
                sets[i], changed = "L", True
            elif sets[i] == "F" and lam[i] > a[i]:
                sets[i], changed = "U", True
            elif sets[i] == "L" and margins[i] < 1:
                sets[i], changed = "F", True
            elif sets[i] == "U" and margins[i] > 1:
                sets[i], changed = "F", True
        if not changed:
            return w, b, lam
    return None


def _mp_hinge_barrier(Gm, y, a, C, bias, dps_target: int | None = None):
    """The hinge dual (1.12) by a log-barrier path in mpmath, the barrier weight down to 1e-(dps - 18) of max(a).

    Newton's method on ``-lam^T K lam / (2C) + sum(lam) + mu sum(log lam + log(a - lam))`` with the
    equality ``y^T lam = 0`` (bias) in the KKT system; ``w = G^T lam / C`` and the best bias for it.
    Used where the active-set method meets a degenerate free set; certified by its gap like any reference.
    """
    import mpmath as mp

    N, d = len(Gm), len(Gm[0])
    dps_target = mp.mp.dps - 18 if dps_target is None else dps_target
    K = [[mp.fsum(Gm[i][k] * Gm[j][k] for k in range(d)) / C for j in range(N)] for i in range(N)]
    top = max(a)
    lam = [ai / 2 for ai in a]
    mu = top * mp.mpf("1e-2")

    def value(l_, mu_):
        quad = mp.fsum(l_[i] * mp.fsum(K[i][j] * l_[j] for j in range(N)) for i in range(N)) / 2
        return -quad + mp.fsum(l_) + mu_ * mp.fsum(mp.log(li) + mp.log(ai - li) for li, ai in zip(l_, a))

    while mu > top * mp.mpf(10) ** -dps_target:
        for _ in range(60):
            Kl = [mp.fsum(K[i][j] * lam[j] for j in range(N)) for i in range(N)]
            g = [-Kl[i] + 1 + mu * (1 / lam[i] - 1 / (a[i] - lam[i])) for i in range(N)]
            size = N + (1 if bias else 0)
            A = mp.matrix(size, size)
            rhs = mp.matrix(size, 1)
            for i in range(N):
                for j in range(N):
                    A[i, j] = K[i][j]
                A[i, i] += mu * (1 / lam[i] ** 2 + 1 / (a[i] - lam[i]) ** 2)
                rhs[i] = g[i]
                if bias:
                    A[i, N] = A[N, i] = y[i]
            if bias:
                rhs[N] = -mp.fsum(yi * li for yi, li in zip(y, lam))
            sol = _solve_mp(A, rhs)
            if sol is None:
                return None
            step = [sol[i] for i in range(N)]
            alpha = mp.mpf(1)
            for i in range(N):
                if step[i] < 0:
                    alpha = min(alpha, mp.mpf("0.99") * lam[i] / -step[i])
                elif step[i] > 0:
                    alpha = min(alpha, mp.mpf("0.99") * (a[i] - lam[i]) / step[i])
            F0 = value(lam, mu)
            dec = mp.fsum(gi * si for gi, si in zip(g, step))
            for _ls in range(60):
                trial = [li + alpha * si for li, si in zip(lam, step)]
                if value(trial, mu) >= F0 + alpha * dec / 4 - abs(F0) * mp.mpf(10) ** (10 - mp.mp.dps):
                    break
                alpha /= 2
            lam = trial
            if abs(dec) <= mu * mp.mpf("1e-12"):
                break
        mu /= 100
    w = [mp.fsum(lam[i] * Gm[i][j] for i in range(N)) / C for j in range(d)]
    b = _mp_best_hinge_bias(Gm, y, a, w) if bias else None
    return w, b, lam


def _mp_best_hinge_bias(Gm, y, a, w):
    """The exact minimiser over b of sum_i a_i max(0, 1 - m_i - y_i b): the kink where the slope turns."""
    import mpmath as mp

    m = [mp.fsum(g * x for g, x in zip(gi, w)) for gi in Gm]
    kinks = sorted(((yi * (1 - mi), yi, ai) for mi, yi, ai in zip(m, y, a)), key=lambda t: t[0])
    for k, (kink, _, _) in enumerate(kinks):
        right = mp.fsum(ai for kk, yi, ai in kinks[: k + 1] if yi < 0) - mp.fsum(ai for kk, yi, ai in kinks[k + 1:]
                                                                                  if yi > 0)
        if right >= 0:
            return kink
    return kinks[-1][0]


def _solve_mp(A, rhs):
    """``A x = rhs`` in mpmath; a singular ``A`` (more free support vectors than d + 1, duplicated rows)
    gets a ridge of 1e-45 of its norm: the reference is certified by its own gap afterwards, however found."""
    import mpmath as mp

    try:
        return mp.lu_solve(A, rhs)
    except ZeroDivisionError:
        ridge = mp.mnorm(A, 1) * mp.mpf(10) ** -45
        B = A.copy()
        for i in range(A.rows):
            B[i, i] += ridge
        try:
            return mp.lu_solve(B, rhs)
        except ZeroDivisionError:
            return None


def check_result(prob, res, ref):
    """The checks of one result against the reference: a dict of floats and booleans (see the module)."""
    import mpmath as mp

    w_star, b_star, p_star, ref_err = ref
    gap_bound = _gap_bound(res)
    # enough digits that P(w) - P* is resolved down to the bound it is compared with
    scale = abs(float(p_star)) if p_star != 0 else 1.0
    floor = max(gap_bound, 1e-300 * scale, 5e-324) if math.isfinite(gap_bound) else 1e-300 * scale
    dps = min(800, 60 + max(0, int(math.ceil(math.log10(max(scale, 5e-324)) - math.log10(floor)))))
    with mp.workdps(max(dps, mp.mp.dps)):
        w = np.asarray(res.w, dtype=np.float64)
        finite = bool(np.all(np.isfinite(w)))
        if finite:
            err = mp.sqrt(mp.fsum((mp.mpf(float(x)) - ws) ** 2 for x, ws in zip(w, w_star)))
            Gm, y, a, C = _mp_data(prob)
            b = mp.mpf(float(res.b)) if prob.bias and res.b is not None and math.isfinite(res.b) else (
                mp.mpf(0) if prob.bias else None)
            p_ref = _primal_mp(Gm, y, a, C, prob.loss, w_star, b_star)  # the same point, at these digits
            subopt = _primal_mp(Gm, y, a, C, prob.loss, [mp.mpf(float(x)) for x in w], b) - p_ref
        else:
            err, subopt = mp.inf, mp.inf
        w_norm = mp.sqrt(mp.fsum(mp.mpf(float(x)) ** 2 for x in w)) if finite else mp.inf
        slack = ref_err  # the reference's own certified distance to w*
        # P(w_ref) - P* <= ||grad f||^2 / (2C) = C ref_err^2 / 2 (logistic), or the reference's gap (hinge)
        p_slack = C * ref_err ** 2 / 2 if finite else 0
        bound_ok = (not finite) or err <= mp.mpf(res.w_error_bound) + slack
        gap_ok = (not finite) or subopt <= mp.mpf(gap_bound) + p_slack if math.isfinite(gap_bound) else True
        truthful = (not res.success) or (err <= mp.mpf(res.w_rtol) * w_norm + slack
                                         and subopt <= mp.mpf(res.tol) + p_slack)
        return dict(true_error=float(err), true_subopt=float(subopt), w_norm=float(w_norm), ref_err=float(ref_err),
                    bound_ok=bool(bound_ok), gap_bound_ok=bool(gap_ok), truthful=bool(truthful),
                    bound_ratio=float(err / mp.mpf(res.w_error_bound)) if finite and res.w_error_bound > 0 else 0.0,
                    # how sharp the reference is against what it checks (small: the checks are not vacuous)
                    ref_sharpness=float(ref_err / max(err, mp.mpf(res.w_error_bound), mp.mpf(10) ** -4000))
                    if finite else 0.0)


def _gap_bound(res) -> float:
    """The result's bound on its gap; versions before eq. (1.18) certified the computed gap itself."""
    return float(getattr(res, "gap_bound", max(res.gap, 0.0)))


def run_problem(p, methods):
    """Solve ``p`` with every method that supports it; the records (one per method)."""
    from dualgan.duals import SOLVERS, solve

    prob = p.build()
    results = {}
    for method in methods:
        if method not in SOLVERS.names(losses=p.loss, **({"bias": True} if p.bias else {})):
            continue
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results[method] = (solve(prob, method=method), time.perf_counter() - t0)
    start = results.get("newton", next(iter(results.values())))[0]
    ref = mp_reference(prob, np.asarray(start.w, dtype=np.float64), start.b)
    if ref is None:  # a cold start for the reference
        ref = mp_reference(prob, None, None)
    if ref is not None and p.loss == "hinge" and any(
            check_result(prob, res, ref)["ref_sharpness"] > 1e-6 for res, _ in results.values()):
        # the hinge reference's bound is sqrt(2 gap / C), its gap rounded relative to P: where the checked
        # errors are far below that (w* near 0, C of 1e12), the same method with more digits
        ref = mp_reference(prob, np.asarray(start.w, dtype=np.float64), start.b, dps=260) or ref
    records = []
    for method, (res, seconds) in results.items():
        rec = dict(index=p.index, kind=p.kind, shape=p.shape, loss=p.loss, bias=p.bias, C=p.C, scale=p.scale,
                   N=prob.N, d=prob.d, method=method, code=res.status.code.value, success=res.success,
                   float64_limited=res.float64_limited, gap=res.gap, gap_bound=_gap_bound(res),
                   w_error_bound=res.w_error_bound, seconds=seconds, reference=ref is not None)
        if ref is not None:
            rec.update(check_result(prob, res, ref))
        records.append(rec)
    return records


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=320, help="problems (a multiple of 48 covers every kind)")
    parser.add_argument("--max-N", type=int, default=24)
    parser.add_argument("--methods", default=None, help="comma-separated (default: every registered dual solver)")
    parser.add_argument("--out", default=None, help="JSON lines, appended; problems already there are skipped")
    parser.add_argument("--summarize", default=None, metavar="JSONL", help="print the table of a finished run")
    args = parser.parse_args()
    if args.summarize:
        with open(args.summarize, encoding="utf-8") as fh:
            summarize([json.loads(line) for line in fh if line.strip()])
        return
    from dualgan.duals import SOLVERS

    methods = args.methods.split(",") if args.methods else SOLVERS.names()
    done = set()
    if args.out and os.path.exists(args.out):
        with open(args.out, encoding="utf-8") as fh:
            done = {json.loads(line)["index"] for line in fh if line.strip()}
    records = []
    t0 = time.time()
    for index in range(args.count):
        if index in done:
            continue
        p = make_extreme(index, args.seed, args.max_N)
        recs = run_problem(p, methods)
        for r in recs:
            bad = r.get("truthful") is False or r.get("bound_ok") is False or r.get("gap_bound_ok") is False
            if bad or not r["reference"]:
                print(f"{r['method']:7s} {p.describe()}: {'NO REFERENCE' if not r['reference'] else r}", flush=True)
        records.extend(recs)
        if args.out:
            with open(args.out, "a", encoding="utf-8") as fh:
                for r in recs:
                    fh.write(json.dumps(r) + "\n")
    print(f"# {args.count} problems, seed {args.seed}, {time.time() - t0:.0f} s this run")
    if args.out:
        with open(args.out, encoding="utf-8") as fh:
            records = [json.loads(line) for line in fh if line.strip()]
    summarize(records)


def summarize(records):
    """The table: per method, problems run, with a reference, SUCCESS, float64-limited, false SUCCESS,
    bounds below the true error / suboptimality, and the largest true error / w_error_bound."""
    print("| method | run | referenced | SUCCESS | float64-limited | other | false SUCCESS | "
          "w_error_bound < true error | gap_bound < true suboptimality | max true error / w_error_bound | "
          "max ref_err / max(true error, w_error_bound) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for method in sorted({r["method"] for r in records}, key=lambda m: ["newton", "lbfgsb", "ipopt", "casadi"].index(m)
                         if m in ("newton", "lbfgsb", "ipopt", "casadi") else 9):
        rs = [r for r in records if r["method"] == method]
        ref = [r for r in rs if r["reference"]]
        ok = sum(r["success"] for r in rs)
        lim = sum((not r["success"]) and r["float64_limited"] for r in rs)
        false = sum(not r["truthful"] for r in ref)
        below = sum(not r["bound_ok"] for r in ref)
        gbelow = sum(not r["gap_bound_ok"] for r in ref)
        ratio = max([r["bound_ratio"] for r in ref] or [0.0])
        sharp = max([r.get("ref_sharpness", float("nan")) for r in ref] or [0.0])
        print(f"| {method} | {len(rs)} | {len(ref)} | {ok} | {lim} | {len(rs) - ok - lim} | {false} | {below} | "
              f"{gbelow} | {ratio:.3g} | {sharp:.2g} |")


if __name__ == "__main__":
    main()
