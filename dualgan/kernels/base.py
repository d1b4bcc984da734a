r"""The kernel protocol, the :data:`KERNELS` registry and the shared distance and bandwidth helpers.

A kernel is a ``torch.nn.Module`` whose ``forward(x, y)`` returns the cross
Gram matrix :math:`[k(x_i, y_j)]` of two batches, differentiably in both
arguments, on their device and in their dtype (eq. (1.19) of the theory page,
docs/theory.md). :meth:`Kernel.gram` forms it in row chunks where memory asks.
Bandwidths are fixed numbers or ``"median"``: the median heuristic, resolved on a
batch by :meth:`Kernel.resolve` into a kernel with fixed bandwidths (a kernel
with an unresolved median resolves it on each call, from the detached inputs).

Adding a kernel is adding one file to this package that registers its class::

    @KERNELS.register("mine")
    class Mine(Kernel): ...
"""
from __future__ import annotations

import copy
import math
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .._checks import check_int, check_matrix, check_positive
from ..registry import Registry

__all__ = ["Kernel", "KERNELS", "squared_distances", "median_distance", "check_bandwidths"]

#: every kernel, by name (one module of :mod:`dualgan.kernels` each, found by discovery)
KERNELS = Registry("kernel", package="dualgan.kernels")

#: bytes of one chunk of a Gram matrix formed by :meth:`Kernel.gram` with ``chunk_size=None``
_CHUNK_BYTES = 64 * 2 ** 20


