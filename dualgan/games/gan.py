r"""GANs as two-player games: the general GAN game, the Dirac-GAN and GANs on Gaussian mixtures.

A GAN game has two players, ``generator`` (parameters :math:`\theta`) then ``discriminator``
(:math:`\psi`). :math:`L_D` is minus the objective of eq. (5.1) of the theory page plus the discriminator's
regularisers (eqs. (5.7)-(5.11)); :math:`L_G` is the generator's term of eq. (5.1) plus the penalty of an
optional constraint handler (:mod:`dualgan.constraints`). Generated samples keep their graph in :math:`L_D`,
so :math:`J` holds the full mixed second derivatives that consensus optimisation and SGA need.

Each step uses the game's *current batch* (real samples and latent codes); :meth:`GANGame.resample` draws a
new one from the game's own seeded ``torch.Generator``. The harness resamples before every step; every field
evaluation inside a step (extragradient's look-ahead, alternating GD's second player) sees the same batch.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import nn

from .._checks import check_float_dtype, check_int, check_number
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


def _gan_losses(loss, score, regularizers, x_real, x_fake, penalty=None):
    """``(L_G, L_D)`` of eq. (5.1) with the discriminator ``score``; ``penalty(reg, score, x_real, x_fake)``
    gives each regulariser's term (default: the regulariser called on those)."""
    score_real, score_fake = score(x_real), score(x_fake)
    loss_d = loss.discriminator_loss(score_real, score_fake)
    for reg in regularizers:
        loss_d = loss_d + (reg(score, x_real, x_fake) if penalty is None else penalty(reg, score, x_real, x_fake))
    return loss.generator_loss(score_fake), loss_d


