r"""Gaussian mixtures used across the GAN literature (eq. (6.1) of the theory page, docs/theory.md).

* :func:`ring`: k Gaussians with means on a circle of radius 2 (the 5- and
  8-mode rings of the Dualing GANs and consensus-optimisation papers);
* :func:`grid`: a k x k grid of Gaussians;
* :func:`ring_on_plane`: Roth et al.'s 7-mode ring of radius 1, std 0.01,
  on a 2-D plane embedded in 3-D (rotated and shifted).

Each returns a :class:`GaussianMixture` whose ``sample(n, generator=...)``
draws reproducible torch samples and whose ``centers`` / ``std`` feed
:func:`dualgan.metrics.mode_coverage`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .._checks import check_finite_tensor, check_float_dtype, check_generator, check_int, check_number

__all__ = ["GaussianMixture", "ring", "grid", "ring_on_plane"]


class ModeCenters:
    """Mixin of the mixtures of modes with means ``centers`` (k, D): their dimension and number of modes.

    Shared by :class:`GaussianMixture` and the constrained mixtures of
    :mod:`dualgan.constraints.examples`, so that the two read their shape in one way.
    """

    @property
    def dim(self) -> int:
        """Dimension ``D`` of the samples (columns of ``centers``)."""
        return int(self.centers.shape[1])

    @property
    def n_modes(self) -> int:
        """Number ``k`` of modes (rows of ``centers``)."""
        return int(self.centers.shape[0])


@dataclass(frozen=True)
class GaussianMixture(ModeCenters):
    """Equal-weight isotropic Gaussian mixture with means ``centers`` (k, D) and std ``std``.

    Parameters
    ----------
    centers : torch.Tensor
        Means :math:`c_j` of the ``k`` modes, shape ``(k, D)``.
    std : float
        Standard deviation of every component (the same in every direction), in data units.
    name : str, default "mixture"
        Label used in reports and file names.

    References
    ----------
    Eq. (6.1) of the theory page.

    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. *Dualing
    GANs.* NeurIPS 2017 (the 5-mode ring).

    Luke Metz, Ben Poole, David Pfau, Jascha Sohl-Dickstein. *Unrolled
    Generative Adversarial Networks.* ICLR 2017 (the ring of Gaussians).
    """

    centers: torch.Tensor
    std: float
    name: str = "mixture"

    def __post_init__(self):
        if not isinstance(self.centers, torch.Tensor) or self.centers.ndim != 2 or 0 in self.centers.shape:
            raise ValueError(f"centers must be a (k, D) tensor with k, D >= 1, got "
                             f"{getattr(self.centers, 'shape', type(self.centers).__name__)}")
        check_finite_tensor(self.centers, "centers")
        object.__setattr__(self, "std", check_number(self.std, "std (standard deviation of each mode)", low=0.0))

    def sample(self, n: int, generator: torch.Generator | None = None, dtype=torch.float32,
               device=None, return_labels: bool = False):
        """Draw ``n`` samples (and their mode labels with ``return_labels``).

        Parameters
        ----------
        n : int
            Number of samples, >= 1.
        generator : torch.Generator or None, default None
            Random generator for reproducible draws (``None``: torch's global one).
        dtype : torch.dtype, default torch.float32
            dtype of the samples (they are drawn in float64, then converted).
        device : torch.device or str or None, default None
            Device of the result (``None``: the CPU).
        return_labels : bool, default False
            Also return the mode index of each sample.

        Returns
        -------
        torch.Tensor or tuple of torch.Tensor
            Samples of shape ``(n, D)``; with ``return_labels``, also the int64 labels ``(n,)``.

        Raises
        ------
        ValueError
            If ``n`` is not a positive integer, ``dtype`` is not a floating dtype or ``generator``
            is not a ``torch.Generator``.
        """
        n = check_int(n, "n", low=1)
        dtype = check_float_dtype(dtype)
        generator = check_generator(generator)
        labels = torch.randint(self.n_modes, (n,), generator=generator)
        noise = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        x = self.centers.to(torch.float64)[labels] + self.std * noise
        x = x.to(dtype=dtype, device=device)
        return (x, labels.to(device)) if return_labels else x


def ring(k: int = 8, radius: float = 2.0, std: float = 0.02) -> GaussianMixture:
    """k Gaussians on a circle of ``radius`` (first mode on the positive x axis).

    Parameters
    ----------
    k : int, default 8
        Number of modes, >= 1.
    radius : float, default 2.0
        Radius of the circle of means.
    std : float, default 0.02
        Standard deviation of each mode.

    Returns
    -------
    GaussianMixture
        Means :math:`r(\\cos(2\\pi j/k), \\sin(2\\pi j/k))`, eq. (6.1) of the theory page.
    """
    _check_k(k)
    radius = check_number(radius, "radius", low=0.0, low_open=True)
    angles = torch.arange(k, dtype=torch.float64) * (2 * math.pi / k)
    centers = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return GaussianMixture(centers, float(std), f"ring{k}")


def grid(k: int = 4, spacing: float = 2.0, std: float = 0.02) -> GaussianMixture:
    """A k x k grid of Gaussians centred on the origin, ``spacing`` apart.

    Parameters
    ----------
    k : int, default 4
        Modes per side (``k * k`` in all), >= 1.
    spacing : float, default 2.0
        Distance between neighbouring means.
    std : float, default 0.02
        Standard deviation of each mode.

    Returns
    -------
    GaussianMixture
        The grid, eq. (6.1) of the theory page.
    """
    _check_k(k)
    spacing = check_number(spacing, "spacing", low=0.0, low_open=True)
    ticks = (torch.arange(k, dtype=torch.float64) - (k - 1) / 2) * spacing
    xx, yy = torch.meshgrid(ticks, ticks, indexing="ij")
    return GaussianMixture(torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1), float(std), f"grid{k}x{k}")


def ring_on_plane(k: int = 7, radius: float = 1.0, std: float = 0.01, seed: int = 0) -> GaussianMixture:
    """Roth et al.'s ring of k Gaussians on a 2-D plane in 3-D.

    The ring is drawn in the x-y plane, rotated by a random orthogonal matrix
    and shifted by a random offset (both fixed by ``seed``). The noise is
    isotropic in 3-D, so samples sit within ``std`` of the plane.

    Parameters
    ----------
    k : int, default 7
        Number of modes, >= 1.
    radius : float, default 1.0
        Radius of the ring.
    std : float, default 0.01
        Standard deviation of each mode (isotropic in 3-D).
    seed : int, default 0
        Seed of the random rotation and offset of the plane.

    Returns
    -------
    GaussianMixture
        Means of shape ``(k, 3)``, eq. (6.1) of the theory page.

    References
    ----------
    Kevin Roth, Aurelien Lucchi, Sebastian Nowozin, Thomas Hofmann.
    *Stabilizing Training of Generative Adversarial Networks through
    Regularization.* NeurIPS 2017, section 5.1.
    """
    base = ring(k, radius, std).centers
    gen = torch.Generator().manual_seed(check_int(seed, "seed", low=0))
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))[None, :]
    shift = torch.randn(3, generator=gen, dtype=torch.float64)
    centers3 = torch.cat([base, torch.zeros(k, 1, dtype=torch.float64)], dim=1) @ q.T + shift
    return GaussianMixture(centers3, float(std), f"ring{k}-plane3d")


def _check_k(k):
    check_int(k, "k (number of modes per side/ring)", low=1)
