"""The integer and flag checks of the library, without torch: modules that must import quickly (the sweep's spec,
store and back ends, which a driver process loads without training anything) use them from here;
:mod:`dualgan._checks` re-exports them with the other checks.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = ["check_int", "check_bool"]


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None,
              allow_none: bool = False) -> int | None:
    """The check of an integer argument (counts, sizes, seeds, iteration caps).

    Parameters
    ----------
    value : Any
        Python or numpy integers are accepted; ``bool``, floats (even ``5.0``)
        and strings are refused.
    name : str
        The argument's name, used in the error message.
    low, high : int or None
        Inclusive bounds (None: unbounded on that side).
    allow_none : bool
        Return None for None instead of raising.

    Returns
    -------
    int or None
        ``value`` as a Python int.

    Raises
    ------
    ValueError
        Naming the argument, the bad value and the accepted range.
    """
    if value is None and allow_none:
        return None
    rng = _describe_range(low, high, False, False)
    if low == 1 and high is None:
        want = "a positive integer"
    elif low == 0 and high is None:
        want = "a non-negative integer"
    else:
        want = f"an integer{' ' + rng if rng else ''}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be {want}, got {value!r} ({type(value).__name__})")
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise ValueError(f"{name} must be {want}, got {value!r}")
    return v


def check_bool(value: Any, name: str) -> bool:
    """The check of a flag: ``True`` or ``False`` (a numpy bool too, as a parameter grid gives it).

    Parameters
    ----------
    value : Any
        The argument as the user passed it; ``1``, ``"yes"`` and ``None`` are refused.
    name : str
        The argument's name, used in the error message.

    Returns
    -------
    bool
        ``value`` as a Python bool.

    Raises
    ------
    ValueError
        Naming the argument and the bad value.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _describe_range(low, high, low_open, high_open) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    return " and ".join(parts)
