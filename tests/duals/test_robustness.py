"""The certified solver on the problems users bring: reported inputs and a seeded grid of hard problems.

Every value is checked against an independent reference: scikit-learn's
``LogisticRegression`` or Ipopt on the hinge primal QP, scipy's exact-Hessian
trust region, or a 50-digit mpmath solve.
"""
import math
import os
import sys
import warnings

import numpy as np
import pytest
import torch

from dualgan.duals import LinearDual, solve
from dualgan.status import StatusCode
from tests.duals.test_solvers import primal_logistic_reference

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
from dual_corpus import make_problem  # noqa: E402


def _sklearn_primal(prob):
    """w, b and P(w, b) from scikit-learn: C_sklearn = 1/C, sample_weight = a."""
    from sklearn.linear_model import LogisticRegression

    if prob.loss == "hinge":  # liblinear / libsvm take hours at C_sklearn = 1e10: the primal QP by Ipopt
        from tests.duals.test_solvers import primal_hinge_reference

        return primal_hinge_reference(prob, prob.bias)
    X = np.vstack([prob.phi_real.numpy(), prob.phi_fake.numpy()])
    y, a = prob.y.numpy(), prob.a.numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = LogisticRegression(C=1 / prob.C, fit_intercept=prob.bias, solver="newton-cholesky", tol=1e-14,
                                 max_iter=10000)
        clf.fit(X, y, sample_weight=a)
    w = np.ravel(clf.coef_)
    b = float(np.ravel(clf.intercept_)[0]) if prob.bias else None
    return w, b, prob.primal_value(w, b)


def test_reported_input_features_of_scale_10_at_C_1e6():
    """Was: max_iter after 200 iterations with gap 4.6e2 (it started at 0.32). Optimum P* = 0.156229."""
    rng = np.random.default_rng(4)
    pr, pf = rng.normal(1, 1, (30, 4)) * 10, rng.normal(-1, 1, (30, 4)) * 10
    prob = LinearDual(pr, pf, C=1e-6)
    res = solve(prob)
    assert res.success, res.status
    w_ref, _, p_ref = primal_logistic_reference(prob, bias=False)
    assert p_ref == pytest.approx(0.156229, abs=5e-7)
    assert res.primal_value == pytest.approx(p_ref, rel=1e-10)
    assert res.dual_value == pytest.approx(p_ref, rel=1e-10)
    assert np.linalg.norm(res.w - w_ref) <= res.w_error_bound + 1e-6 * np.linalg.norm(w_ref)
    assert res.iterations <= 60 and res.gap <= res.gap_trace[0]


def test_reported_input_C_1e8():
    """Was: max_iter with D = 0.469; optimum 0.988243 (scikit-learn)."""
    rng = np.random.default_rng(1)
    prob = LinearDual(rng.normal(.3, 1, (30, 6)), rng.normal(0, 1, (25, 6)), C=1e-8)
    res = solve(prob)
    assert res.success, res.status
    w_ref, _, p_ref = _sklearn_primal(prob)
    assert p_ref == pytest.approx(0.988243, abs=5e-7)
    assert res.dual_value == pytest.approx(p_ref, abs=1e-9)
    assert np.linalg.norm(res.w - w_ref) <= 1e-5 * np.linalg.norm(w_ref)


def test_reported_input_features_of_scale_1e4_is_certified_not_a_rounding_floor():
    """Was: 'stalled: at the rounding floor' with gap 2.1 while L-BFGS-B certified 2.5e-13."""
    rng = np.random.default_rng(1)
    pr, pf = rng.normal(1, 1, (30, 4)) * 1e4, rng.normal(-1, 1, (30, 4)) * 1e4
    prob = LinearDual(pr, pf, C=1e-6)
    res = solve(prob)
    assert res.success, res.status
    assert res.gap <= 1e-10
    ref = solve(prob, method="lbfgsb", warn=False)
    # weak duality across methods: neither's dual value exceeds the other's primal value
    assert res.dual_value <= ref.primal_value + 1e-15 and ref.dual_value <= res.primal_value + 1e-15
    w_ref, _, p_ref = primal_logistic_reference(prob, bias=False)
    assert res.primal_value <= p_ref + res.gap + 1e-15


