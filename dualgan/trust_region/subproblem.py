r"""The score-linearisation trust-region subproblem, solved through its dual (eqs. (2.4)-(2.10) of the theory page, docs/theory.md).

Primal (model of the discriminator cost around :math:`w`, :math:`\delta \in \mathbb R^P`):

.. math::

    \min_{\|\delta\| \le \Delta}\; m(\delta) = \tfrac{C}{2}\|w+\delta\|^2
        + \sum_i a_i\,\ell\big(y_i(F_i + g_i^\top\delta)\big).

Dual, with :math:`s = C + \mu`, :math:`K = \mathrm{diag}(y)\,G\,\mathrm{diag}(y)`,
:math:`b = y \odot Jw` and :math:`q(\lambda) = \|u(\lambda) - Cw\|^2 =
\lambda^\top K\lambda - 2C\lambda^\top b + C^2\|w\|^2`:

.. math::

    D(\lambda, \mu) = \tfrac{C}{2}\|w\|^2 - \frac{q(\lambda)}{2s} - \lambda^\top(y\odot F)
        + \sum_i a_i H(\lambda_i/a_i) - \frac{\mu\Delta^2}{2},
    \qquad \delta^* = \frac{u(\lambda^*) - Cw}{s^*}.

For fixed :math:`\mu` the problem in :math:`\lambda` is
:func:`dualgan.duals.maximize_entropy_dual` with ``scale = s``, ``K`` and the
linear term :math:`c = C b/s - y\odot F` (the constant
:math:`C\|w\|^2/2 - C^2\|w\|^2/(2s) - \mu\Delta^2/2` aside). The outer function
:math:`\varphi(\mu) = \max_\lambda D` is concave with
:math:`\varphi'(\mu) = (\|\delta(\mu)\|^2 - \Delta^2)/2`: :math:`\mu = 0` when the
unconstrained model step fits, otherwise :math:`\mu` solves the secular
equation :math:`\|\delta(\mu)\| = \Delta`. We solve it by safeguarded Newton on
:math:`h(s) = s/\sqrt{q(\lambda(s))} - 1/\Delta` (nearly linear in s, as in
Moré-Sorensen), with the derivative from the implicit function theorem,

.. math::

    \lambda'(s) = (K/s + \mathrm{diag}(h))^{-1} r / s^2,\quad r = K\lambda - Cb,
    \qquad q'(s) = 2 r^\top\lambda'(s),

and every inner solve warm-started at the previous :math:`\lambda`.

Certificate: the recovered step is scaled by :math:`t \le 1` so that
:math:`\|\delta\| \le \Delta` holds exactly; then :math:`m(\delta) \ge D(\lambda,\mu)`
(weak duality) and ``gap = m(delta) - D`` bounds the step's suboptimality.
Only N x N and N-vector arithmetic happens here, all in float64.

Methods: ``"newton"`` (default, our interior Newton inside the secular
iteration), ``"ipopt"`` (cyipopt) and ``"casadi"`` (casadi's Ipopt), the last
two on the joint problem in :math:`(\lambda, \mu)`.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..duals.newton import maximize_entropy_dual

__all__ = ["ScoreDualResult", "solve_score_dual", "SUBPROBLEM_METHODS"]

SUBPROBLEM_METHODS = ("newton", "ipopt", "casadi")
_EPS = 2.220446049250313e-16


@dataclass(frozen=True)
class ScoreDualResult:
    r"""Solution of the score-linearisation dual.

    The primal step is :math:`\delta = J^\top \text{score\_weights} - \text{weight\_decay}\cdot w`
    (one backward pass of :math:`\sum_i \text{score\_weights}_i F(w, x_i)`), with
    ``score_weights = t * lam * y / s`` and ``weight_decay = t * C / s``;
    ``jdelta`` is :math:`J\delta`, ``step_norm`` its norm as the Gram matrix
    predicts it. ``model_decrease = m(0) - m(delta)``; ``gap = m(delta) - D >= 0``.
    ``status`` is ``"converged"`` or says what went wrong. The dual is eq.
    (2.7) of the theory page and the step eq. (2.8).

    Parameters
    ----------
    lam : torch.Tensor
        Shape ``(N,)``, float64: the multipliers :math:`\lambda`, :math:`0 < \lambda_i < a_i`.
    slack : torch.Tensor
        Shape ``(N,)``, float64: :math:`a - \lambda`, computed without cancellation.
    mu : float
        The radius multiplier :math:`\mu \ge 0`.
    dual_value : float
        :math:`D(\lambda, \mu)` of eq. (2.7), a lower bound of the model's minimum.
    model_value : float
        :math:`m(\delta)` of eq. (2.4) at the recovered (scaled) step.
    model_decrease : float
        :math:`m(0) - m(\delta)`, the predicted decrease of the cost.
    gap : float
        :math:`m(\delta) - D \ge 0`, the sub-problem's duality gap.
    step_norm : float
        :math:`\|\delta\|` as the Gram matrix predicts it (parameter-space units).
    step_scale : float
        The factor :math:`t \le 1` that puts the step inside the ball.
    on_boundary : bool
        Whether :math:`\mu > 0` (the step lies on the sphere :math:`\|\delta\| = \Delta`).
    score_weights : torch.Tensor
        Shape ``(N,)``, float64: ``t * lam * y / s``.
    weight_decay : float
        ``t * C / s``, the coefficient of :math:`-w` in the step.
    jdelta : torch.Tensor
        Shape ``(N,)``, float64: :math:`J\delta`.
    inner_iterations : int
        Total Newton (or Ipopt) iterations of the inner solves.
    outer_iterations : int
        Iterations of the secular equation (1 for the joint Ipopt methods).
    seconds : float
        Wall time of the solve, in seconds.
    status : str
        ``"converged"`` or what went wrong (a ``"failed..."`` status means no usable step).
    method : str
        The solver that ran (``"newton"``, ``"ipopt"`` or ``"casadi"``).
    """

    lam: torch.Tensor
    slack: torch.Tensor
    mu: float
    dual_value: float
    model_value: float
    model_decrease: float
    gap: float
    step_norm: float
    step_scale: float
    on_boundary: bool
    score_weights: torch.Tensor
    weight_decay: float
    jdelta: torch.Tensor
    inner_iterations: int
    outer_iterations: int
    seconds: float
    status: str
    method: str

    @property
    def converged(self) -> bool:
        return self.status == "converged"


def solve_score_dual(gram: torch.Tensor, jw: torch.Tensor, scores: torch.Tensor, y: torch.Tensor,
                     a: torch.Tensor, C: float, w_sqnorm: float, radius: float, *, method: str = "newton",
                     tol: float | None = None, radius_rtol: float = 1e-10, max_outer: int = 60,
                     lam0: torch.Tensor | None = None, slack0: torch.Tensor | None = None,
                     mu0: float | None = None) -> ScoreDualResult:
    r"""Solve the dual above (all inputs float64 on one device).

    The dual (2.7) of the sub-problem (2.2) with the score model (2.4), eqs.
    (2.6)-(2.10) of the theory page; the inner problem is eq. (1.10).

    Parameters
    ----------
    gram : torch.Tensor
        Shape ``(N, N)``: the tangent Gram matrix :math:`G_{ij} = g_i^\top g_j`
        (see :func:`~dualgan.trust_region.score_linearization`).
    jw : torch.Tensor
        Shape ``(N,)``: :math:`(Jw)_i`.
    scores : torch.Tensor
        Shape ``(N,)``: the scores :math:`F_i`.
    y : torch.Tensor
        Shape ``(N,)``: labels, +1 real and -1 generated (eq. (0.1)).
    a : torch.Tensor
        Shape ``(N,)``: weights, 1/n real and 1/m generated (eq. (0.1)).
    C : float
        L2 weight of the cost (finite, > 0).
    w_sqnorm : float
        :math:`\|w\|^2` of the current parameters.
    radius : float
        The trust radius :math:`\Delta > 0` (finite).
    method : str, default "newton"
        ``"newton"`` (interior Newton inside the secular iteration), ``"ipopt"``
        or ``"casadi"`` (the joint problem in :math:`(\lambda, \mu)`).
    tol : float, optional
        Inner stopping tolerance: half the Newton decrement (default 1e-18, so that warm
        re-solves inside the secular iteration still move; rounding stops earlier as "stalled",
        which is accepted) or Ipopt's tol (default 1e-12).
    radius_rtol : float, default 1e-10
        The secular equation is solved to :math:`|\|\delta\| - \Delta| \le` ``radius_rtol * radius``.
    max_outer : int, default 60
        Maximum number of secular-equation iterations.
    lam0 : torch.Tensor, optional
        Shape ``(N,)``: warm start of :math:`\lambda` (clipped strictly into
        the box). Default None: :math:`a/2`.
    slack0 : torch.Tensor, optional
        Shape ``(N,)``: warm start of :math:`a - \lambda`, computed without
        cancellation. Default None: ``a - lam0``.
    mu0 : float, optional
        Warm start of :math:`\mu`. Default None: none.

    Returns
    -------
    ScoreDualResult
        The multipliers, the step's coefficients, the certified gap and the status.

    Raises
    ------
    ValueError
        If ``method`` is unknown or ``C`` or ``radius`` is not finite and > 0.

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. "Dualing GANs."
    NeurIPS 2017 (section 4 and appendix C). Jorge J. Moré, Danny C. Sorensen.
    "Computing a Trust Region Step." SIAM Journal on Scientific and
    Statistical Computing 4(3), 1983.
    """
    t0 = time.perf_counter()
    if method not in SUBPROBLEM_METHODS:
        raise ValueError(f"unknown inner method {method!r}; choose one of {list(SUBPROBLEM_METHODS)}")
    if not (C > 0 and math.isfinite(C)):
        raise ValueError(f"C must be finite and > 0, got {C!r}")
    if not (radius > 0 and math.isfinite(radius)):
        raise ValueError(f"radius must be finite and > 0, got {radius!r}")
    K = gram * y[:, None] * y[None, :]
    b = y * jw
    yF = y * scores
    ctx = _Context(K, b, yF, y, a, float(C), float(w_sqnorm), float(radius))
    if lam0 is None or lam0.shape != a.shape:
        lam0, slack0 = 0.5 * a, 0.5 * a
    else:
        # strictly inside the box, each coordinate at least 1e-12 a_i from both faces
        floor = a * 1e-12
        lam0 = torch.minimum(torch.maximum(lam0, floor), a - floor)
        slack0 = a - lam0 if slack0 is None or slack0.shape != a.shape else slack0
        slack0 = torch.minimum(torch.maximum(slack0, floor), a - floor)
    if tol is None:
        tol = 1e-18 if method == "newton" else 1e-12
    if method == "newton":
        lam, slack, s, inner_its, outer_its, status = _secular_newton(ctx, tol, radius_rtol, max_outer, lam0, slack0,
                                                                      mu0)
    else:
        lam, slack, s, inner_its, status = _joint_ipopt(ctx, method, tol, lam0, mu0)
        outer_its = 1
    return ctx.result(lam, slack, s, inner_its, outer_its, time.perf_counter() - t0, status, method, radius_rtol)


class _Context:
    """The dual's data and its N x N / N-vector formulas."""

    def __init__(self, K, b, yF, y, a, C, ww, radius):
        self.K, self.b, self.yF, self.y, self.a = K, b, yF, y, a
        self.C, self.ww, self.radius = C, ww, radius

    def q_and_r(self, lam):
        Klam = self.K @ lam
        r = Klam - self.C * self.b
        q = float(lam @ Klam - 2 * self.C * (lam @ self.b) + self.C ** 2 * self.ww)
        return max(q, 0.0), r

    def inner(self, s, lam, slack, tol):
        linear = self.C * self.b / s - self.yF
        return maximize_entropy_dual(self.a, scale=s, K=self.K, linear=linear, tau=1.0, lam0=lam, slack0=slack,
                                     tol=tol, max_iter=100)

    def dual_value(self, lam, slack, s):
        q, _ = self.q_and_r(lam)
        ent = -(torch.xlogy(lam, lam / self.a).sum() + torch.xlogy(slack, slack / self.a).sum())
        return (0.5 * self.C * self.ww - q / (2 * s) - float(lam @ self.yF) + float(ent)
                - (s - self.C) * self.radius ** 2 / 2)

    def dq_ds(self, lam, slack, s, r, system_solve=None):
        r"""q'(s) = 2 r^T lam'(s) with lam'(s) = (K/s + diag(h))^{-1} r / s^2 (implicit function theorem).

        ``system_solve`` is the inner Newton method's last factorisation of that same matrix at
        ``lam`` (:attr:`dualgan.duals.NewtonState.system_solve`), reused when given.
        Returns ``(q'(s), lam'(s))``; ``(nan, None)`` when the system cannot be factorised.
        """
        if system_solve is not None:
            dlam = system_solve(r) / s ** 2
            if bool(torch.isfinite(dlam).all()):
                return float(2 * (r @ dlam)), dlam
        h = self.a / (lam * slack)
        dm = torch.rsqrt(h)
        B = self.K * dm[:, None] * dm[None, :] / s
        B.diagonal().add_(1.0)
        L, info = torch.linalg.cholesky_ex(B)
        if int(info) != 0:
            return math.nan, None
        dlam = dm * torch.cholesky_solve((dm * r)[:, None], L)[:, 0] / s ** 2
        return float(2 * (r @ dlam)), dlam

    def result(self, lam, slack, s, inner_its, outer_its, seconds, status, method, radius_rtol):
        q, r = self.q_and_r(lam)
        norm = math.sqrt(q) / s
        scale = 1.0 if norm <= self.radius else self.radius / norm * (1.0 - 1e-15)
        step_norm = scale * norm
        mu = s - self.C
        dual = self.dual_value(lam, slack, s)
        wdelta = scale * (float(lam @ self.b) - self.C * self.ww) / s
        margin_change = scale * r / s  # y_i g_i^T delta
        m0 = 0.5 * self.C * self.ww + float(self.a @ F.softplus(-self.yF))
        model = (0.5 * self.C * (self.ww + 2 * wdelta + step_norm ** 2)
                 + float(self.a @ F.softplus(-(self.yF + margin_change))))
        gap = model - dual
        if status == "converged":
            scale_tol = 1e-9 * (1.0 + abs(model))
            if not gap <= scale_tol:
                status = f"inexact: duality gap {gap:.3g} > {scale_tol:.3g}"
        on_boundary = mu > 0 and abs(norm - self.radius) <= max(radius_rtol, 1e-12) * self.radius * 10
        return ScoreDualResult(
            lam=lam, slack=slack, mu=float(mu), dual_value=float(dual), model_value=float(model),
            model_decrease=float(m0 - model), gap=float(gap), step_norm=float(step_norm), step_scale=float(scale),
            on_boundary=bool(on_boundary or scale < 1.0), score_weights=scale * lam * self.y / s, weight_decay=float(scale * self.C / s),
            jdelta=margin_change, inner_iterations=int(inner_its), outer_iterations=int(outer_its),
            seconds=float(seconds), status=status, method=method)


