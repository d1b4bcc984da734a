"""The constraint formulas (eqs. (4.2), (4.3), (4.6), (4.7), (4.8) of the theory page) against references written out here.

* projection onto ``{x : A x = b}``: the closed form
  ``x - A^T (A A^T)^{-1} (A x - b)`` (``np.linalg.solve``) and, as a second
  reference, ``scipy.optimize.minimize`` (SLSQP) of ``|y - x|^2`` subject to
  ``A y = b``; idempotence alone cannot catch a wrong sign (a projection onto
  ``A x = -b`` is idempotent too), so every test compares values;
* projection onto a union: the nearest hyperplane by brute force and the
  one-hyperplane closed form;
* the augmented Lagrangian: the penalty ``mu^T mean(R) + rho/2 mean |R|^2``
  and the multiplier step ``mu <- mu + rho * mean over the window of the
  batch means of R``, and the rho test, replayed by hand in numpy.
"""
import math

import numpy as np
import pytest
import scipy.optimize
import torch

from dualgan.constraints import AffineSubspace, AugmentedLagrangian, HyperplaneUnion, Projection


def _subspace(seed, r=2, D=5):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((r, D)), rng.standard_normal(r)


def _closed_form_projection(A, b, x):
    """Rows of x projected onto {A y = b}: y = x - A^T (A A^T)^{-1} (A x - b)."""
    return x - np.linalg.solve(A @ A.T, (x @ A.T - b).T).T @ A


@pytest.mark.parametrize("seed, r, D", [(0, 1, 3), (1, 2, 5), (2, 3, 4)])
def test_affine_projection_matches_the_closed_form(seed, r, D):
    A, b = _subspace(seed, r, D)
    x = np.random.default_rng(seed + 100).standard_normal((6, D)) * 3.0
    got = AffineSubspace(A, b).project(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(got, _closed_form_projection(A, b, x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got @ A.T, np.broadcast_to(b, (6, r)), atol=1e-12)


def test_affine_projection_matches_scipy_constrained_minimisation():
    A, b = _subspace(3, 2, 4)
    x = np.array([1.5, -2.0, 0.3, 4.0])
    ref = scipy.optimize.minimize(lambda y: np.sum((y - x) ** 2), np.zeros(4), jac=lambda y: 2 * (y - x),
                                  method="SLSQP", constraints=[{"type": "eq", "fun": lambda y: A @ y - b,
                                                                "jac": lambda y: A}],
                                  options={"ftol": 1e-14, "maxiter": 200})
    assert ref.success
    got = AffineSubspace(A, b).project(torch.as_tensor(x[None, :]))[0].numpy()
    np.testing.assert_allclose(got, ref.x, atol=1e-7)


def test_projection_handler_and_wrapped_generator_use_the_same_projection():
    A, b = _subspace(4, 2, 3)
    handler = Projection(AffineSubspace(A, b))
    z = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    lin = torch.nn.Linear(2, 3).double()
    raw = lin(z).detach().numpy()
    ref = _closed_form_projection(A, b, raw)
    np.testing.assert_allclose(handler.project(torch.as_tensor(raw)).numpy(), ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(handler.wrap_generator(lin)(z).detach().numpy(), ref, rtol=1e-12, atol=1e-12)


def test_affine_distance_point_and_residual_match_closed_forms():
    A, b = _subspace(5, 2, 4)
    S = AffineSubspace(A, b)
    x = np.random.default_rng(6).standard_normal((7, 4))
    proj = _closed_form_projection(A, b, x)
    np.testing.assert_allclose(S.distance(torch.as_tensor(x)).numpy(), np.linalg.norm(x - proj, axis=1),
                               rtol=1e-12)
    np.testing.assert_allclose(S.residual(torch.as_tensor(x)).numpy(), x @ A.T - b, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(S.point().numpy(), A.T @ np.linalg.solve(A @ A.T, b), rtol=1e-12, atol=1e-14)


def test_projection_jacobian_is_the_orthogonal_projector():
    A, b = _subspace(7, 2, 4)
    x = torch.randn(1, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    jac = torch.autograd.functional.jacobian(lambda v: AffineSubspace(A, b).project(v[None, :])[0], x[0])
    np.testing.assert_allclose(jac.numpy(), np.eye(4) - A.T @ np.linalg.solve(A @ A.T, A), atol=1e-12)


def test_union_projection_moves_every_row_onto_its_nearest_hyperplane():
    normals = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 1.0], [3.0, 0.0, 1.0]])
    offsets = np.array([1.0, -0.5, 2.0])
    x = np.random.default_rng(8).standard_normal((9, 3)) * 2.0
    U = HyperplaneUnion(normals, offsets)
    got = U.project(torch.as_tensor(x)).numpy()
    dist = np.abs(x @ normals.T - offsets) / np.linalg.norm(normals, axis=1)   # brute-force distances
    for i, k in enumerate(dist.argmin(axis=1)):
        a, bk = normals[k], offsets[k]
        np.testing.assert_allclose(got[i], x[i] - (a @ x[i] - bk) / (a @ a) * a, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(U.distance(torch.as_tensor(x)).numpy(), dist.min(axis=1), rtol=1e-12)


# ------------------------------------------------------------------ augmented Lagrangian
def _batches(seed, count, n=4, D=3):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, D)) for _ in range(count)]


