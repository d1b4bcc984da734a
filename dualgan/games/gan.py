r"""GANs as two-player games: the general GAN game, the Dirac-GAN and GANs on Gaussian mixtures.

A GAN game has two players, ``generator`` (parameters :math:`\theta`) and
``discriminator`` (:math:`\psi`), in that order. With a loss of eq. (5.1)
of the theory page (components f, g, h) and discriminator regularisers :math:`R_k`:

.. math::
    L_D = -\big(E_{p_d}[f(D(x))] + E_{p_g}[g(D(G(z)))]\big) + \sum_k R_k(D, x, G(z)),
    \qquad L_G = E_{p_g}[h(D(G(z)))] + c(G(z)),

where :math:`c` is the penalty of an optional constraint handler
(:mod:`dualgan.constraints`). Generated samples keep their graph in
:math:`L_D`, so :math:`J` holds the full mixed second derivatives that
consensus optimisation and SGA need.

Each step uses the game's *current batch* (real samples and latent codes);
:meth:`GANGame.resample` draws a new one from the game's own seeded
``torch.Generator``. The harness resamples before every step; every field
evaluation inside a step (extragradient's look-ahead, alternating GD's second
player) sees the same batch.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import nn

from .._checks import check_int, check_number
from ..constraints.base import check_handler
from ..losses import GANLoss, get_loss
from ..regularizers import R1, LocalGradientPenalty
from ..train.generators import mlp as build_mlp  # the library's one MLP builder
from .game import Game, Player

__all__ = ["GANGame", "DiracGAN", "MixtureGAN", "mlp"]


def regularizer_list(regularizers) -> list:
    """One regulariser or a sequence of them, as a list of callables ``(discriminator, x_real, x_fake) -> scalar``."""
    regularizers = [regularizers] if callable(regularizers) else list(regularizers)
    if not all(callable(r) for r in regularizers):
        raise ValueError("regularizers must be callables (discriminator, x_real, x_fake) -> scalar tensor")
    return regularizers


class GANGame(Game):
    """A GAN as a two-player game (players ``generator`` then ``discriminator``).

    The losses are those of the module docstring, with the loss components of
    eq. (5.1) of the theory page and the game field of eq. (3.1).

    Parameters
    ----------
    generator : torch.nn.Module
        Maps a batch of latent codes ``(B, ...)`` to a batch of samples; its
        parameters are player 0's (:math:`\\theta`).
    discriminator : torch.nn.Module
        Maps a batch of samples to one raw score (logit) per sample, shape
        ``(B,)``; its parameters are player 1's (:math:`\\psi`).
    loss : GANLoss or str, default "minimax"
        A :class:`~dualgan.losses.GANLoss` or its name (``minimax``,
        ``non_saturating``, ``wasserstein``, ``hinge``, ``least_squares``;
        eqs. (5.2)-(5.6) of the theory page).
    sample_real : callable
        ``(n, generator: torch.Generator) -> tensor`` drawing ``n`` real
        samples (on the CPU is fine: they are moved to the players' device and dtype).
    sample_latent : callable
        ``(n, generator: torch.Generator) -> tensor`` drawing ``n`` latent
        codes (moved like the real samples).
    batch_size : int, default 64
        Samples per batch (real and generated), >= 1.
    regularizers : sequence of callable, default ()
        Callables ``(discriminator, x_real, x_fake) -> scalar tensor`` added to
        the discriminator's loss, e.g. :class:`dualgan.regularizers.R1`
        (eq. (5.10) of the theory page). A single callable is accepted.
    constraint : object, optional
        A constraint handler (:mod:`dualgan.constraints.base`): the
        generator is wrapped once, ``penalty(samples)`` is added to
        :math:`L_G`, and ``update(samples)`` is called after every step.
        Default None: no constraint.
    seed : int, default 0
        Seed (>= 0) of the batch sampler's ``torch.Generator``.

    Raises
    ------
    ValueError
        If the networks are not modules, the samplers or regularisers are not
        callable, ``batch_size`` is not a positive integer, ``seed`` is not a
        non-negative integer (``bool`` and floats are refused), the constraint
        lacks ``wrap_generator``/``penalty``/``update``, or the loss is unknown.

    References
    ----------
    Ian Goodfellow, Jean Pouget-Abadie, Mehdi Mirza, Bing Xu, David
    Warde-Farley, Sherjil Ozair, Aaron Courville, Yoshua Bengio. "Generative
    Adversarial Nets." NeurIPS 2014.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, loss="minimax", *,
                 sample_real: Callable, sample_latent: Callable, batch_size: int = 64,
                 regularizers: Sequence[Callable] = (), constraint=None, seed: int = 0):
        if not isinstance(generator, nn.Module) or not isinstance(discriminator, nn.Module):
            raise ValueError("generator and discriminator must be torch nn.Modules")
        if not callable(sample_real) or not callable(sample_latent):
            raise ValueError("sample_real and sample_latent must be callables (n, generator) -> tensor")
        batch_size = check_int(batch_size, "batch_size", low=1)
        seed = check_int(seed, "seed", low=0)
        regularizers = regularizer_list(regularizers)
        if constraint is not None:
            generator = check_handler(constraint).wrap_generator(generator)
        self.loss: GANLoss = get_loss(loss)
        self.generator = generator
        self.discriminator = discriminator
        self.sample_real = sample_real
        self.sample_latent = sample_latent
        self.batch_size = batch_size
        self.regularizers = regularizers
        self.constraint = constraint
        self.seed = seed
        self._sampler = torch.Generator().manual_seed(self.seed)
        self.x_real: torch.Tensor | None = None
        self.z: torch.Tensor | None = None
        super().__init__([Player("generator", generator), Player("discriminator", discriminator)],
                         zero_sum=self._zero_sum_up_to_separable())

    def _zero_sum_up_to_separable(self) -> bool:
        r"""Whether :math:`L_G + L_D` provably depends on :math:`\psi` only (:attr:`Game.zero_sum`).

        :math:`L_G + L_D = E_{p_g}[h(D)] - E_{p_d}[f(D)] - E_{p_g}[g(D)]`,
        which is :math:`-E_{p_d}[f(D(x))]` exactly when :math:`h = g`: any
        :class:`~dualgan.losses.GANLoss` whose ``h`` is its ``g`` (the same
        function object), such as the library's ``minimax`` and ``wasserstein``. A regulariser
        keeps this only when it provably depends on :math:`\psi` and the real
        data alone: exactly :class:`~dualgan.regularizers.R1` and
        :class:`~dualgan.regularizers.LocalGradientPenalty` (DRAGAN, around the
        real data), checked by exact type since a subclass may use the generated
        samples. Other regularisers, a constraint penalty and an overridden
        :meth:`losses` are not inspected: such games are declared general-sum.
        """
        same_component = self.loss.h is self.loss.g
        real_data_only = all(type(r) in (R1, LocalGradientPenalty) for r in self.regularizers)
        return (same_component and real_data_only and self.constraint is None
                and type(self).losses is GANGame.losses)

    def resample(self) -> None:
        """Draw a new batch of real samples and latent codes."""
        p = self.parameters[0]
        self.x_real = torch.as_tensor(self.sample_real(self.batch_size, self._sampler)).to(p.device, p.dtype)
        self.z = torch.as_tensor(self.sample_latent(self.batch_size, self._sampler)).to(p.device, p.dtype)

    def losses(self):
        """The generator's and the discriminator's losses on the current batch.

        :math:`L_G` and :math:`L_D` of the module docstring (components of
        eq. (5.1) of the theory page, regularisers added to :math:`L_D`, the
        constraint penalty to :math:`L_G`); draws a batch first if there is none.

        Returns
        -------
        list of torch.Tensor
            ``[L_G, L_D]``, two 0-d tensors in the players' dtype and device.
        """
        if self.x_real is None:
            self.resample()
        x_fake = self.generator(self.z)
        score_real = self.discriminator(self.x_real)
        score_fake = self.discriminator(x_fake)
        loss_d = self.loss.discriminator_loss(score_real, score_fake)
        for regularizer in self.regularizers:
            loss_d = loss_d + regularizer(self.discriminator, self.x_real, x_fake)
        loss_g = self.loss.generator_loss(score_fake)
        if self.constraint is not None:
            loss_g = loss_g + self.constraint.penalty(x_fake)
        return [loss_g, loss_d]

    def _extra_state(self):
        def sub(obj):
            fn = getattr(obj, "state_dict", None)
            return fn() if callable(fn) else None

        return {"sampler": self._sampler.get_state(), "x_real": self.x_real, "z": self.z,
                "buffers": [{k: v.clone() for k, v in m.named_buffers()} for m in (self.generator, self.discriminator)],
                "regularizers": [sub(r) for r in self.regularizers],
                "constraint": None if self.constraint is None else sub(self.constraint)}

    def _validate_extra_state(self, extra) -> None:
        if not isinstance(extra, dict) or len(extra.get("regularizers", ())) != len(self.regularizers):
            raise ValueError("the saved game state was written for another GAN game (regularisers differ)")
        # each part checks its own state before any part loads (those without check_state_dict at load)
        parts = list(zip(self.regularizers, extra["regularizers"])) + [(self.constraint, extra.get("constraint"))]
        for part, saved in parts:
            check = getattr(part, "check_state_dict", None)
            if saved is not None and callable(check):
                check(saved)

    def _load_extra_state(self, extra) -> None:
        self._sampler.set_state(extra["sampler"])
        self.x_real, self.z = extra["x_real"], extra["z"]
        for module, buffers in zip((self.generator, self.discriminator), extra["buffers"]):
            live = dict(module.named_buffers())
            with torch.no_grad():
                for k, v in buffers.items():
                    live[k].copy_(v)
        for r, s in zip(self.regularizers, extra["regularizers"]):
            if s is not None:
                r.load_state_dict(s)
        if self.constraint is not None and extra["constraint"] is not None:
            self.constraint.load_state_dict(extra["constraint"])

    def after_step(self) -> None:
        """Update the constraint handler with the generator's samples of the current batch (no-op without one)."""
        if self.constraint is not None and self.z is not None:
            with torch.no_grad():
                samples = self.generator(self.z)
            self.constraint.update(samples)

    @torch.no_grad()
    def sample(self, n: int, seed: int = 12345) -> torch.Tensor:
        """``n`` generated samples from fresh latent codes (own seed; the training batch is untouched).

        Parameters
        ----------
        n : int
            Number of samples (>= 1).
        seed : int, default 12345
            Seed (>= 0) of the ``torch.Generator`` that draws the latent codes.

        Returns
        -------
        torch.Tensor
            ``generator(z)`` for ``n`` fresh codes, shape ``(n, ...)``, the
            players' dtype and device, without graph.

        Raises
        ------
        ValueError
            If ``n`` is not a positive integer or ``seed`` not a non-negative
            integer (``bool`` and floats are refused, numpy integers accepted).
        """
        n = check_int(n, "n", low=1)
        gen = torch.Generator().manual_seed(check_int(seed, "seed", low=0))
        p = self.parameters[0]
        z = torch.as_tensor(self.sample_latent(n, gen)).to(p.device, p.dtype)
        return self.generator(z)


