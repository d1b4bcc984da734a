r"""Gaussian RBF features on anchor points (the Dualing GANs toy-data features).

.. math::

    \phi_j(x) = \exp\!\Big(-\frac{\|x - c_j\|^2}{2\sigma^2}\Big), \qquad j = 1..k,

with anchors :math:`c_j` (the paper uses 100 training points and
:math:`\sigma = 0.2` on the 5-mode ring). A linear discriminator
:math:`w^\top\phi(x)` on these features is a kernel machine restricted to the
span of the anchors.
"""
from __future__ import annotations

import math

import torch

from .._checks import check_matrix, check_positive, detached
from ..kernels.base import _power_of_two_scale
from ._rows import RowFeatures

__all__ = ["RBF"]


class RBF(RowFeatures):
    """Gaussian RBF features, eq. (6.2) of the theory page; ``forward`` maps (B, D) to (B, k), differentiably.

    Parameters
    ----------
    anchors : array_like or torch.Tensor
        Anchor points :math:`c_j`, shape ``(k, D)`` (numpy or torch); stored as a
        buffer, so ``.to(device)`` moves them and they are never trained.
    sigma : float, default 0.2
        Bandwidth :math:`\\sigma` > 0, the kernel's standard deviation, in
        data units (other conventions: :func:`~dualgan.features.rbf_sigma`).

    Raises
    ------
    ValueError
        If ``anchors`` is not a finite non-empty ``(k, D)`` matrix or
        ``sigma`` is not a finite positive number.

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. *Dualing
    GANs.* NeurIPS 2017 (RBF features on 100 anchors for the toy data).
    """

    rows_buffer = "anchors"

    def __init__(self, anchors, sigma: float = 0.2):
        super().__init__()
        anchors = check_matrix(detached(anchors), "anchors")
        self.sigma = check_positive(sigma, "sigma")
        self.register_buffer("anchors", anchors.clone())

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        c = self.anchors.to(dtype=x.dtype)
        # explicit difference, not the expanded form: exact at x = c_j and smooth in x; taken at unit scale (a
        # power of two, exact) and divided by sigma as the ratio scale / sigma: sigma ** 2 raised OverflowError
        # at sigma = 1e200 and was 0 at 1e-200 (NaN at x = c_j), squares of differences of 1e-200 underflowed
        scale = _power_of_two_scale(x, c)
        sq = ((x[:, None, :] / scale - c[None, :, :] / scale) ** 2).sum(-1)
        s_unit = self.sigma / scale
        den = 2.0 * s_unit * s_unit
        if 2.3e-308 < den < math.inf:  # the formula as written, at unit scale (the same float as unscaled)
            return torch.exp(-sq / den)
        ratio = scale / self.sigma
        if math.isfinite(ratio):
            return torch.exp(-0.5 * ((sq * ratio) * ratio))
        return (sq == 0).to(sq.dtype)  # sigma far below the distances: the limit 1[x = c_j]

    def extra_repr(self) -> str:
        """The anchors' shape and the bandwidth, for ``repr``.

        Returns
        -------
        str
            The summary.
        """
        return f"anchors={self.out_features}x{self.anchors.shape[1]}, sigma={self.sigma:g}"
