r"""Random (untrained) feature maps: random Fourier features and a frozen random CNN.

Random Fourier features (Rahimi & Recht, 2007) approximate the Gaussian kernel:

.. math::

    \phi(x) = \sqrt{2/k}\,\cos(Wx + b),\quad W_{jl} \sim \mathcal N(0, \sigma^{-2}),\;
    b_j \sim U[0, 2\pi], \qquad
    \mathbb E[\phi(x)^\top\phi(y)] = \exp\!\Big(-\frac{\|x-y\|^2}{2\sigma^2}\Big).

The random CNN is the Dualing GANs paper's "random features" for images: a
convolutional network at its random initialisation, frozen, whose hidden
activations on all layers are flattened and concatenated.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .._checks import check_int, check_positive
from .._rng import seeded
from ._rows import RowFeatures, check_float_input

__all__ = ["RandomFourierFeatures", "RandomCNNFeatures"]


class RandomFourierFeatures(RowFeatures):
    """``k`` random Fourier features of a Gaussian kernel with bandwidth ``sigma`` on R^D, eq. (6.2) of the theory page.

    The frequencies and phases are drawn once (float64) from ``seed``.

    Parameters
    ----------
    in_features : int
        Input dimension D, >= 1.
    n_features : int, default 256
        Number of features k, >= 1.
    sigma : float, default 1.0
        Kernel bandwidth :math:`\\sigma` > 0, in input units.
    seed : int, default 0
        Seed of the random frequencies and phases.

    Raises
    ------
    ValueError
        If ``in_features`` or ``n_features`` is not a positive integer or
        ``sigma`` is not a finite positive number.

    References
    ----------
    Ali Rahimi, Benjamin Recht. *Random Features for Large-Scale Kernel
    Machines.* NeurIPS 2007.
    """

    rows_buffer = "weight"

    def __init__(self, in_features: int, n_features: int = 256, sigma: float = 1.0, seed: int = 0):
        super().__init__()
        in_features, n_features = check_int(in_features, "in_features", low=1), check_int(n_features, "n_features", low=1)
        self.sigma = check_positive(sigma, "sigma")
        gen = torch.Generator().manual_seed(check_int(seed, "seed", low=0))  # its own stream: no global state moves
        self.register_buffer("weight", torch.randn(n_features, in_features, generator=gen, dtype=torch.float64)
                             / self.sigma)
        self.register_buffer("phase", 2 * math.pi * torch.rand(n_features, generator=gen, dtype=torch.float64))

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        proj = x @ self.weight.to(x.dtype).T + self.phase.to(x.dtype)
        return math.sqrt(2.0 / self.out_features) * torch.cos(proj)


class RandomCNNFeatures(nn.Module):
    """A frozen randomly initialised CNN; features = all hidden activations, flattened and concatenated.

    Each block is ``Conv2d(3x3, padding 1) -> ReLU`` followed by a 2x2 max-pool
    (except the last block); the output of every ReLU is a feature group. The
    parameters have ``requires_grad=False``; gradients still flow to the input.

    Parameters
    ----------
    in_channels : int, default 1
        Channels of the input images.
    channels : tuple of int, default (16, 32)
        Output channels of each convolutional block.
    seed : int, default 0
        Seed of the random initialisation (torch's global generator is restored afterwards).

    Raises
    ------
    ValueError
        If ``in_channels`` is not a positive integer or ``channels`` is not a
        non-empty tuple of positive integers.

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. *Dualing
    GANs.* NeurIPS 2017 (random-CNN features for images).
    """

    def __init__(self, in_channels: int = 1, channels: tuple[int, ...] = (16, 32), seed: int = 0):
        super().__init__()
        in_channels = check_int(in_channels, "in_channels", low=1)
        try:
            widths = tuple(check_int(c, "channels entries", low=1) for c in channels)
        except (TypeError, ValueError):  # not a sequence, or an entry that is not a positive integer
            widths = ()
        if not widths:
            raise ValueError(f"channels must be a non-empty tuple of positive integers, got {channels!r}")
        channels = widths
        with seeded(check_int(seed, "seed", low=0)):  # the library's one seeded build
            convs, prev = [], in_channels
            for c in channels:
                convs.append(nn.Conv2d(prev, c, 3, padding=1))
                prev = c
            self.convs = nn.ModuleList(convs)
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """All hidden activations of the frozen CNN, flattened and concatenated.

        Parameters
        ----------
        x : torch.Tensor
            Batch, shape ``(B, in_channels, H, W)``.

        Returns
        -------
        torch.Tensor
            Features, shape ``(B, F)`` with ``F`` the total size of the hidden
            activations, differentiable in ``x``.

        Raises
        ------
        ValueError
            If ``x`` is not a floating-point batch of images ``(B, in_channels, H, W)``.
        """
        check_float_input(self, x, "(batch, channels, height, width)")
        channels = self.convs[0].in_channels
        if x.ndim != 4 or x.shape[1] != channels:  # another channel count: torch's raw conv2d error otherwise
            raise ValueError(f"input must be images of shape (batch, channels={channels}, height, width) "
                             f"(in_channels of RandomCNNFeatures), got {tuple(x.shape)}")
        feats = []
        h = x
        for i, conv in enumerate(self.convs):
            h = torch.relu(nn.functional.conv2d(h, conv.weight.to(h.dtype), conv.bias.to(h.dtype), padding=1))
            feats.append(h.flatten(1))
            if i + 1 < len(self.convs) and min(h.shape[-2:]) >= 2:
                h = nn.functional.max_pool2d(h, 2)
        return torch.cat(feats, dim=1)
