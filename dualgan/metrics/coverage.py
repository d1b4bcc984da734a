r"""Mode coverage of samples from a Gaussian mixture.

A sample is *high quality* when it lies within ``n_std`` standard deviations
of its nearest centre (default 3, as in the Dualing GANs and VEEGAN papers).
A mode is *covered* when at least ``min_count`` high-quality samples are
assigned to it (default: ``max(1, round(min_fraction * n / k))`` with
``min_fraction = 0.2``, i.e. a fifth of the mode's fair share; the absolute
``min_count`` overrides it).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .._checks import check_int, check_matrix, check_number, check_positive, detached
from ..kernels.base import _power_of_two_scale

__all__ = ["CoverageReport", "mode_coverage"]


@dataclass(frozen=True)
class CoverageReport:
    """Modes covered, the high-quality fraction and per-mode counts.

    Attributes
    ----------
    modes_covered : int
        Number of modes holding at least ``threshold`` high-quality samples.
    n_modes : int
        Number of modes ``k``.
    high_quality_fraction : float
        Share of samples within ``n_std`` standard deviations of their nearest centre, in [0, 1].
    counts : tuple of int
        High-quality samples assigned to each mode (length ``k``).
    threshold : int
        Samples a mode needs to count as covered.
    n_std : float
        Radius of the high-quality ball, in standard deviations.
    """

    modes_covered: int
    n_modes: int
    high_quality_fraction: float
    counts: tuple[int, ...]
    threshold: int
    n_std: float

    @property
    def all_covered(self) -> bool:
        return self.modes_covered == self.n_modes


def mode_coverage(samples, centers, std: float, n_std: float = 3.0, min_fraction: float = 0.2,
                  min_count: int | None = None) -> CoverageReport:
    """Count the modes of ``centers`` (k, D) covered by ``samples`` (n, D).

    Parameters
    ----------
    samples : array_like
        Samples, shape ``(n, D)`` (numpy array or torch tensor, any device).
    centers : array_like
        Mode centres, shape ``(k, D)``.
    std : float
        Standard deviation of the modes, > 0, in data units.
    n_std : float, default 3.0
        A sample is of high quality within ``n_std * std`` of its nearest centre.
    min_fraction : float, default 0.2
        Covered means at least ``max(1, round(min_fraction * n / k))`` high-quality samples.
    min_count : int or None, default None
        Absolute threshold; overrides ``min_fraction`` when given.

    Returns
    -------
    CoverageReport
        Modes covered, high-quality fraction, per-mode counts.

    References
    ----------
    Eq. (6.3) of the theory page.

    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. *Dualing
    GANs.* NeurIPS 2017.

    Akash Srivastava, Lazar Valkov, Chris Russell, Michael U. Gutmann, Charles
    Sutton. *VEEGAN: Reducing Mode Collapse in GANs using Implicit Variational
    Learning.* NeurIPS 2017 (high-quality samples within 3 standard deviations).
    """
    x = check_matrix(detached(samples), "samples", dtype=torch.float64, device="cpu")
    c = check_matrix(centers, "centers", dtype=torch.float64, device="cpu")
    if x.shape[1] != c.shape[1]:
        raise ValueError(f"samples have {x.shape[1]} dimensions but centers have {c.shape[1]}")
    std = check_positive(std, "std")
    n_std = check_positive(n_std, "n_std")
    min_fraction = check_number(min_fraction, "min_fraction", low=0.0, high=1.0)
    min_count = check_int(min_count, "min_count", low=1, allow_none=True)
    # distances at unit scale (divided by a power of two, exactly) and from the differences, not the expansion
    # |x|^2 + |c|^2 - 2 x.c: squares at 1e-200 underflowed (every sample nearest the first centre) and at
    # 1e200 overflowed, and the expansion's rounding (1 at centres of 1e8) outweighed std = 1e-3
    scale = _power_of_two_scale(x, c)
    dist = torch.cdist(x / scale, c / scale, compute_mode="donot_use_mm_for_euclid_dist")
    nearest = dist.argmin(dim=1)
    good = dist.gather(1, nearest[:, None])[:, 0] <= n_std * (std / scale)
    k = c.shape[0]
    counts = torch.bincount(nearest[good], minlength=k)
    if min_count is None:
        min_count = max(1, int(round(min_fraction * x.shape[0] / k)))
    covered = int((counts >= min_count).sum())
    return CoverageReport(covered, k, float(good.double().mean()), tuple(int(v) for v in counts),
                          int(min_count), float(n_std))
