"""The distance formulas (eqs. (6.5) and (6.6) of the theory page) against references written out here.

Every reference is independent of the library: the RBF bandwidth is
``np.median`` of the pairwise distances (``scipy.spatial.distance.pdist``),
kernel sums are explicit double loops, covariances are ``np.cov(ddof=1)``
and the matrix square root is ``scipy.linalg.sqrtm``. The sample sizes are
small on purpose: a covariance divided by N instead of N - 1, a doubled
bandwidth, a squared instead of an unsquared distance or an ``n**2`` instead
of ``n (n - 1)`` each move the result by far more than the tolerances.

The median heuristic of an even number of distances is the lower of the two
middle ones (torch's median); the sizes here give an odd number of pairs
(``N (N - 1) / 2`` odd for ``N = 2, 3 mod 4``), where every definition agrees.
"""
import math

import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.distance import pdist

from dualgan.metrics import frechet_distance, kernel_mmd


def _samples(n, d, seed, shift=0.0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) + shift


def _rbf_mmd2_double_sum(x, y, sigma, unbiased):
    """Eq. (6.6) with k(a, b) = exp(-|a - b|^2 / (2 sigma^2)), by explicit loops over all pairs."""
    def k(a, b):
        return math.exp(-float(np.sum((a - b) ** 2)) / (2.0 * sigma ** 2))

    n, m = len(x), len(y)
    sxx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if not (unbiased and i == j))
    syy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if not (unbiased and i == j))
    sxy = sum(k(x[i], y[j]) for i in range(n) for j in range(m))
    if unbiased:
        return sxx / (n * (n - 1)) + syy / (m * (m - 1)) - 2.0 * sxy / (n * m)
    return sxx / n ** 2 + syy / m ** 2 - 2.0 * sxy / (n * m)


def _median_heuristic(x, y):
    both = np.vstack([x, y])
    assert (len(both) * (len(both) - 1) // 2) % 2 == 1   # an odd number of pairs: one median
    return float(np.median(pdist(both)))


@pytest.mark.parametrize("unbiased", [True, False])
@pytest.mark.parametrize("n, m, d", [(12, 7, 3), (20, 10, 2)])
def test_rbf_mmd_default_bandwidth_against_double_sum_with_np_median(unbiased, n, m, d):
    x, y = _samples(n, d, 1), _samples(m, d, 2, shift=0.7)
    sigma = _median_heuristic(x, y)
    result = kernel_mmd(x, y, features="identity", kernel="rbf", unbiased=unbiased)
    assert math.isclose(result.mmd2, _rbf_mmd2_double_sum(x, y, sigma, unbiased), rel_tol=1e-10, abs_tol=1e-14)


def test_rbf_reported_bandwidth_is_the_median_pairwise_distance():
    x, y = _samples(13, 4, 3), _samples(6, 4, 4, shift=-0.3)
    assert math.isclose(kernel_mmd(x, y, features="identity", kernel="rbf").bandwidth, _median_heuristic(x, y),
                        rel_tol=1e-13)


def test_rbf_mmd_of_three_points_by_hand():
    # x = {0, 1}, y = {3} on the line: distances 1, 3, 2, median 2, so k(a, b) = exp(-(a - b)^2 / 8)
    x, y = np.array([[0.0], [1.0]]), np.array([[3.0]])
    biased = (2.0 + 2.0 * math.exp(-1 / 8)) / 4 + 1.0 - (math.exp(-9 / 8) + math.exp(-4 / 8))
    result = kernel_mmd(x, y, features="identity", kernel="rbf", unbiased=False)
    assert result.bandwidth == 2.0
    assert math.isclose(result.mmd2, biased, rel_tol=1e-13)


def test_rbf_mmd_explicit_bandwidth_against_double_sum():
    x, y = _samples(9, 2, 5), _samples(11, 2, 6, shift=0.4)
    for unbiased in (True, False):
        result = kernel_mmd(x, y, features="identity", kernel="rbf", bandwidth=0.8, unbiased=unbiased)
        assert math.isclose(result.mmd2, _rbf_mmd2_double_sum(x, y, 0.8, unbiased), rel_tol=1e-10)


@pytest.mark.parametrize("degree, coef0", [(3, 1.0), (2, 0.5)])
def test_polynomial_mmd_against_double_sum(degree, coef0):
    x, y = _samples(8, 3, 7), _samples(5, 3, 8, shift=0.5)
    d = x.shape[1]

    def k(a, b):
        return (float(a @ b) / d + coef0) ** degree

    n, m = len(x), len(y)
    unbiased = (sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
                + sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
                - 2.0 * sum(k(a, b) for a in x for b in y) / (n * m))
    result = kernel_mmd(x, y, features="identity", kernel="polynomial", degree=degree, coef0=coef0)
    assert math.isclose(result.mmd2, unbiased, rel_tol=1e-10)


def _frechet_reference(x, y):
    """||mu_x - mu_y||^2 + tr(S_x + S_y - 2 (S_x S_y)^{1/2}), S = np.cov(ddof=1), sqrtm by scipy."""
    cx, cy = np.atleast_2d(np.cov(x, rowvar=False, ddof=1)), np.atleast_2d(np.cov(y, rowvar=False, ddof=1))
    mean_term = float(np.sum((x.mean(0) - y.mean(0)) ** 2))
    cov_term = float(np.trace(cx + cy - 2.0 * scipy.linalg.sqrtm(cx @ cy).real))
    return mean_term, cov_term


@pytest.mark.parametrize("n, m, d", [(5, 8, 2), (7, 4, 3), (6, 6, 1)])
def test_frechet_of_small_samples_against_np_cov_and_sqrtm(n, m, d):
    x, y = _samples(n, d, 10 + n), _samples(m, d, 20 + m, shift=0.25)
    mean_term, cov_term = _frechet_reference(x, y)
    result = frechet_distance(x, y, features="identity")
    assert math.isclose(result.mean_term, mean_term, rel_tol=1e-12)
    assert math.isclose(result.covariance_term, cov_term, rel_tol=1e-8)
    assert math.isclose(result.distance, mean_term + cov_term, rel_tol=1e-8)


def test_frechet_in_one_dimension_is_the_closed_form_with_sample_standard_deviations():
    # 1-D Gaussians: FD = (mu_x - mu_y)^2 + (s_x - s_y)^2 with the unbiased sample variances
    x = np.array([[0.0], [1.0], [3.0]])
    y = np.array([[2.0], [2.5], [4.0], [6.0], [7.0]])
    s_x, s_y = math.sqrt(np.var(x, ddof=1)), math.sqrt(np.var(y, ddof=1))
    closed = (x.mean() - y.mean()) ** 2 + (s_x - s_y) ** 2
    assert math.isclose(frechet_distance(x, y, features="identity").distance, closed, rel_tol=1e-12)


def test_frechet_covariance_term_of_equal_means():
    # same mean, covariances differing in scale only: FD = tr(S_x) (1 - sqrt(k))^2 for S_y = k S_x
    base = _samples(6, 3, 30)
    base -= base.mean(0)
    x, y = base, 2.0 * base          # S_y = 4 S_x exactly, whatever the divisor
    closed = float(np.trace(np.cov(x, rowvar=False, ddof=1))) * (1.0 - 2.0) ** 2
    result = frechet_distance(x, y, features="identity")
    assert result.mean_term < 1e-28
    assert math.isclose(result.distance, closed, rel_tol=1e-9)
