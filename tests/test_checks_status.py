"""check_status: the one check that a record's status is a dualgan.status.Status (issue 25: was written in each record)."""
import pytest

from dualgan.status import Status, StatusCode, check_status
from dualgan.sweep import JobResult


def test_a_status_is_returned_as_it_is():
    s = Status(StatusCode.MAX_ITER, "cap")
    assert check_status(s, "x") is s


@pytest.mark.parametrize("bad", ["success", StatusCode.SUCCESS, None, ("success", "")])
def test_anything_else_is_a_type_error_naming_the_argument_the_value_and_the_fix(bad):
    with pytest.raises(TypeError) as info:
        check_status(bad, "Thing.status")
    text = str(info.value)
    assert text.startswith("Thing.status must be a dualgan.status.Status")
    assert "Status.ok()" in text and type(bad).__name__ in text and repr(bad)[:40] in text


def test_the_sweep_records_use_it():
    with pytest.raises(TypeError, match="JobResult.status must be a dualgan.status.Status"):
        JobResult({}, "success")
