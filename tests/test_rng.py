"""seeded: the one seeded-initialisation block of the library's builders (issue 25: the image models wrote their own)."""
import pytest
import torch

from dualgan._rng import seeded
from dualgan.models import dcgan_discriminator


def test_the_block_draws_what_manual_seed_draws_and_the_caller_stream_is_untouched():
    torch.manual_seed(123)
    expected_after = torch.rand(3)  # the reference: the caller's stream with no block in between
    torch.manual_seed(7)
    expected_inside = torch.rand(4)
    torch.manual_seed(123)
    with seeded(7):
        inside = torch.rand(4)
    assert torch.equal(inside, expected_inside)
    assert torch.equal(torch.rand(3), expected_after)


def test_none_draws_from_the_global_generator_and_advances_it():
    torch.manual_seed(5)
    expected = torch.rand(2), torch.rand(2)
    torch.manual_seed(5)
    with seeded(None):
        first = torch.rand(2)
    assert torch.equal(first, expected[0]) and torch.equal(torch.rand(2), expected[1])


def test_the_state_is_restored_when_the_block_raises():
    torch.manual_seed(9)
    expected = torch.rand(2)
    torch.manual_seed(9)
    with pytest.raises(RuntimeError):
        with seeded(1):
            torch.rand(5)
            raise RuntimeError("build failed")
    assert torch.equal(torch.rand(2), expected)


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True])
def test_a_bad_seed_names_the_argument(bad):
    with pytest.raises(ValueError, match="seed must be"):
        with seeded(bad):
            pass
    with pytest.raises(ValueError, match="seed must be"):
        dcgan_discriminator(seed=bad)
