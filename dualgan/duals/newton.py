r"""Interior Newton method for entropy-barrier box duals (our own solver).

The generic problem (eq. (1.10) of the theory page, docs/theory.md, which covers (1.3) and (2.7)) is

.. math::

    \max_{0<\lambda<a,\; e^\top\lambda = 0}\;
    F(\lambda) = -\frac{1}{2s}\lambda^\top Q\lambda + c^\top\lambda
                 + \tau\sum_i a_i H(\lambda_i/a_i),

with :math:`Q = GG^\top` given by its factor ``G`` (N x d) or as a Gram
matrix ``K`` (N x N). The entropy is a barrier: the optimum is strictly inside
the box and :math:`F` is strictly concave, so Newton's method converges
quadratically once close. Each Newton system
:math:`(Q/s + \mathrm{diag}(h))\Delta = \nabla F`,
:math:`h_i = \tau a_i/(\lambda_i(a_i-\lambda_i))`, is solved with the Woodbury
identity in O(N d^2 + d^3) when d < N, and with a diagonally scaled Cholesky
factorisation of the N x N system otherwise. The complement
:math:`a - \lambda` is carried as its own vector (the "slack") so that
coordinates close to the upper bound keep full relative precision.

Globalisation: Armijo backtracking along a curved path that never leaves the
box, :math:`\lambda_i e^{\alpha\Delta_i/\lambda_i}` for coordinates moving
down (and the same on the slack for those moving up). To first order it is the
Newton step, so the local quadratic rate is kept, but coordinates heading for a
face of the box (most of them when C is small) get there in a few steps instead
of being throttled by a fraction-to-boundary rule. With the equality
constraint the straight step with a fraction-to-boundary rule is used, since
the curved path would leave the hyperplane. Without it the straight step is
the fallback when the curved path's capped rates make it barely ascend (its
line search ending below alpha = 1e-10, which happens from very poor warm
starts).

The linear discriminator's logistic dual is the case ``Q = GG^T``, ``s = C``,
``c = 0``, ``tau = 1``; its hinge dual is solved by the interior point method of
:mod:`dualgan.duals.interior_point`, whose Newton systems have the same
structure. The trust-region dual of :mod:`dualgan.trust_region` uses the Gram
form with ``s = C + mu``.

On the CPU the iterations run in numpy/LAPACK (lower per-call overhead than
torch for these small dense problems); on CUDA they run in torch on the device.
"""
from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable

import numpy as np
import torch

try:  # the compiled CPU kernel (numba); without it the interpreted loop below serves every case
    from . import _kernel
except ImportError:  # pragma: no cover - numba is a dependency
    _kernel = None

from ._backend import NumpyOps, ops_for
from ._linalg import box_problem, curved_path, equality_step, limit_blas_threads, max_step, straight_path
from .interior_point import box_qp_interior_point
from .problem import LinearDual
from .objective import separable_curvature, separable_gradient, separable_term
from .registry import SOLVERS
from .result import DualResult, NewtonState, _acceptance, problem_result
from ._primal import PrimalState, hinge_primal_interior_point, logistic_primal_newton
from ..status import Status, StatusCode

__all__ = ["maximize_entropy_dual", "solve_newton"]


