r"""The inverse multiquadric kernel and its mixtures (eq. (1.20) of the theory page, docs/theory.md)."""
from __future__ import annotations

import torch

from .base import KERNELS, Kernel, _distance_mixture, check_bandwidths, check_scales

__all__ = ["InverseMultiquadricKernel"]


@KERNELS.register("inverse_multiquadric")
class InverseMultiquadricKernel(Kernel):
    r"""Inverse multiquadric kernel :math:`k(x, y) = \frac1S\sum_s (1 + \|x-y\|^2/c_s^2)^{-1/2}`.

    Eq. (1.20) of the theory page; :math:`k(x, x) = 1`. Its tail decays like
    :math:`c/\|x-y\|`, and its gradient in ``x`` like :math:`1/\|x-y\|^2`: a sample
    far from every other still feels them (no sample can escape the kernel's reach,
    as samples escape the anchors of RBF features).

    Parameters
    ----------
    c : float or sequence of float or str, default "median"
        The scale(s) :math:`c_s` > 0 in data units (a sequence is a mixture), or
        ``"median"`` (the median pairwise distance times each of ``median_scales``).
    median_scales : sequence of float, default (1.0,)
        With ``c="median"``: the multipliers of the median, one mixture component each; > 0.

    Raises
    ------
    ValueError
        If a scale is not a finite positive number.

    References
    ----------
    Charles A. Micchelli. *Interpolation of Scattered Data: Distance Matrices and Conditionally
    Positive Definite Functions.* Constructive Approximation 2, 1986.
    Jackson Gorham, Lester Mackey. *Measuring Sample Quality with Kernels.* ICML 2017.

    Examples
    --------
    >>> import torch
    >>> from dualgan.kernels import InverseMultiquadricKernel
    >>> float(InverseMultiquadricKernel(c=1.0)(torch.zeros(1, 1), torch.full((1, 1), 3.0 ** 0.5)))  # 1/2
    0.5
    """

    _bandwidths = ("c",)

    def __init__(self, c="median", median_scales=(1.0,)):
        super().__init__()
        self.c = check_bandwidths(c, "c")
        self.median_scales = check_scales(median_scales)

    def _settings(self) -> tuple[str, ...]:
        return ("c", "median_scales")

    def _pairwise(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return _distance_mixture(x, y, self.c, lambda d2: torch.rsqrt(1.0 + d2))
