"""Every ``generator=`` argument of the library's samplers and random penalties is checked by one check_generator:
a seed passed where a torch.Generator is due (generator=3) reached torch.randint's raw 'invalid combination of
arguments', and CoupledGradientPenalty(one_sided='no') was one-sided (bool('no') is True)."""
import pytest
import torch

from dualgan.conditional import sample_labels
from dualgan.constraints.examples import subspace_mixture
from dualgan.data import ring
from dualgan.regularizers import CoupledGradientPenalty, LocalGradientPenalty

MESSAGE = r"generator must be a torch.Generator or None, got 3 \(int\); for a seed s pass torch.Generator\(\).manual_seed\(s\)"


@pytest.mark.parametrize("call", [
    lambda g: ring(8).sample(4, generator=g),
    lambda g: subspace_mixture().sample(4, generator=g),
    lambda g: sample_labels(4, 3, generator=g),
    lambda g: CoupledGradientPenalty(generator=g),
    lambda g: LocalGradientPenalty(generator=g),
])
def test_a_seed_where_a_generator_is_due_is_refused_naming_the_fix(call):
    with pytest.raises(ValueError, match=MESSAGE):
        call(3)
    call(torch.Generator().manual_seed(0))
    call(None)


def test_seeded_draws_are_the_generators_own():
    # reference: the same draws from a torch.Generator, by hand (labels first, then float64 noise)
    g = torch.Generator().manual_seed(5)
    labels = torch.randint(8, (6,), generator=g)
    noise = torch.randn(6, 2, generator=g, dtype=torch.float64)
    data = ring(8, radius=2.0, std=0.1)
    expected = data.centers.to(torch.float64)[labels] + 0.1 * noise
    got = data.sample(6, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-15)


def test_a_flag_of_the_penalties_is_a_bool():
    for cls in (CoupledGradientPenalty, LocalGradientPenalty):
        with pytest.raises(ValueError, match="one_sided must be True or False, got 'no'"):
            cls(one_sided="no")
        assert cls(one_sided=True).one_sided is True


def test_the_constrained_examples_sample_in_a_floating_dtype():
    # an int64 dtype truncated the samples without an error
    with pytest.raises(ValueError, match="dtype must be a floating torch dtype"):
        subspace_mixture().sample(4, dtype=torch.int64)
    assert subspace_mixture().sample(4, dtype=torch.float64).dtype == torch.float64
