"""Handlers: projection layer (exactness, idempotence, finite-difference gradients), penalty forms,
augmented Lagrangian (against the closed-form KKT point), residual features, bad input."""
import math

import numpy as np
import pytest
import torch

from dualgan.constraints import (AffineSubspace, AugmentedLagrangian, ConstraintHandler, ConstraintState,
                                 HyperplaneUnion, Penalty, Projection, ProjectedGenerator, ResidualFeatures,
                                 penalty_value)


@pytest.fixture
def subspace(rng):
    return AffineSubspace(rng.normal(size=(2, 5)), rng.normal(size=2))


@pytest.fixture
def union(rng):
    return HyperplaneUnion(rng.normal(size=(2, 5)), rng.normal(size=2))


def _generator(dtype, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.Tanh(), torch.nn.Linear(16, 5)).to(dtype)


def test_every_handler_follows_the_interface(subspace, union):
    for h in (Projection(subspace), Penalty(subspace), AugmentedLagrangian(subspace),
              Projection(union), Penalty(union, form="product"), AugmentedLagrangian(union)):
        assert isinstance(h, ConstraintHandler)
        x = torch.randn(8, 5, dtype=torch.float64)
        assert h.penalty(x).shape == ()
        assert isinstance(h.state(x), ConstraintState)


# ------------------------------------------------------------- projection
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_projected_generator_is_exact_on_every_sample(subspace, dtype, tol):
    G = Projection(subspace).wrap_generator(_generator(dtype))
    x = G(torch.randn(2000, 3, dtype=dtype))
    assert x.dtype == dtype
    x64 = x.double().detach().numpy()
    res = np.abs(x64 @ subspace.A.numpy().T - subspace.b.numpy())      # independent residual, numpy float64
    assert res.max() <= tol
    assert subspace.violation(x).max_distance <= tol


def test_projected_union_generator_lands_on_a_hyperplane(union):
    G = Projection(union).wrap_generator(_generator(torch.float32))
    x = G(torch.randn(2000, 3)).double().detach().numpy()
    dist = np.min(np.abs(x @ union.normals.numpy().T - union.offsets.numpy()) / union.norms.numpy(), axis=1)
    assert dist.max() <= 1e-6


def test_projection_layer_gradients_match_finite_differences(subspace, union):
    for constraint in (subspace, union):
        G = Projection(constraint).wrap_generator(_generator(torch.float64))
        z = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t: G(t), (z,), eps=1e-6, atol=1e-7)
        # parameters too: d/dW of a scalar function, central differences on a few entries
        W = G.generator[2].weight
        f = lambda: (G(z.detach()) ** 3).sum()
        f().backward()
        for idx in [(0, 0), (3, 7), (4, 15)]:
            with torch.no_grad():
                W[idx] += 1e-6
                up = float(f())
                W[idx] -= 2e-6
                down = float(f())
                W[idx] += 1e-6
            assert float(W.grad[idx]) == pytest.approx((up - down) / 2e-6, rel=1e-6, abs=1e-8)


def test_projection_jacobian_is_the_orthogonal_projector(subspace):
    x = torch.randn(5, dtype=torch.float64)
    J = torch.autograd.functional.jacobian(lambda v: subspace.project(v[None])[0], x)
    A = subspace.A.numpy()
    ref = np.eye(5) - A.T @ np.linalg.solve(A @ A.T, A)
    np.testing.assert_allclose(J.numpy(), ref, atol=1e-14)


def test_wrapping_is_idempotent_and_reshapes_images(subspace):
    h = Projection(subspace)
    G = h.wrap_generator(_generator(torch.float64))
    assert h.wrap_generator(G) is G
    img = ProjectedGenerator(lambda z: z.reshape(-1, 1, 5), subspace)(torch.randn(4, 5, dtype=torch.float64))
    assert img.shape == (4, 1, 5)
    assert subspace.violation(img.reshape(4, 5)).max_distance <= 1e-12
    with pytest.raises(ValueError, match=r"must have shape \(n, 5\)"):
        ProjectedGenerator(lambda z: z, subspace)(torch.randn(4, 3))