def _replay(A, b, batches, rho, check_every, growth=2.0, decrease=0.5, rho_max=1e4, dual_step=None, mu0=None):
    """Eq. (4.7) by hand: windows of check_every batches, mu += step * mean_t mean_i (A x_ti - b), rho test."""
    mu = np.zeros(A.shape[0]) if mu0 is None else np.array(mu0, dtype=float)
    previous = None
    for start in range(0, len(batches) - check_every + 1, check_every):
        window = batches[start:start + check_every]
        c_bar = np.mean([np.mean(x @ A.T - b, axis=0) for x in window], axis=0)
        violation = np.mean([np.mean(np.linalg.norm(x @ A.T - b, axis=1)) for x in window])
        mu = mu + (rho if dual_step is None else dual_step) * c_bar
        if previous is not None and violation > decrease * previous:
            rho = min(rho * growth, rho_max)
        previous = violation
    return mu, rho


@pytest.mark.parametrize("check_every, windows", [(1, 3), (3, 2), (5, 1)])
def test_multiplier_update_matches_the_hand_written_method_of_multipliers(check_every, windows):
    A, b = _subspace(9, 2, 3)
    batches = _batches(10, check_every * windows)
    al = AugmentedLagrangian(AffineSubspace(A, b), rho=0.7, check_every=check_every)
    for x in batches:
        al.update(torch.as_tensor(x))
    mu, rho = _replay(A, b, batches, 0.7, check_every)
    np.testing.assert_allclose(al.multipliers.numpy(), mu, rtol=1e-12, atol=1e-15)
    assert math.isclose(al.rho, rho, rel_tol=1e-15)
    state = al.state(torch.as_tensor(batches[-1]))
    np.testing.assert_allclose(state.multipliers, mu, rtol=1e-12, atol=1e-15)
    assert state.penalty_weight == rho


def test_multiplier_update_with_a_dual_step_and_initial_multipliers():
    A, b = _subspace(11, 1, 2)
    batches = _batches(12, 4, D=2)
    al = AugmentedLagrangian(AffineSubspace(A, b), rho=2.0, check_every=2, dual_step=0.3, multipliers=[0.5])
    for x in batches:
        al.update(torch.as_tensor(x))
    mu, _ = _replay(A, b, batches, 2.0, 2, dual_step=0.3, mu0=[0.5])
    np.testing.assert_allclose(al.multipliers.numpy(), mu, rtol=1e-12)


def test_rho_grows_only_when_the_window_violation_stalls():
    A, b = np.array([[1.0, 0.0]]), np.array([0.0])
    # windows of 2: violations 1, 0.4 (fell below half: rho stays), 0.3 (did not: rho doubles)
    batches = [np.array([[1.0, 0.0]]), np.array([[-1.0, 5.0]]), np.array([[0.4, 0.0]]), np.array([[0.4, 1.0]]),
               np.array([[0.3, 0.0]]), np.array([[-0.3, 0.0]])]
    al = AugmentedLagrangian(AffineSubspace(A, b), rho=1.0, check_every=2)
    rhos = []
    for x in batches:
        al.update(torch.as_tensor(x))
        rhos.append(al.rho)
    assert rhos == [1.0, 1.0, 1.0, 1.0, 1.0, 2.0]
    mu, rho = _replay(A, b, batches, 1.0, 2)
    np.testing.assert_allclose(al.multipliers.numpy(), mu, rtol=1e-12)   # 0 + 1*0 + 1*0.4 + 1*0 (rho at step)
    assert math.isclose(float(al.multipliers[0]), 0.4, rel_tol=1e-12) and rho == 2.0


