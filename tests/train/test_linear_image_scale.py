"""The dual GAN's solve on wide random-CNN features (d >> N, float32 features): what the speed work changed.

* the dual-side Newton kernel evaluates K lambda with the Gram it formed (not G (G^T lambda)):
  its solution against scipy's L-BFGS-B on the primal of the same float32 features;
* the certificate's bound on its own rounding sums |A_jk| |x_k| in one compiled pass:
  against numpy's ``np.abs(A) @ np.abs(x)`` on both layouts it is called with;
* a minibatch DualLinearGAN on random-CNN features: every solve certified, and its objective
  against scipy's primal minimum of the iteration's own batch.
"""
import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from scipy.special import expit

from dualgan.duals import LinearDual, solve
from dualgan.duals._certify import _absolute_products
from dualgan.features import RandomCNNFeatures

C = 1e-2


def _features(n_real=12, n_fake=10, seed=0):
    """float32 random-CNN features of 10x10 images: d = 2 * 100 + 3 * 25 = 275 >> N = 22."""
    g = torch.Generator().manual_seed(seed)
    feats = RandomCNNFeatures(channels=(2, 3), seed=seed)
    real = torch.rand(n_real, 1, 10, 10, generator=g)
    fake = 0.5 * torch.rand(n_fake, 1, 10, 10, generator=g)
    with torch.no_grad():
        return feats(real), feats(fake)


def _scipy_primal(phi_real, phi_fake, C):
    """min_w C/2 ||w||^2 + mean_i softplus(-w.phi_i) + mean_j softplus(w.phi~_j), by L-BFGS-B (float64)."""
    R, F = phi_real.double().numpy(), phi_fake.double().numpy()

    def f(w):
        mr, mf = R @ w, F @ w
        value = 0.5 * C * w @ w + np.logaddexp(0, -mr).mean() + np.logaddexp(0, mf).mean()
        grad = C * w - R.T @ expit(-mr) / len(R) + F.T @ expit(mf) / len(F)
        return value, grad

    out = minimize(f, np.zeros(R.shape[1]), jac=True, method="L-BFGS-B",
                   options={"maxiter": 20000, "ftol": 1e-16, "gtol": 1e-12})
    return out.fun, out.x


def test_dual_side_kernel_on_wide_float32_features_against_scipys_primal():
    phi_real, phi_fake = _features()
    assert phi_real.dtype == torch.float32 and phi_real.shape[1] == 275
    problem = LinearDual(phi_real, phi_fake, C)
    res = solve(problem, tol=1e-12)
    assert res.success and res.gap <= 1e-12
    value, w = _scipy_primal(phi_real, phi_fake, C)
    # strong duality: the certified dual value is the primal minimum scipy finds (to its accuracy)
    assert res.dual_value == pytest.approx(value, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(res.w.numpy(), w, rtol=1e-4, atol=1e-6 * np.abs(w).max())


@pytest.mark.parametrize("layout", ["rows", "columns"])
def test_absolute_products_against_numpy(layout):
    rng = np.random.default_rng(1)
    G = rng.normal(size=(37, 301)) * (rng.random((37, 301)) < 0.7)  # zeros and both signs
    A = G if layout == "rows" else G.T
    x = rng.normal(size=A.shape[1])
    np.testing.assert_allclose(_absolute_products(A, x), np.abs(A) @ np.abs(x), rtol=1e-13)
    # a non-contiguous view takes numpy's form, with the same values
    np.testing.assert_allclose(_absolute_products(A[::2, ::3], x[::3]), np.abs(A[::2, ::3]) @ np.abs(x[::3]),
                               rtol=1e-13)


def test_minibatch_dual_gan_on_random_cnn_features_certifies_every_solve():
    from dualgan.train import DualLinearGAN

    torch.manual_seed(0)
    gen = torch.nn.Sequential(torch.nn.Linear(4, 100), torch.nn.Sigmoid(), torch.nn.Unflatten(1, (1, 10, 10)))
    feats = RandomCNNFeatures(channels=(2, 3), seed=0)
    images = torch.rand(64, 1, 10, 10, generator=torch.Generator().manual_seed(1))
    gan = DualLinearGAN(gen, feats, C=C, latent_dim=4, batch_size=12, seed=0)
    batches = []
    original = gan._solve

    def recording_solve(phi_real, phi_fake, warm):
        batches.append((phi_real.clone(), phi_fake.clone()))
        return original(phi_real, phi_fake, warm)

    gan._solve = recording_solve
    hist = gan.fit(images, 3)
    assert gan.status.success
    assert len(batches) == 3 and (np.asarray(hist["inner_gap"]) <= gan.tol).all()
    # the objective of the last iteration: the certified dual value of its batch, within the gap
    value, _ = _scipy_primal(*batches[-1], C)
    assert hist["objective"][-1] == pytest.approx(value, abs=2 * gan.tol + 1e-9)
