"""Input validation shared by every family.

Each helper raises a ``ValueError`` that names the offending argument and says
how to fix it; nothing downstream ever sees NaN, inf or a wrong shape.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch

from ._numbers import _describe_range, check_bool, check_int  # noqa: F401  (re-exported: integer and flag checks)

__all__ = [
    "as_tensor",
    "check_matrix",
    "check_positive",
    "check_finite_tensor",
    "check_choice",
    "check_number",
    "check_int",
    "check_bool",
    "check_generator",
    "is_numpy_input",
    "check_float_dtype",
    "NonFiniteError",
]


class NonFiniteError(ValueError):
    """An input holds NaN or inf (a ``ValueError``, so existing handlers still catch it).

    Callers that end a run cleanly on non-finite values (game runs, trainers)
    catch this class specifically instead of parsing messages.
    """


def detached(x: Any) -> Any:
    """``x.detach()`` for a tensor, anything else as it is (the checks read values, they record no graph)."""
    return x.detach() if isinstance(x, torch.Tensor) else x


def is_numpy_input(x: Any) -> bool:
    """True when ``x`` is not a torch tensor (numpy array, list, ...)."""
    return not isinstance(x, torch.Tensor)


def as_tensor(x: Any, name: str, dtype: torch.dtype | None = None,
              device: torch.device | str | None = None) -> torch.Tensor:
    """Convert ``x`` (numpy array, list or tensor) to a torch tensor.

    Tensors keep their device unless ``device`` is given; numpy input lands on
    the CPU. Integer or boolean input is promoted to ``dtype`` or float64. Views
    with negative strides (``x[::-1]``) are copied; float types torch lacks
    (``np.longdouble``) are rounded to float64, the precision of every computation
    of the library (values beyond float64's range are refused).
    """
    if isinstance(x, torch.Tensor):
        t = x
    else:
        arr = _torch_compatible(_converted(np.asarray, x, name), name)
        t = _converted(torch.as_tensor, arr, name)
    if t.is_complex():
        # a cast to a real dtype would silently drop the imaginary part
        raise ValueError(f"{name} is complex ({t.dtype}); pass real numbers (e.g. x.real if the imaginary part "
                         f"is meant to be zero)")
    if dtype is not None:
        t = t.to(dtype)
    elif not torch.is_floating_point(t):
        t = t.to(torch.float64)
    if device is not None:
        t = t.to(device)
    return t


def _converted(convert, x: Any, name: str):
    """``convert(x)``, its ``TypeError`` or ``ValueError`` raised as a ``ValueError`` naming ``name``."""
    try:
        return convert(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: could not convert to an array ({exc}); pass a numpy array or a torch tensor") from exc


def _torch_compatible(arr: np.ndarray, name: str) -> np.ndarray:
    """``arr`` as torch can take it: float types torch lacks rounded to float64, negative strides copied."""
    if arr.dtype.kind == "f" and arr.dtype.itemsize > 8:  # np.longdouble (float128 / float96)
        with np.errstate(over="ignore"):
            wide = arr
            arr = arr.astype(np.float64)
        if np.isinf(arr).any() and not np.isinf(wide[np.isinf(arr)]).all():
            raise ValueError(f"{name} ({wide.dtype}) has values beyond float64's range (largest magnitude "
                             f"{np.format_float_scientific(np.abs(wide).max(), precision=3)} > "
                             f"{np.finfo(np.float64).max:.3g}); "
                             f"rescale it first")
    if arr.ndim and any(stride < 0 for stride in arr.strides):
        arr = np.ascontiguousarray(arr)
    return arr


def check_finite_tensor(t: torch.Tensor, name: str) -> torch.Tensor:
    """Raise if ``t`` holds NaN or inf, naming the first bad index."""
    if _all_finite(t):
        return t
    bad = ~torch.isfinite(t)
    if bool(bad.any()):
        idx = tuple(int(i) for i in torch.nonzero(bad)[0])
        kind = "NaN" if bool(torch.isnan(t[idx])) else "inf"
        raise NonFiniteError(f"{name} contains {kind} (first at index {idx}); remove or clip non-finite values "
                             f"before calling")
    return t


def _all_finite(t: torch.Tensor) -> bool:
    """``torch.isfinite(t).all()``; on the CPU through numpy, several times faster for small float arrays."""
    if t.device.type == "cpu" and t.dtype in (torch.float64, torch.float32, torch.float16):
        return bool(np.isfinite(t.detach().numpy()).all())
    return bool(torch.isfinite(t).all())


def check_matrix(x: Any, name: str, dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None, allow_empty: bool = False) -> torch.Tensor:
    """Validate a 2-D finite feature matrix and return it as a tensor."""
    t = as_tensor(x, name, dtype=dtype, device=device)
    if t.ndim == 1:
        raise ValueError(f"{name} must be 2-D with shape (batch, features), got shape {tuple(t.shape)}; "
                         f"use x.reshape(-1, 1) for one feature or x.reshape(1, -1) for one sample")
    if t.ndim != 2:
        raise ValueError(f"{name} must be 2-D with shape (batch, features), got shape {tuple(t.shape)}; "
                         f"flatten the trailing dimensions first")
    if not allow_empty and (t.shape[0] == 0 or t.shape[1] == 0):
        raise ValueError(f"{name} is empty (shape {tuple(t.shape)}); every batch needs at least one sample and one feature")
    return check_finite_tensor(t, name)


def check_positive(value: Any, name: str) -> float:
    """Return ``value`` as a float after checking it is a real, finite number > 0 (bools refused)."""
    return check_number(value, name, low=0.0, low_open=True)


def check_number(value: Any, name: str, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False, allow_inf: bool = False,
                 allow_none: bool = False) -> float | None:
    """The one check of a real scalar argument: type, finiteness and range.

    Parameters
    ----------
    value : Any
        The argument as the user passed it. Python and numpy reals and 0-d real
        tensors are accepted; ``bool``, complex numbers, strings and arrays with
        more than one element are refused (``True`` is not a number a user means).
    name : str
        The argument's name, used in the error message.
    low, high : float or None
        Bounds of the accepted range (None: unbounded on that side).
    low_open, high_open : bool
        Whether the bound itself is excluded.
    allow_inf : bool
        Accept +-inf (within the range); NaN is always refused.
    allow_none : bool
        Return None for None instead of raising.

    Returns
    -------
    float or None
        ``value`` as a Python float.

    Raises
    ------
    ValueError
        Naming the argument, the bad value and the accepted range.
    """
    if value is None and allow_none:
        return None
    rng = _describe_range(low, high, low_open, high_open)
    fin = "" if allow_inf else "finite and "
    want = f"a real number{' ' + rng if rng else ''}"
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.is_complex() or value.dtype == torch.bool:
            raise ValueError(f"{name} must be {want}, got a tensor of shape {tuple(value.shape)} and dtype "
                             f"{value.dtype}")
        value = value.item()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {want}, got {value!r} ({type(value).__name__})")
    try:
        v = float(value)
    except OverflowError:  # an integer beyond the float range
        raise ValueError(f"{name} must be {fin}{rng or 'within the float range'}, got an integer with "
                         f"{len(str(abs(int(value))))} digits") from None
    if math.isnan(v) or (math.isinf(v) and not allow_inf) or \
            (low is not None and (v < low or (low_open and v == low))) or \
            (high is not None and (v > high or (high_open and v == high))):
        raise ValueError(f"{name} must be {fin}{rng or 'not NaN'}, got {value!r}")
    return v


def check_choice(value: str, name: str, choices) -> str:
    """Raise if ``value`` is not one of ``choices``, listing them."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {sorted(choices)}")
    return value


def check_generator(value: Any, name: str = "generator") -> torch.Generator | None:
    """Return ``value`` if it is None or a ``torch.Generator``; else raise naming the argument.

    A seed passed where a generator is due (``generator=3``) reached torch's raw
    "invalid combination of arguments"; the message says how to make one.
    """
    if value is None or isinstance(value, torch.Generator):
        return value
    raise ValueError(f"{name} must be a torch.Generator or None, got {value!r} ({type(value).__name__}); for a "
                     f"seed s pass torch.Generator().manual_seed(s)")


def check_float_dtype(dtype: Any, name: str = "dtype") -> torch.dtype:
    """Raise unless ``dtype`` is a floating torch dtype (an integer one would truncate samples in [0, 1])."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"{name} must be a floating torch dtype (torch.float32 or torch.float64), got {dtype!r}; "
                         f"an integer dtype would truncate the samples")
    return dtype