def test_multiplier_update_on_a_union_uses_the_nearest_hyperplane_residual():
    normals, offsets = np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([0.0, 1.0])
    batches = _batches(13, 3, n=5, D=2)
    al = AugmentedLagrangian(HyperplaneUnion(normals, offsets), rho=1.5, check_every=3)
    for x in batches:
        al.update(torch.as_tensor(x))
    means = []
    for x in batches:
        res = x @ normals.T - offsets
        nearest = (np.abs(res) / np.linalg.norm(normals, axis=1)).argmin(axis=1)
        active = np.zeros_like(res)
        active[np.arange(len(x)), nearest] = res[np.arange(len(x)), nearest]
        means.append(active.mean(axis=0))
    np.testing.assert_allclose(al.multipliers.numpy(), 1.5 * np.mean(means, axis=0), rtol=1e-12)


def test_penalty_value_and_gradient_match_the_hand_written_augmented_term():
    A, b = _subspace(14, 2, 3)
    al = AugmentedLagrangian(AffineSubspace(A, b), rho=0.9, multipliers=[0.4, -1.1])
    x = np.random.default_rng(15).standard_normal((6, 3))

    def reference(flat):
        R = flat.reshape(6, 3) @ A.T - b
        return np.array([0.4, -1.1]) @ R.mean(axis=0) + 0.5 * 0.9 * np.mean(np.sum(R ** 2, axis=1))

    xt = torch.tensor(x, requires_grad=True)
    value = al.penalty(xt)
    value.backward()
    assert math.isclose(float(value.detach()), reference(x.ravel()), rel_tol=1e-12)
    fd = scipy.optimize.approx_fprime(x.ravel(), reference, 1e-7)
    np.testing.assert_allclose(xt.grad.numpy().ravel(), fd, rtol=1e-5, atol=1e-7)


def test_a_handler_reused_by_a_second_trainer_is_refused_until_reset():
    from dualgan.data import ring
    from dualgan.train import DualLinearGAN, mlp_generator
    from dualgan.features import RBF

    feats = RBF(ring(5).sample(10, generator=torch.Generator().manual_seed(0), dtype=torch.float64), sigma=0.5)
    al = AugmentedLagrangian(AffineSubspace([[1.0, 1.0]], [0.5]), check_every=1, multipliers=[0.25])
    first = DualLinearGAN(mlp_generator(dtype=torch.float64), feats, latent_dim=2, batch_size=20, constraint=al)
    first.fit(ring(5), 2)
    assert al.n_updates == 2 and float(al.multipliers[0]) != 0.25
    with pytest.raises(ValueError, match="another generator.*reset"):
        DualLinearGAN(mlp_generator(dtype=torch.float64, seed=1), feats, latent_dim=2, batch_size=20, constraint=al)
    first.fit(ring(5), 3)                      # the owner keeps training with its multipliers
    assert al.n_updates == 3
    al.reset()
    assert al.n_updates == 0 and float(al.multipliers[0]) == 0.25 and al.rho == 1.0
    second = DualLinearGAN(mlp_generator(dtype=torch.float64, seed=1), feats, latent_dim=2, batch_size=20,
                           constraint=al)
    assert second.constraint is al


# ------------------------------------------------------------------ penalty forms (eq. (4.4), (4.5))
def test_penalty_of_a_subspace_is_weight_times_mean_squared_residual():
    from dualgan.constraints import Penalty

    A, b = _subspace(16, 2, 4)
    x = np.random.default_rng(17).standard_normal((5, 4))
    got = float(Penalty(AffineSubspace(A, b), weight=3.0).penalty(torch.as_tensor(x)))
    assert math.isclose(got, 3.0 * np.mean(np.sum((x @ A.T - b) ** 2, axis=1)), rel_tol=1e-12)


@pytest.mark.parametrize("form", ["product", "min", "smooth_min"])
def test_penalty_forms_of_a_union_match_their_formulas(form):
    from dualgan.constraints import Penalty

    normals, offsets = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 1.0], [3.0, 0.0, 1.0]]), np.array([1.0, -0.5, 2.0])
    x = np.random.default_rng(18).standard_normal((6, 3)) * 0.3
    sq = (x @ normals.T - offsets) ** 2                               # (n, K) squared residuals in the user's units
    tau = 0.05
    per_sample = {"product": sq.prod(axis=1), "min": sq.min(axis=1),
                  "smooth_min": -tau * np.log(np.mean(np.exp(-sq / tau), axis=1))}[form]
    pen = Penalty(HyperplaneUnion(normals, offsets), weight=2.0, form=form, temperature=tau)
    assert math.isclose(float(pen.penalty(torch.as_tensor(x))), 2.0 * per_sample.mean(), rel_tol=1e-10)
