"""The command line's number types: one parse-then-check helper for integers and reals (issue 25), each refusal an
``ArgumentTypeError`` (a usage error, exit code 2) saying what is accepted."""
import argparse

import pytest

from dualgan.cli._args import finite_float, nonneg_int, positive_float, positive_int, unit_interval


@pytest.mark.parametrize("fn,text,value", [(positive_int, "3", 3), (nonneg_int, "0", 0), (positive_float, "2.5", 2.5),
                                          (finite_float, "-1e300", -1e300), (unit_interval, "0", 0.0),
                                          (unit_interval, "0.999", 0.999)])
def test_accepted_values_are_the_parsed_numbers(fn, text, value):
    out = fn(text)
    assert out == value and type(out) is type(value)


@pytest.mark.parametrize("fn,text,message", [
    (positive_int, "x", "expected an integer, got 'x'"),
    (positive_int, "2.0", "expected an integer, got '2.0'"),
    (positive_int, "0", "must be a positive integer, got 0"),
    (nonneg_int, "-1", "must be a non-negative integer, got -1"),
    (positive_float, "abc", "expected a number, got 'abc'"),
    (positive_float, "0", "must be finite and > 0, got 0.0"),
    (finite_float, "nan", "must be finite and not NaN, got nan"),
    (finite_float, "inf", "must be finite and not NaN, got inf"),
    (unit_interval, "1", "must be finite and >= 0 and < 1, got 1.0"),
])
def test_refused_values_are_usage_errors_saying_what_is_accepted(fn, text, message):
    with pytest.raises(argparse.ArgumentTypeError) as info:
        fn(text)
    assert str(info.value) == message
