"""kernel_mmd's RBF kernel at extreme but finite bandwidths, against a 50-digit mpmath reference.

The kernel was exp(-d^2 / (2 sigma^2)): sigma^2 underflows to 0 below sigma ~ 1e-154, which gave 0 / 0 = NaN on
the diagonal and a NaN MMD with no error (bandwidth=1e-300); it is now exp(-(d / sigma)^2 / 2), finite for every
bandwidth, with the right limits: 1[x = y] as sigma -> 0 and 1 as sigma -> infinity.
"""
import mpmath
import numpy as np
import pytest

from dualgan.metrics import kernel_mmd

mpmath.mp.dps = 50


def _mmd2_mpmath(x, y, sigma, unbiased):
    """Squared MMD with the Gaussian kernel, every kernel value in 50-digit arithmetic."""
    def k(a, b):
        d2 = sum((mpmath.mpf(float(p)) - mpmath.mpf(float(q))) ** 2 for p, q in zip(a, b))
        return mpmath.exp(-d2 / (2 * mpmath.mpf(sigma) ** 2))

    n, m = len(x), len(y)
    sxx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if not (unbiased and i == j))
    syy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if not (unbiased and i == j))
    sxy = sum(k(a, b) for a in x for b in y)
    if unbiased:
        return float(sxx / (n * (n - 1)) + syy / (m * (m - 1)) - 2 * sxy / (n * m))
    return float(sxx / n ** 2 + syy / m ** 2 - 2 * sxy / (n * m))


@pytest.fixture
def samples():
    rng = np.random.default_rng(3)
    return rng.normal(size=(5, 2)), rng.normal(size=(6, 2)) + 0.7


@pytest.mark.parametrize("unbiased", [True, False])
def test_tiny_and_huge_bandwidths_give_their_limits(samples, unbiased):
    x, y = samples
    n, m = len(x), len(y)
    tiny = kernel_mmd(x, y, features="identity", kernel="rbf", bandwidth=1e-300, unbiased=unbiased).mmd2
    huge = kernel_mmd(x, y, features="identity", kernel="rbf", bandwidth=1e300, unbiased=unbiased).mmd2
    # distinct points: k = 1 on the diagonal, 0 elsewhere (sigma -> 0); k = 1 everywhere (sigma -> infinity)
    assert tiny == (0.0 if unbiased else pytest.approx(1 / n + 1 / m, rel=1e-15))
    assert huge == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("scale", [1e-160, 1e-200, 1e150])
@pytest.mark.parametrize("unbiased", [True, False])
def test_the_kernel_is_scale_invariant_where_sigma_squared_leaves_float64(samples, scale, unbiased):
    x, y = samples
    ref = _mmd2_mpmath(x.tolist(), y.tolist(), 0.8, unbiased)  # points and bandwidth scaled together
    got = kernel_mmd(x * scale, y * scale, features="identity", kernel="rbf", bandwidth=0.8 * scale,
                     unbiased=unbiased).mmd2
    assert got == pytest.approx(ref, rel=1e-12, abs=1e-15)
    # the median heuristic at the same scales (its bandwidth scales with the points)
    auto = kernel_mmd(x * scale, y * scale, features="identity", kernel="rbf", unbiased=unbiased)
    unit = kernel_mmd(x, y, features="identity", kernel="rbf", unbiased=unbiased)
    assert auto.mmd2 == pytest.approx(unit.mmd2, rel=1e-12, abs=1e-15)
    assert auto.bandwidth == pytest.approx(unit.bandwidth * scale, rel=1e-14)


def _fid_reference(fx, fy):
    import scipy.linalg

    mu = fx.mean(0) - fy.mean(0)
    cx, cy = np.cov(fx, rowvar=False), np.cov(fy, rowvar=False)
    return float(mu @ mu + np.trace(cx + cy - 2 * np.real(scipy.linalg.sqrtm(cx @ cy))))


@pytest.fixture
def sets():
    rng = np.random.default_rng(7)
    return rng.normal(size=(40, 3)), rng.normal(size=(30, 3)) * 1.2 + 0.5


@pytest.mark.parametrize("scale", [1e150, 1e-150])
def test_frechet_distance_and_linear_mmd_at_extreme_scales(sets, scale):
    from dualgan.metrics import frechet_distance

    x, y = sets
    # both are homogeneous of degree 2 in the features: the reference is the unit-scale value times scale^2
    fid = frechet_distance(x * scale, y * scale, features="identity")
    assert fid.distance == pytest.approx(_fid_reference(x, y) * scale ** 2, rel=1e-9)
    lin = kernel_mmd(x * scale, y * scale, features="identity", kernel="linear", unbiased=False).mmd2
    mu = x.mean(0) - y.mean(0)
    assert lin == pytest.approx(float(mu @ mu) * scale ** 2, rel=1e-12)


def test_power_of_two_scaling_is_exact(sets):
    from dualgan.metrics import frechet_distance

    x, y = sets
    a = frechet_distance(x, y, features="identity")
    b = frechet_distance(x * 2.0 ** 300, y * 2.0 ** 300, features="identity")
    assert b.distance == a.distance * 2.0 ** 600 and b.mean_term == a.mean_term * 2.0 ** 600


def test_values_beyond_float64_are_refused_not_nan(sets):
    from dualgan.metrics import frechet_distance

    x, y = sets
    for kernel in ("polynomial", "linear"):
        with pytest.raises(ValueError, match=f"squared MMD with the {kernel} kernel.*beyond float64.*rescale"):
            kernel_mmd(x * 1e200, y * 1e200, features="identity", kernel=kernel)
    with pytest.raises(ValueError, match="Frechet distance.*beyond float64"):
        frechet_distance(x * 1e200, y * 1e200, features="identity")
    # the RBF kernel with its bandwidth scaled alike is scale-free: the same value at 1e200
    assert kernel_mmd(x * 1e200, y * 1e200, features="identity", kernel="rbf", bandwidth=1e200).mmd2 == \
        pytest.approx(kernel_mmd(x, y, features="identity", kernel="rbf", bandwidth=1.0).mmd2, rel=1e-12)