class Kernel(nn.Module):
    r"""Base class of the kernels: ``forward(x, y)`` is the cross Gram matrix, eq. (1.19) of the theory page.

    Subclasses implement :meth:`_pairwise` (the Gram of two 2-D batches, bandwidths
    resolved) and list their median-resolvable bandwidth attributes in ``_bandwidths``.

    References
    ----------
    Bernhard Schölkopf, Alexander J. Smola. *Learning with Kernels.* MIT Press, 2002.
    """

    #: names of the attributes that may hold ``"median"`` (resolved by :meth:`resolve`)
    _bandwidths: tuple[str, ...] = ()
    #: names of the attributes that scale the median (one factor per mixture component)
    _median_scales: str = "median_scales"

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The cross Gram matrix :math:`[k(x_i, y_j)]`, differentiable in ``x`` and ``y``.

        Parameters
        ----------
        x : torch.Tensor
            Shape ``(B1, D)`` (a 1-d tensor is one sample per entry, ``D = 1``).
        y : torch.Tensor, optional
            Shape ``(B2, D)``. Default None: ``x`` itself.

        Returns
        -------
        torch.Tensor
            Shape ``(B1, B2)``, in the promoted dtype of ``x`` and ``y``, on their device.

        Raises
        ------
        ValueError
            If the inputs are not 2-D with the same number of columns, or not finite.
        """
        x, y = _pair(x, y)
        kernel = self.resolve(_batch_of(x, y)) if self.needs_resolve else self
        return kernel._pairwise(x, y)

    def gram(self, x: torch.Tensor, y: torch.Tensor | None = None, chunk_size: int | None = None) -> torch.Tensor:
        """:meth:`forward` formed in row chunks of ``x`` (the memory of one chunk, not of every temporary).

        Parameters
        ----------
        x : torch.Tensor
            Shape ``(B1, D)``.
        y : torch.Tensor, optional
            Shape ``(B2, D)``. Default None: ``x``.
        chunk_size : int, optional
            Rows per chunk, >= 1. Default None: as many rows as fit in 64 MiB of temporaries.

        Returns
        -------
        torch.Tensor
            Shape ``(B1, B2)``; differentiable as :meth:`forward`.

        Raises
        ------
        ValueError
            As :meth:`forward`, or for a ``chunk_size`` that is not a positive integer.
        """
        x, y = _pair(x, y)
        kernel = self.resolve(_batch_of(x, y)) if self.needs_resolve else self
        if chunk_size is None:
            per_row = max(1, y.shape[0] * (x.shape[1] + 4) * x.element_size())
            chunk_size = max(1, _CHUNK_BYTES // per_row)
        chunk_size = check_int(chunk_size, "chunk_size", low=1)
        if chunk_size >= x.shape[0]:
            return kernel._pairwise(x, y)
        return torch.cat([kernel._pairwise(x[i:i + chunk_size], y) for i in range(0, x.shape[0], chunk_size)])

    @property
    def needs_resolve(self) -> bool:
        """True when a bandwidth is ``"median"`` (resolved on every call until :meth:`resolve` fixes it)."""
        return any(isinstance(getattr(self, name), str) for name in self._bandwidths)

    def resolve(self, x: torch.Tensor) -> "Kernel":
        """A copy with every ``"median"`` bandwidth replaced by the median heuristic on ``x``.

        The median heuristic: the median pairwise Euclidean distance of the rows of
        ``x`` (detached), times each of ``median_scales`` (one mixture component per
        scale). A kernel without a ``"median"`` bandwidth is returned as it is.

        Parameters
        ----------
        x : torch.Tensor
            Shape ``(B, D)``: the samples the heuristic is taken on (at least 2 distinct rows).

        Returns
        -------
        Kernel
            A kernel whose bandwidths are numbers.

        Raises
        ------
        ValueError
            If every pairwise distance of ``x`` is 0 (the median is 0): give the bandwidth as a number.
        """
        if not self.needs_resolve:
            return self
        med = median_distance(x)
        if not med > 0:
            raise ValueError(f"the median heuristic needs distinct samples: the median pairwise distance of the "
                             f"{x.shape[0]} samples given is {med!r}; pass the bandwidth as a number")
        out = copy.copy(self)
        out._modules = dict(self._modules)
        scales = getattr(self, self._median_scales)
        for name in self._bandwidths:
            if isinstance(getattr(self, name), str):
                object.__setattr__(out, name, tuple(med * s for s in scales))
        return out

    def _pairwise(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def extra_repr(self) -> str:
        """The settings shown by ``repr`` (``torch.nn.Module`` calls it).

        Returns
        -------
        str
            ``name=value`` pairs of the kernel's settings.
        """
        return ", ".join(f"{k}={getattr(self, k)!r}" for k in self._settings())

    def _settings(self) -> tuple[str, ...]:
        return tuple(self._bandwidths)


def squared_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r""":math:`\|x_i - y_j\|^2`, shape ``(B1, B2)``, differentiable, never negative.

    Written :math:`\|x_i - c\|^2 + \|y_j - c\|^2 - 2 (x_i - c)^\top (y_j - c)` with ``c`` the
    (detached) mean of ``y``: centring keeps the cancellation of the expansion at the size
    of the spread, not of the offset, of the data; rounding below 0 is clipped to 0.

    Parameters
    ----------
    x : torch.Tensor
        Shape ``(B1, D)``.
    y : torch.Tensor
        Shape ``(B2, D)``.

    Returns
    -------
    torch.Tensor
        Shape ``(B1, B2)``, >= 0.
    """
    c = y.detach().mean(0, keepdim=True)
    xc, yc = x - c, y - c
    norms = (xc * xc).sum(1, keepdim=True) + (yc * yc).sum(1)[None, :]
    d2 = norms - 2.0 * (xc @ yc.T)
    # below the expansion's rounding bound the computed value is noise: k(x, x) = 1 needs it to be 0
    # (at sigma = 1e-8 the noise alone gave k(x_i, x_i) = 2e-8)
    tol = ((x.shape[1] + 3) * torch.finfo(d2.dtype).eps) * norms.detach()
    return torch.where(d2 > tol, d2, torch.zeros((), dtype=d2.dtype, device=d2.device))


def _scaled_squared_distances(x: torch.Tensor, y: torch.Tensor, length: float) -> torch.Tensor:
    r""":math:`\|x_i - y_j\|^2 / \ell^2` at any scale of the samples and of ``length``.

    The distances are formed at unit scale (divided by a power of two near the largest entry, which is
    exact) and divided by ``length`` in the ratio ``scale / length``: neither the squares of distances
    of samples at 1e-200 underflow, nor ``length ** 2`` (0 for 1e-300, a division by zero), nor the
    squares at 1e200 overflow. ``scale / length = inf`` gives the limit: 0 for equal rows, inf otherwise.
    """
    return _divided(*_unit_squared_distances(x, y), length)


def _distance_mixture(x: torch.Tensor, y: torch.Tensor, lengths: tuple[float, ...], fn) -> torch.Tensor:
    r"""The mean over ``lengths`` of ``fn`` of :math:`\|x_i - y_j\|^2/\ell^2` (as :func:`_scaled_squared_distances`).

    The distances at unit scale are formed once for every component of the mixture (they were formed once per
    component: four times for a four-bandwidth RBF mixture, most of a kernel dual GAN's iteration).
    """
    d2, scale = _unit_squared_distances(x, y)
    return _mixture(lengths, lambda length: fn(_divided(d2, scale, length)))


def _unit_squared_distances(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, float]:
    """The squared distances of ``x / scale`` and ``y / scale`` and the power of two ``scale`` (exact division)."""
    scale = _power_of_two_scale(x, y)
    return squared_distances(x / scale, y / scale), scale


def _divided(d2: torch.Tensor, scale: float, length: float) -> torch.Tensor:
    """Unit-scale squared distances ``d2`` divided by ``(length / scale) ** 2`` without squaring either."""
    ratio = scale / length
    if math.isfinite(ratio):
        return (d2 * ratio) * ratio
    return torch.where(d2 > 0, torch.full((), math.inf, dtype=d2.dtype, device=d2.device), d2)


def median_distance(x: torch.Tensor, max_rows: int = 2048) -> float:
    """The median pairwise Euclidean distance of the rows of ``x`` (detached; pairs i < j).

    Parameters
    ----------
    x : torch.Tensor
        Shape ``(B, D)``, B >= 2.
    max_rows : int, default 2048
        Above this many rows, the median of the first ``max_rows`` rows (the heuristic's
        value moves by a few percent; its cost stays O(max_rows^2)).

    Returns
    -------
    float
        The median distance (0.0 when every row is the same).

    Raises
    ------
    ValueError
        If ``x`` has fewer than 2 rows.
    """
    x = x.detach()
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"the median heuristic needs at least 2 samples (rows), got shape {tuple(x.shape)}")
    x = x[:max_rows].to(torch.float64)
    scale = _power_of_two_scale(x, x)
    d2 = squared_distances(x / scale, x / scale)  # at unit scale: no underflow at 1e-200, no overflow at 1e200
    iu = torch.triu_indices(x.shape[0], x.shape[0], offset=1, device=x.device)
    # the midpoint of the two middle values for an even count, as numpy's median (torch's takes the lower one)
    return float(np.median(np.sqrt(d2[iu[0], iu[1]].cpu().numpy()))) * scale


def check_bandwidths(value, name: str) -> tuple[float, ...] | str:
    """A bandwidth setting: ``"median"``, a positive number or a non-empty sequence of them (a mixture).

    Parameters
    ----------
    value : str or float or sequence of float
        The setting.
    name : str
        The argument's name, for the error message.

    Returns
    -------
    tuple of float or str
        The numbers as a tuple, or ``"median"``.

    Raises
    ------
    ValueError
        For another string, an empty sequence, or a number that is not finite and > 0.
    """
    if isinstance(value, str):
        if value != "median":
            raise ValueError(f"{name} must be 'median', a positive number or a sequence of them, got {value!r}")
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value,)
    if isinstance(value, torch.Tensor):
        value = value.detach().reshape(-1).tolist()
    try:
        values = tuple(value)
    except TypeError as exc:
        raise ValueError(f"{name} must be 'median', a positive number or a sequence of them, got "
                         f"{type(value).__name__}") from exc
    if not values:
        raise ValueError(f"{name} is an empty sequence; give at least one bandwidth or 'median'")
    return tuple(check_positive(v, f"{name} entries") for v in values)


def check_scales(value: Sequence[float], name: str = "median_scales") -> tuple[float, ...]:
    """The multipliers of the median (one mixture component each), positive numbers."""
    out = check_bandwidths(value, name)
    if isinstance(out, str):
        raise ValueError(f"{name} must be positive numbers, got {value!r}")
    return out


def _power_of_two_scale(x: torch.Tensor, y: torch.Tensor) -> float:
    """A power of two near the largest absolute entry of ``x`` and ``y`` (1 when all are 0): dividing by it is exact."""
    s = max(float(x.detach().abs().max()) if x.numel() else 0.0, float(y.detach().abs().max()) if y.numel() else 0.0)
    return math.ldexp(1.0, math.frexp(s)[1] - 1) if s > 0 and math.isfinite(s) else 1.0


def _batch_of(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The batch a median bandwidth is resolved on: ``x`` and ``y`` together, or ``x`` once when ``y`` is ``x``
    (stacking ``x`` on itself added a zero distance per sample and lowered the median)."""
    return x.detach() if y is x else torch.cat([x.detach(), y.detach()])


def _pair(x, y):
    x = _as_2d(x, "x")
    y = x if y is None else _as_2d(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same number of columns, got {x.shape[1]} and {y.shape[1]}")
    if x.dtype != y.dtype:
        dtype = torch.promote_types(x.dtype, y.dtype)
        x, y = x.to(dtype), y.to(dtype)
    return x, y


def _as_2d(t, name):
    if isinstance(t, torch.Tensor) and t.ndim == 1:
        t = t.reshape(-1, 1)
    if isinstance(t, torch.Tensor) and t.requires_grad:  # check_matrix would copy; check finiteness only
        if t.ndim != 2:
            raise ValueError(f"{name} must be 2-D with shape (batch, features), got shape {tuple(t.shape)}")
        if not bool(torch.isfinite(t.detach()).all()):
            raise ValueError(f"{name} contains NaN or inf; kernels need finite samples")
        return t
    return check_matrix(t, name)


def _mixture(values: tuple[float, ...], fn) -> torch.Tensor:
    """The mean over mixture components of ``fn(value)`` (k(x, x) stays 1 for normalised components)."""
    out = fn(values[0])
    for v in values[1:]:
        out = out + fn(v)
    return out / len(values) if len(values) > 1 else out

