"""argparse types for numbers, and checks of output paths: a bad value is a usage error (exit code 2) naming
the option, not a traceback.

Each number function takes the command-line string and returns the number, or raises
``argparse.ArgumentTypeError`` with what is accepted. They use the library's
one number check (:func:`dualgan._checks.check_number` / :func:`~dualgan._checks.check_int`).
:func:`output_folder` and :func:`output_file` check an ``--out`` before any
work is done and raise ``ValueError`` (exit code 2) naming the option, the
path and the fix.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .._checks import check_int, check_number
from .._io import check_writable_folder, check_writable_path

__all__ = ["positive_int", "nonneg_int", "positive_float", "finite_float", "unit_interval", "output_folder",
           "output_file", "checked", "names_of"]


def output_folder(text: str, option: str = "--out", create: bool = True) -> Path:
    """The folder ``text``, created (with its parents) when ``create``; a file, an uncreatable or read-only folder is refused."""
    return check_writable_folder(text, option, create=create)


def output_file(text: str, option: str = "--out") -> Path:
    """The file ``text``: not a folder, in an existing writable folder (:func:`dualgan._io.check_writable_path`)."""
    return check_writable_path(text, option)


def checked(parser: argparse.ArgumentParser, value, option: str, check, **bounds):
    """``check(value, option, **bounds)`` (a check of :mod:`dualgan._checks`); a refusal is ``parser``'s usage error.

    For options parsed before their bounds are known, or whose message must
    name the option itself (``--steps must be a positive integer, got 0``).
    """
    try:
        return check(value, option, **bounds)
    except ValueError as exc:
        parser.error(str(exc))


def names_of(parser: argparse.ArgumentParser, text: str | None, choices, option: str, default=()) -> list[str]:
    """The comma-separated names of ``text`` (None: ``default``), each one of ``choices``, else a usage error."""
    names = list(default) if text is None else [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in choices]
    if unknown or not names:
        parser.error(f"{option}: unknown {unknown or '(empty)'}; choose from {list(choices)}")
    return names


def _int(text: str, low: int) -> int:
    return _parsed(text, int, "an integer", check_int, low=low)


def _float(text: str, **bounds) -> float:
    return _parsed(text, float, "a number", check_number, **bounds)


def _parsed(text: str, parse, what: str, check, **bounds):
    """``check(parse(text), **bounds)``, its ``ValueError`` as the ``ArgumentTypeError`` argparse reports as usage."""
    try:
        value = parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    try:
        return check(value, "value", **bounds)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("value ", "", 1)) from None


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return _int(text, 1)


def nonneg_int(text: str) -> int:
    """An integer >= 0."""
    return _int(text, 0)


def positive_float(text: str) -> float:
    """A finite number > 0."""
    return _float(text, low=0.0, low_open=True)


def finite_float(text: str) -> float:
    """Any finite number."""
    return _float(text)


def unit_interval(text: str) -> float:
    """A number in [0, 1)."""
    return _float(text, low=0.0, high=1.0, high_open=True)