def test_nearly_separable_at_C_1e9_claims_success_only_with_both_bounds():
    """Was: 'converged' after 0 iterations with a 0.7% relative gap and w 0.34% off the optimum."""
    rng = np.random.default_rng(7)
    prob = LinearDual(rng.normal(2.0, 1, (40, 3)), rng.normal(-2.0, 1, (35, 3)), C=1e-9)
    res = solve(prob, warn=False)
    w_ref, _, p_ref = _sklearn_primal(prob)
    w_norm = np.linalg.norm(res.w)
    if res.success:
        assert res.gap_bound <= 1e-10 and res.w_error_bound <= 1e-6 * w_norm
        assert np.linalg.norm(res.w - w_ref) <= res.w_error_bound + 1e-5 * np.linalg.norm(w_ref)
    else:
        assert res.status.code in (StatusCode.STALLED, StatusCode.MAX_ITER)
    assert res.iterations > 0
    # the bound is that of the certified gap, which counts the certificate's own rounding (eq. (1.18))
    assert res.gap_bound >= max(res.gap, 0)
    assert res.w_error_bound == pytest.approx(math.sqrt(2 * res.gap_bound / prob.C), rel=1e-12)


def test_ipopt_statuses_never_contradict_themselves():
    """Was: 'stalled: casadi/ipopt Solve_Succeeded'. Ipopt's own verdict is reported as its own."""
    rng = np.random.default_rng(1)
    pr, pf = rng.normal(1, 1, (30, 4)) * 1e4, rng.normal(-1, 1, (30, 4)) * 1e4
    res = solve(LinearDual(pr, pf, C=1e-6), method="casadi", warn=False)
    if not res.success:
        assert res.status.code is StatusCode.STALLED
        assert "short of the certificate" in res.status.message
        assert not str(res.status).startswith("stalled: casadi/ipopt Solve_Succeeded")
    else:
        assert res.gap <= 1e-10


def test_readme_ring_with_broad_rbf_and_C_1e6_trains():
    """Was: stopped at iteration 0 ('failed: dual solver stalled'); with solver='casadi' it trained."""
    from dualgan.data import ring
    from dualgan.features import RBF
    from dualgan.train import DualLinearGAN, mlp_generator

    data = ring(5, radius=2.0, std=0.3)
    features = RBF(data.sample(100, generator=torch.Generator().manual_seed(0)), sigma=2.0)
    gan = DualLinearGAN(mlp_generator(output_gain=3.0, dtype=torch.float64, seed=0), features, C=1e-6,
                        latent_dim=2, batch_size=100, mode="fixed", seed=0)
    hist = gan.fit(data, 3)
    assert gan.status.success, gan.status
    assert len(hist) == 3 and hist.is_monotone(tol=1e-9)
    assert np.all(hist["inner_gap"] <= 1e-10)


HARD = [i for i in range(72)]  # two of every kind: shape x loss x bias x start


@pytest.mark.parametrize("index", HARD)
def test_hard_grid_is_certified_or_honestly_float64_limited(index):
    """A seeded grid of hard problems (scales 1e-4..1e4, C 1e-10..1e2, all shapes, losses, starts).

    newton either certifies both tolerances, or stalls with the gap certified and only the
    bound on w short (or says that float64 cannot certify it). Every result, certified or not,
    is compared with the independent reference (scikit-learn's primal optimum, Ipopt on the hinge
    QP): weak duality, and the distance to the reference within the result's error bound plus the
    reference's own suboptimality (a STALLED result is compared too, not skipped).
    """
    p = make_problem(index, seed=0, max_N=120)
    prob = LinearDual(p.phi_real, p.phi_fake, C=p.C, loss=p.loss, bias=p.bias)
    res = solve(prob, lam0=p.lam0, warn=False)
    if p.start == "cold":
        assert res.iterations <= 60, (p.describe(), res.status)
    if not res.success:
        # stalled at the gap tolerance with only the bound on w short of w_rtol, or where float64
        # cannot certify (the status says so); never max_iter or a breakdown
        assert res.status.code is StatusCode.STALLED and (res.float64_limited or res.gap <= 1e-10), \
            (p.describe(), res.status)
    w_ref, b_ref, p_ref = _sklearn_primal(prob)
    slack = 1e-12 * max(1.0, abs(p_ref))
    assert res.dual_value <= p_ref + slack, p.describe()  # weak duality, whatever the status
    assert res.primal_value <= p_ref + res.gap_bound + slack, p.describe()
    # the reference's own error is unknown, so the distance is compared with the bound and
    # the reference's suboptimality (strong convexity: ||w_ref - w*||^2 <= 2 (P(w_ref) - P*)/C)
    ref_err = math.sqrt(2 * max(p_ref - res.dual_value, 0) / p.C)
    assert np.linalg.norm(res.w - w_ref) <= res.w_error_bound + ref_err + 1e-9 * np.linalg.norm(w_ref), \
        (p.describe(), res.status)
    if res.success:  # a certified w is within w_rtol of w*, so within that plus ref_err of the reference
        assert np.linalg.norm(res.w - w_ref) <= 1e-6 * np.linalg.norm(res.w) + ref_err + 1e-9 * np.linalg.norm(w_ref)


