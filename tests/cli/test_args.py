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


def _parser():
    parser = argparse.ArgumentParser(prog="t")
    return parser


def test_checked_returns_the_checked_value_and_turns_a_refusal_into_a_usage_error(capsys):
    from dualgan._checks import check_int, check_number
    from dualgan.cli._args import checked

    assert checked(_parser(), 3, "--steps", check_int, low=1) == 3
    assert checked(_parser(), 0.0, "--reg-weight", check_number, low=0.0) == 0.0
    with pytest.raises(SystemExit) as info:
        checked(_parser(), 0, "--steps", check_int, low=1)
    assert info.value.code == 2 and "--steps must be a positive integer, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        checked(_parser(), float("nan"), "--clip", check_number, low=0.0, low_open=True)
    assert "--clip must be finite and > 0, got nan" in capsys.readouterr().err


@pytest.mark.parametrize("text,expected", [(None, ["a", "b"]), ("b", ["b"]), (" a , b ,", ["a", "b"])])
def test_names_of_splits_commas_and_defaults_on_none(text, expected):
    from dualgan.cli._args import names_of

    assert names_of(_parser(), text, ("a", "b", "c"), "--optimizers", default=("a", "b")) == expected


@pytest.mark.parametrize("text,shown", [("a,z", "['z']"), (",", "(empty)")])
def test_names_of_refuses_unknown_or_no_names(text, shown, capsys):
    from dualgan.cli._args import names_of

    with pytest.raises(SystemExit) as info:
        names_of(_parser(), text, ("a", "b"), "--optimizers")
    assert info.value.code == 2
    assert f"--optimizers: unknown {shown}; choose from ['a', 'b']" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["--optimizers", "simultaneous,nope"], "--optimizers: unknown ['nope']"),
    (["--base", "nope"], "--base: unknown 'nope'"),
])
def test_compare_optimizers_name_errors_are_usage_errors(argv, message, capsys, tmp_path):
    from dualgan.cli import main

    with pytest.raises(SystemExit) as info:  # exit 2 like every usage error (was 1 from a bare SystemExit)
        main(["compare-optimizers", "--game", "dirac", "--steps", "1", "--out", str(tmp_path / "c.png"), *argv])
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_the_command_line_reads_its_choices_from_the_library_tables(monkeypatch, capsys):
    import dualgan.duals
    from dualgan.cli import build_parser
    from dualgan.duals import DISCRIMINATOR_LOSSES
    from dualgan.train import MODES

    parser = build_parser()
    for mode in MODES:
        assert parser.parse_args(["demo", "--mode", mode]).mode == mode
    for loss in DISCRIMINATOR_LOSSES:
        assert parser.parse_args(["solve-dual", "--loss", loss]).loss == loss
    with pytest.raises(SystemExit):
        parser.parse_args(["solve-dual", "--loss", "squared"])
    assert "invalid choice: 'squared' (choose from 'logistic', 'hinge')" in capsys.readouterr().err
    monkeypatch.setattr(dualgan.duals, "DISCRIMINATOR_LOSSES", DISCRIMINATOR_LOSSES + ("squared",))
    assert parser.parse_args(["solve-dual", "--loss", "squared"]).loss == "squared"  # the table, not a copy