@limit_blas_threads
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
    certificate: Callable | None = None,
    accept: Callable | None = None,
) -> NewtonState:
    r"""Maximise :math:`F(\lambda)` above by a damped interior Newton method.

    The problem is eq. (1.10) of the theory page; its derivatives are eqs.
    (1.7)-(1.8) and the Newton system is solved with eq. (1.9) when ``d < N``.

    Parameters
    ----------
    a : torch.Tensor
        Shape ``(N,)``, float64, > 0: the upper bounds of the box (its device
        selects the back end: numpy on the CPU, torch on CUDA).
    scale : float
        The ``s`` of the quadratic term, > 0.
    G : torch.Tensor, optional
        Shape ``(N, d)``: the quadratic as a factor :math:`Q = G G^\top`.
        Exactly one of ``G`` and ``K`` is given.
    K : torch.Tensor, optional
        Shape ``(N, N)``: the quadratic as a Gram matrix :math:`Q = K`.
    linear : torch.Tensor, optional
        Shape ``(N,)``: the linear term ``c``. Default None: 0.
    tau : float, default 1.0
        Weight :math:`\tau` of the entropy barrier.
    eq : torch.Tensor, optional
        Shape ``(N,)``: the vector ``e`` of the equality :math:`e^\top\lambda = 0`
        (eq. (1.11)). Default None: no equality.
    lam0 : torch.Tensor, optional
        Shape ``(N,)``: strictly feasible start. Default None: ``a/2``.
    slack0 : torch.Tensor, optional
        Shape ``(N,)``: its complement ``a - lam0``. Default None: computed.
    tol : float, default 1e-10
        Stop when ``certificate(lam, slack) <= tol``.
    max_iter : int, default 100
        Maximum number of Newton iterations.
    certificate : callable, optional
        ``certificate(lam, slack) -> float`` on back-end arrays (numpy on the
        CPU, torch on CUDA), e.g. the duality gap of eq. (1.5). Default None:
        the Newton decrement estimate of suboptimality, :math:`\tfrac12\nabla F^\top\Delta`.
    accept : callable, optional
        ``accept(lam, slack, cert) -> bool`` replacing the test ``cert <= tol``
        (the linear dual adds its bound on the discriminator's error, eq. (1.6)).
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
    Stephen Boyd, Lieven Vandenberghe. "Convex Optimization." Cambridge
    University Press, 2004.
    """
    bp = box_problem(a, scale, G, K, linear, eq, lam0, slack0, default_linear=0.0)
    ops, a_, quad, lam, slack, c, e = bp.ops, bp.a, bp.quad, bp.lam, bp.slack, bp.linear, bp.eq
    eps = 2.220446049250313e-16

    def value(lam_, slack_, Qlam_):
        # eq. (1.10): the quadratic and linear terms, and tau times the separable (entropy) term of eq. (1.3)
        ent = separable_term(ops, lam_, slack_, a_, "logistic")
        return float(-0.5 * (lam_ @ Qlam_) / scale + c @ lam_) + tau * ent

    Qlam = quad.matvec(lam)
    F = value(lam, slack, Qlam)
    trace: list[float] = []
    code, decrement, cert, it, flat_steps = StatusCode.MAX_ITER, float("inf"), float("inf"), 0, 0
    message, best, prev_best = "", None, float("inf")
    final_solve = None
    for it in range(max_iter + 1):
        if certificate is not None:
            cert = certificate(lam, slack)
            trace.append(cert)
            if best is None or cert < best[0]:
                best = (cert, lam, slack, F)
            if (accept(lam, slack, cert) if accept is not None else cert <= tol):
                code = StatusCode.SUCCESS
                break
        # eqs. (1.7) and (1.8) with the linear term c and the entropy's weight tau
        grad = -Qlam / scale + c + tau * separable_gradient(ops, lam, slack, "logistic")
        solve = quad.factor(tau * separable_curvature(ops, lam, slack, a_, "logistic"))
        if solve is None:
            code, message = StatusCode.NUMERICAL_ERROR, f"Newton system not positive definite at iteration {it}"
            break
        delta, _ = equality_step(ops, solve, grad, e, lam)
        if not ops.all_finite(delta):
            code, message = StatusCode.NON_FINITE, f"non-finite Newton direction at iteration {it}"
            break
        decrement = float(grad @ delta)
        if certificate is None:
            cert = 0.5 * abs(decrement)
            trace.append(cert)
            if cert <= tol:
                code = StatusCode.SUCCESS
                final_solve = solve
                break
        if it == max_iter:
            break
        rounding = 64 * eps * (1.0 + abs(F))  # so that tiny final steps are not refused

        def line_search(path, alpha):
            for _ in range(60):
                lam_t, slack_t = path(alpha)
                if bool((lam_t > 0).all()) and bool((slack_t > 0).all()):
                    Qlam_t = quad.matvec(lam_t)
                    F_t = value(lam_t, slack_t, Qlam_t)
                    if F_t >= F + 1e-4 * alpha * decrement - rounding:
                        return alpha, lam_t, slack_t, Qlam_t, F_t
                alpha *= 0.5
            return None

        def straight():
            return straight_path(lam, slack, delta), min(1.0, 0.995 * max_step([(lam, delta), (slack, -delta)]))

        # both paths, the better ascent kept: the curved path lets coordinates heading for a face get
        # there geometrically, the straight one (fraction to the boundary) keeps the quadratic's exact
        # second-order model, which matters when 1/C is large; neither dominates on every problem
        found = line_search(*straight())
        if e is None:
            curved = line_search(curved_path(ops, lam, slack, delta), 1.0)
            if curved is not None and (found is None or curved[4] > found[4]):
                found = curved
        if found is None:
            code, message = StatusCode.STALLED, f"no ascent along either path at iteration {it}"
            break
        _, lam_t, slack_t, Qlam_t, F_t = found  # the accepted step length is not needed further
        # no gain above rounding for several steps: tol is below what float64 can certify
        # no progress: neither the objective above its rounding nor the certificate (a gap of 1e-25
        # moves F by less than its rounding, and far from the optimum the gap can grow while F rises)
        stuck = F_t - F <= rounding and not (certificate is not None and cert < prev_best)
        flat_steps = flat_steps + 1 if stuck else 0
        prev_best = min(prev_best, cert)
        lam, slack, Qlam, F = lam_t, slack_t, Qlam_t, F_t
        if flat_steps >= 5:
            code, message = StatusCode.STALLED, "no progress above rounding for 5 iterations"
            break
    if best is not None and not cert <= best[0]:  # never worse than the best certified iterate
        cert, lam, slack, F = best
        final_solve = None
    back = ops.to_torch
    system_solve = None
    if final_solve is not None:
        def system_solve(r: torch.Tensor) -> torch.Tensor:
            return back(final_solve(ops.to_backend(r)), a)
    return NewtonState(lam=back(lam, a), slack=back(slack, a), value=F, decrement=decrement, certificate=cert,
                       iterations=it, status=Status(code, message), trace=tuple(trace),
                       system_solve=system_solve)