# ---------------------------------------------------------------------------------------- Dirac-GAN
class _DiracGenerator(nn.Module):
    def __init__(self, theta: float):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([float(theta)], dtype=torch.float64))

    def forward(self, z):
        return self.theta.expand(z.shape[0], 1)


class _LinearScore(nn.Module):
    def __init__(self, psi: float):
        super().__init__()
        self.psi = nn.Parameter(torch.tensor([float(psi)], dtype=torch.float64))

    def forward(self, x):
        return (x * self.psi).reshape(-1)


class DiracGAN(GANGame):
    r"""The Dirac-GAN of Mescheder, Geiger, Nowozin (2018).

    Data: a point mass at 0. Generator: a point mass at :math:`\theta`.
    Discriminator: :math:`D(x) = \psi x`. Unique equilibrium
    :math:`(\theta, \psi) = (0, 0)`. For the logistic losses
    :math:`v(\theta, \psi) = (-\sigma(-\theta\psi)\psi, \sigma(\theta\psi)\theta)`
    (non-saturating) or :math:`(-\sigma(\theta\psi)\psi, \sigma(\theta\psi)\theta)`
    (minimax); for WGAN :math:`v = (-\psi, \theta)`. At the equilibrium
    :math:`J = [[0, -c], [c, 0]]` (c = 1/2 logistic, 1 WGAN): purely
    imaginary eigenvalues, so simultaneous GD spirals outward; R1
    (:math:`\tfrac{\gamma}{2}\psi^2` here) adds :math:`\gamma` to the
    :math:`\psi\psi` entry and makes the equilibrium attracting.
    ``regularizers`` as in :class:`GANGame` (e.g. ``dualgan.regularizers.R1(gamma)``).
    The losses are eq. (3.13) of the theory page; R1 is eq. (5.10).

    Parameters
    ----------
    loss : GANLoss or str, default "minimax"
        A :class:`~dualgan.losses.GANLoss` or its name (eqs. (5.2)-(5.6) of the theory page).
    theta0 : float, default 1.0
        Initial generator parameter :math:`\theta` (the generated point), finite.
    psi0 : float, default 1.0
        Initial discriminator parameter :math:`\psi` (the slope), finite.
    regularizers : sequence of callable, default ()
        Discriminator regularisers as in :class:`GANGame`.
    dtype : torch.dtype, default torch.float64
        Floating-point type of :math:`\theta` and :math:`\psi`.

    Raises
    ------
    ValueError
        If ``theta0`` or ``psi0`` is not a finite number, or the loss or a
        regulariser is invalid.

    References
    ----------
    Lars Mescheder, Andreas Geiger, Sebastian Nowozin. "Which Training Methods
    for GANs do actually Converge?" ICML 2018.
    """

    def __init__(self, loss="minimax", theta0: float = 1.0, psi0: float = 1.0, regularizers=(), dtype=torch.float64):

        theta0 = check_number(theta0, "theta0")
        psi0 = check_number(psi0, "psi0")
        generator = _DiracGenerator(theta0).to(dtype)
        discriminator = _LinearScore(psi0).to(dtype)
        super().__init__(generator, discriminator, loss,
                         sample_real=lambda n, gen: torch.zeros(n, 1, dtype=torch.float64),
                         sample_latent=lambda n, gen: torch.zeros(n, 1, dtype=torch.float64),
                         batch_size=1, regularizers=regularizers, seed=0)
        self.resample()

    @property
    def theta(self) -> float:
        return float(self.generator.theta.detach()[0]) if hasattr(self.generator, "theta") else float("nan")

    @property
    def psi(self) -> float:
        return float(self.discriminator.psi.detach()[0])

    def distance_to_equilibrium(self) -> float:
        """:math:`\\sqrt{\\theta^2 + \\psi^2}` (the equilibrium is the origin)."""
        return float(self.get_flat().norm())


