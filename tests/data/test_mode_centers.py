"""The mixtures of the library read their shape one way (data.toy.ModeCenters, issue 25: it was written twice)."""
import pytest

from dualgan.constraints.examples import subspace_mixture, two_hyperplanes
from dualgan.data import grid, ring
from dualgan.data.toy import ModeCenters


@pytest.mark.parametrize("mixture,k,dim", [(ring(5), 5, 2), (grid(3), 9, 2), (subspace_mixture(dim=5, k=6), 6, 5),
                                           (two_hyperplanes(dim=4, modes_per_plane=(1, 3)), 4, 4)])
def test_dim_and_n_modes_are_the_columns_and_rows_of_the_centers(mixture, k, dim):
    assert isinstance(mixture, ModeCenters)
    assert (mixture.n_modes, mixture.dim) == (k, dim) == tuple(mixture.centers.shape)
    assert len(mixture.sample(7)) == 7 and mixture.sample(7).shape[1] == dim