def _check_newton_options(*, side: str = "auto") -> None:
    """Check the values of :func:`solve_newton`'s options (``SOLVERS.check_options`` calls it), raising ValueError."""
    if side not in ("auto", "primal", "dual"):
        raise ValueError(f"side must be 'auto', 'primal' or 'dual', got {side!r}")


@SOLVERS.register("newton", losses=("logistic", "hinge"), bias=True, check_options=_check_newton_options)
def solve_newton(problem: LinearDual, tol: float, max_iter: int | None, lam0, w_rtol: float, *,
                 side: str = "auto") -> DualResult:
    """The default solver: Newton's method on the smaller side of the primal-dual pair.

    * logistic, primal side: Newton on the primal (d unknowns, plus the bias), the
      multipliers from the primal-dual relation (eq. (1.17) of the theory page); compiled on the CPU.
    * logistic, dual side: the interior Newton method on the dual (N unknowns), eq. (1.10).
    * hinge, primal side: the primal-dual interior point method on the primal quadratic programme;
      hinge, dual side: the same method on the box QP (1.12).

    Every pair is certified by eq. (1.16); see :mod:`dualgan.duals._primal` for why the
    primal side is taken when d < N.

    The arguments are those of every solver (:class:`~dualgan.duals.registry.DualSolver`);
    ``max_iter`` counts Newton iterations (None: 200), and on the primal side a warm start
    that is a result starts from its ``w``.

    Parameters
    ----------
    side : {"auto", "primal", "dual"}, default "auto"
        Which problem Newton's method iterates on. ``"auto"``: the primal when
        ``d < N`` or ``d <= 64`` (a (d + 1)-sized system costs microseconds,
        while the dual's per-iteration overhead dominates tiny problems), the
        dual otherwise; a dual side that stops with its gap above ``tol`` hands over,
        as a last resort said in the status message, to the primal side started
        from its best pair (for ``d <= 2048``, with ``max_iter`` iterations of
        its own), and the better pair is returned (``iterations`` counts both
        sides). ``"primal"`` / ``"dual"``: that side only.
        The certificate is the same on either side.

    Returns
    -------
    DualResult
        Certified from the returned pair; ``method="newton"``.

    Raises
    ------
    ValueError
        If ``side`` is not one of ``"auto"``, ``"primal"``, ``"dual"``.

    References
    ----------
    Stephen Boyd, Lieven Vandenberghe. "Convex Optimization." Cambridge University Press, 2004.
    """
    _check_newton_options(side=side)
    t0 = time.perf_counter()
    max_iter = 200 if max_iter is None else max_iter
    ops = ops_for(problem.device)
    # the primal when it is the smaller side, and whenever it is small outright: a (d + 1)-sized
    # system costs microseconds, while the dual's per-iteration overhead (the bias's 1-D solve in
    # each certificate, two line searches) dominates tiny problems
    primal_side = (problem.d < problem.N or problem.d <= _SMALL_PRIMAL) if side == "auto" else side == "primal"
    if primal_side:
        return _solve_primal_side(problem, tol, max_iter, lam0, w_rtol, ops, t0)
    # the dual side: the warm start is used as given, even a poor one (the method brings every
    # coordinate back geometrically), else the best point of the ray t a/2
    lam, slack = problem.initial_point(lam0) if lam0 is not None else _ray_start(problem)
    gap = problem.gap_function(ops)
    accept = _acceptance(problem, ops, tol, w_rtol)
    eq = problem.y if problem.bias else None
    handover = side == "auto" and problem.d <= _PRIMAL_HANDOVER_MAX_D
    if _kernel is not None and ops is NumpyOps and problem.loss == "logistic" and not problem.bias:
        state = _compiled_logistic(problem, lam, slack, tol, w_rtol, max_iter)
    else:
        solver = maximize_entropy_dual if problem.loss == "logistic" else box_qp_interior_point
        state = solver(problem.a, scale=problem.C, G=problem.G, eq=eq, lam0=lam, slack0=slack, tol=tol,
                       max_iter=max_iter, certificate=gap, accept=accept)
    res = problem_result(problem, state.lam, state.slack, state.iterations, time.perf_counter() - t0,
                         state.status, "newton", tol, w_rtol, state.trace)
    if res.success or not handover or not res.gap > tol:
        # (a certified gap whose bound on w misses w_rtol is a rounding limit of w on either side)
        return res
    # The last resort, recorded in the result: the same method on the primal side, started from the
    # dual side's best pair. On rows of very unequal size (samples that escaped far from an RBF's
    # anchors, with the raw coordinates appended: norms from 1 to 1e5) the multipliers of the large
    # rows must reach e^-m for margins m in the thousands, which the dual's interior steps approach
    # only geometrically; the primal Newton step does not see the multipliers at all.
    primal = _solve_primal_side(problem, tol, max_iter, res, w_rtol, ops, t0)
    better = primal.success or (math.isfinite(primal.gap) and not primal.gap >= res.gap)
    best = primal if better else res
    note = (f"the dual side stopped after {res.iterations} iterations ({res.status.code.value}, gap {res.gap:.3g}); "
            f"handed over to the primal side, {primal.iterations} iterations (gap {primal.gap:.3g}): ")
    return dataclasses.replace(best, iterations=res.iterations + primal.iterations,
                               seconds=time.perf_counter() - t0,
                               status=Status(best.status.code, note + best.status.message))


