"""The example data sets and a property of the union projection that explains its training behaviour."""
import numpy as np
import pytest
import torch

from dualgan.constraints import HyperplaneUnion
from dualgan.constraints.examples import subspace_mixture, train_constrained, two_hyperplanes
from dualgan.metrics import mode_coverage


def test_subspace_mixture_lies_on_its_subspace_with_the_stated_modes():
    data = subspace_mixture(std=0.1)
    x = data.sample(3000, torch.Generator().manual_seed(0), dtype=torch.float64)
    A, b = data.constraint.A.numpy(), data.constraint.b.numpy()
    assert np.abs(x.numpy() @ A.T - b).max() <= 1e-12
    cov = mode_coverage(x, data.centers, data.std)
    assert cov.all_covered and cov.high_quality_fraction > 0.95
    # the noise is 3-dimensional (inside the subspace): E||x - c||^2 = 3 std^2
    labels = torch.cdist(x, data.centers).argmin(1)
    spread = ((x - data.centers[labels]) ** 2).sum(1).mean()
    assert float(spread) == pytest.approx(3 * 0.1 ** 2, rel=0.1)


def test_two_hyperplanes_shares_and_separation():
    data = two_hyperplanes(modes_per_plane=(2, 4), separation=2.0)
    U = data.constraint
    x = data.sample(6000, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert U.violation(x).max_distance <= 1e-12
    assert U.shares(x) == pytest.approx((1 / 3, 2 / 3), abs=0.03)
    assert data.plane_shares() == pytest.approx((1 / 3, 2 / 3))
    d = U.signed_distances(data.centers).abs().numpy()
    for i, k in enumerate(data.plane_of_mode):
        assert d[i, k] <= 1e-12 and d[i, 1 - k] == pytest.approx(2.0, abs=1e-12)


def test_union_projection_jacobian_is_tangent_to_the_chosen_hyperplane(rng):
    """dP/dx = I - u_k u_k^T at a sample assigned to hyperplane k: gradients never move a sample across
    pieces directly, so mass moves between hyperplanes only by sliding through their intersection."""
    U = HyperplaneUnion(rng.normal(size=(3, 4)), rng.normal(size=3))
    for x in torch.from_numpy(rng.normal(size=(5, 4))):
        J = torch.autograd.functional.jacobian(lambda v: U.project(v[None])[0], x).numpy()
        k = int(U.assign(x[None])[0])
        u = U.U[k].numpy()
        np.testing.assert_allclose(J, np.eye(4) - np.outer(u, u), atol=1e-14)


def test_train_constrained_bad_input():
    data = subspace_mixture()
    with pytest.raises(ValueError, match="unknown loss"):
        train_constrained(data, None, loss="nope")
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        train_constrained(data, None, steps=0)
    with pytest.raises(ValueError, match="k must be an integer in \\[1, 6\\]"):
        subspace_mixture(k=7)


def test_the_example_mixtures_read_integers_and_seeds_with_the_one_check():
    # a seed of 1.5 or 'a' reached torch's manual_seed; k=True was one mode; numpy sizes were refused
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer, got 1\.5"):
        subspace_mixture(seed=1.5)
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got 'a'"):
        two_hyperplanes(seed="a")
    with pytest.raises(ValueError, match=r"k must be an integer in \[1, 6\].*got True"):
        subspace_mixture(k=True)
    with pytest.raises(ValueError, match=r"modes_per_plane entries must be an integer >= 1 and <= 6, got 2\.0"):
        two_hyperplanes(modes_per_plane=(2, 2.0))
    a, b = subspace_mixture(dim=np.int64(5), k=np.int64(6), seed=np.int64(3)), subspace_mixture(dim=5, k=6, seed=3)
    assert torch.equal(a.centers, b.centers) and a.name == b.name == "subspace6-R5"
    # the centers lie on the subspace A x = b drawn from the seed (reference: the same draws, by hand)
    gen = torch.Generator().manual_seed(3)
    A = torch.randn(2, 5, generator=gen, dtype=torch.float64)
    rhs = torch.randn(2, generator=gen, dtype=torch.float64)
    assert torch.allclose(a.centers @ A.T, rhs.expand(6, 2), rtol=0, atol=1e-12)
