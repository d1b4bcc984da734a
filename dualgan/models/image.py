r"""DCGAN-style generator and discriminator for 28x28 images, in the style of the Dualing GANs paper (appendix E.2).

Generator: noise ``(B, latent_dim)`` -> fully connected hidden layer -> a
second fully connected layer projecting to ``channels[0]`` maps of side
``image_size / 2**(len(channels) - 1)`` -> stride-2 up-convolutions (kernel 4,
padding 1; each doubles the side) -> one last 3x3 convolution that keeps the
size -> sigmoid, so samples lie in ``[0, 1]`` like the data. Every hidden layer
is followed by batch norm and ReLU (the paper: "upconvolution kernels with
stride 2, ReLU activation, and batch normalization ... Instead of Tanh output
activation, we use a Sigmoid function"). The paper's initial hidden dimension
is 32, our default ``latent_dim``; it does not list the widths, ours are
stated below.

Discriminator: ``len(channels)`` blocks ``Conv2d(3x3, padding 1) -> ReLU ->
MaxPool(2)`` (floor division of the side: 28 -> 14 -> 7 -> 3), then two fully
connected hidden layers with ReLU, ``fc1`` and ``fc2``. Their concatenated
activations :math:`\phi(x) = [h_1(x), h_2(x)]` are the features of the linear
discriminator :math:`w^\top\phi(x) + b` (eq. (1.1) of the theory page,
docs/theory.md): :attr:`DCGANDiscriminator.head` is that last linear layer and
:attr:`DCGANDiscriminator.features` the feature map, usable on its own as the
``features`` of :class:`dualgan.train.DualLinearGAN`. The discriminator has no
batch norm, so its score of a sample does not depend on the rest of the batch
(what a trust-region step, eqs. (2.2)-(2.4), assumes).

Parameter count of the discriminator with channels :math:`(c_1, \dots, c_L)`,
hidden widths :math:`(h_1, h_2)` and side :math:`s` after the pools:

.. math::

    \sum_{l=1}^{L} (9 c_{l-1} c_l + c_l) + (c_L s^2 + 1) h_1 + (h_1 + 1) h_2 + (h_1 + h_2 + 1),
    \qquad c_0 = \text{in\_channels},

which is 138,049 for the defaults (channels (32, 64, 64), hidden (128, 64),
28x28 inputs, :math:`s = 3`), the size of the discriminator (about 138k
parameters) the image-scale benchmarks use.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .._checks import check_float_dtype, check_int
from .._rng import seeded

__all__ = ["dcgan_generator", "dcgan_discriminator", "DCGANGenerator", "DCGANDiscriminator",
           "DiscriminatorFeatures"]


def dcgan_generator(latent_dim: int = 32, *, hidden: int = 128, channels: Sequence[int] = (64, 32, 16),
                    image_size: int = 28, out_channels: int = 1, seed: int | None = 0,
                    dtype: torch.dtype = torch.float32, device=None) -> "DCGANGenerator":
    """A DCGAN-style generator ``(B, latent_dim) -> (B, out_channels, image_size, image_size)`` in [0, 1].

    The sample space of the discriminator of eq. (1.1) of the theory page
    (docs/theory.md); see the module docstring for the layers.

    Parameters
    ----------
    latent_dim : int, default 32
        Noise dimension (the trainers' ``latent_dim``), >= 1. The paper's initial hidden dimension is 32.
    hidden : int, default 128
        Width of the first fully connected layer, >= 1.
    channels : sequence of int, default (64, 32, 16)
        Channels of the projected maps (first entry) and after each stride-2
        up-convolution (the others): ``len(channels) - 1`` up-convolutions.
        Positive integers, at least one.
    image_size : int, default 28
        Side of the square output; must be divisible by ``2**(len(channels) - 1)``.
    out_channels : int, default 1
        Channels of the output images (1 for grey levels), >= 1.
    seed : int, optional, default 0
        Seed of the initialisation (torch's global generator is restored
        afterwards). None: the global generator, advanced.
    dtype : torch.dtype, default torch.float32
        Parameter dtype (float64 for correctness checks).
    device : torch.device or str, optional
        Parameter device. Default None: the CPU.

    Returns
    -------
    DCGANGenerator
        The generator, in training mode (batch norm uses batch statistics).

    Raises
    ------
    ValueError
        If a size is not a positive integer, ``channels`` is empty, or
        ``image_size`` is not divisible by ``2**(len(channels) - 1)``, or ``dtype`` is not a
        floating torch dtype.

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. *Dualing
    GANs.* NeurIPS 2017 (appendix E.2); Alec Radford, Luke Metz, Soumith
    Chintala. *Unsupervised Representation Learning with Deep Convolutional
    Generative Adversarial Networks.* ICLR 2016.
    """
    latent_dim = check_int(latent_dim, "latent_dim", low=1)
    hidden = check_int(hidden, "hidden", low=1)
    channels = _check_channels(channels, "channels")
    image_size = check_int(image_size, "image_size", low=1)
    out_channels = check_int(out_channels, "out_channels", low=1)
    factor = 2 ** (len(channels) - 1)
    if image_size % factor:
        raise ValueError(f"image_size must be divisible by 2**(len(channels) - 1) = {factor} (one doubling per "
                         f"up-convolution), got image_size={image_size} with channels={channels}; pass "
                         f"fewer channels or an image_size that is a multiple of {factor}")
    with seeded(seed):
        net = DCGANGenerator(latent_dim, hidden, channels, image_size // factor, out_channels)
    return net.to(dtype=check_float_dtype(dtype), device=device)


def dcgan_discriminator(in_channels: int = 1, *, channels: Sequence[int] = (32, 64, 64),
                        hidden: Sequence[int] = (128, 64), image_size: int = 28, seed: int | None = 0,
                        dtype: torch.dtype = torch.float32, device=None) -> "DCGANDiscriminator":
    """A DCGAN-style discriminator: 3x3 convolutions with max-pooling, two fully connected layers, a linear head.

    Its :attr:`~DCGANDiscriminator.features` (the two hidden layers'
    activations, concatenated) are the :math:`\\phi(x)` of the linear
    discriminator of eq. (1.1) of the theory page (docs/theory.md); its scores
    are the :math:`D(x; \\theta)` of the trust-region steps, eq. (2.1).

    Parameters
    ----------
    in_channels : int, default 1
        Channels of the input images, >= 1.
    channels : sequence of int, default (32, 64, 64)
        Output channels of each ``Conv2d(3x3) -> ReLU -> MaxPool(2)`` block,
        positive integers, at least one.
    hidden : sequence of int, default (128, 64)
        Widths ``(h1, h2)`` of the two fully connected hidden layers.
    image_size : int, default 28
        Side of the square inputs; at least ``2**len(channels)`` (every pool halves it, rounding down).
    seed : int, optional, default 0
        Seed of the initialisation (torch's global generator is restored
        afterwards). None: the global generator, advanced.
    dtype : torch.dtype, default torch.float32
        Parameter dtype (float64 for correctness checks).
    device : torch.device or str, optional
        Parameter device. Default None: the CPU.

    Returns
    -------
    DCGANDiscriminator
        The discriminator ``(B, in_channels, image_size, image_size) -> (B,)``
        (138,049 parameters with the defaults; formula in the module docstring).

    Raises
    ------
    ValueError
        If a size is not a positive integer, ``hidden`` does not have two
        entries, ``image_size`` is below ``2**len(channels)``, or ``dtype`` is not a floating
        torch dtype.

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. *Dualing
    GANs.* NeurIPS 2017 (appendix E.2: "3 3x3 convolution layers with max
    pooling and ReLU activation, and 2 fully connected hidden layers").
    """
    in_channels = check_int(in_channels, "in_channels", low=1)
    channels = _check_channels(channels, "channels")
    hidden = _check_channels(hidden, "hidden")
    if len(hidden) != 2:
        raise ValueError(f"hidden must give the widths of the two fully connected layers (h1, h2), got {hidden}")
    image_size = check_int(image_size, "image_size", low=1)
    if image_size < 2 ** len(channels):
        raise ValueError(f"image_size must be at least 2**len(channels) = {2 ** len(channels)} (each block pools "
                         f"by 2), got image_size={image_size} with channels={channels}; pass fewer channels")
    side = image_size
    for _ in channels:
        side //= 2
    with seeded(seed):
        net = DCGANDiscriminator(DiscriminatorFeatures(in_channels, channels, hidden, side))
    return net.to(dtype=check_float_dtype(dtype), device=device)


class DCGANGenerator(nn.Module):
    """The network :func:`dcgan_generator` builds (use the builder: it checks the sizes and seeds the weights).

    Parameters
    ----------
    latent_dim : int
        Noise dimension.
    hidden : int
        Width of the first fully connected layer.
    channels : tuple of int
        Channels of the projected maps and after each up-convolution.
    start_side : int
        Side of the projected maps (``image_size / 2**(len(channels) - 1)``).
    out_channels : int
        Channels of the output images.

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. *Dualing
    GANs.* NeurIPS 2017 (appendix E.2).
    """

    def __init__(self, latent_dim: int, hidden: int, channels: tuple[int, ...], start_side: int,
                 out_channels: int):
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.start_shape = (int(channels[0]), int(start_side), int(start_side))
        n_proj = channels[0] * start_side * start_side
        self.project = nn.Sequential(nn.Linear(latent_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                                     nn.Linear(hidden, n_proj), nn.BatchNorm1d(n_proj), nn.ReLU())
        ups: list[nn.Module] = []
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            ups += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
        self.upsample = nn.Sequential(*ups)
        self.out = nn.Conv2d(channels[-1], out_channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Samples of the noise batch ``z``.

        Parameters
        ----------
        z : torch.Tensor
            Noise, shape ``(B, latent_dim)``.

        Returns
        -------
        torch.Tensor
            Images ``(B, out_channels, image_size, image_size)`` in [0, 1].

        Raises
        ------
        ValueError
            If ``z`` does not have shape ``(B, latent_dim)``.
        """
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (batch, latent_dim={self.latent_dim}), got {tuple(z.shape)}; a "
                             f"trainer's latent_dim must equal the generator's ({self.latent_dim})")
        h = self.project(z).view(z.shape[0], *self.start_shape)
        return torch.sigmoid(self.out(self.upsample(h)))


class DiscriminatorFeatures(nn.Module):
    r"""The feature map :math:`\phi(x) = [h_1(x), h_2(x)]` of :class:`DCGANDiscriminator` (eq. (1.1), theory page).

    Parameters
    ----------
    in_channels : int
        Channels of the input images.
    channels : tuple of int
        Output channels of each convolutional block.
    hidden : tuple of int
        Widths ``(h1, h2)`` of the fully connected layers.
    side : int
        Side of the maps after the last pool.

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. *Dualing
    GANs.* NeurIPS 2017 (appendix E.2; sec. 4.1, features of a CNN).
    """

    def __init__(self, in_channels: int, channels: tuple[int, ...], hidden: tuple[int, int], side: int):
        super().__init__()
        blocks: list[nn.Module] = []
        prev = in_channels
        for c in channels:
            blocks += [nn.Conv2d(prev, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            prev = c
        self.convs = nn.Sequential(*blocks)
        self.fc1 = nn.Linear(prev * side * side, hidden[0])
        self.fc2 = nn.Linear(hidden[0], hidden[1])
        self.in_channels = int(in_channels)

    @property
    def out_features(self) -> int:
        """Number of features ``h1 + h2``."""
        return int(self.fc1.out_features + self.fc2.out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The concatenated activations of the two fully connected layers.

        Parameters
        ----------
        x : torch.Tensor
            Images, shape ``(B, in_channels, H, W)``.

        Returns
        -------
        torch.Tensor
            Features, shape ``(B, h1 + h2)``, non-negative, differentiable in ``x`` and the parameters.

        Raises
        ------
        ValueError
            If ``x`` is not a batch of images with ``in_channels`` channels.
        """
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must be images of shape (batch, {self.in_channels}, height, width), "
                             f"got {tuple(x.shape)}")
        h1 = torch.relu(self.fc1(self.convs(x).flatten(1)))
        h2 = torch.relu(self.fc2(h1))
        return torch.cat([h1, h2], dim=1)


class DCGANDiscriminator(nn.Module):
    r"""Scores :math:`D(x) = w^\top\phi(x) + b`: learned features :math:`\phi` (:attr:`features`), head ``(w, b)``.

    Parameters
    ----------
    features : DiscriminatorFeatures
        The feature map :math:`\phi` (eq. (1.1) of the theory page).

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. *Dualing
    GANs.* NeurIPS 2017 (sec. 4.2, appendix E.2).
    """

    def __init__(self, features: DiscriminatorFeatures):
        super().__init__()
        self.features = features
        self.head = nn.Linear(features.out_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One score per image, eq. (2.1) of the theory page's :math:`D(x; \\theta)`.

        Parameters
        ----------
        x : torch.Tensor
            Images, shape ``(B, in_channels, H, W)``.

        Returns
        -------
        torch.Tensor
            Scores (logits), shape ``(B,)``.

        Raises
        ------
        ValueError
            If ``x`` is not a batch of images with the expected channels.
        """
        return self.head(self.features(x)).squeeze(-1)


def _check_channels(value, name: str) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) == 0:
        raise ValueError(f"{name} must be a non-empty sequence of positive integers, got {value!r}")
    return tuple(check_int(v, f"{name}[{i}]", low=1) for i, v in enumerate(value))
