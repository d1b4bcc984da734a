"""Derivatives of the dual against finite differences; bad input gets a clear error."""
import numpy as np
import pytest
import torch

from dualgan.duals import LinearDual, dual_objective, solve


@pytest.fixture
def prob():
    rng = np.random.default_rng(0)
    return LinearDual(rng.normal(0.3, 1, (7, 4)), rng.normal(0, 1, (5, 4)), C=0.3)


def _random_interior(prob, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return prob.a * (0.1 + 0.8 * torch.rand(prob.N, generator=gen, dtype=torch.float64))


@pytest.mark.parametrize("loss", ["logistic", "hinge"])
def test_gradient_matches_central_differences(loss):
    rng = np.random.default_rng(1)
    prob = LinearDual(rng.normal(0.3, 1, (7, 4)), rng.normal(0, 1, (5, 4)), C=0.3, loss=loss)
    lam = _random_interior(prob)
    g = prob.dual_gradient(lam)
    h = 1e-7 * float(prob.a.min())
    fd = torch.zeros(prob.N, dtype=torch.float64)
    for i in range(prob.N):
        e = torch.zeros(prob.N, dtype=torch.float64)
        e[i] = h
        fd[i] = (prob.dual_value(lam + e) - prob.dual_value(lam - e)) / (2 * h)
    torch.testing.assert_close(g, fd, rtol=1e-6, atol=1e-6)


def test_hessian_matches_differences_of_gradient(prob):
    lam = _random_interior(prob, 2)
    H = prob.dual_hessian(lam)
    h = 1e-7 * float(prob.a.min())
    fd = torch.zeros(prob.N, prob.N, dtype=torch.float64)
    for i in range(prob.N):
        e = torch.zeros(prob.N, dtype=torch.float64)
        e[i] = h
        fd[:, i] = (prob.dual_gradient(lam + e) - prob.dual_gradient(lam - e)) / (2 * h)
    torch.testing.assert_close(H, fd, rtol=1e-5, atol=1e-4)
    assert bool((torch.linalg.eigvalsh(H) < 0).all())  # strictly concave


def test_gradient_zero_at_solution_and_primal_dual_relation(prob):
    res = solve(prob, tol=1e-14)  # gap ~ g^T (-H)^{-1} g / 2, so a small gradient needs a tiny gap
    lam = torch.as_tensor(res.lam)
    assert float(prob.dual_gradient(lam).abs().max()) < 1e-6
    # lambda_i = a_i sigma(-y_i w^T phi_i): the optimal discriminator's posterior
    margins = prob.G @ torch.as_tensor(res.w)
    torch.testing.assert_close(lam, prob.a * torch.sigmoid(-margins), rtol=1e-6, atol=1e-14)


def test_dual_objective_matches_problem_and_autograd_matches_fd(prob):
    lam = _random_interior(prob, 3)
    lr, lf = prob.split(lam)
    real = prob.phi_real.clone().requires_grad_(True)
    fake = prob.phi_fake.clone().requires_grad_(True)
    val = dual_objective(real, fake, lr, lf, prob.C)
    assert abs(val.item() - prob.dual_value(lam)) < 1e-13
    assert torch.autograd.gradcheck(lambda f: dual_objective(real.detach(), f, lr, lf, prob.C), (fake,))
    assert torch.autograd.gradgradcheck(lambda f: dual_objective(real.detach(), f, lr, lf, prob.C), (fake,))


def test_dual_objective_at_optimum_equals_solved_value(prob):
    res = solve(prob)
    val = dual_objective(prob.phi_real, prob.phi_fake, res.lam_real, res.lam_fake, prob.C)
    assert abs(float(val) - res.dual_value) < 1e-12


# ----------------------------------------------------------------- bad input
GOOD_R = np.ones((3, 2))
GOOD_F = np.zeros((4, 2))


@pytest.mark.parametrize("kwargs, match", [
    (dict(phi_real=np.array([[np.nan, 1.0]] * 3)), "phi_real contains NaN"),
    (dict(phi_fake=np.array([[np.inf, 1.0]] * 4)), "phi_fake contains inf"),
    (dict(phi_fake=np.zeros((4, 3))), "same number of features"),
    (dict(phi_real=np.zeros((0, 2))), "phi_real is empty"),
    (dict(phi_fake=np.zeros(4)), "phi_fake must be 2-D"),
    (dict(C=0.0), "C must be finite and > 0"),
    (dict(C=-1.0), "C must be finite and > 0"),
    (dict(C=float("nan")), "C must be finite and > 0"),
    (dict(loss="squared"), "unknown loss"),
])
def test_bad_problem_input(kwargs, match):
    args = dict(phi_real=GOOD_R, phi_fake=GOOD_F, C=1.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        LinearDual(**args)


def test_unknown_method_and_bad_tol():
    prob = LinearDual(GOOD_R, GOOD_F, C=1.0)
    with pytest.raises(ValueError, match="unknown dual solver 'bfgs'"):
        solve(prob, method="bfgs")
    with pytest.raises(ValueError, match="tol"):
        solve(prob, tol=0)
    with pytest.raises(ValueError, match="lam0 has 3 entries"):
        solve(prob, lam0=np.ones(3))


def test_dual_objective_bad_shapes():
    with pytest.raises(ValueError, match="lam_real"):
        dual_objective(torch.ones(3, 2), torch.ones(4, 2), torch.ones(2), torch.ones(4), 1.0)
    with pytest.raises(ValueError, match="C must"):
        dual_objective(torch.ones(3, 2), torch.ones(4, 2), torch.ones(3), torch.ones(4), 0.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int64, "list"])
def test_feature_dtypes_are_copied_exactly_to_float64(dtype):
    """float32, bfloat16, integer, list and grad-requiring inputs: G = [phi_real; -phi_fake] in float64,
    the user's arrays untouched, and the same solution as from float64 input of the same values."""
    rng = np.random.default_rng(3)
    real, fake = rng.integers(-3, 4, (12, 4)), rng.integers(-3, 4, (9, 4))
    if dtype == "list":
        args = (real.tolist(), fake.tolist())
    else:
        args = (torch.as_tensor(real).to(dtype), torch.as_tensor(fake).to(dtype))
        if dtype.is_floating_point:
            args = (args[0].requires_grad_(True), args[1])
    prob = LinearDual(*args, C=0.5)
    ref = LinearDual(real.astype(np.float64), fake.astype(np.float64), C=0.5)
    assert prob.G.dtype == torch.float64
    np.testing.assert_array_equal(prob.G.numpy(), np.concatenate([real, -fake]))
    np.testing.assert_array_equal(prob.phi_real.numpy(), real)
    np.testing.assert_array_equal(prob.phi_fake.numpy(), fake)
    np.testing.assert_allclose(solve(prob).w, solve(ref).w, rtol=1e-10)
    if dtype != "list":
        np.testing.assert_array_equal(args[0].detach().to(torch.float64).numpy(), real)  # not modified


@pytest.mark.parametrize("loss", ["logistic", "hinge"])
def test_reference_dual_is_the_definition(loss):
    """LinearDual.dual_value (the reference form) against eq. (1.3) / (1.12) written out from the features."""
    rng = np.random.default_rng(4)
    real, fake = rng.normal(0.3, 1, (7, 4)), rng.normal(0, 1, (5, 4))
    prob = LinearDual(real, fake, C=0.3, loss=loss)
    lr, lf = rng.uniform(0, 1 / 7, 7), rng.uniform(0, 1 / 5, 5)
    v = lr @ real - lf @ fake
    if loss == "hinge":
        expected = -(v @ v) / 0.6 + lr.sum() + lf.sum()
    else:
        def H(u):
            return -(u * np.log(u) + (1 - u) * np.log(1 - u))
        expected = -(v @ v) / 0.6 + (H(lr * 7) / 7).sum() + (H(lf * 5) / 5).sum()
    assert prob.dual_value(torch.from_numpy(np.r_[lr, lf])) == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("loss", ["logistic", "hinge"])
def test_casadi_symbolic_dual_is_the_reference_form(loss):
    """casadi's D (value and gradient, through v = G^T lam) against the reference form, float64, random points."""
    ca = pytest.importorskip("casadi")
    from dualgan.duals._backend import NumpyOps
    from dualgan.duals.casadi_ipopt import symbolic_dual
    from dualgan.duals.objective import dual_gradient, dual_value

    rng = np.random.default_rng(5)
    prob = LinearDual(rng.normal(0.3, 2, (9, 6)), rng.normal(0, 2, (8, 6)), C=1e-2, loss=loss)
    G, a = prob.G.numpy(), prob.a.numpy()
    lam = ca.SX.sym("lam", prob.N)
    expr = symbolic_dual(ca, lam, ca.mtimes(G.T, lam), a, prob.C, loss)
    f = ca.Function("D", [lam], [expr, ca.gradient(expr, lam)])
    for _ in range(10):
        u = rng.uniform(1e-4, 1 - 1e-4, prob.N)
        x, s = a * u, a * (1 - u)
        value, grad = f(x)
        v = G.T @ x
        assert float(value) == pytest.approx(dual_value(NumpyOps, v, x, s, a, prob.C, loss), rel=1e-12)
        np.testing.assert_allclose(np.asarray(grad).ravel(), dual_gradient(NumpyOps, G @ v, x, s, prob.C, loss),
                                   rtol=1e-12, atol=1e-12 * float(np.abs(G @ v).max() / prob.C))


@pytest.mark.parametrize("loss", ["logistic", "hinge"])
def test_ipopt_callbacks_are_the_reference_form_in_both_formulations(loss):
    """NlpDual's -D, gradient and Hessian, lifted (lam, v) and dense (lam), against LinearDual's."""
    from dualgan.duals.ipopt import NlpDual

    rng = np.random.default_rng(6)
    prob = LinearDual(rng.normal(0.3, 1, (8, 3)), rng.normal(0, 1, (6, 3)), C=0.2, loss=loss)
    lam = _random_interior(prob, 7)
    x = lam.numpy()
    ref_value, ref_grad = prob.dual_value(lam), prob.dual_gradient(lam).numpy()
    ref_hess = prob.dual_hessian(lam).numpy()
    dense, lifted = NlpDual(prob, lifted=False), NlpDual(prob, lifted=True)
    assert dense.objective(dense.start(x)) == pytest.approx(-ref_value, rel=1e-13)
    assert lifted.objective(lifted.start(x)) == pytest.approx(-ref_value, rel=1e-13)
    np.testing.assert_allclose(dense.gradient(dense.start(x)), -ref_grad, rtol=1e-12, atol=1e-14)
    rows, cols = dense.hessianstructure()
    np.testing.assert_allclose(dense.hessian(dense.start(x), None, 1.0), -ref_hess[rows, cols], rtol=1e-12, atol=1e-14)
    # lifted: d(-D)/d lam = -grad S, d(-D)/dv = v / C; chained through v = G^T lam it is the dense gradient
    g = lifted.gradient(lifted.start(x))
    np.testing.assert_allclose(g[: prob.N] + prob.G.numpy() @ g[prob.N:], -ref_grad, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("form", ["G", "K"])
def test_newton_loop_value_is_the_reference_form(form):
    """maximize_entropy_dual's F (eq. (1.10)): for c = 0, tau = 1, s = C it is the reference D of eq. (1.3);
    with a linear term and tau != 1, the entropy written out with scipy's entr."""
    from scipy.special import entr

    from dualgan.duals._backend import NumpyOps
    from dualgan.duals.newton import maximize_entropy_dual
    from dualgan.duals.objective import dual_value

    rng = np.random.default_rng(8)
    prob = LinearDual(rng.normal(0.3, 1, (9, 4)), rng.normal(0, 1, (7, 4)), C=0.05)
    G, a = prob.G.numpy(), prob.a.numpy()
    quad = {"G": prob.G} if form == "G" else {"K": prob.G @ prob.G.T}
    for max_iter in (0, 1, 3, 50):  # the start, early iterates and the optimum
        st = maximize_entropy_dual(prob.a, scale=prob.C, max_iter=max_iter, tol=1e-14, **quad)
        lam, slack = st.lam.numpy(), st.slack.numpy()
        ref = dual_value(NumpyOps, G.T @ lam, lam, slack, a, prob.C, "logistic")
        assert st.value == pytest.approx(ref, rel=1e-13)
    c, tau, s = rng.normal(size=prob.N), 0.3, 2.0
    st = maximize_entropy_dual(prob.a, scale=s, linear=torch.from_numpy(c), tau=tau, max_iter=2, **quad)
    lam = st.lam.numpy()
    u = lam / a
    expected = -(lam @ G @ G.T @ lam) / (2 * s) + c @ lam + tau * a @ (entr(u) + entr(1 - u))
    assert st.value == pytest.approx(expected, rel=1e-12)


def test_interior_point_value_is_the_reference_hinge_dual():
    """box_qp_interior_point's value at its answer is the reference D of eq. (1.12) (c = 1, s = C)."""
    from dualgan.duals._backend import NumpyOps
    from dualgan.duals.interior_point import box_qp_interior_point
    from dualgan.duals.objective import dual_value

    rng = np.random.default_rng(9)
    prob = LinearDual(rng.normal(0.3, 1, (9, 4)), rng.normal(0, 1, (7, 4)), C=0.05, loss="hinge")
    G, a = prob.G.numpy(), prob.a.numpy()
    st = box_qp_interior_point(prob.a, scale=prob.C, G=prob.G, tol=1e-12, max_iter=100)
    assert st.status.success, st.status
    lam, slack = st.lam.numpy(), st.slack.numpy()
    assert st.value == pytest.approx(dual_value(NumpyOps, G.T @ lam, lam, slack, a, prob.C, "hinge"), rel=1e-13)
