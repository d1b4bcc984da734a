"""KernelDualGAN: monotone fixed-batch ascent on the ring for 10 seeds with the final objective re-solved
independently (scipy's L-BFGS-B on the Gram-form dual), the MMD weights' objective against the biased MMD written
out in numpy, the Danskin step against finite differences, and bad arguments."""
import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from scipy.special import xlogy

from dualgan.data import ring
from dualgan.kernels import InverseMultiquadricKernel, RBFKernel
from dualgan.train import TRAINERS, mlp_generator
from dualgan.train.kernel import KernelDualGAN

DATA = ring(5, radius=2.0, std=0.3)
C = 1e-2


def _scipy_dual(K, n, C):
    """max of the logistic Gram-form dual (eq. (1.3) with K) by scipy's L-BFGS-B (independent of the library)."""
    N = K.shape[0]
    y = np.r_[np.ones(n), -np.ones(N - n)]
    a = np.r_[np.full(n, 1 / n), np.full(N - n, 1 / (N - n))]

    def neg(lam):
        beta = y * lam
        Kb = K @ beta
        ent = -(xlogy(lam, lam / a) + xlogy(a - lam, (a - lam) / a)).sum()
        return beta @ Kb / (2 * C) - ent, y * Kb / C - np.log((a - lam) / lam)

    res = minimize(neg, a / 2, jac=True, method="L-BFGS-B", bounds=[(1e-15 * ai, ai * (1 - 1e-15)) for ai in a],
                   options=dict(ftol=1e-16, gtol=1e-13, maxiter=20000, maxcor=30))
    return -res.fun


@pytest.mark.parametrize("seed", range(10))
def test_fixed_batch_ascent_is_monotone_and_ends_at_the_independent_optimum(seed):
    kernel = RBFKernel(sigma=(0.3, 1.0))
    gan = KernelDualGAN(mlp_generator(seed=seed, dtype=torch.float64), kernel, C=C, latent_dim=2, batch_size=16,
                        mode="fixed", seed=seed)
    hist = gan.fit(DATA, 4)
    assert gan.status.success, gan.status
    assert hist.is_monotone(tol=1e-9)
    assert hist["objective"][-1] > hist["objective"][0]
    batch = gan._fixed
    with torch.no_grad():
        x = torch.cat([batch.real, gan.generator(batch.noise)]).numpy()
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    K = 0.5 * (np.exp(-d2 / (2 * 0.3 ** 2)) + np.exp(-d2 / 2))
    assert hist["objective"][-1] == pytest.approx(_scipy_dual(K, 16, C), abs=1e-9)


def test_mmd_weights_record_the_biased_mmd_and_the_gap_of_a_half():
    kernel = InverseMultiquadricKernel(c=0.5)
    gan = KernelDualGAN(mlp_generator(seed=1, dtype=torch.float64), kernel, C=C, latent_dim=2, batch_size=20,
                        mode="fixed", weights="mmd", fixed_optimizer="adam", generator_lr=1e-2)
    hist = gan.fit(DATA, 4)
    assert gan.status.success and hist.is_monotone(tol=1e-12)
    assert np.all(hist["inner_iterations"] == 0)
    batch = gan._fixed
    with torch.no_grad():
        xr, xf = batch.real.numpy(), gan.generator(batch.noise).numpy()

    def k(p, q):
        return 1 / np.sqrt(1 + ((p[:, None] - q[None]) ** 2).sum(-1) / 0.25)
    mmd2 = k(xr, xr).mean() + k(xf, xf).mean() - 2 * k(xr, xf).mean()
    assert hist["objective"][-1] == pytest.approx(-mmd2 / (8 * C) + 2 * math.log(2), rel=1e-12)
    # the optimal dual value is above the MMD weights' value by at most the recorded gap (eq. (1.16))
    x = np.vstack([xr, xf])
    best = _scipy_dual(k(x, x), 20, C)
    assert hist["objective"][-1] <= best + 1e-12
    assert best - hist["objective"][-1] <= hist["inner_gap"][-1] + 1e-10


