"""digits_split checks test_fraction and seed with the library's one number check (they were cast with float()/int():
a seed of 1.5 became 1, a string fraction raised Python's conversion error)."""
import pytest

from dualgan.data import digits_split


@pytest.mark.parametrize("kwargs,message", [
    ({"test_fraction": 1.5}, "test_fraction (share of the held-out part) must be finite and > 0 and < 1, got 1.5"),
    ({"test_fraction": 0.0}, "test_fraction (share of the held-out part) must be finite and > 0 and < 1, got 0.0"),
    ({"test_fraction": float("nan")}, "must be finite and > 0 and < 1, got nan"),
    ({"test_fraction": "0.2"}, "test_fraction (share of the held-out part) must be a real number > 0 and < 1"),
    ({"seed": 1.5}, "seed must be a non-negative integer, got 1.5"),
    ({"seed": -1}, "seed must be a non-negative integer, got -1"),
])
def test_bad_fractions_and_seeds_are_refused_naming_them(kwargs, message):
    with pytest.raises(ValueError) as info:
        digits_split(**kwargs)
    assert message in str(info.value)
