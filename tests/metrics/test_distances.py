"""Frechet distance and kernel MMD against independent references.

References: scipy.linalg.sqrtm (the usual FID formula), sklearn's pairwise
kernels summed by brute force, and closed forms (a shift adds exactly
||delta||^2 to the Frechet distance; the linear-kernel biased MMD is the
squared mean difference).
"""
import math

import numpy as np
import pytest
import scipy.linalg
import torch
from sklearn.metrics.pairwise import polynomial_kernel, rbf_kernel

from dualgan.metrics.distances import embed, frechet_distance, kernel_mmd


def _gauss(n, d, seed, scale=None):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, d)) if scale is None else np.diag(scale)
    return rng.standard_normal((n, d)) @ a


def test_frechet_matches_scipy_sqrtm_reference():
    x, y = _gauss(300, 4, 0), _gauss(200, 4, 1) + 0.3
    mu_x, mu_y = x.mean(0), y.mean(0)
    cx, cy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(cx @ cy).real
    reference = ((mu_x - mu_y) ** 2).sum() + np.trace(cx + cy - 2 * covmean)
    result = frechet_distance(x, y, features="identity")
    assert math.isclose(result.distance, reference, rel_tol=1e-9)
    assert math.isclose(result.mean_term, ((mu_x - mu_y) ** 2).sum(), rel_tol=1e-12)
    assert (result.n_x, result.n_y, result.feature_dim) == (300, 200, 4)


def test_frechet_self_zero_and_shift_adds_squared_norm():
    x = _gauss(400, 5, 2)
    assert frechet_distance(x, x, features="identity").distance < 1e-10
    delta = np.array([1.0, -0.5, 0.0, 2.0, 0.25])
    previous = 0.0
    for t in (0.25, 0.5, 1.0, 2.0):
        fd = frechet_distance(x, x + t * delta, features="identity").distance
        assert math.isclose(fd, t ** 2 * (delta ** 2).sum(), rel_tol=1e-9)   # covariances are equal
        assert fd > previous
        previous = fd


def test_frechet_of_diagonal_gaussians_matches_closed_form():
    # N(0, diag a) vs N(m, diag b): FD = ||m||^2 + sum (sqrt a - sqrt b)^2 (up to sampling error)
    a, b, m = np.array([1.0, 4.0]), np.array([2.25, 1.0]), np.array([0.5, -1.0])
    x = _gauss(40000, 2, 3, scale=np.sqrt(a))
    y = _gauss(40000, 2, 4, scale=np.sqrt(b)) + m
    closed = (m ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert abs(frechet_distance(x, y, features="identity").distance - closed) < 0.05


def _brute_force_mmd(x, y, kern, unbiased):
    kxx, kyy, kxy = kern(x, x), kern(y, y), kern(x, y)
    n, m = len(x), len(y)
    if unbiased:
        return ((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                - 2 * kxy.mean())
    return kxx.mean() + kyy.mean() - 2 * kxy.mean()


@pytest.mark.parametrize("unbiased", [True, False])
def test_mmd_matches_sklearn_kernels(unbiased):
    x, y = _gauss(70, 3, 5), _gauss(50, 3, 6) + 0.4
    poly = kernel_mmd(x, y, features="identity", kernel="polynomial", unbiased=unbiased, batch_size=16)
    ref = _brute_force_mmd(x, y, lambda a, b: polynomial_kernel(a, b, degree=3, gamma=1 / 3, coef0=1), unbiased)
    assert math.isclose(poly.mmd2, ref, rel_tol=1e-10)
    rbf = kernel_mmd(x, y, features="identity", kernel="rbf", bandwidth=1.3, unbiased=unbiased, batch_size=16)
    ref = _brute_force_mmd(x, y, lambda a, b: rbf_kernel(a, b, gamma=1 / (2 * 1.3 ** 2)), unbiased)
    assert math.isclose(rbf.mmd2, ref, rel_tol=1e-10)


def test_linear_kernel_biased_mmd_is_squared_mean_difference():
    x, y = _gauss(60, 4, 7), _gauss(30, 4, 8) + 1.0
    result = kernel_mmd(x, y, features="identity", kernel="linear", unbiased=False)
    assert math.isclose(result.mmd2, ((x.mean(0) - y.mean(0)) ** 2).sum(), rel_tol=1e-10)


@pytest.mark.parametrize("kernel", ["polynomial", "rbf"])
def test_mmd_near_zero_for_same_distribution_and_growing_with_shift(kernel):
    both = _gauss(1000, 3, 9)              # one distribution, two independent halves
    x, x2 = both[:500], both[500:]
    same = kernel_mmd(x, x2, features="identity", kernel=kernel, bandwidth=2.0 if kernel == "rbf" else None).mmd2
    shift = np.array([1.0, 0.0, 0.0])
    values = [kernel_mmd(x, x2 + t * shift, features="identity", kernel=kernel,
                         bandwidth=2.0 if kernel == "rbf" else None).mmd2 for t in (0.5, 1.0, 2.0)]
    assert abs(same) < 0.1 * values[0]
    assert values[0] < values[1] < values[2]
    self_biased = kernel_mmd(x, x, features="identity", kernel=kernel, unbiased=False,
                             bandwidth=2.0 if kernel == "rbf" else None).mmd2
    assert abs(self_biased) < 1e-10          # identical sets: the V-statistic is exactly zero


def test_callable_features_are_applied():
    lin = torch.nn.Linear(3, 2, bias=False).double()
    x, y = _gauss(40, 3, 11), _gauss(40, 3, 12)
    fx = lin(torch.as_tensor(x)).detach().numpy()
    fy = lin(torch.as_tensor(y)).detach().numpy()
    assert math.isclose(frechet_distance(x, y, features=lin).distance,
                        frechet_distance(fx, fy, features="identity").distance, rel_tol=1e-10)
    assert embed(torch.ones(2, 1, 2, 2), "identity").shape == (2, 4)


def test_default_digits_features(tmp_path, monkeypatch):
    pytest.importorskip("dualgan.features", reason="the digits classifier ships with dualgan.features")
    from dualgan.data.digits import load_digits
    import dualgan.metrics.distances as distances
    monkeypatch.setenv("DUALGAN_CACHE", str(tmp_path))
    monkeypatch.setattr(distances, "_DEFAULT_FEATURES", None)
    images, _ = load_digits()
    real = images[:600]
    assert frechet_distance(real, real).distance < 1e-8
    shifted = [frechet_distance(real, (real + t).clamp(0, 1)).distance for t in (0.1, 0.3, 0.6)]
    assert 0 < shifted[0] < shifted[1] < shifted[2]
    assert frechet_distance(real, real).feature_dim == 128


def test_bad_input_is_named():
    x = np.zeros((5, 2))
    with pytest.raises(ValueError, match="feature widths"):
        frechet_distance(x, np.zeros((5, 3)), features="identity")
    with pytest.raises(ValueError, match="at least 2 samples"):
        frechet_distance(x, np.zeros((1, 2)), features="identity")
    with pytest.raises(ValueError, match="kernel"):
        kernel_mmd(x, x, features="identity", kernel="laplace")
    with pytest.raises(ValueError, match="contains NaN"):
        kernel_mmd(np.full((3, 2), np.nan), x, features="identity")
    with pytest.raises(ValueError, match="features"):
        frechet_distance(x, x, features=42)
    with pytest.raises(ValueError, match="bandwidth"):
        kernel_mmd(x, x, features="identity", kernel="rbf")
