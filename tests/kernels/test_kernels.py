"""Kernels against their closed forms written in numpy, differentiability, chunking, the median heuristic and errors."""
import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist, cdist

from dualgan.kernels import (KERNELS, DeepKernel, InverseMultiquadricKernel, Kernel, LinearKernel, PolynomialKernel,
                             RationalQuadraticKernel, RBFKernel, median_distance)

RNG = np.random.default_rng(0)
X = RNG.normal(size=(7, 3))
Y = RNG.normal(size=(5, 3)) + 0.5


def _reference(kernel, x, y):
    d2 = cdist(x, y, "sqeuclidean")
    if isinstance(kernel, LinearKernel):
        return x @ y.T
    if isinstance(kernel, PolynomialKernel):
        return (kernel.gamma * x @ y.T + kernel.coef0) ** kernel.degree
    if isinstance(kernel, RBFKernel):
        return np.mean([np.exp(-d2 / (2 * s ** 2)) for s in kernel.sigma], axis=0)
    if isinstance(kernel, RationalQuadraticKernel):
        ell = kernel.length_scale[0]
        return np.mean([(1 + d2 / (2 * a * ell ** 2)) ** (-a) for a in kernel.alpha], axis=0)
    if isinstance(kernel, InverseMultiquadricKernel):
        return np.mean([1 / np.sqrt(1 + d2 / c ** 2) for c in kernel.c], axis=0)
    raise AssertionError(kernel)


KERNEL_CASES = [LinearKernel(), PolynomialKernel(degree=3, gamma=0.5, coef0=2.0), RBFKernel(sigma=0.7),
                RBFKernel(sigma=(0.2, 1.0, 5.0)), RationalQuadraticKernel(), RationalQuadraticKernel(alpha=1.5,
                length_scale=0.3), InverseMultiquadricKernel(c=0.5), InverseMultiquadricKernel(c=(0.1, 2.0))]


@pytest.mark.parametrize("kernel", KERNEL_CASES, ids=repr)
def test_kernel_equals_its_closed_form_and_is_psd(kernel):
    K = kernel(torch.from_numpy(X), torch.from_numpy(Y))
    np.testing.assert_allclose(K.numpy(), _reference(kernel, X, Y), rtol=1e-12, atol=1e-12)
    Z = np.vstack([X, Y])
    gram = kernel(torch.from_numpy(Z)).numpy()
    np.testing.assert_allclose(gram, gram.T, rtol=0, atol=1e-12)
    assert np.linalg.eigvalsh(gram).min() >= -1e-10 * np.abs(gram).max()


@pytest.mark.parametrize("kernel", KERNEL_CASES, ids=repr)
def test_kernel_is_differentiable_in_both_arguments(kernel):
    x = torch.from_numpy(X[:3]).requires_grad_()
    y = torch.from_numpy(Y[:2]).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: kernel(a, b), (x, y))


def test_chunked_gram_equals_the_whole_and_keeps_gradients():
    k = RBFKernel(sigma=(0.5, 2.0))
    x = torch.from_numpy(RNG.normal(size=(23, 2))).requires_grad_()
    whole = k(x, x)
    chunked = k.gram(x, chunk_size=4)
    np.testing.assert_allclose(chunked.detach().numpy(), whole.detach().numpy(), rtol=0, atol=0)
    g1, = torch.autograd.grad(whole.sum(), x)
    g2, = torch.autograd.grad(k.gram(x, chunk_size=5).sum(), x)
    np.testing.assert_allclose(g1.numpy(), g2.numpy(), rtol=1e-12, atol=1e-14)


def test_median_heuristic_against_scipy():
    Z = RNG.normal(size=(40, 3))
    assert median_distance(torch.from_numpy(Z)) == pytest.approx(float(np.median(pdist(Z))), rel=1e-12)
    k = RBFKernel(sigma="median", median_scales=(0.5, 2.0)).resolve(torch.from_numpy(Z))
    med = np.median(pdist(Z))
    assert k.sigma == pytest.approx((0.5 * med, 2 * med), rel=1e-12)
    # an unresolved median is resolved on each call from the two batches together
    got = InverseMultiquadricKernel()(torch.from_numpy(X), torch.from_numpy(Y)).numpy()
    c = np.median(pdist(np.vstack([X, Y])))
    np.testing.assert_allclose(got, 1 / np.sqrt(1 + cdist(X, Y, "sqeuclidean") / c ** 2), rtol=1e-12)


def test_deep_kernel_is_the_base_kernel_on_the_features():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh()).double()
    k = DeepKernel(net, RBFKernel(sigma=0.8))
    with torch.no_grad():
        fx, fy = net(torch.from_numpy(X)).numpy(), net(torch.from_numpy(Y)).numpy()
    np.testing.assert_allclose(k(torch.from_numpy(X), torch.from_numpy(Y)).detach().numpy(),
                               np.exp(-cdist(fx, fy, "sqeuclidean") / (2 * 0.8 ** 2)), rtol=1e-12)
    x = torch.from_numpy(X[:2]).requires_grad_()
    assert torch.autograd.gradcheck(lambda a: k(a, torch.from_numpy(Y[:2])), (x,))


def test_registry_holds_every_kernel():
    assert set(KERNELS.names()) == {"linear", "polynomial", "rbf", "rational_quadratic", "inverse_multiquadric",
                                    "deep"}
    assert all(issubclass(KERNELS.get(n), Kernel) for n in KERNELS.names())


def test_near_duplicates_give_exact_zero_distance_and_unit_diagonal():
    Z = np.array([[1e8, 1.0], [1e8, 1.0 + 1e-9], [1e8 + 1.0, 1.0]])
    K = RBFKernel(sigma=1.0)(torch.from_numpy(Z)).numpy()
    np.testing.assert_allclose(K, np.exp(-cdist(Z, Z, "sqeuclidean") / 2), rtol=1e-9)
    assert np.all(np.diag(K) == 1.0)


@pytest.mark.parametrize("make, match", [
    (lambda: RBFKernel(sigma=-1.0), "sigma"), (lambda: RBFKernel(sigma=()), "sigma"),
    (lambda: RBFKernel(sigma="mean"), "sigma"), (lambda: InverseMultiquadricKernel(c=math.nan), "c"),
    (lambda: RationalQuadraticKernel(length_scale=(1.0, 2.0)), "length_scale"),
    (lambda: PolynomialKernel(degree=0), "degree"), (lambda: PolynomialKernel(coef0=-1.0), "coef0"),
    (lambda: DeepKernel(torch.nn.Identity(), "rbf"), "base"),
])
def test_bad_settings_name_the_argument(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_bad_inputs_name_the_argument():
    k = RBFKernel(sigma=1.0)
    with pytest.raises(ValueError, match="same number of columns"):
        k(torch.zeros(2, 2), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="x contains NaN"):
        k(torch.tensor([[math.nan, 0.0]]))
    with pytest.raises(ValueError, match="median heuristic needs distinct samples"):
        RBFKernel().resolve(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="chunk_size"):
        k.gram(torch.zeros(3, 2), chunk_size=0)
