"""Fully connected networks: the one MLP builder of the library and the generators of the Dualing GANs toy experiments.

:func:`mlp` builds every fully connected network of the library (these
generators, the examples' discriminators, the GAN games' players);
:func:`mlp_generator` is the seeded, output-scaled generator ("fc-small",
"fc-large") of the toy experiments.

The paper does not list the layer widths; we use ReLU MLPs with hidden widths
``(64, 64)`` for ``"small"`` and ``(128, 128, 128)`` for ``"large"`` and a
linear output layer (samples live in R^D, not in a box).
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import nn

from .._checks import check_choice, check_float_dtype, check_int, check_positive
from .._rng import seeded

__all__ = ["mlp", "mlp_generator", "GENERATOR_SIZES"]

GENERATOR_SIZES = {"small": (64, 64), "large": (128, 128, 128)}


def mlp(sizes: Sequence[int], activation: Callable[[], nn.Module] = nn.ReLU) -> nn.Sequential:
    """A fully connected network ``sizes[0] -> ... -> sizes[-1]``: linear layers, ``activation()`` between them.

    No activation follows the last layer. The layers are created in order
    with torch's default initialisation (so under one seed the same sizes give
    the same weights), float32 on the CPU.

    Parameters
    ----------
    sizes : sequence of int
        The widths, input first and output last; at least two, each >= 1.
    activation : callable, default torch.nn.ReLU
        Called without arguments after every layer but the last (a module
        class, or e.g. ``lambda: nn.LeakyReLU(0.2)``).

    Returns
    -------
    torch.nn.Sequential
        The network ``(B, sizes[0]) -> (B, sizes[-1])``.

    Raises
    ------
    ValueError
        If fewer than two sizes are given or a size is not a positive integer.
    """
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence) or len(sizes) < 2:
        raise ValueError(f"sizes must be a sequence of at least two widths (input, ..., output), got {sizes!r}")
    sizes = [check_int(w, f"sizes[{i}]", low=1) for i, w in enumerate(sizes)]
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def mlp_generator(latent_dim: int = 2, out_dim: int = 2, size: str = "small", seed: int | None = 0,
                  output_gain: float = 1.0, output_std: float | None = None, dtype: torch.dtype = torch.float32,
                  device=None) -> nn.Sequential:
    """A ReLU MLP ``latent_dim -> hidden... -> out_dim`` initialised under ``seed`` (None: global RNG).

    ``output_gain`` multiplies the initial weights of the output layer, whose
    bias starts at zero (the initial samples are centred near the origin).
    With localised features (RBF with sigma = 0.2 on a ring of radius 2) the
    default PyTorch initialisation puts every sample within about 0.3 of the
    origin, where all features are ~exp(-50) and the generator gets no
    gradient; a gain of about 3 spreads the initial samples over the ring's
    extent (what :mod:`dualgan.cli.demo` uses; much larger gains throw samples
    beyond the ring, where they get no gradient either).

    A fixed gain gives very different spreads for different depths and seeds
    (with gain 3 the per-coordinate standard deviation of the initial samples
    is 0.12-0.29 for ``"small"`` and 0.06-0.09 for ``"large"`` over seeds 0-2,
    so deep generators start collapsed at the origin). ``output_std`` instead
    calibrates the output layer: its weights are rescaled so that the initial
    samples of 4096 standard normal noise vectors (drawn under ``seed``) have
    mean zero and this per-coordinate standard deviation, averaged over coordinates, for every
    architecture and seed. It replaces ``output_gain`` (pass one of the two).
    The benchmarks' sensitivity studies use ``output_std=1.0`` on the ring of
    radius 2 (whose own per-coordinate standard deviation is about 1.4).

    Parameters
    ----------
    latent_dim : int, default 2
        Input (noise) dimension, >= 1; the trainers' ``latent_dim``.
    out_dim : int, default 2
        Sample dimension, >= 1.
    size : str, default "small"
        Hidden widths: ``"small"`` (64, 64) or ``"large"`` (128, 128, 128), see :data:`GENERATOR_SIZES`.
    seed : int, optional, default 0
        Seed of the initialisation (the global torch RNG is restored
        afterwards). None: the global RNG, advanced.
    output_gain : float, default 1.0
        Factor on the output layer's initial weights (> 0).
    output_std : float, optional
        Calibrate the output layer to this per-coordinate standard deviation
        (> 0) instead of ``output_gain``. Default None.
    dtype : torch.dtype, default torch.float32
        Parameter dtype (float64 for correctness checks).
    device : torch.device or str, optional
        Parameter device. Default None: the CPU.

    Returns
    -------
    torch.nn.Sequential
        The generator ``(B, latent_dim) -> (B, out_dim)``.

    Raises
    ------
    ValueError
        If a size or number is out of range, ``seed`` is neither None nor a non-negative
        integer, both ``output_gain`` and ``output_std`` are given, the calibrated output has no spread, or ``dtype`` is not a
        floating torch dtype.
    """
    if output_std is not None:
        if output_gain != 1.0:
            raise ValueError("pass output_gain or output_std, not both (output_std calibrates the output layer)")
        output_std = check_positive(output_std, "output_std")
    output_gain = check_positive(output_gain, "output_gain")
    check_choice(size, "size", GENERATOR_SIZES)
    latent_dim = check_int(latent_dim, "latent_dim", low=1)
    out_dim = check_int(out_dim, "out_dim", low=1)
    seed = check_int(seed, "seed", low=0, allow_none=True)
    with seeded(seed):  # the library's one seeded build: the caller's random stream is put back
        net = mlp([latent_dim, *GENERATOR_SIZES[size], out_dim])
        out = net[-1]
        with torch.no_grad():
            out.weight.mul_(float(output_gain))
            out.bias.zero_()
        if output_std is not None:
            z = torch.randn(4096, latent_dim, generator=torch.Generator().manual_seed(0 if seed is None else seed))
            with torch.no_grad():
                spread = float(net(z).std(dim=0).mean())
                if not (math.isfinite(spread) and spread > 0):
                    raise ValueError("the initial generator output has no spread (dead ReLUs?); try another seed")
                out.weight.mul_(float(output_std) / spread)
                out.bias.sub_(net(z).mean(dim=0))  # centred at the origin
    return net.to(dtype=check_float_dtype(dtype), device=device)