# ----------------------------------------------------------------- penalty
def test_penalty_forms_against_numpy(union, subspace, rng):
    x = rng.normal(size=(40, 5))
    t = torch.from_numpy(x)
    r = x @ subspace.A.numpy().T - subspace.b.numpy()
    np.testing.assert_allclose(penalty_value(subspace, t, "squared").numpy(), (r ** 2).sum(1), rtol=1e-13)
    q = (x @ union.normals.numpy().T - union.offsets.numpy()) ** 2
    np.testing.assert_allclose(penalty_value(union, t, "product").numpy(), q.prod(1), rtol=1e-13)
    np.testing.assert_allclose(penalty_value(union, t, "min").numpy(), q.min(1), rtol=1e-13)
    tau = 0.3
    ref = -tau * np.log(np.mean(np.exp(-q / tau), axis=1))
    sm = penalty_value(union, t, "smooth_min", tau).numpy()
    np.testing.assert_allclose(sm, ref, rtol=1e-12)
    assert np.all(sm >= q.min(1) - 1e-12) and np.all(sm <= q.min(1) + tau * math.log(2) + 1e-12)
    h = Penalty(union, weight=2.5, form="product")
    assert float(h.penalty(t)) == pytest.approx(2.5 * q.prod(1).mean(), rel=1e-13)


def test_penalty_gradients_match_finite_differences(union, subspace):
    x = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    for h in (Penalty(subspace, 3.0), Penalty(union, form="product"), Penalty(union, form="smooth_min",
                                                                              temperature=0.5)):
        assert torch.autograd.gradcheck(h.penalty, (x,), eps=1e-6, atol=1e-6)


def test_penalty_bad_input(subspace, union):
    with pytest.raises(ValueError, match="weight must be finite and > 0"):
        Penalty(subspace, weight=-1.0)
    with pytest.raises(ValueError, match="unknown form 'product'"):
        Penalty(subspace, form="product")
    with pytest.raises(ValueError, match="unknown form 'squared'"):
        Penalty(union, form="squared")
    with pytest.raises(ValueError, match="constraint must be an AffineSubspace"):
        Penalty(np.eye(2))


# ------------------------------------------------------ augmented Lagrangian
def test_augmented_lagrangian_reaches_the_kkt_point(subspace):
    """min ||x - t||^2 s.t. A x = b by the handler's method of multipliers (exact inner solves).

    Closed form: x* = P(t), mu* = 2 (A A^T)^{-1} (A t - b), from 2(x - t) + A^T mu = 0.
    """
    A, b = subspace.A.numpy(), subspace.b.numpy()
    t = np.array([1.0, -2.0, 0.5, 3.0, 0.0])
    h = AugmentedLagrangian(subspace, rho=1.0, growth=10.0, check_every=1, rho_max=1e3)
    x = torch.zeros(1, 5, dtype=torch.float64)
    for _ in range(30):
        # inner problem: 1-sample AL is quadratic in x; minimise it exactly with Newton (one step)
        x.requires_grad_(True)
        f = ((x - torch.from_numpy(t)) ** 2).sum() + h.penalty(x)
        g = torch.autograd.grad(f, x, create_graph=True)[0][0]
        H = torch.stack([torch.autograd.grad(g[i], x, retain_graph=True)[0][0] for i in range(5)])
        x = (x.detach()[0] - torch.linalg.solve(H, g.detach()))[None]
        h.update(x)
    x_star = t - A.T @ np.linalg.solve(A @ A.T, A @ t - b)
    mu_star = 2 * np.linalg.solve(A @ A.T, A @ t - b)
    np.testing.assert_allclose(x.numpy()[0], x_star, atol=1e-9)
    np.testing.assert_allclose(h.multipliers.numpy(), mu_star, atol=1e-8)
    s = h.state(x)
    assert s.max_violation <= 1e-9 and s.multipliers == pytest.approx(tuple(mu_star), abs=1e-8)


def test_augmented_lagrangian_penalty_value_and_rho_schedule(subspace, rng):
    h = AugmentedLagrangian(subspace, rho=2.0, growth=3.0, check_every=2, decrease=0.5,
                            multipliers=[0.5, -1.0])
    x = rng.normal(size=(10, 5))
    R = x @ subspace.A.numpy().T - subspace.b.numpy()
    ref = np.array([0.5, -1.0]) @ R.mean(0) + 0.5 * 2.0 * (R ** 2).sum(1).mean()
    assert float(h.penalty(torch.from_numpy(x))) == pytest.approx(ref, rel=1e-13)
    xt = torch.from_numpy(x)
    for _ in range(2):
        h.update(xt)
    np.testing.assert_allclose(h.multipliers.numpy(), np.array([0.5, -1.0]) + 2.0 * R.mean(0), rtol=1e-13)
    assert h.rho == 2.0                       # first window: nothing to compare with
    for _ in range(2):
        h.update(xt)                          # same violation again: not halved, rho grows
    assert h.rho == 6.0
    for _ in range(2):
        h.update(torch.from_numpy(np.asarray(subspace.project(xt))))   # feasible: violation drops to 0
    assert h.rho == 6.0


