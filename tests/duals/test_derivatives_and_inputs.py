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
