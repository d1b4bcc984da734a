r"""The rational quadratic kernel and its mixtures (eq. (1.20) of the theory page, docs/theory.md)."""
from __future__ import annotations

import torch

from .base import KERNELS, Kernel, _mixture, check_bandwidths, _scaled_squared_distances, check_scales

__all__ = ["RationalQuadraticKernel"]


@KERNELS.register("rational_quadratic")
class RationalQuadraticKernel(Kernel):
    r"""Rational quadratic kernel, or the mean over shapes :math:`\alpha_s`: :math:`(1 + \|x-y\|^2/(2\alpha_s\ell^2))^{-\alpha_s}`.

    Eq. (1.20) of the theory page; a scale mixture of Gaussians with heavy
    (polynomial) tails, :math:`k(x, x) = 1`. Demystifying MMD GANs uses the mixture
    over :math:`\alpha \in \{0.2, 0.5, 1, 2, 5\}` with :math:`\ell = 1`.

    Parameters
    ----------
    alpha : float or sequence of float, default (0.2, 0.5, 1.0, 2.0, 5.0)
        The shape(s) :math:`\alpha_s` > 0 (a sequence is a mixture).
    length_scale : float or str, default 1.0
        The length scale :math:`\ell` > 0 in data units, or ``"median"`` (the
        median pairwise distance times ``median_scales[0]``).
    median_scales : sequence of float, default (1.0,)
        With ``length_scale="median"``: its multiplier (the first entry); > 0.

    Raises
    ------
    ValueError
        If a shape, length scale or scale is not a finite positive number.

    References
    ----------
    Carl E. Rasmussen, Christopher K. I. Williams. *Gaussian Processes for Machine Learning.* MIT Press, 2006.
    Mikołaj Bińkowski, Dougal J. Sutherland, Michael Arbel, Arthur Gretton. *Demystifying MMD GANs.* ICLR 2018.

    Examples
    --------
    >>> import torch
    >>> from dualgan.kernels import RationalQuadraticKernel
    >>> float(RationalQuadraticKernel(alpha=1.0)(torch.zeros(1, 1), torch.full((1, 1), 2.0 ** 0.5)))  # 1/2
    0.5
    """

    _bandwidths = ("length_scale",)

    def __init__(self, alpha=(0.2, 0.5, 1.0, 2.0, 5.0), length_scale=1.0, median_scales=(1.0,)):
        super().__init__()
        self.alpha = check_bandwidths(alpha, "alpha")
        if isinstance(self.alpha, str):
            raise ValueError("alpha must be a positive number or a sequence of them, got 'median'")
        ell = check_bandwidths(length_scale, "length_scale")
        if not isinstance(ell, str) and len(ell) != 1:
            raise ValueError(f"length_scale must be one positive number or 'median', got {length_scale!r}; "
                             f"mix over alpha instead")
        self.length_scale = ell
        self.median_scales = check_scales(median_scales)[:1]

    def _settings(self) -> tuple[str, ...]:
        return ("alpha", "length_scale", "median_scales")

    def _pairwise(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ell = self.length_scale[0]
        d2 = _scaled_squared_distances(x, y, ell)
        return _mixture(self.alpha, lambda a: torch.exp(-a * torch.log1p(d2 / (2.0 * a))))