def test_augmented_lagrangian_union_uses_nearest_hyperplane(union, rng):
    x = rng.normal(size=(30, 5))
    res = x @ union.normals.numpy().T - union.offsets.numpy()
    nearest = np.argmin(np.abs(res) / union.norms.numpy(), axis=1)
    R = np.zeros_like(res)
    R[np.arange(30), nearest] = res[np.arange(30), nearest]
    h = AugmentedLagrangian(union, rho=1.5, multipliers=[1.0, 2.0])
    ref = np.array([1.0, 2.0]) @ R.mean(0) + 0.75 * (R ** 2).sum(1).mean()
    assert float(h.penalty(torch.from_numpy(x))) == pytest.approx(ref, rel=1e-13)


def test_augmented_lagrangian_bad_input(subspace):
    with pytest.raises(ValueError, match="rho must be finite and > 0"):
        AugmentedLagrangian(subspace, rho=0.0)
    with pytest.raises(ValueError, match="growth must be >= 1"):
        AugmentedLagrangian(subspace, growth=0.5)
    with pytest.raises(ValueError, match="multipliers must be 2 finite numbers \\(one per equation\\)"):
        AugmentedLagrangian(subspace, multipliers=[1.0])
    with pytest.raises(ValueError, match="check_every must be a positive integer"):
        AugmentedLagrangian(subspace, check_every=0)
    h = AugmentedLagrangian(subspace)
    with pytest.raises(FloatingPointError, match="non-finite generated samples"):
        h.update(torch.full((3, 5), float("nan"), dtype=torch.float64))


# --------------------------------------------------------- residual features
def test_residual_features_append_residual_and_squares(subspace, union, rng):
    x = torch.from_numpy(rng.normal(size=(6, 5)))
    r = x.numpy() @ subspace.A.numpy().T - subspace.b.numpy()
    phi = ResidualFeatures(subspace, feature_map=lambda t: t[:, :2] ** 2, scale=2.0)
    out = phi(x).numpy()
    np.testing.assert_allclose(out, np.hstack([x.numpy()[:, :2] ** 2, 2 * r, 4 * r ** 2]), rtol=1e-13)
    assert phi.n_appended == 4
    q = x.numpy() @ union.normals.numpy().T - union.offsets.numpy()
    out_u = ResidualFeatures(union)(x).numpy()
    np.testing.assert_allclose(out_u, np.hstack([x.numpy(), q, (q ** 2).min(1, keepdims=True)]), rtol=1e-13)
    with pytest.raises(ValueError, match="x has 4 values per sample but the constraint has dimension 5"):
        phi(torch.zeros(2, 4))


def test_linear_dual_discriminator_sees_violations_through_residual_features(subspace, rng):
    """Real data on the subspace, fakes with the same coordinates inside it but residuals +-1:
    identical means in x, so only the squared residual block separates them."""
    from dualgan.duals import LinearDual, solve
    N = subspace.null_basis().numpy()
    x0 = subspace.point().numpy()
    inside = rng.normal(size=(200, 3)) @ N.T + x0
    Q = subspace.Q.numpy()
    fake = inside + np.where(rng.random((200, 1)) < 0.5, 1.0, -1.0) * Q[:, :1].T
    real = rng.normal(size=(200, 3)) @ N.T + x0
    phi = ResidualFeatures(subspace)
    feats = lambda a: phi(torch.from_numpy(a)).numpy()
    plain = solve(LinearDual(real, fake, C=1e-2))
    with_res = solve(LinearDual(feats(real), feats(fake), C=1e-2))
    assert plain.success and with_res.success
    # the dual value is the optimal regularised logistic loss: log 2 means "cannot tell them apart"
    assert with_res.dual_value < plain.dual_value - 0.1