def _solve_primal_side(problem: LinearDual, tol: float, max_iter: int, lam0, w_rtol: float, ops, t0: float):
    """Newton on the primal side (logistic) or the primal interior point method (hinge), certified by (1.16)."""
    w0, b0 = _primal_start(problem, lam0, ops)
    G, y, a = (ops.to_backend(t) for t in (problem.G, problem.y, problem.a))
    if problem.loss == "logistic" and _kernel is not None and ops is NumpyOps:
        st = _compiled_primal(problem, G, y, a, w0, b0, tol, w_rtol, max_iter)
    else:
        method = logistic_primal_newton if problem.loss == "logistic" else hinge_primal_interior_point
        with ops.thread_limit(problem.N * problem.d ** 2):
            st = method(ops, G, y, a, problem.C, problem.bias, w0, b0, tol, w_rtol, max_iter)
    back = lambda x: ops.to_torch(x, problem.a)  # noqa: E731
    cert = problem.certificate(back(st.lam), back(st.slack), ops=ops, w=back(st.w), b=st.b)
    return problem_result(problem, back(st.lam), back(st.slack), st.iterations, time.perf_counter() - t0,
                          st.status, "newton", tol, w_rtol, st.trace, certificate=cert)


#: feature dimensions up to which the primal side is taken even when d >= N
_SMALL_PRIMAL = 64
#: feature dimensions up to which a dual side that stops uncertified hands over to the primal side
#: (a (d + 1)-sized factorisation per iteration: about 0.2 s at d = 2048)
_PRIMAL_HANDOVER_MAX_D = 2048