class GANGame(Game):
    """A GAN as a two-player game (players ``generator`` then ``discriminator``; losses of the module docstring).

    Parameters
    ----------
    generator : torch.nn.Module
        Maps a batch of latent codes ``(B, ...)`` to a batch of samples; player 0 (:math:`\\theta`).
    discriminator : torch.nn.Module
        Maps a batch of samples to one raw score (logit) per sample, shape ``(B,)``; player 1 (:math:`\\psi`).
    loss : GANLoss or str, default "minimax"
        A :class:`~dualgan.losses.GANLoss` or its name (eqs. (5.2)-(5.6) of the theory page).
    sample_real : callable
        ``(n, generator: torch.Generator) -> tensor`` drawing ``n`` real samples (moved to the
        players' device and dtype).
    sample_latent : callable
        ``(n, generator: torch.Generator) -> tensor`` drawing ``n`` latent codes (moved likewise).
    batch_size : int, default 64
        Samples per batch (real and generated), >= 1.
    regularizers : sequence of callable, default ()
        Callables ``(discriminator, x_real, x_fake) -> scalar tensor`` added to :math:`L_D`, e.g.
        :class:`dualgan.regularizers.R1`; a single callable is accepted.
    constraint : object, optional
        A constraint handler (:mod:`dualgan.constraints.base`): the generator is wrapped once,
        ``penalty(samples)`` is added to :math:`L_G` and ``update(samples)`` is called after every
        step. Default None: no constraint.
    seed : int, default 0
        Seed (>= 0) of the batch sampler's ``torch.Generator``.

    Raises
    ------
    ValueError
        If the networks are not modules, the samplers or regularisers are not callable, ``batch_size`` or
        ``seed`` is not an integer in range (``bool`` and floats refused), the constraint lacks
        ``wrap_generator``/``penalty``/``update``, or the loss is unknown.

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
        r"""Whether :math:`L_G + L_D` provably depends on :math:`\psi` alone (:attr:`Game.zero_sum`)."""
        # L_G + L_D = E_pg[h(D)] - E_pd[f(D)] - E_pg[g(D)] is -E_pd[f(D)] exactly when h is g (the same function
        # object: minimax, wasserstein). Only R1 and DRAGAN provably depend on psi and the real data alone (exact
        # type: a subclass may use the generated samples); other regularisers, a constraint penalty or an
        # overridden losses() are not inspected: such games are declared general-sum.
        real_data_only = all(type(r) in (R1, LocalGradientPenalty) for r in self.regularizers)
        return (self.loss.h is self.loss.g and real_data_only and self.constraint is None
                and type(self).losses is GANGame.losses)

    def _draw(self, sample: Callable, n: int, generator: torch.Generator) -> torch.Tensor:
        p = self.parameters[0]
        return torch.as_tensor(sample(n, generator)).to(p.device, p.dtype)

    def resample(self) -> None:
        """Draw a new batch of real samples and latent codes."""
        self.x_real = self._draw(self.sample_real, self.batch_size, self._sampler)
        self.z = self._draw(self.sample_latent, self.batch_size, self._sampler)

    def losses(self):
        """``[L_G, L_D]`` on the current batch (module docstring), drawing a batch first if there is none.

        Returns
        -------
        list of torch.Tensor
            Two 0-d tensors in the players' dtype and device.
        """
        if self.x_real is None:
            self.resample()
        x_fake = self.generator(self.z)
        loss_g, loss_d = _gan_losses(self.loss, self.discriminator, self.regularizers, self.x_real, x_fake)
        if self.constraint is not None:
            loss_g = loss_g + self.constraint.penalty(x_fake)
        return [loss_g, loss_d]

    def _extra_state(self):
        def sub(obj):               # a part's own state, None for a part without one (or no constraint)
            fn = getattr(obj, "state_dict", None)
            return fn() if callable(fn) else None

        return {"sampler": self._sampler.get_state(), "x_real": self.x_real, "z": self.z,
                "buffers": [{k: v.clone() for k, v in m.named_buffers()} for m in (self.generator, self.discriminator)],
                "regularizers": [sub(r) for r in self.regularizers], "constraint": sub(self.constraint)}

    def _saved_parts(self, extra) -> list:
        """(part, its saved state or None) for each regulariser, then the constraint handler."""
        return list(zip(self.regularizers, extra["regularizers"])) + [(self.constraint, extra.get("constraint"))]

    def _validate_extra_state(self, extra) -> None:
        if not isinstance(extra, dict) or len(extra.get("regularizers", ())) != len(self.regularizers):
            raise ValueError("the saved game state was written for another GAN game (regularisers differ)")
        # each part checks its own state before any part loads (those without check_state_dict at load)
        for part, saved in self._saved_parts(extra):
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
        for part, saved in self._saved_parts(extra):
            if part is not None and saved is not None:
                part.load_state_dict(saved)

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
            ``generator(z)``, shape ``(n, ...)``, the players' dtype and device, without graph.

        Raises
        ------
        ValueError
            If ``n`` is not a positive integer or ``seed`` a non-negative one (``bool`` and floats refused).
        """
        n = check_int(n, "n", low=1)
        gen = torch.Generator().manual_seed(check_int(seed, "seed", low=0))
        return self.generator(self._draw(self.sample_latent, n, gen))


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
    r"""The Dirac-GAN of eq. (3.13) of the theory page: data at 0, generator :math:`\theta`, :math:`D(x) = \psi x`.

    The unique equilibrium is :math:`(\theta, \psi) = (0, 0)`, where :math:`J = [[0, -c], [c, 0]]`
    (c = 1/2 for the logistic losses, 1 for WGAN): purely imaginary eigenvalues, so simultaneous GD
    spirals outward; R1 (:math:`\tfrac{\gamma}{2}\psi^2` here, eq. (5.10)) adds :math:`\gamma` to the
    :math:`\psi\psi` entry and makes the equilibrium attracting.

    Parameters
    ----------
    loss : GANLoss or str, default "minimax"
        A :class:`~dualgan.losses.GANLoss` or its name (eqs. (5.2)-(5.6) of the theory page).
    theta0 : float, default 1.0
        Initial generator parameter :math:`\theta` (the generated point), finite.
    psi0 : float, default 1.0
        Initial discriminator parameter :math:`\psi` (the slope), finite.
    regularizers : sequence of callable, default ()
        Discriminator regularisers as in :class:`GANGame` (e.g. ``dualgan.regularizers.R1(gamma)``).
    dtype : torch.dtype, default torch.float64
        Floating-point type of :math:`\theta` and :math:`\psi`.

    Raises
    ------
    ValueError
        If ``theta0`` or ``psi0`` is not a finite number, ``dtype`` is not a floating dtype, or the loss or a
        regulariser is invalid.

    References
    ----------
    Lars Mescheder, Andreas Geiger, Sebastian Nowozin. "Which Training Methods
    for GANs do actually Converge?" ICML 2018.
    """

    def __init__(self, loss="minimax", theta0: float = 1.0, psi0: float = 1.0, regularizers=(), dtype=torch.float64):
        generator = _DiracGenerator(check_number(theta0, "theta0")).to(check_float_dtype(dtype))
        discriminator = _LinearScore(check_number(psi0, "psi0")).to(dtype)
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

    The consensus-optimisation paper's setting (section 4 there): fully connected ReLU generator and
    discriminator with 4 hidden layers of ``hidden`` units, a 16-d Gaussian latent, RMSProp.
    :meth:`coverage` reports :func:`dualgan.metrics.mode_coverage` of fresh samples.

    Parameters
    ----------
    mixture : GaussianMixture
        The data distribution, e.g. ``dualgan.data.ring(8)`` (needs ``sample``, ``centers``, ``std``, ``dim``).
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
        If ``mixture`` is not a Gaussian mixture, ``latent_dim`` is not a positive integer, ``dtype`` is not a
        floating dtype, or another argument is invalid (as in :class:`GANGame`).

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
        self.mixture = mixture
        self.latent_dim = latent_dim
        dtype = check_float_dtype(dtype)
        super().__init__(generator.to(device=device, dtype=dtype), discriminator.to(device=device, dtype=dtype),
                         loss, sample_real=lambda n, gen: mixture.sample(n, generator=gen, dtype=torch.float64),
                         sample_latent=lambda n, gen: torch.randn(n, latent_dim, generator=gen, dtype=torch.float64),
                         batch_size=batch_size, regularizers=regularizers, constraint=constraint, seed=seed)

    def coverage(self, n: int = 2000, n_std: float = 3.0, seed: int = 12345):
        """Mode coverage of ``n`` fresh samples (:func:`dualgan.metrics.mode_coverage`).

        Parameters
        ----------
        n : int, default 2000
            Number of fresh samples.
        n_std : float, default 3.0
            A sample covers a mode within ``n_std`` mixture standard deviations of its centre.
        seed : int, default 12345
            Seed of the latent codes.

        Returns
        -------
        CoverageReport
            Modes covered, high-quality fraction and per-mode counts.

        Raises
        ------
        ValueError
            If ``n`` is not a positive integer, ``seed`` not a non-negative integer, or ``n_std`` not a
            finite number > 0.
        """
        from ..metrics import mode_coverage

        return mode_coverage(self.sample(n, seed=seed).float(), self.mixture.centers, self.mixture.std, n_std=n_std)
