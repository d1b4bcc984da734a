"""The penalty formulas (eqs. (5.8)-(5.11) of the theory page) against numpy written out here.

The discriminator is a one-hidden-layer tanh network, whose score and input
gradient are written in numpy: ``D(x) = a^T tanh(W x + c) + b``,
``grad D(x) = W^T (a * (1 - tanh(W x + c)^2))``. Random points (WGAN-GP's
interpolation weights, DRAGAN's perturbations) are drawn again from a copy of
the penalty's seeded generator, with torch's sampler and the documented shapes.
"""
import math

import numpy as np
import pytest
import torch
from torch import nn

from dualgan.regularizers import R1, R2, CoupledGradientPenalty, JSRegularizer, LocalGradientPenalty


def _disc(d=3, h=5, seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(d, h), nn.Tanh(), nn.Linear(h, 1)).double()
    W, c = net[0].weight.detach().numpy(), net[0].bias.detach().numpy()
    a, b = net[2].weight.detach().numpy()[0], float(net[2].bias)

    def score(x):
        return np.tanh(x @ W.T + c) @ a + b

    def grad(x):
        return (a * (1.0 - np.tanh(x @ W.T + c) ** 2)) @ W

    return net, score, grad


def _batches(n=7, d=3, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal((n, d)) + 0.5


@pytest.mark.parametrize("gamma", [10.0, 0.3])
def test_r1_and_r2_are_half_gamma_times_the_mean_squared_gradient_norm(gamma):
    net, _, grad = _disc()
    xr, xf = _batches()
    r1 = float(R1(gamma)(net, torch.as_tensor(xr), torch.as_tensor(xf)))
    r2 = float(R2(gamma)(net, torch.as_tensor(xr), torch.as_tensor(xf)))
    assert math.isclose(r1, gamma / 2 * np.mean(np.sum(grad(xr) ** 2, axis=1)), rel_tol=1e-12)
    assert math.isclose(r2, gamma / 2 * np.mean(np.sum(grad(xf) ** 2, axis=1)), rel_tol=1e-12)


def test_js_regulariser_is_half_gamma_times_omega():
    net, score, grad = _disc()
    xr, xf = _batches()
    sig = lambda s: 1.0 / (1.0 + np.exp(-s))   # noqa: E731
    omega = (np.mean(sig(-score(xr)) ** 2 * np.sum(grad(xr) ** 2, axis=1))
             + np.mean(sig(score(xf)) ** 2 * np.sum(grad(xf) ** 2, axis=1)))
    got = float(JSRegularizer(0.4)(net, torch.as_tensor(xr), torch.as_tensor(xf)))
    assert math.isclose(got, 0.2 * omega, rel_tol=1e-12)


@pytest.mark.parametrize("one_sided", [False, True])
def test_wgan_gp_at_the_interpolates_of_its_generator(one_sided):
    net, _, grad = _disc()
    xr, xf = _batches()
    gen = torch.Generator().manual_seed(5)
    copy = torch.Generator().manual_seed(5)
    pen = CoupledGradientPenalty(weight=3.0, target=0.7, one_sided=one_sided, generator=gen)
    got = float(pen(net, torch.as_tensor(xr), torch.as_tensor(xf)))
    eps = torch.rand((len(xr), 1), generator=copy, dtype=torch.float64).numpy()
    points = eps * xr + (1 - eps) * xf
    excess = np.linalg.norm(grad(points), axis=1) - 0.7
    if one_sided:
        excess = np.maximum(excess, 0.0)
    assert math.isclose(got, 3.0 * np.mean(excess ** 2), rel_tol=1e-12)


def test_dragan_at_the_perturbed_real_samples_of_its_generator():
    net, _, grad = _disc()
    xr, xf = _batches()
    pen = LocalGradientPenalty(weight=2.0, target=1.0, scale=0.25, generator=torch.Generator().manual_seed(9))
    got = float(pen(net, torch.as_tensor(xr), torch.as_tensor(xf)))
    noise = torch.randn(xr.shape, generator=torch.Generator().manual_seed(9), dtype=torch.float64).numpy()
    excess = np.linalg.norm(grad(xr + 0.25 * noise), axis=1) - 1.0
    assert math.isclose(got, 2.0 * np.mean(excess ** 2), rel_tol=1e-12)


def test_penalty_gradients_match_finite_differences_of_the_numpy_formula():
    """The discriminator step uses the penalty's parameter gradient: R1's against central differences."""
    net, _, _ = _disc()
    xr, xf = _batches()
    value = R1(2.0)(net, torch.as_tensor(xr), torch.as_tensor(xf))
    W_grad = torch.autograd.grad(value, net[0].weight)[0].numpy()
    W0 = net[0].weight.detach().numpy().copy()
    c, a = net[0].bias.detach().numpy(), net[2].weight.detach().numpy()[0]

    def r1(W):
        g = (a * (1.0 - np.tanh(xr @ W.T + c) ** 2)) @ W
        return 1.0 * np.mean(np.sum(g ** 2, axis=1))

    fd = np.zeros_like(W0)
    for idx in np.ndindex(W0.shape):
        up, down = W0.copy(), W0.copy()
        up[idx] += 1e-6
        down[idx] -= 1e-6
        fd[idx] = (r1(up) - r1(down)) / 2e-6
    np.testing.assert_allclose(W_grad, fd, rtol=1e-6, atol=1e-9)
