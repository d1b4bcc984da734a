"""The compiled CPU kernels against their interpreted references (the one form of each formula)."""
import numpy as np
import pytest
import torch

from dualgan.duals import solve
from dualgan.duals._backend import NumpyOps
from dualgan.duals._primal import kl_terms, logistic_primal_newton, pair_certificate, relation_multipliers
from dualgan.status import StatusCode
from dualgan.duals.newton import _compiled_logistic, _compiled_primal, _ray_start, maximize_entropy_dual
from tests.duals.test_solvers import make_problem, primal_logistic_reference

_kernel = pytest.importorskip("dualgan.duals._kernel", reason="the compiled kernel needs numba")

PRIMAL_SHAPES = [(40, 30, 5, 0.1), (60, 60, 2, 1e-4), (50, 20, 12, 1e-2), (200, 200, 100, 1e-4), (30, 25, 6, 1e-8)]
DUAL_SHAPES = [(25, 20, 80, 1.0), (100, 100, 200, 1e-4), (150, 50, 300, 1e-3)]


def _arrays(prob):
    return prob.G.numpy(), prob.y.numpy(), prob.a.numpy()


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("shape", PRIMAL_SHAPES)
def test_primal_kernel_follows_the_interpreted_primal_newton(shape, bias):
    """Same algorithm, same start: same status, iterations within one, the same certified pair."""
    prob = make_problem(shape, bias=bias, seed=11)
    G, y, a = _arrays(prob)
    w0 = np.zeros(prob.d)
    fast = _compiled_primal(prob, G, y, a, w0, 0.0, 1e-12, 1e-6, 200)
    slow = logistic_primal_newton(NumpyOps, G, y, a, prob.C, bias, w0, 0.0, 1e-12, 1e-6, 200)
    assert fast.status.code is slow.status.code is StatusCode.SUCCESS, (fast.status, slow.status)
    assert abs(fast.iterations - slow.iterations) <= 1
    np.testing.assert_allclose(fast.w, slow.w, rtol=1e-8, atol=1e-300)
    assert fast.trace[0] == pytest.approx(slow.trace[0], rel=1e-9)
    # the kernel's pair, recertified by the reference form, holds the tolerances
    _, _, gap, w, b = prob.certificate(torch.from_numpy(fast.lam), torch.from_numpy(fast.slack), ops=NumpyOps,
                                       w=torch.from_numpy(fast.w), b=fast.b)
    assert gap <= 1e-12 and np.sqrt(2 * max(gap, 0) / prob.C) <= 1e-6 * np.linalg.norm(fast.w)


@pytest.mark.parametrize("shape", DUAL_SHAPES)
def test_dual_kernel_follows_the_interpreted_loop(shape):
    """The d >= N kernel and maximize_entropy_dual: same status, iterations within one, same optimum."""
    prob = make_problem(shape, seed=11)
    lam, slack = _ray_start(prob)
    fast = _compiled_logistic(prob, lam, slack, 1e-11, 1e-6, 200)
    from dualgan.duals.result import _acceptance

    slow = maximize_entropy_dual(prob.a, scale=prob.C, G=prob.G, lam0=lam, slack0=slack, tol=1e-11, max_iter=200,
                                 certificate=prob.gap_function(NumpyOps),
                                 accept=_acceptance(prob, NumpyOps, 1e-11, 1e-6))
    assert fast.status.code is slow.status.code is StatusCode.SUCCESS, (fast.status, slow.status)
    assert abs(fast.iterations - slow.iterations) <= 1
    np.testing.assert_allclose(fast.lam.numpy(), slow.lam.numpy(), rtol=1e-6, atol=1e-14)
    assert prob.gap(fast.lam, fast.slack) <= 1e-11 + 1e-14
    assert fast.trace[0] == pytest.approx(slow.trace[0], rel=1e-9, abs=1e-13)