def _secular_newton(ctx: _Context, tol, radius_rtol, max_outer, lam, slack, mu0):
    """mu = 0 if the unconstrained model step fits; else safeguarded Newton on s/sqrt(q(s)) = 1/Delta."""
    C, radius = ctx.C, ctx.radius
    inner_its = 0

    system = None  # the inner Newton system's factorisation at the current (lam, s), when there is one

    def solve_at(s, lam_, slack_):
        nonlocal inner_its, system
        state = ctx.inner(s, lam_, slack_, tol)
        inner_its += state.iterations
        # at the rounding floor the decrement may neither reach tol nor stall the line search:
        # an iterate whose decrement is already tiny is as good as converged
        ok = (state.status in ("converged", "stalled") or state.certificate <= 1e-12) and \
            bool(torch.isfinite(state.lam).all())
        system = state.system_solve
        return state.lam, state.slack, ok, state.status

    # phi is concave in mu with phi'(mu) = (||delta(mu)||^2 - Delta^2)/2: mu* = 0 iff the step at mu = 0
    # fits. With a warm multiplier mu0 > 0 (from the previous trust-region step) we start at mu0 and
    # solve at mu = 0 only if the iteration heads there (a step at mu0 that is too long proves mu* > mu0).
    lo, hi = C, math.inf  # h(lo) < 0 once zero_checked; h(hi) > 0
    s, zero_checked = None, False
    if mu0 is not None and mu0 > 0:
        lam_s, slack_s, ok, st = solve_at(C + mu0, lam, slack)
        if ok:
            s, lam, slack = C + mu0, lam_s, slack_s
            q, r = ctx.q_and_r(lam)
    if s is None:
        lam, slack, ok, st = solve_at(C, lam, slack)
        if not ok:
            return lam, slack, C, inner_its, 0, f"failed: inner solve at mu=0 ({st})"
        q, r = ctx.q_and_r(lam)
        if math.sqrt(q) / C <= radius:
            return lam, slack, C, inner_its, 0, "converged"
        s, zero_checked = C, True
    status = "max_iter"
    outer = 0
    for outer in range(1, max_outer + 1):
        norm = math.sqrt(q) / s
        if abs(norm - radius) <= radius_rtol * radius:
            status = "converged"
            break
        if norm > radius:
            lo = max(lo, s)
            zero_checked = True  # mu* > s - C >= 0
        else:
            hi = min(hi, s)
        h = s / math.sqrt(q) - 1.0 / radius if q > 0 else math.inf
        dq, dlam = ctx.dq_ds(lam, slack, s, r, system)
        dh = 1.0 / math.sqrt(q) - s * dq / (2 * q ** 1.5) if q > 0 and math.isfinite(dq) else math.nan
        s_new = s - h / dh if (math.isfinite(dh) and dh > 0 and math.isfinite(h)) else math.nan
        if not zero_checked and not (math.isfinite(s_new) and s_new > C):
            # the iteration heads for mu <= 0: mu* = 0 if the step at mu = 0 fits
            lam_c, slack_c, ok, st = solve_at(C, lam, slack)
            if not ok:
                status = f"failed: inner solve at mu=0 ({st})"
                break
            q_c, r_c = ctx.q_and_r(lam_c)
            zero_checked = True
            if math.sqrt(q_c) / C <= radius:
                lam, slack, s, q, r = lam_c, slack_c, C, q_c, r_c
                status = "converged"
                break
            s, lam, slack, q, r = C, lam_c, slack_c, q_c, r_c
            continue
        if not (math.isfinite(s_new) and lo < s_new < hi):
            s_new = math.sqrt(lo * hi) if math.isfinite(hi) else 4.0 * max(s, lo)
        if abs(s_new - s) <= 4 * _EPS * s:
            # rounding floor reached: the final scaling keeps ||delta|| <= Delta exactly
            status = "converged" if abs(norm - radius) <= 1e-6 * radius else "stalled: secular equation"
            break
        # first-order predictor lam + lam'(s) (s_new - s) as the warm start, when it stays inside the box
        lam_p, slack_p = lam, slack
        if dlam is not None:
            step = dlam * (s_new - s)
            if bool((lam + step > 0).all()) and bool((slack - step > 0).all()):
                lam_p, slack_p = lam + step, slack - step
        if lam_p is not lam and abs(s_new - s) <= 1e-4 * s:
            # a tiny secular correction: the first-order predictor is exact up to O(ds^2), far below
            # what the inner tolerance resolves; if its step norm meets the radius we stop without
            # another inner solve (the duality gap computed from it in result() certifies it)
            q_p, r_p = ctx.q_and_r(lam_p)
            if abs(math.sqrt(q_p) / s_new - radius) <= radius_rtol * radius:
                s, lam, slack, q, r = s_new, lam_p, slack_p, q_p, r_p
                status = "converged"
                break
        lam_new, slack_new, ok, st = solve_at(s_new, lam_p, slack_p)
        if not ok:
            status = f"failed: inner solve at mu={s_new - C:.3g} ({st})"
            break
        s, lam, slack = s_new, lam_new, slack_new
        q, r = ctx.q_and_r(lam)
    return lam, slack, s, inner_its, outer, status


