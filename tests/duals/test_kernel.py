"""The compiled CPU kernel of the logistic dual against the interpreted Newton loop and brute force."""
import numpy as np
import pytest
import torch

from dualgan.duals import DualSolverWarning, solve
from dualgan.duals._backend import NumpyOps
from dualgan.duals.newton import _compiled_logistic, _scaled_start, maximize_entropy_dual
from tests.duals.test_solvers import SHAPES, make_problem, primal_logistic_reference

_kernel = pytest.importorskip("dualgan.duals._kernel", reason="the compiled kernel needs numba")


def _interpreted(prob, lam, slack, tol, max_iter=200):
    return maximize_entropy_dual(prob.a, scale=prob.C, G=prob.G, lam0=lam, slack0=slack, tol=tol, max_iter=max_iter,
                                 certificate=prob.gap_function(NumpyOps))


@pytest.mark.parametrize("shape", SHAPES + [(100, 100, 100, 1e-4), (150, 50, 300, 1e-3)])
def test_kernel_follows_the_interpreted_loop(shape):
    """Same algorithm, same start: same status, iterations within one, the same certified optimum.

    Covers the Woodbury branch (d < N) and the scaled N x N branch (d >= N).
    """
    prob = make_problem(shape, seed=11)
    lam, slack = _scaled_start(prob)
    fast = _compiled_logistic(prob, lam, slack, 1e-11, 200)
    slow = _interpreted(prob, lam, slack, 1e-11)
    assert fast.status == slow.status == "converged"
    assert abs(fast.iterations - slow.iterations) <= 1
    np.testing.assert_allclose(fast.lam.numpy(), slow.lam.numpy(), rtol=1e-6, atol=1e-14)
    # the gap the kernel certified is the gap recomputed from scratch at its point
    assert prob.gap(fast.lam, fast.slack) <= 1e-11 + 1e-14
    np.testing.assert_allclose(fast.slack.numpy(), (prob.a - fast.lam).numpy(), rtol=1e-9, atol=1e-18)
    # the first iterate is the same point for both: the traces start with the same gap
    assert fast.trace[0] == pytest.approx(slow.trace[0], rel=1e-9, abs=1e-13)


@pytest.mark.parametrize("seed", range(3))
def test_fused_gap_is_the_certificate(seed):
    """The kernel's gap from (lam, Q lam, D(lam)) equals P(v/C) - D(lambda) computed from the definitions."""
    prob = make_problem((30, 25, 7, 10.0 ** -seed), seed=seed)
    rng = np.random.default_rng(seed)
    a = prob.a.numpy()
    lam = a * rng.uniform(1e-6, 1 - 1e-6, prob.N)
    slack = a - lam
    G = prob.G.numpy()
    q = G @ (G.T @ lam)
    dual = _kernel._dual_value(lam, slack, q, a, prob.C)
    gap = _kernel._gap(lam, q, a, prob.C, dual)
    primal, dual_ref, gap_ref, _, _ = prob.certificate(torch.from_numpy(lam), torch.from_numpy(slack))
    assert dual == pytest.approx(dual_ref, rel=1e-12, abs=1e-14)
    assert gap == pytest.approx(gap_ref, rel=1e-9, abs=1e-12 * max(1.0, abs(primal)))


def test_kernel_solution_matches_the_primal_reference():
    """At the benchmark's tiny C (nearly separable data) the kernel's w matches scipy's primal minimiser."""
    prob = make_problem((60, 60, 20, 1e-4), seed=5)
    res = solve(prob, tol=1e-11)
    assert res.status == "converged" and res.gap <= 1e-11
    w_ref, _, _ = primal_logistic_reference(prob, bias=False)
    assert np.linalg.norm(res.w - w_ref) <= 1e-6 * np.linalg.norm(w_ref)


def test_kernel_reports_max_iter():
    """An iteration cap below what the problem needs is a status, with the gap trace up to the cap."""
    prob = make_problem((60, 60, 2, 1e-4), seed=0)
    with pytest.warns(DualSolverWarning, match="max_iter"):
        res = solve(prob, tol=1e-12, max_iter=2)
    assert res.status == "max_iter" and res.gap > 1e-12
    assert len(res.gap_trace) == 3
    assert res.gap_trace[-1] == pytest.approx(res.gap, rel=1e-8)


def test_kernel_straight_fallback_follows_the_interpreted_loop(monkeypatch):
    """From multipliers pinned to the wrong faces (1e-12 of a bound) the curved search fails and the
    straight fraction-to-boundary step takes over; the kernel's fallback must follow the same iterates."""
    import dualgan.duals.newton as newton

    prob = make_problem((50, 50, 20, 1e-5), seed=2)
    up = torch.from_numpy(np.random.default_rng(2).random(prob.N) < 0.5)
    lam = torch.where(up, prob.a * (1 - 1e-12), prob.a * 1e-12)
    slack = torch.where(up, prob.a * 1e-12, prob.a * (1 - 1e-12))
    calls = []
    straight = newton.straight_path
    monkeypatch.setattr(newton, "straight_path", lambda *args: calls.append(1) or straight(*args))
    slow = _interpreted(prob, lam, slack, 1e-10, max_iter=40)
    assert calls, "the start no longer exercises the straight fallback"
    fast = _compiled_logistic(prob, lam, slack, 1e-10, 40)
    assert fast.status == slow.status
    assert fast.value == pytest.approx(slow.value, rel=1e-7)
    np.testing.assert_allclose(fast.lam.numpy(), slow.lam.numpy(), rtol=1e-5, atol=1e-13)


def test_solve_uses_the_kernel_for_the_logistic_dual_without_bias_only(monkeypatch):
    """solve(method="newton") routes the CPU logistic dual without bias to the kernel, the bias and
    hinge duals to the interpreted solvers (a silent fallback would cost training loops ~2x)."""
    calls = []
    kernel = _kernel.logistic_newton
    monkeypatch.setattr(_kernel, "logistic_newton", lambda *args: calls.append(1) or kernel(*args))
    for loss, bias, expected in (("logistic", False, 1), ("logistic", True, 0), ("hinge", False, 0)):
        calls.clear()
        res = solve(make_problem((30, 20, 5, 0.1), loss=loss, bias=bias), tol=1e-10)
        assert res.converged and len(calls) == expected, (loss, bias, calls)
