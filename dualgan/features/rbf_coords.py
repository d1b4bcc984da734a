r"""RBF bandwidth conventions, the escape test, and RBF features whose gradient never vanishes.

A Gaussian RBF feature :math:`\phi_j(x) = \exp(-\|x - c_j\|^2 / (2\sigma^2))`
is zero to machine precision a few bandwidths away from its anchor
:math:`c_j`. The score :math:`w^\top\phi(x)` of a linear discriminator on RBF
features alone has no bias, so a generated sample far from every anchor has
score 0 and, worse, *zero gradient*: once a generator step throws a sample
there ("escape"), no later step brings it back. On the 5-mode ring of the
Dualing GANs paper this is the failure behind nearly every failed run of both
the dual GAN and the standard GAN (see the dual-GAN tutorial and the
reproduction report).

:class:`RBFWithCoordinates` appends the scaled raw coordinates and their
squared norm to the RBF features,

.. math::

    \phi(x) = \Big(\phi^{\rm RBF}_1(x), \ldots, \phi^{\rm RBF}_k(x),\;
              \frac{x - m}{s},\; \frac{\|x - m\|^2}{s^2}\Big),

with centre :math:`m` and scale :math:`s`. The last :math:`D + 1` features
are the first and second moments: the discriminator sees a mismatch of the
generated samples' mean or spread however far they are, and the score's
gradient :math:`w_{\rm lin}/s + 2 w_{\rm sq}(x - m)/s^2` does not vanish
anywhere except where the moments already match.

:func:`rbf_sigma` converts a bandwidth written in another convention (the
paper gives "sigma = 0.2" without its formula) into the standard deviation
that :class:`~dualgan.features.RBF` takes.

The features are eq. (6.8) of the theory page, the escape test and the
bandwidth conventions eq. (6.9).

References: Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel.
*Dualing GANs.* NeurIPS 2017 (RBF features on 100 anchors, sigma = 0.2, for
the 5-Gaussian ring).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .._checks import as_tensor, check_choice, check_finite_tensor, check_matrix, check_positive, detached
from ..kernels.base import _power_of_two_scale
from ._rows import check_float_input
from .rbf import RBF

__all__ = ["RBF_CONVENTIONS", "rbf_sigma", "escaped_fraction", "RBFWithCoordinates", "ESCAPE_LOG_THRESHOLD"]

RBF_CONVENTIONS = ("std", "variance", "coefficient")
#: a sample has escaped when every RBF feature is below exp(-12) (about 6e-6), eq. (6.9) of the theory page
ESCAPE_LOG_THRESHOLD = 12.0


def rbf_sigma(value: float, convention: str = "std") -> float:
    r"""The standard deviation :math:`\sigma` of an RBF bandwidth given in ``convention``, eq. (6.9) of the theory page.

    Parameters
    ----------
    value : float
        The bandwidth as written, > 0 (the paper: 0.2).
    convention : str, default ``"std"``
        How ``value`` enters the kernel:

        * ``"std"``: :math:`\exp(-d^2 / (2 v^2))`, so :math:`\sigma = v`;
        * ``"variance"``: :math:`\exp(-d^2 / (2 v))`, so :math:`\sigma = \sqrt v`;
        * ``"coefficient"``: :math:`\exp(-v d^2)`, so :math:`\sigma = 1/\sqrt{2v}`.

    Returns
    -------
    float
        :math:`\sigma` such that :math:`\exp(-d^2/(2\sigma^2))` is the kernel
        meant (same units as the data). For 0.2: 0.2, 0.447, 1.581.

    Raises
    ------
    ValueError
        If ``value`` is not a finite positive number or ``convention`` is not
        one of :data:`RBF_CONVENTIONS`.

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. *Dualing
    GANs.* NeurIPS 2017 (gives sigma = 0.2 without the kernel's formula).
    """
    value = check_positive(value, "value")
    convention = check_choice(convention, "convention", RBF_CONVENTIONS)
    if convention == "std":
        return value
    if convention == "variance":
        return math.sqrt(value)
    return 1.0 / math.sqrt(2.0 * value)


def escaped_fraction(samples, anchors, sigma: float, log_threshold: float = ESCAPE_LOG_THRESHOLD) -> float:
    r"""Fraction of ``samples`` whose every RBF feature is below :math:`e^{-\text{log\_threshold}}`, eq. (6.9).

    A sample escapes when :math:`\min_j \|x - c_j\|^2 / (2\sigma^2) > \text{log\_threshold}`,
    i.e. it lies farther than :math:`\sigma\sqrt{2\,\text{log\_threshold}}` from
    every anchor (0.98 for :math:`\sigma = 0.2`, 7.75 for :math:`\sigma = 1.58`).
    Computed from distances, not from the features, so it does not underflow.

    Parameters
    ----------
    samples : array or tensor, shape (n, D)
        Generated samples; finite (non-finite input raises).
    anchors : array or tensor, shape (k, D)
        The RBF anchors :math:`c_j`.
    sigma : float
        The RBF standard deviation (:func:`rbf_sigma`), > 0.
    log_threshold : float, default 12
        The threshold on :math:`-\log\phi_j`, > 0.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    ValueError
        On non-finite or mis-shaped input, or a non-positive ``sigma`` / ``log_threshold``.
    """
    x = check_matrix(detached(samples), "samples", dtype=torch.float64, device="cpu")
    c = check_matrix(detached(anchors), "anchors", dtype=torch.float64, device="cpu")
    if x.shape[1] != c.shape[1]:
        raise ValueError(f"samples have {x.shape[1]} dimensions but anchors have {c.shape[1]}")
    sigma = check_positive(sigma, "sigma")
    log_threshold = check_positive(log_threshold, "log_threshold")
    # d^2 / (2 sigma^2) > t written as d > sqrt(2 t) sigma, at unit scale: sigma ** 2 raised OverflowError at
    # sigma = 1e200, and squares of distances of 1e-200 underflowed (no sample escaped)
    scale = _power_of_two_scale(x, c)
    d = ((x[:, None, :] / scale - c[None, :, :] / scale) ** 2).sum(-1).min(dim=1).values.sqrt()
    return float((d > math.sqrt(2.0 * log_threshold) * (sigma / scale)).double().mean())


class RBFWithCoordinates(nn.Module):
    r"""Gaussian RBF features with the scaled coordinates and squared norm appended, eq. (6.8) of the theory page.

    ``forward`` maps (B, D) to (B, k + D + 1):
    :math:`[\exp(-\|x-c_j\|^2/(2\sigma^2))]_{j\le k},\ (x-m)/s,\ \|x-m\|^2/s^2`.
    Differentiable in its input; the score gradient of a linear discriminator
    does not vanish far from the anchors (module docstring).

    Parameters
    ----------
    anchors : array or tensor, shape (k, D)
        Anchor points (e.g. 100 data samples); stored as a buffer, never trained.
    sigma : float, default 0.2
        RBF standard deviation, > 0, same units as the data (convert other
        conventions with :func:`rbf_sigma`).
    center : array or tensor of shape (D,), optional
        :math:`m`; default the anchors' mean.
    scale : float, optional
        :math:`s` > 0; default the anchors' root-mean-square distance from
        ``center`` (about 2 on the ring of radius 2), so the appended features
        are of order 1 on the data, like the RBF features.

    Raises
    ------
    ValueError
        On non-finite or empty anchors, a non-positive ``sigma`` or ``scale``,
        a ``center`` of the wrong length, or anchors that all coincide (default
        scale 0).

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. *Dualing
    GANs.* NeurIPS 2017 (the RBF part; the appended moments are this library's
    addition).
    """

    def __init__(self, anchors, sigma: float = 0.2, center=None, scale: float | None = None):
        super().__init__()
        self.rbf = RBF(anchors, sigma=sigma)
        a = self.rbf.anchors.to(torch.float64)
        if center is None:
            m = a.mean(dim=0)
        else:
            m = as_tensor(detached(center), "center", dtype=torch.float64, device=a.device)
            if m.ndim != 1 or m.shape[0] != a.shape[1]:
                raise ValueError(f"center must be a vector of length {a.shape[1]} (the anchors' dimension), "
                                 f"got shape {tuple(m.shape)}")
            check_finite_tensor(m, "center")
        if scale is None:
            scale = float(((a - m) ** 2).sum(-1).mean().sqrt())
            if not scale > 0:
                raise ValueError("the anchors all coincide with the center, so the default scale is 0; pass scale=")
        self.scale = check_positive(scale, "scale")
        self.register_buffer("center", m.to(self.rbf.anchors.dtype))

    @property
    def sigma(self) -> float:
        """The RBF standard deviation."""
        return self.rbf.sigma

    @property
    def anchors(self) -> torch.Tensor:
        """The (k, D) anchors."""
        return self.rbf.anchors

    @property
    def out_features(self) -> int:
        """k + D + 1."""
        return self.rbf.out_features + int(self.rbf.anchors.shape[1]) + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The features of a batch, eq. (6.8) of the theory page.

        Parameters
        ----------
        x : torch.Tensor
            Batch, shape ``(B, D)``, float, same units as the anchors.

        Returns
        -------
        torch.Tensor
            Shape ``(B, k + D + 1)``: the RBF features, :math:`(x - m)/s` and
            :math:`\\|x - m\\|^2/s^2`; differentiable in ``x``.

        Raises
        ------
        ValueError
            If ``x`` does not have shape ``(B, D)``.
        """
        check_float_input(self, x, f"(batch, {self.anchors.shape[1]})")
        r = self.rbf(x)  # validates the shape
        u = (x - self.center.to(dtype=x.dtype)) / self.scale
        return torch.cat([r, u, (u ** 2).sum(-1, keepdim=True)], dim=1)

    def extra_repr(self) -> str:
        """The bandwidth and the scale, for ``repr``.

        Returns
        -------
        str
            ``"sigma=..., scale=..."``.
        """
        return f"sigma={self.sigma:g}, scale={self.scale:g}"