def test_minibatch_mode_steps_along_danskin():
    # one Adam-free SGD step: the generator moves by lr * grad of kernel_dual_objective at the solved multipliers,
    # which is checked against central differences of the re-solved optimal value
    torch.manual_seed(0)
    gen = mlp_generator(seed=2, dtype=torch.float64)
    gan = KernelDualGAN(gen, RBFKernel(sigma=0.8), C=C, latent_dim=2, batch_size=16, mode="minibatch", seed=4,
                        generator_optimizer=lambda p: torch.optim.SGD(p, lr=1e-3), tol=1e-13)
    before = [p.detach().clone() for p in gen.parameters()]
    gan.fit(DATA, 1)
    step = [(p.detach() - b) / 1e-3 for p, b in zip(gen.parameters(), before)]  # = grad g (ascent)
    from dualgan.duals import KernelDual, solve

    gen2 = mlp_generator(seed=2, dtype=torch.float64)
    g = torch.Generator().manual_seed(4)
    real = DATA.sample(16, generator=g, dtype=torch.float64)
    noise = torch.randn(16, 2, generator=g, dtype=torch.float64)
    p = next(iter(gen2.parameters()))
    idx = (0, 0)
    h = 1e-6

    def value():
        with torch.no_grad():
            return solve(KernelDual(real, gen2(noise), RBFKernel(sigma=0.8), C), tol=1e-14, w_rtol=math.inf).dual_value
    with torch.no_grad():
        p[idx] += h
    up = value()
    with torch.no_grad():
        p[idx] -= 2 * h
    down = value()
    assert step[0][idx].item() == pytest.approx((up - down) / (2 * h), rel=1e-4, abs=1e-7)


@pytest.mark.parametrize("kernel", [RBFKernel(sigma=(0.2, 0.5, 1.0, 2.0)), InverseMultiquadricKernel(c=0.5)],
                         ids=["rbf_mixture", "imq"])
def test_danskin_surrogate_has_the_gradient_of_the_kernel_dual_objective(kernel):
    # the trainer differentiates sum_j lam_j f(x_j) on the m generated rows of the Gram matrix; its gradient in
    # the generated samples must be that of D(lam; x) = -beta^T K beta / (2C) + S(lam) on all N^2 entries
    from types import SimpleNamespace

    from dualgan.duals import kernel_dual_objective

    g = torch.Generator().manual_seed(3)
    real = torch.randn(12, 2, generator=g, dtype=torch.float64)
    fake = (torch.randn(9, 2, generator=g, dtype=torch.float64) + 0.5).requires_grad_(True)
    lam_real = torch.rand(12, generator=g, dtype=torch.float64) / 12
    lam_fake = torch.rand(9, generator=g, dtype=torch.float64) / 9
    gan = KernelDualGAN(mlp_generator(dtype=torch.float64), kernel, C=C, latent_dim=2, batch_size=12)
    gan._real_now = real
    res = SimpleNamespace(lam_real=lam_real, lam_fake=lam_fake)
    (ours,) = torch.autograd.grad(gan._danskin_surrogate(fake, res), fake)
    (full,) = torch.autograd.grad(kernel_dual_objective(real, fake, lam_real, lam_fake, kernel, C), fake)
    assert torch.allclose(ours, full, rtol=1e-12, atol=1e-12 * float(full.abs().max()))


def test_registered_and_bad_arguments_named():
    assert TRAINERS.get("kernel_dual") is KernelDualGAN
    gen = mlp_generator(dtype=torch.float64)
    with pytest.raises(ValueError, match="weights"):
        KernelDualGAN(gen, RBFKernel(sigma=1.0), latent_dim=2, weights="uniform")
    with pytest.raises(TypeError, match="kernel"):
        KernelDualGAN(gen, torch.nn.Identity(), latent_dim=2)
    with pytest.raises(ValueError, match="unknown kernel"):
        KernelDualGAN(gen, "gauss", latent_dim=2)