def _primal_start(problem: LinearDual, lam0, ops):
    """``(w0, b0)`` on the back end: zero (cold), a result's ``w``, or ``v(lam0)/C`` if better than zero."""
    zero = ops.zeros_like(ops.to_backend(problem.G[0]))
    if lam0 is None:
        return zero, 0.0
    if isinstance(lam0, DualResult) and lam0.w is not None:
        w = ops.to_backend(torch.as_tensor(lam0.w, dtype=torch.float64, device=problem.device).reshape(-1))
        if w.shape[0] == problem.d and ops.all_finite(w):
            b = float(lam0.b) if (problem.bias and lam0.b is not None and math.isfinite(lam0.b)) else 0.0
            # a previous discriminator on a batch that moved far (samples that escaped, features of
            # 1e8) can sit where the loss is nearly linear and Newton crawls: never start above zero
            if _primal_value(problem, ops, w, b) <= _primal_value(problem, ops, zero):
                return ops.copy(w), b
            return zero, 0.0
    lam, _ = problem.initial_point(lam0)
    w = ops.to_backend(problem.v(lam)) / problem.C
    # a start pinned near the wrong face can put w far uphill: never start above the cold start
    if _primal_value(problem, ops, w) <= _primal_value(problem, ops, zero):
        return w, 0.0
    return zero, 0.0


def _primal_value(problem: LinearDual, ops, w, b: float = 0.0) -> float:
    """P(w, b) of eq. (1.1) (:meth:`LinearDual.primal_value`), a value that is not finite counted as +inf."""
    value = problem.primal_value(w, b if problem.bias else None, ops=ops)
    return value if math.isfinite(value) else float("inf")


#: iterations per call of a compiled kernel: its trace is preallocated, so a huge max_iter is run in
#: chunks (each resumed from the best pair of the last) instead of allocating max_iter floats
_KERNEL_CHUNK = 4096


def _compiled_logistic(problem: LinearDual, lam, slack, tol: float, w_rtol: float, max_iter: int) -> NewtonState:
    """The logistic dual without bias, d >= N, on the CPU: the compiled kernel of :mod:`._kernel`."""
    G = problem.G.numpy()
    flops = G.shape[0] * min(G.shape) ** 2
    lam_, slack_, value, decrement = lam.numpy(), slack.numpy(), math.nan, math.inf

    def run(chunk, trace):
        nonlocal lam_, slack_, value, decrement
        with NumpyOps.thread_limit(flops):
            lam_, slack_, value, decrement, gap, it, code = _kernel.logistic_newton(
                G, problem.a.numpy(), float(problem.C), lam_, slack_, float(tol), float(w_rtol), int(chunk), trace)
        return gap, it, code

    trace, done, gap, code = _in_chunks(run, max_iter, spare=1)
    return NewtonState(lam=torch.from_numpy(lam_), slack=torch.from_numpy(slack_), value=float(value),
                       decrement=float(decrement), certificate=float(gap), iterations=done,
                       status=Status(*_kernel.STATUS[code]), trace=trace)


