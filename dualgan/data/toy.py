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

__all__ = ["GaussianMixture", "ring", "grid", "ring_on_plane"]


@dataclass(frozen=True)
class GaussianMixture:
    """Equal-weight isotropic Gaussian mixture with means ``centers`` (k, D) and std ``std``."""

    centers: torch.Tensor
    std: float
    name: str = "mixture"

    @property
    def dim(self) -> int:
        return int(self.centers.shape[1])

    @property
    def n_modes(self) -> int:
        return int(self.centers.shape[0])

    def sample(self, n: int, generator: torch.Generator | None = None, dtype=torch.float32,
               device=None, return_labels: bool = False):
        """Draw ``n`` samples (and their mode labels with ``return_labels``)."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        labels = torch.randint(self.n_modes, (n,), generator=generator)
        noise = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        x = self.centers.to(torch.float64)[labels] + self.std * noise
        x = x.to(dtype=dtype, device=device)
        return (x, labels.to(device)) if return_labels else x


def ring(k: int = 8, radius: float = 2.0, std: float = 0.02) -> GaussianMixture:
    """k Gaussians on a circle of ``radius`` (first mode on the positive x axis)."""
    _check_k(k)
    angles = torch.arange(k, dtype=torch.float64) * (2 * math.pi / k)
    centers = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return GaussianMixture(centers, float(std), f"ring{k}")


def grid(k: int = 4, spacing: float = 2.0, std: float = 0.02) -> GaussianMixture:
    """A k x k grid of Gaussians centred on the origin, ``spacing`` apart."""
    _check_k(k)
    ticks = (torch.arange(k, dtype=torch.float64) - (k - 1) / 2) * spacing
    xx, yy = torch.meshgrid(ticks, ticks, indexing="ij")
    return GaussianMixture(torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1), float(std), f"grid{k}x{k}")


def ring_on_plane(k: int = 7, radius: float = 1.0, std: float = 0.01, seed: int = 0) -> GaussianMixture:
    """Roth et al.'s ring of k Gaussians on a 2-D plane in 3-D.

    The ring is drawn in the x-y plane, rotated by a random orthogonal matrix
    and shifted by a random offset (both fixed by ``seed``). The noise is
    isotropic in 3-D, so samples sit within ``std`` of the plane.
    """
    base = ring(k, radius, std).centers
    gen = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(3, 3, generator=gen, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))[None, :]
    shift = torch.randn(3, generator=gen, dtype=torch.float64)
    centers3 = torch.cat([base, torch.zeros(k, 1, dtype=torch.float64)], dim=1) @ q.T + shift
    return GaussianMixture(centers3, float(std), f"ring{k}-plane3d")


def _check_k(k):
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k (number of modes per side/ring) must be a positive integer, got {k!r}")
