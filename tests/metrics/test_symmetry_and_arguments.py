"""Symmetric metrics are exactly symmetric at every sample size; batch sizes and other numbers are checked."""
import numpy as np
import pytest
import torch

from dualgan.metrics import frechet_distance, kernel_mmd
from dualgan.metrics.classifier_score import classifier_score
from dualgan.metrics.coverage import mode_coverage
from dualgan.metrics.cross_testing import confusion_rates


def _sets(n, m, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 3, generator=g, dtype=torch.float64),
            torch.randn(m, 3, generator=g, dtype=torch.float64) + 2.0)


@pytest.mark.parametrize("n,m", [(2, 2), (5, 3), (3, 5), (40, 40), (1500, 900), (900, 1500), (2100, 7)])
@pytest.mark.parametrize("kernel", ["polynomial", "rbf", "linear"])
def test_kernel_mmd_is_symmetric_bit_for_bit(n, m, kernel):
    x, y = _sets(n, m)
    for unbiased in (True, False):
        a = kernel_mmd(x, y, "identity", kernel=kernel, unbiased=unbiased, batch_size=256)
        b = kernel_mmd(y, x, "identity", kernel=kernel, unbiased=unbiased, batch_size=256)
        assert a.mmd2 == b.mmd2 and a.bandwidth == b.bandwidth


@pytest.mark.parametrize("n,m", [(2, 3), (50, 50), (300, 40)])
def test_frechet_distance_is_symmetric_bit_for_bit(n, m):
    x, y = _sets(n, m, seed=1)
    a, b = frechet_distance(x, y, "identity"), frechet_distance(y, x, "identity")
    assert a.distance == b.distance and a.covariance_term == b.covariance_term


def test_linear_mmd_against_the_closed_form():
    x, y = _sets(30, 20)
    biased = kernel_mmd(x, y, "identity", kernel="linear", unbiased=False).mmd2
    assert biased == pytest.approx(float(((x.mean(0) - y.mean(0)) ** 2).sum()), rel=1e-12)


@pytest.mark.parametrize("bad", [-1, 0, 2.5, True, None, "8"])
def test_batch_size_is_checked(bad):
    x, y = _sets(10, 10)
    with pytest.raises(ValueError, match="batch_size"):
        kernel_mmd(x, y, "identity", batch_size=bad)
    with pytest.raises(ValueError, match="batch_size"):
        frechet_distance(x, y, "identity", batch_size=bad)
    with pytest.raises(ValueError, match="batch_size"):
        confusion_rates(lambda t: t[:, 0], x, y, batch_size=bad)
    with pytest.raises(ValueError, match="batch_size"):
        classifier_score(torch.rand(4, 1, 8, 8), torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)),
                         batch_size=bad)


def test_issue_input_batch_size_minus_one_no_longer_gives_zero():
    """kernel_mmd(x, y, batch_size=-1) returned MMD^2 = 0.0 for clearly different sets."""
    x, y = _sets(200, 200)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got -1"):
        kernel_mmd(x, y, "identity", batch_size=-1)
    assert kernel_mmd(x, y, "identity").mmd2 > 1.0


@pytest.mark.parametrize("kw,match", [(dict(std=float("nan")), "std"), (dict(min_fraction=2.0), "min_fraction"),
                                      (dict(min_count=0), "min_count"), (dict(n_std=True), "n_std")])
def test_mode_coverage_checks_numbers(kw, match):
    args = dict(std=0.1)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        mode_coverage(np.zeros((4, 2)), np.zeros((2, 2)), **args)


def test_non_finite_samples_are_refused_not_masked():
    x, y = _sets(10, 10)
    x[3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        kernel_mmd(x, y, "identity")
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(x, y, "identity")