def test_float64_limit_is_real_where_claimed():
    """Where the status says float64 cannot certify w_rtol, neither can the exact optimum rounded to float64.

    Corpus problem #360 (n=3, m=1, d=1, C=1.6e-8, features ~2.6e2, overlapping): its
    optimum w* is solved to 50 digits with mpmath from the float64 data; rounded to float64
    and certified by the library's own (cancellation-free) gap, it misses the bound too.
    """
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 50
    p = make_problem(360, seed=0, max_N=300)
    prob = LinearDual(p.phi_real, p.phi_fake, C=p.C)
    res = solve(prob, warn=False)
    assert not res.success and res.float64_limited and "float64 can" in res.status.message
    G, a = prob.G.numpy()[:, 0], prob.a.numpy()
    C = mpmath.mpf(p.C)
    g = [mpmath.mpf(float(x)) for x in G]
    aa = [mpmath.mpf(float(x)) for x in a]

    def dP(w):
        return C * w - sum(ai * gi / (1 + mpmath.exp(gi * w)) for ai, gi in zip(aa, g))

    w_star = mpmath.findroot(dP, mpmath.mpf(float(res.w[0])))
    assert abs(dP(w_star)) < mpmath.mpf(10) ** -40
    w_f = np.array([float(w_star)])
    margins = G * w_f[0]
    lam = a / (1 + np.exp(margins))
    slack = a / (1 + np.exp(-margins))
    _, _, gap, w, _ = prob.certificate(torch.from_numpy(lam), torch.from_numpy(slack), w=torch.from_numpy(w_f))
    bound = math.sqrt(2 * max(gap, 0) / p.C)
    assert bound > 1e-6 * abs(w_f[0])  # the rounded exact optimum cannot be certified either
    # and the library's w is as close to w* as float64 allows to read it
    assert abs(res.w[0] - float(w_star)) <= 1e-9 * abs(float(w_star))


def _relu_problem(seed, n, m, d, C, loss="hinge", bias=False):
    rng = np.random.default_rng(seed)
    X = np.maximum(rng.normal(0.2, 1, (n, d)), 0) * rng.lognormal(0, 2, d)
    Y = np.maximum(rng.normal(0, 1, (m, d)), 0) * rng.lognormal(0, 2, d)
    return LinearDual(X, Y, C, loss=loss, bias=bias)


def test_hinge_d_above_N_at_small_C_converges():
    """Was: stalled after 9 iterations at its starting point (gap 0.576, P* ~ 5.8e-9), blaming float64."""
    prob = _relu_problem(0, 50, 50, 100, 1e-6)
    res = solve(prob)
    assert res.success, res.status
    from tests.duals.test_solvers import primal_hinge_reference

    _, _, p_ref = primal_hinge_reference(prob, bias=False)
    assert res.primal_value <= p_ref + res.gap + 1e-12 and res.dual_value <= p_ref + 1e-12
    assert res.primal_value == pytest.approx(5.82e-9, rel=2e-2)
    lam = np.concatenate([res.lam_real, res.lam_fake])
    assert np.all(lam >= 0) and np.all(lam <= prob.a.numpy())  # never an ulp outside the box