def _compiled_primal(problem: LinearDual, G, y, a, w0, b0, tol: float, w_rtol: float, max_iter: int) -> PrimalState:
    """The logistic primal Newton method, d < N, on the CPU: the compiled kernel of :mod:`._kernel`."""
    w, b, lam, slack = np.ascontiguousarray(w0, dtype=np.float64), float(b0), None, None

    def run(chunk, trace):
        nonlocal w, b, lam, slack
        with NumpyOps.thread_limit(problem.N * problem.d ** 2):
            w, b, lam, slack, gap, it, code = _kernel.logistic_primal_newton(
                G, y, a, float(problem.C), bool(problem.bias), w, float(b), float(tol), float(w_rtol), int(chunk),
                trace)
        return gap, it, code

    trace, done, gap, code = _in_chunks(run, max_iter, spare=2)
    code_name, message = _kernel.STATUS[code]
    if code_name is not StatusCode.SUCCESS and message:
        message = f"{message} (gap {gap:.3g})"
    return PrimalState(w=w, b=float(b) if problem.bias else None, lam=lam, slack=slack, certificate=None,
                       iterations=done, status=Status(code_name, message), trace=trace)


def _in_chunks(run: Callable, max_iter: int, spare: int) -> tuple[tuple[float, ...], int, float, int]:
    """Call a compiled kernel, ``run(chunk, trace) -> (gap, iterations, code)``, on at most :data:`_KERNEL_CHUNK`
    iterations at a time, each call resuming from the pair the last returned, while a chunk runs out of
    iterations still improving its gap. ``trace`` has ``chunk + spare`` entries. Returns the gap trace of
    all chunks, the iterations, and the last gap and status code."""
    trace_all: list[float] = []
    done, best = 0, math.inf
    while True:
        chunk = min(max_iter - done, _KERNEL_CHUNK)
        trace = np.empty(chunk + spare)
        gap, it, code = run(chunk, trace)
        trace_all.extend(trace[: min(int(it) + 1, trace.shape[0])].tolist())
        done += int(it)
        # resume only a chunk that ran out of iterations while still improving
        if _kernel.STATUS[code][0] is not StatusCode.MAX_ITER or done >= max_iter or not gap < best:
            return tuple(trace_all), done, gap, code
        best = gap


def _ray_start(problem: LinearDual):
    r"""Cold start :math:`\lambda = t a/2` with the best scale t in (0, 1].

    Along this ray the dual is :math:`-q t^2/2 + \text{entropy}(t)`, a concave
    scalar function; for small C its maximiser is far below 1, and starting there
    saves the Newton method several damped iterations. It is feasible for the
    bias equality too (:math:`y^\top a = 0`).
    """
    a = problem.a
    if a.device.type == "cpu":  # numpy: cheaper per call than torch at these sizes
        a_ = a.numpy()
        v0 = problem.G.numpy().T @ (0.5 * a_)
        s = 0.5 * float(a_.sum())
    else:
        v0 = problem.v(0.5 * a)
        s = 0.5 * float(a.sum())
    q = float(v0 @ v0) / problem.C
    if q <= 0:
        t = 1.0
    elif problem.loss == "hinge":
        t = min(1.0, s / q)
    else:
        t = _ray_scale(q, s)
    lam = 0.5 * t * a
    return problem._balance(lam, a - lam)


def _ray_scale(q: float, s: float) -> float:
    """Maximiser over t in (0, 1] of -q t^2/2 + s (entropy along the ray): bisection on log t.

    The derivative -q t + s log((2 - t)/t) is decreasing in t.
    """
    lo, hi = -40.0, 0.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        t = math.exp(mid)
        if -q * t + s * math.log((2 - t) / t) > 0:
            lo = mid
        else:
            hi = mid
    return math.exp(0.5 * (lo + hi))


if _kernel is not None:  # 50 bisection steps cost ~40 us interpreted, ~1 us compiled
    _ray_scale = _kernel.jit(_ray_scale)