def _joint_ipopt(ctx: _Context, method, tol, lam0, mu0):
    r"""Ipopt on the joint concave problem in (lambda, mu >= 0) (minimise -D)."""
    import numpy as np

    K = ctx.K.cpu().numpy()
    b = ctx.b.cpu().numpy()
    yF = ctx.yF.cpu().numpy()
    a = ctx.a.cpu().numpy()
    C, ww, radius = ctx.C, ctx.ww, ctx.radius
    N = a.shape[0]
    x0 = np.concatenate([lam0.cpu().numpy(), [0.0 if mu0 is None else max(float(mu0), 0.0)]])
    lb = np.concatenate([np.zeros(N), [0.0]])
    ub = np.concatenate([a, [np.inf]])
    if method == "casadi":
        import casadi as ca

        x = ca.MX.sym("x", N + 1)
        lam, mu = x[:N], x[N]
        s = C + mu
        q = ca.dot(lam, ca.mtimes(ca.DM(K), lam)) - 2 * C * ca.dot(lam, ca.DM(b)) + C ** 2 * ww
        rest = a - lam
        neg_ent = ca.sum1(lam * ca.log(lam / a) + rest * ca.log(rest / a))
        objective = q / (2 * s) + ca.dot(lam, ca.DM(yF)) + neg_ent + mu * radius ** 2 / 2
        opts = {"ipopt.tol": tol, "ipopt.max_iter": 500, "ipopt.print_level": 0, "print_time": False,
                "ipopt.bound_relax_factor": 0.0, "ipopt.honor_original_bounds": "yes", "ipopt.sb": "yes"}
        solver = ca.nlpsol("tr_dual", "ipopt", {"x": x, "f": objective}, opts)
        sol = solver(x0=x0, lbx=lb, ubx=ub)
        stats = solver.stats()
        xs = np.asarray(sol["x"]).reshape(-1)
        status = "converged" if stats.get("success") else f"failed: ipopt {stats.get('return_status')}"
        iters = int(stats.get("iter_count", 0))
    else:
        import cyipopt

        class _Nlp:
            def objective(self, x):
                lam, mu = x[:N], x[N]
                s = C + mu
                q = lam @ K @ lam - 2 * C * lam @ b + C ** 2 * ww
                rest = a - lam
                return (q / (2 * s) + lam @ yF + np.sum(lam * np.log(lam / a) + rest * np.log(rest / a))
                        + mu * radius ** 2 / 2)

            def gradient(self, x):
                lam, mu = x[:N], x[N]
                s = C + mu
                r = K @ lam - C * b
                q = lam @ K @ lam - 2 * C * lam @ b + C ** 2 * ww
                g_lam = r / s + yF + np.log(lam) - np.log(a - lam)
                return np.concatenate([g_lam, [-q / (2 * s ** 2) + radius ** 2 / 2]])

            def hessianstructure(self):
                return np.tril_indices(N + 1)

            def hessian(self, x, lagrange, obj_factor):
                lam, mu = x[:N], x[N]
                s = C + mu
                r = K @ lam - C * b
                q = lam @ K @ lam - 2 * C * lam @ b + C ** 2 * ww
                H = np.zeros((N + 1, N + 1))
                H[:N, :N] = K / s + np.diag(a / (lam * (a - lam)))
                H[N, :N] = -r / s ** 2
                H[N, N] = q / s ** 3
                return obj_factor * H[np.tril_indices(N + 1)]

        nlp = cyipopt.Problem(n=N + 1, m=0, problem_obj=_Nlp(), lb=lb, ub=ub)
        for key, val in (("tol", tol), ("max_iter", 500), ("print_level", 0), ("bound_relax_factor", 0.0),
                         ("honor_original_bounds", "yes"), ("sb", "yes")):
            nlp.add_option(key, val)
        x0[:N] = np.clip(x0[:N], 1e-12 * a, a * (1 - 1e-12))
        xs, info = nlp.solve(x0)
        status = "converged" if info["status"] in (0, 1) else f"failed: ipopt {info['status_msg']!r}"
        iters = -1
    lam = torch.as_tensor(xs[:N], dtype=ctx.a.dtype, device=ctx.a.device)
    floor = ctx.a * 1e-300
    lam = torch.clamp(torch.minimum(lam, ctx.a), min=floor)
    slack = torch.clamp(ctx.a - lam, min=floor)
    return lam, slack, C + max(float(xs[N]), 0.0), iters, status