def test_lbfgsb_never_returns_a_point_worse_than_one_it_certified():
    """Was: restarts with gaps 27.1 -> 0.524 -> 245, and 245 returned."""
    rng = np.random.default_rng(2)
    prob = LinearDual(rng.normal(0.3, 1, (50, 3)), rng.normal(0, 1, (40, 3)), 1e-8, loss="hinge")
    res = solve(prob, method="lbfgsb", warn=False)
    assert res.gap <= 0.5245
    assert res.status.code is not StatusCode.SUCCESS or res.gap <= 1e-10


@pytest.mark.parametrize("bias", [False, True])
def test_features_near_the_float64_range_end_with_a_status(bias):
    """Was: TypeError from inside the hinge interior point method."""
    rng = np.random.default_rng(2)
    res = solve(LinearDual(rng.normal(size=(5, 3)) * 1e160, rng.normal(size=(4, 3)) * 1e160, 1.0, loss="hinge",
                           bias=bias), warn=False)
    assert res.status.code is StatusCode.NON_FINITE


@pytest.mark.parametrize("loss, bias", [("hinge", False), ("logistic", True), ("logistic", False)])
def test_warm_start_from_a_batch_of_another_size(loss, bias):
    """Was: ValueError (7 entries for n + m = 9) for hinge and for logistic with a bias, d >= N."""
    rng = np.random.default_rng(2)
    p1 = LinearDual(rng.normal(size=(3, 20)), rng.normal(size=(4, 20)), 1.0, loss=loss, bias=bias)
    p2 = LinearDual(rng.normal(size=(5, 20)), rng.normal(size=(4, 20)), 1.0, loss=loss, bias=bias)
    warm = solve(p2, lam0=solve(p1))
    cold = solve(p2)
    assert warm.success and cold.success
    assert np.linalg.norm(warm.w - cold.w) <= warm.w_error_bound + cold.w_error_bound


def test_ipopt_iteration_cap_is_max_iter():
    rng = np.random.default_rng(2)
    prob = LinearDual(rng.normal(size=(5, 20)), rng.normal(size=(4, 20)), 1.0)
    assert solve(prob, method="casadi", max_iter=1, warn=False).status.code is StatusCode.MAX_ITER


def test_bad_warm_starts_and_subnormal_C_are_clear_errors():
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    prob = LinearDual(X, Y, 1.0)
    for bad in ("abc", {}):
        with pytest.raises(ValueError, match="lam0"):
            solve(prob, lam0=bad)
    with pytest.raises(ValueError, match="C must be at least"):
        LinearDual(X, Y, 1e-320)
    with pytest.raises(ValueError, match="max_iter"):
        solve(prob, max_iter=True)
    assert solve(prob, max_iter=np.int64(50)).success


def test_escaped_samples_with_coordinates_hand_over_to_the_primal_side():
    """A dual of the Table-1 study (rbf+coords features, setting 29, iteration 23): 30 ring samples and 30
    generated samples thrown far out, so rows have norms from 0.57 to 3.4e5 (d = 103 >= N = 60: the dual
    side). The dual side alone ends at max_iter with gap 0.69 (its multipliers of the far rows must reach
    e^-m with margins in the thousands); by default newton hands over to the primal side and certifies,
    and says so in the status. Reference: scikit-learn on the primal."""
    z = np.load(os.path.join(os.path.dirname(__file__), "data", "escaped_rbf_coords.npz"))
    prob = LinearDual(z["pr"], z["pf"], C=float(z["C"]))
    assert prob.d >= prob.N
    dual_only = solve(prob, tol=1e-8, w_rtol=float("inf"), warn=False, options={"side": "dual"})
    assert not dual_only.success  # the fault: if the dual side learns to certify it, this test should change
    res = solve(prob, tol=1e-8, w_rtol=float("inf"), warn=False)
    assert res.success, res.status
    assert "handed over to the primal side" in res.status.message
    w_ref, _, p_ref = _sklearn_primal(prob)
    assert res.dual_value <= p_ref + 1e-9 * max(1.0, abs(p_ref))  # weak duality against the reference
    assert res.primal_value == pytest.approx(p_ref, rel=1e-6, abs=1e-8)
    assert res.iterations <= 2 * 200  # both sides, max_iter each