# ---------------------------------------------------------------------------------------- mixtures
def mlp(in_dim: int, out_dim: int, hidden: int = 384, depth: int = 4, activation=nn.ReLU) -> nn.Sequential:
    """A fully connected network with ``depth`` hidden layers of width ``hidden``.

    Parameters
    ----------
    in_dim : int
        Input width (>= 1).
    out_dim : int
        Output width (>= 1).
    hidden : int, default 384
        Width of each hidden layer (>= 1).
    depth : int, default 4
        Number of hidden layers (>= 0; 0 gives one linear layer).
    activation : type, default torch.nn.ReLU
        Module class instantiated (without arguments) after each hidden layer.

    Returns
    -------
    torch.nn.Sequential
        The network, float32 on the CPU with torch's default initialisation.

    Raises
    ------
    ValueError
        If a width is not a positive integer or ``depth`` is negative.
    """
    in_dim = check_int(in_dim, "in_dim", low=1)
    out_dim = check_int(out_dim, "out_dim", low=1)
    hidden = check_int(hidden, "hidden", low=1)
    depth = check_int(depth, "depth", low=0)
    return build_mlp([in_dim] + [hidden] * depth + [out_dim], activation)


class _Squeeze(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x).reshape(-1)


class MixtureGAN(GANGame):
    r"""A GAN on a Gaussian mixture (``dualgan.data.ring`` / ``grid``) with ReLU MLPs.

    The consensus-optimisation paper's setting (Mescheder et al. 2017, section
    4): generator and discriminator are fully connected ReLU networks with 4
    hidden layers (``hidden`` units each), a 16-d Gaussian latent, trained with
    RMSProp. ``seed`` fixes the initial weights and the batch sampler.
    :meth:`coverage` reports :func:`dualgan.metrics.mode_coverage` of fresh samples.

    Parameters
    ----------
    mixture : GaussianMixture
        The data distribution, e.g. ``dualgan.data.ring(8)`` (needs ``sample``,
        ``centers``, ``std`` and ``dim``).
    loss : GANLoss or str, default "minimax"
        A :class:`~dualgan.losses.GANLoss` or its name (eqs. (5.2)-(5.6) of the theory page).
    hidden : int, default 384
        Hidden width of both networks.
    depth : int, default 4
        Number of hidden layers of both networks.
    latent_dim : int, default 16
        Dimension of the standard normal latent code (>= 1).
    batch_size : int, default 512
        Samples per batch (real and generated).
    regularizers : sequence of callable, default ()
        Discriminator regularisers as in :class:`GANGame`.
    constraint : object, optional
        A constraint handler as in :class:`GANGame`. Default None: none.
    seed : int, default 0
        Seed of the initial weights (uniform, PyTorch's default bounds) and of the batch sampler.
    dtype : torch.dtype, default torch.float32
        Floating-point type of the networks.
    device : torch.device or str, optional
        Device of the networks. Default None: the CPU.

    Raises
    ------
    ValueError
        If ``mixture`` is not a Gaussian mixture, ``latent_dim`` is not a
        positive integer, or another argument is invalid (as in :class:`GANGame`).

    References
    ----------
    Lars Mescheder, Sebastian Nowozin, Andreas Geiger. "The Numerics of GANs."
    NeurIPS 2017.
    """

    def __init__(self, mixture, loss="minimax", hidden: int = 384, depth: int = 4, latent_dim: int = 16,
                 batch_size: int = 512, regularizers=(), constraint=None, seed: int = 0, dtype=torch.float32,
                 device=None):
        if not hasattr(mixture, "sample") or not hasattr(mixture, "centers"):
            raise ValueError("mixture must be a dualgan.data.GaussianMixture (e.g. dualgan.data.ring(8))")
        latent_dim = check_int(latent_dim, "latent_dim", low=1)
        seed = check_int(seed, "seed", low=0)
        init = torch.Generator().manual_seed(seed)
        generator = mlp(latent_dim, mixture.dim, hidden, depth)
        discriminator = _Squeeze(mlp(mixture.dim, 1, hidden, depth))
        with torch.no_grad():  # reproducible initialisation independent of the global RNG's history
            for module in list(generator.modules()) + list(discriminator.modules()):
                if isinstance(module, nn.Linear):
                    bound = 1.0 / math.sqrt(module.in_features)
                    module.weight.copy_(torch.rand(module.weight.shape, generator=init) * 2 * bound - bound)
                    module.bias.copy_(torch.rand(module.bias.shape, generator=init) * 2 * bound - bound)
        generator = generator.to(device=device, dtype=dtype)
        discriminator = discriminator.to(device=device, dtype=dtype)
        self.mixture = mixture
        self.latent_dim = latent_dim
        super().__init__(generator, discriminator, loss,
                         sample_real=lambda n, gen: mixture.sample(n, generator=gen, dtype=torch.float64),
                         sample_latent=lambda n, gen: torch.randn(n, latent_dim, generator=gen, dtype=torch.float64),
                         batch_size=batch_size, regularizers=regularizers, constraint=constraint, seed=seed)

    def coverage(self, n: int = 2000, n_std: float = 3.0, seed: int = 12345):
        """Mode coverage of ``n`` fresh samples (``dualgan.metrics.mode_coverage``, threshold ``n_std`` sd).

        Parameters
        ----------
        n : int, default 2000
            Number of fresh samples.
        n_std : float, default 3.0
            A sample covers a mode when it lies within ``n_std``
            mixture standard deviations of that mode's centre.
        seed : int, default 12345
            Seed of the latent codes.

        Returns
        -------
        CoverageReport
            Modes covered, high-quality fraction and per-mode counts.

        Raises
        ------
        ValueError
            If ``n`` is not a positive integer, ``seed`` not a non-negative
            integer, or ``n_std`` not a finite number > 0.
        """
        from ..metrics import mode_coverage

        return mode_coverage(self.sample(n, seed=seed).float(), self.mixture.centers, self.mixture.std, n_std=n_std)
