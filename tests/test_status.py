"""The status type's stored form: ``[code, message]`` round-trips and anything else is refused by name."""
from __future__ import annotations

import pytest

from dualgan.status import Status, StatusCode


@pytest.mark.parametrize("code", list(StatusCode))
def test_pair_round_trip(code):
    s = Status(code, f"message of {code.value}")
    assert s.to_pair() == [code.value, f"message of {code.value}"]
    assert Status.from_pair(s.to_pair()) == s and Status.from_pair(tuple(s.to_pair())) == s


@pytest.mark.parametrize("bad, match", [
    ("running", r"\[code, message\]"), (["running"], r"\[code, message\]"), (["running", 3], r"\[code, message\]"),
    (None, r"\[code, message\]"), (["fine", ""], "unknown status code 'fine'"),
])
def test_pair_refuses_anything_else(bad, match):
    with pytest.raises(ValueError, match=match):
        Status.from_pair(bad)
