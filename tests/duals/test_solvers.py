"""Every dual solver against independent primal solutions (eqs. (1.1)-(1.5) of the theory page, docs/theory.md)."""
import warnings

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from scipy.special import expit, log_expit

import importlib.util

from dualgan.duals import SOLVERS, DualSolverWarning, LinearDual, solve
from dualgan.status import StatusCode

SHAPES = [  # (n, m, d, C): d < N (Woodbury), d >= N (Gram), tiny C (nearly separable), unequal batches
    (40, 30, 5, 0.1),
    (25, 20, 80, 1.0),
    (60, 60, 2, 1e-4),
    (50, 20, 12, 1e-2),
]

# every registered solver whose optional package is installed
METHODS = [name for name in SOLVERS
           if SOLVERS.entry(name).info.get("requires") is None
           or importlib.util.find_spec(SOLVERS.entry(name).requires) is not None]


def make_problem(shape, loss="logistic", bias=False, seed=0):
    n, m, d, C = shape
    rng = np.random.default_rng(seed)
    return LinearDual(rng.normal(0.4, 1.0, (n, d)), rng.normal(0.0, 1.2, (m, d)), C=C, loss=loss, bias=bias)


def primal_logistic_reference(prob, bias):
    """Minimise P(w, b) directly with scipy's exact-Hessian trust region (independent of the dual)."""
    G = prob.G.numpy()
    y = prob.y.numpy()
    a = prob.a.numpy()
    C, d = prob.C, prob.d

    def split(x):
        return (x[:d], x[d]) if bias else (x, 0.0)

    def f(x):
        w, b = split(x)
        m = G @ w + y * b
        return 0.5 * C * w @ w - a @ log_expit(m)

    def grad(x):
        w, b = split(x)
        m = G @ w + y * b
        s = expit(-m) * a
        gw = C * w - G.T @ s
        return np.append(gw, -y @ s) if bias else gw

    def hess(x):
        w, b = split(x)
        m = G @ w + y * b
        q = a * expit(m) * expit(-m)
        X = np.hstack([G, y[:, None]]) if bias else G
        H = X.T @ (q[:, None] * X)
        H[:d, :d] += C * np.eye(d)
        return H

    x0 = np.zeros(d + int(bias))
    res = minimize(f, x0, jac=grad, hess=hess, method="trust-exact", options={"gtol": 1e-13, "maxiter": 500})
    w, b = split(res.x)
    return w, (b if bias else None), res.fun


def primal_hinge_reference(prob, bias):
    """The hinge primal as a QP in (w, b, xi), solved with Ipopt through casadi (primal form)."""
    import casadi as ca

    G = prob.G.numpy()
    y = prob.y.numpy()
    a = prob.a.numpy()
    N, d = G.shape
    w = ca.SX.sym("w", d)
    b = ca.SX.sym("b") if bias else 0
    xi = ca.SX.sym("xi", N)
    x = ca.vertcat(w, b, xi) if bias else ca.vertcat(w, xi)
    margins = ca.mtimes(G, w) + y * b
    nlp = {"x": x, "f": 0.5 * prob.C * ca.sumsqr(w) + ca.dot(a, xi), "g": xi - (1 - margins)}
    solver = ca.nlpsol("p", "ipopt", nlp, {"ipopt.print_level": 0, "print_time": False, "ipopt.tol": 1e-13,
                                          "ipopt.sb": "yes", "ipopt.bound_relax_factor": 0.0})
    nfree = d + int(bias)
    sol = solver(x0=np.zeros(nfree + N), lbx=np.concatenate([np.full(nfree, -np.inf), np.zeros(N)]),
                 lbg=0, ubg=np.inf)
    xs = np.asarray(sol["x"]).ravel()
    return xs[:d], (xs[d] if bias else None), float(sol["f"])