@pytest.mark.parametrize("seed", range(4))
def test_compiled_kl_gap_is_the_reference_form(seed):
    """The kernel's KL sum equals kl_terms (the numpy form) at random interior points and margins."""
    rng = np.random.default_rng(seed)
    N = 50
    a = rng.uniform(0.1, 1.0, N) / N
    u = rng.uniform(0, 1, N) ** 4
    lam, slack = a * u, a * (1 - u)
    margins = rng.normal(0, 10 ** rng.uniform(-2, 2), N)
    ref = float(a @ kl_terms(NumpyOps, lam, slack, a, margins))
    assert _kernel._kl_gap(lam, slack, a, margins) == pytest.approx(ref, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("seed", range(4))
def test_pair_gap_equals_primal_minus_dual(seed):
    """Eq. (1.16) is P(w) - D(lambda) rearranged: where the difference does not cancel they agree."""
    prob = make_problem((30, 25, 7, 10.0 ** -seed), seed=seed)
    G, y, a = _arrays(prob)
    rng = np.random.default_rng(seed)
    lam = a * rng.uniform(1e-3, 1 - 1e-3, prob.N)
    w = rng.normal(size=prob.d)
    cert = pair_certificate(NumpyOps, G, y, a, prob.C, "logistic", w, None, lam, a - lam)
    m = G @ w
    P = 0.5 * prob.C * w @ w + a @ np.logaddexp(0, -m)
    v = G.T @ lam
    D = -(v @ v) / (2 * prob.C) - (lam * np.log(lam / a) + (a - lam) * np.log((a - lam) / a)).sum()
    assert cert.gap == pytest.approx(P - D, rel=1e-9)
    assert cert.primal == pytest.approx(P, rel=1e-12) and cert.dual == pytest.approx(D, rel=1e-12)


def test_relation_pair_certifies_far_below_the_textbook_difference():
    """At lambda = a sigma(-m) the KL part is exactly zero: the form (1.16) gives ~1e-30, not ~1e-17."""
    prob = make_problem((40, 30, 5, 0.1), seed=3)
    G, y, a = _arrays(prob)
    w = primal_logistic_reference(prob, bias=False)[0]
    lam, slack = relation_multipliers(NumpyOps, y, a, G @ w, False)
    terms = kl_terms(NumpyOps, lam, slack, a, G @ w)
    assert 0 <= float(a @ terms) < 1e-28


def test_kernel_solution_matches_the_primal_reference():
    """The compiled primal Newton's w matches scipy's exact-Hessian primal minimiser."""
    prob = make_problem((60, 60, 20, 1e-4), seed=5)
    res = solve(prob, tol=1e-11)
    assert res.success and res.gap <= 1e-11
    w_ref, _, p_ref = primal_logistic_reference(prob, bias=False)
    np.testing.assert_allclose(res.w, w_ref, rtol=1e-6)
    assert res.primal_value == pytest.approx(p_ref, rel=1e-10)


def test_kernel_reports_max_iter():
    """An iteration cap below what the problem needs is a status, with the gap trace up to the cap."""
    prob = make_problem((200, 200, 100, 1e-4), seed=1)
    res = solve(prob, max_iter=2, warn=False)
    assert res.status.code is StatusCode.MAX_ITER and not res.success and res.gap > 1e-12
    assert len(res.gap_trace) == 3


@pytest.mark.parametrize("loss", ["logistic", "hinge"])
@pytest.mark.parametrize("bias", [False, True])
def test_torch_back_end_follows_numpy(loss, bias):
    """The interpreted primal methods run on torch tensors (the CUDA path) exactly as on numpy arrays."""
    from dualgan.duals._backend import TorchOps
    from dualgan.duals._primal import hinge_primal_interior_point

    prob = make_problem((60, 40, 8, 1e-3), loss=loss, bias=bias, seed=2)
    G, y, a = _arrays(prob)
    method = logistic_primal_newton if loss == "logistic" else hinge_primal_interior_point
    ref = method(NumpyOps, G, y, a, prob.C, bias, np.zeros(prob.d), 0.0, 1e-12, 1e-6, 100)
    got = method(TorchOps, prob.G, prob.y, prob.a, prob.C, bias, torch.zeros(prob.d, dtype=torch.float64), 0.0,
                 1e-12, 1e-6, 100)
    assert got.status.code is ref.status.code and got.iterations == ref.iterations, (got.status, ref.status)
    np.testing.assert_allclose(got.w.numpy(), ref.w, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.lam.numpy(), ref.lam, rtol=1e-8, atol=1e-15)


@pytest.mark.parametrize("seed", range(4))
def test_compiled_dual_value_and_gradient_are_the_reference_form(seed):
    """The kernel's D (eq. (1.3)) and grad D (eq. (1.7)) against dualgan.duals.objective, float64, random points."""
    from dualgan.duals.objective import dual_gradient, dual_value

    prob = make_problem((30, 25, 40, 10.0 ** -(seed + 1)), seed=seed)
    G, _, a = _arrays(prob)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        u = rng.uniform(1e-6, 1 - 1e-6, a.shape[0])
        lam, slack = a * u, a * (1 - u)
        v = G.T @ lam
        q = G @ v
        ref = dual_value(NumpyOps, v, lam, slack, a, prob.C, "logistic")
        assert _kernel._dual_value(lam, slack, q, a, prob.C) == pytest.approx(ref, rel=1e-12, abs=1e-300)
        np.testing.assert_allclose(_kernel._dual_gradient(q, lam, slack, prob.C, np.empty_like(lam)),
                                   dual_gradient(NumpyOps, q, lam, slack, prob.C, "logistic"), rtol=1e-12, atol=0)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_compiled_primal_value_and_pair_are_the_reference_form(seed, bias):
    """The primal kernel's P (eq. (1.1)) against LinearDual.primal_value, and its pair (eq. (1.17)) and gap
    (eq. (1.16)) against relation_multipliers and pair_certificate, at random discriminators."""
    prob = make_problem((30, 25, 6, 10.0 ** -(seed + 1)), bias=bias, seed=seed)
    G, y, a = _arrays(prob)
    rng = np.random.default_rng(seed)
    for scale in (0.1, 1.0, 10.0):
        w = scale * rng.normal(size=prob.d)
        b = float(rng.normal()) if bias else None
        margins = G @ w + (y * b if bias else 0.0)
        P = 0.5 * prob.C * w @ w + a @ np.logaddexp(0.0, -margins)  # eq. (1.1) written out
        assert _kernel._primal_value(w, margins, a, prob.C) == pytest.approx(P, rel=1e-13)
        assert prob.primal_value(w, b) == pytest.approx(P, rel=1e-13)
        lam, slack = np.empty(prob.N), np.empty(prob.N)
        gap = _kernel._pair(G, y, a, prob.C, bias, w, margins, lam, slack)
        lam_ref, slack_ref = relation_multipliers(NumpyOps, y, a, margins, bias)
        np.testing.assert_allclose(lam, lam_ref, rtol=1e-13, atol=0)
        np.testing.assert_allclose(slack, slack_ref, rtol=1e-13, atol=0)
        ref = pair_certificate(NumpyOps, G, y, a, prob.C, "logistic", w, b, lam_ref, slack_ref)
        assert gap == pytest.approx(ref.gap, rel=1e-11, abs=1e-300)


@pytest.mark.parametrize("loss", ["logistic", "hinge"])
@pytest.mark.parametrize("shape", [(40, 30, 5, 0.1), (25, 20, 80, 1e-4), (30, 30, 10, 1e-8)])
def test_ray_scale_maximises_the_reference_dual_along_the_ray(shape, loss):
    """The cold start t a/2 of _ray_start: the reference dual's derivative along the ray is zero there."""
    from dualgan.duals.objective import dual_gradient, dual_value

    prob = make_problem(shape, loss=loss, seed=2)
    G, _, a = _arrays(prob)
    lam, slack = (x.numpy() for x in _ray_start(prob))
    t = float(2 * lam[0] / a[0])
    assert 0 < t <= 1
    np.testing.assert_allclose(lam, 0.5 * t * a, rtol=1e-15)

    def D(t_):
        lam_ = 0.5 * t_ * a
        return dual_value(NumpyOps, G.T @ lam_, lam_, a - lam_, a, prob.C, loss)

    v = G.T @ lam
    slope = 0.5 * a @ dual_gradient(NumpyOps, G @ v, lam, slack, prob.C, loss)
    if t < 1:  # an interior maximiser: zero slope, relative to the slope's two parts
        size = 0.5 * (np.abs(a @ (G @ v)) / prob.C + np.abs(a) @ np.abs(np.log(slack / lam) if loss == "logistic"
                                                                          else np.ones_like(a)))
        assert abs(slope) <= 1e-9 * size
    else:  # the end of the ray: D still rises towards it
        assert slope >= 0
    for s in (1 - 1e-3, 1 + 1e-3):
        if 0 < s * t <= 1:
            assert D(s * t) <= D(t)
