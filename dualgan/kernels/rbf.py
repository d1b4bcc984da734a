r"""The Gaussian (RBF) kernel and its mixtures of bandwidths (eq. (1.20) of the theory page, docs/theory.md)."""
from __future__ import annotations

import torch

from .base import KERNELS, Kernel, _distance_mixture, check_bandwidths, check_scales

__all__ = ["RBFKernel"]


@KERNELS.register("rbf")
class RBFKernel(Kernel):
    r"""Gaussian kernel, or the mean of several: :math:`k(x, y) = \frac1S\sum_s \exp(-\|x-y\|^2/(2\sigma_s^2))`.

    Eq. (1.20) of the theory page; :math:`k(x, x) = 1`. A mixture of
    bandwidths is the MMD GAN's choice (Li et al. 2015, Bińkowski et al. 2018).

    Parameters
    ----------
    sigma : float or sequence of float or str, default "median"
        The bandwidth(s) :math:`\sigma_s` > 0 in data units (a sequence is a
        mixture), or ``"median"``: the median pairwise distance of the samples
        times each of ``median_scales`` (:meth:`~dualgan.kernels.Kernel.resolve`).
    median_scales : sequence of float, default (1.0,)
        With ``sigma="median"``: the multipliers of the median, one mixture component each; > 0.

    Raises
    ------
    ValueError
        If a bandwidth or scale is not a finite positive number.

    References
    ----------
    Yujia Li, Kevin Swersky, Richard Zemel. *Generative Moment Matching Networks.* ICML 2015.
    Mikołaj Bińkowski, Dougal J. Sutherland, Michael Arbel, Arthur Gretton. *Demystifying MMD GANs.* ICLR 2018.

    Examples
    --------
    >>> import torch
    >>> from dualgan.kernels import RBFKernel
    >>> float(RBFKernel(sigma=1.0)(torch.zeros(1, 2), torch.ones(1, 2)))  # exp(-1)
    0.36787944117144233
    """

    _bandwidths = ("sigma",)

    def __init__(self, sigma="median", median_scales=(1.0,)):
        super().__init__()
        self.sigma = check_bandwidths(sigma, "sigma")
        self.median_scales = check_scales(median_scales)

    def _settings(self) -> tuple[str, ...]:
        return ("sigma", "median_scales")

    def _pairwise(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return _distance_mixture(x, y, self.sigma, lambda d2: torch.exp(-0.5 * d2))