def _rel(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / max(np.linalg.norm(b), 1e-300)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", SHAPES)
def test_logistic_gap_and_primal_match(method, shape):
    prob = make_problem(shape)
    # newton certifies the default bound on ||w - w*|| too; L-BFGS-B stops near gap 1e-14 on the
    # nearly separable shape, which bounds ||w - w*|| only to ~1e-5 relative (its status says so)
    w_rtol = 1e-6 if method == "newton" else 1e-3
    res = solve(prob, method=method, tol=1e-12, w_rtol=w_rtol)
    assert res.success, res.status
    assert -1e-14 <= res.gap <= 1e-12  # rounding may make a zero gap print as -1e-16
    w_ref, _, p_ref = primal_logistic_reference(prob, bias=False)
    assert _rel(res.w, w_ref) < 1e-6
    # strong duality: max D equals min P
    assert abs(res.dual_value - p_ref) < 1e-9
    assert abs(res.primal_value - p_ref) < 1e-9


@pytest.mark.parametrize("method", [m for m in METHODS if SOLVERS.entry(m).bias])
@pytest.mark.parametrize("shape", SHAPES[:3])
def test_logistic_with_bias(method, shape):
    prob = make_problem(shape, bias=True)
    res = solve(prob, method=method, tol=1e-12)
    assert res.success, res.status
    w_ref, b_ref, p_ref = primal_logistic_reference(prob, bias=True)
    assert _rel(res.w, w_ref) < 1e-6
    assert abs(res.b - b_ref) < 1e-6 * max(1.0, abs(b_ref))
    assert abs(float(prob.y @ torch.as_tensor(res.lam))) < 1e-12  # the bias equality holds
    assert abs(res.dual_value - p_ref) < 1e-9


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", SHAPES[:3])
def test_hinge_gap_and_primal_match(method, shape, bias):
    if bias and not SOLVERS.entry(method).bias:
        pytest.skip(f"{method!r} does not declare bias support (refusal checked in test_bias_unsupported)")
    prob = make_problem(shape, loss="hinge", bias=bias)
    # L-BFGS-B's line search gives up near 1e-9 on the degenerate hinge QP (it says so in
    # its status, see test_lbfgsb_hinge_reports_stall); it is asked for 1e-8 here.
    tol = 1e-8 if method == "lbfgsb" else 1e-11
    # the hinge gap is first order in the margins' rounding, so sqrt(2 gap / C) <= 1e-6 ||w|| is
    # out of float64's reach at C = 1e-4 for the dual methods; they are held to the gap alone
    res = solve(prob, method=method, tol=tol, w_rtol=1e-6 if method == "newton" else 1.0)
    assert res.success, res.status
    assert res.gap <= tol
    w_ref, b_ref, p_ref = primal_hinge_reference(prob, bias)
    # P is C-strongly convex, so the certificate bounds the error: ||w - w*|| <= sqrt(2 gap / C)
    err = np.linalg.norm(res.w - w_ref)
    assert err <= np.sqrt(2 * max(res.gap, 0.0) / prob.C) + 1e-9
    if method != "lbfgsb":
        assert _rel(res.w, w_ref) < 1e-6
    assert abs(res.primal_value - p_ref) < 1e-8


def test_matches_sklearn_liblinear_dual():
    """sklearn's liblinear dual solver on the equivalent problem (C_sklearn = 1/C, weights a)."""
    from sklearn.linear_model import LogisticRegression

    prob = make_problem((50, 40, 6, 0.05))
    res = solve(prob)
    X = torch.cat([prob.phi_real, prob.phi_fake]).numpy()
    clf = LogisticRegression(C=1 / prob.C, fit_intercept=False, solver="liblinear", dual=True, tol=1e-12,
                             max_iter=100000)
    clf.fit(X, prob.y.numpy(), sample_weight=prob.a.numpy())
    assert _rel(res.w, clf.coef_.ravel()) < 1e-5


def test_torch_input_keeps_tensors_and_float32_upcast():
    rng = np.random.default_rng(1)
    real = torch.tensor(rng.normal(0.5, 1, (30, 4)), dtype=torch.float32)
    fake = torch.tensor(rng.normal(0, 1, (20, 4)), dtype=torch.float32)
    res = solve(LinearDual(real, fake, C=0.1))
    assert isinstance(res.w, torch.Tensor) and res.w.dtype == torch.float64
    ref = solve(LinearDual(real.double().numpy(), fake.double().numpy(), C=0.1))
    assert isinstance(ref.w, np.ndarray)
    np.testing.assert_allclose(res.w.numpy(), ref.w, rtol=1e-9)


def test_warm_start_needs_fewer_iterations():
    prob = make_problem((80, 80, 10, 1e-3))
    cold = solve(prob, tol=1e-13)
    rng = np.random.default_rng(3)
    moved = LinearDual(prob.phi_real.numpy(), prob.phi_fake.numpy() + 1e-3 * rng.normal(size=(80, 10)), C=prob.C)
    warm = solve(moved, lam0=cold, tol=1e-13)
    again = solve(moved, tol=1e-13)
    assert warm.success and again.success
    assert warm.iterations < again.iterations
    assert _rel(warm.w, again.w) < 1e-7


def test_max_iter_is_reported_not_hidden():
    prob = make_problem((60, 60, 2, 1e-4))
    with pytest.warns(DualSolverWarning, match="max_iter"):
        res = solve(prob, max_iter=1)
    assert res.status.code is StatusCode.MAX_ITER and not res.success
    assert res.gap > 1e-10  # the record tells the truth about where it stopped


def test_bias_unsupported_names_capable_methods():
    prob = make_problem(SHAPES[0], bias=True)
    with pytest.raises(NotImplementedError, match="newton"):
        solve(prob, method="lbfgsb")
    assert "lbfgsb" not in SOLVERS.names(losses="logistic", bias=True)


def test_method_options_are_checked_by_name_and_reach_the_method():
    prob = make_problem(SHAPES[0])
    with pytest.raises(ValueError, match=r"'lbfgsb' takes no option\(s\) \['maxcor'\].*'memory'"):
        solve(prob, method="lbfgsb", options={"maxcor": 5})
    with pytest.raises(ValueError, match="memory"):
        solve(prob, method="lbfgsb", options={"memory": 0})
    with pytest.raises(ValueError, match="side"):
        solve(prob, options={"side": "both"})
    # L-BFGS-B with one curvature pair needs more iterations than with thirty (its default)
    one = solve(prob, method="lbfgsb", tol=1e-12, options={"memory": 1, "restarts": 20}, warn=False)
    thirty = solve(prob, method="lbfgsb", tol=1e-12, warn=False)
    assert one.iterations > thirty.iterations
    # Newton on either side of the pair: the same certified discriminator
    w_ref, _, _ = primal_logistic_reference(prob, bias=False)
    for side in ("primal", "dual"):
        res = solve(prob, tol=1e-12, options={"side": side})
        assert res.success and _rel(res.w, w_ref) < 1e-6


def test_gap_nonnegative_at_random_feasible_points():
    prob = make_problem(SHAPES[0])
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        lam = prob.a * torch.rand(prob.N, generator=gen, dtype=torch.float64)
        assert prob.gap(lam) >= -1e-14


def test_no_warning_when_converged():
    prob = make_problem(SHAPES[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        solve(prob)


def test_lbfgsb_hinge_reports_stall():
    """Where L-BFGS-B cannot certify the gap it says so (status and warning), never 'converged'."""
    prob = make_problem(SHAPES[1], loss="hinge")
    with pytest.warns(DualSolverWarning):
        res = solve(prob, method="lbfgsb", tol=1e-12)
    assert res.status.code is StatusCode.STALLED and res.gap > 1e-12


def test_newton_lifts_coordinates_far_below_their_optimum():
    """A start with multipliers ~1e-20 a where the optimum is ~1e-3 a: each must climb back.

    Regression: the complement update ``lam + (slack - slack_up)`` rounded such
    steps (far below eps * slack) to zero and the iteration stalled with a gap
    near 1e-4; the reference is the cold-start solution and scipy's primal.
    """
    prob = make_problem((30, 30, 60, 1e-2), seed=3)
    ref = solve(prob, tol=1e-13)
    lam_ref = torch.cat([torch.as_tensor(ref.lam_real), torch.as_tensor(ref.lam_fake)])
    assert float((lam_ref / prob.a).min()) > 1e-6  # all strictly interior: a tiny start is far off
    lam0 = lam_ref.clone()
    lam0[::3] = 1e-20 * prob.a[::3]
    from dualgan.duals._backend import ops_for
    from dualgan.duals.newton import maximize_entropy_dual

    state = maximize_entropy_dual(prob.a, scale=prob.C, G=prob.G, lam0=lam0, slack0=prob.a - lam0, tol=1e-13,
                                  max_iter=200, certificate=prob.gap_function(ops_for(prob.device)))
    assert state.status.success, state.status
    np.testing.assert_allclose(state.lam.numpy(), lam_ref.numpy(), rtol=1e-4, atol=1e-12)
    w_ref, _, _ = primal_logistic_reference(prob, bias=False)
    assert _rel(prob.v(state.lam).numpy() / prob.C, w_ref) < 1e-6



def test_newton_converges_from_a_terrible_warm_start():
    """A warm start whose discriminator is far off (margins of +-1e3, gap > 5x the cold start's) still converges."""
    prob = make_problem((40, 30, 5, 1e-3), seed=1)
    cold = solve(prob, tol=1e-10)
    rng = np.random.default_rng(9)
    bad = cold.__class__(**{**cold.__dict__, "w": 1e3 * rng.normal(size=prob.d)})
    assert prob.gap(*prob.initial_point(bad)) > 5 * cold.gap_trace[0]
    warm = solve(prob, tol=1e-10, lam0=bad)
    assert warm.success and warm.gap <= 1e-10
    assert _rel(warm.w, cold.w) < 1e-4


@pytest.mark.parametrize("form", ["G", "K"])
def test_newton_state_solves_its_system_at_the_returned_point(form):
    """``system_solve`` inverts (Q/s + diag(a/(lam (a - lam)))) at the returned lam (dense solve as reference)."""
    from dualgan.duals.newton import maximize_entropy_dual

    prob = make_problem((25, 20, 8 if form == "G" else 60, 1e-2), seed=4)
    quad = {"G": prob.G} if form == "G" else {"K": prob.G @ prob.G.T}
    state = maximize_entropy_dual(prob.a, scale=prob.C, tol=1e-14, max_iter=100, **quad)
    assert state.system_solve is not None, state.status
    lam, slack = state.lam, state.slack
    H = prob.G @ prob.G.T / prob.C + torch.diag(prob.a / (lam * slack))
    r = torch.as_tensor(np.random.default_rng(0).normal(size=prob.N))
    np.testing.assert_allclose(state.system_solve(r).numpy(), torch.linalg.solve(H, r).numpy(), rtol=1e-9)
    # with a certificate the loop stops before factorising at the final point: nothing to share
    from dualgan.duals._backend import ops_for

    certified = maximize_entropy_dual(prob.a, scale=prob.C, tol=1e-9, max_iter=100,
                                      certificate=prob.gap_function(ops_for(prob.device)), **quad)
    assert certified.status.success and certified.system_solve is None, certified.status


def test_newton_state_status_is_a_typed_status_with_the_reason():
    """A capped run reports MAX_ITER (its certificate, the duality gap, is above tol), a finished one
    SUCCESS; problem_result refuses a status that is not a Status."""
    from dualgan.duals._backend import ops_for
    from dualgan.duals.interior_point import box_qp_interior_point
    from dualgan.duals.newton import maximize_entropy_dual
    from dualgan.duals.result import problem_result
    from dualgan.status import Status

    prob = make_problem((25, 20, 8, 1e-2), seed=4)
    gap = prob.gap_function(ops_for(prob.device))
    capped = maximize_entropy_dual(prob.a, scale=prob.C, G=prob.G, tol=1e-13, max_iter=1, certificate=gap)
    assert isinstance(capped.status, Status) and capped.status.code is StatusCode.MAX_ITER, capped.status
    assert prob.gap(capped.lam, capped.slack) > 1e-13  # the reference gap confirms the cap, not a certificate
    hinge = make_problem((25, 20, 8, 1e-2), loss="hinge", seed=4)
    done = box_qp_interior_point(hinge.a, scale=hinge.C, G=hinge.G, tol=1e-11, max_iter=100,
                                 certificate=hinge.gap_function(ops_for(hinge.device)))
    assert isinstance(done.status, Status) and done.status.success, done.status
    assert hinge.gap(done.lam, done.slack) <= 1e-11
    with pytest.raises(TypeError, match="stopped must be a dualgan.status.Status"):
        problem_result(prob, capped.lam, capped.slack, 1, 0.0, "max_iter", "newton", 1e-13, 1e-6)
