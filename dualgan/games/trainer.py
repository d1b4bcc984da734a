r"""``GameTrainer``: a GAN trained as a two-player game by any registered game optimiser (trainer ``"game"``).

Each iteration draws a fresh batch and takes one game-optimiser step (eqs. (3.3)-(3.10) of the theory page) on
the :class:`~dualgan.games.GANGame` of the two networks (losses of eq. (5.1), field of eq. (3.1)). ``fit``, the
:class:`~dualgan.train.History`, callbacks, status and checkpoints are every :class:`~dualgan.train.base.Trainer`'s;
the checkpoint's own parts are the game's and the optimiser's state (batch sampler, current batch, regulariser
schedules, base-optimiser state, optimistic memory). History columns: the shared ``iteration``, ``objective``
(the discriminator's loss :math:`L_D` on the batch at the start of the step, which the generator drives up),
``generator_loss`` (:math:`L_G` at the start of the step, constraint penalty included), ``seconds`` and the
constraint columns, plus ``field_norm`` (:math:`\|v\|`), ``update_norm``, ``coefficient`` (the method's scalar,
NaN when it has none) and ``inner_iterations``.
"""
from __future__ import annotations

import copy
import hashlib
import math
from typing import Mapping, Sequence

import torch
from torch import nn

from ..constraints.base import NoConstraint, check_handler
from ..status import Status, StatusCode
from ..train.base import TRAINERS, Trainer, _check_discriminator, settings_string
from .gan import GANGame, regularizer_list
from .harness import GameMixin
from .optimizers import OPTIMIZERS, GameOptimizer

__all__ = ["GameTrainer"]

#: where each shared keyword of the other trainers that a game trainer does not take lives instead (checking order)
_NOT_TAKEN = {
    "generator_lr": "set the step size of both players as optimizer_options={'lr': ...}",
    "beta1": "for Adam's momentum pass optimizer_options={'base': 'adam', 'base_kwargs': {'betas': (beta1, 0.999)}}",
    "generator_optimizer": "choose the game optimiser with optimizer= (a name of OPTIMIZERS or a GameOptimizer) and "
                           "its base optimiser with optimizer_options={'base': 'sgd' | 'adam' | 'rmsprop'}",
    "discriminator_lr": "set the step size of both players as optimizer_options={'lr': ...}",
}


def _registered_name(optimizer: GameOptimizer) -> str:
    """The name ``optimizer``'s class is registered under in OPTIMIZERS (else its qualified class name)."""
    return next((name for name in OPTIMIZERS.names() if OPTIMIZERS.get(name) is type(optimizer)),
                f"{type(optimizer).__module__}.{type(optimizer).__qualname__}")


def _optimizer_options(optimizer: GameOptimizer, name: str) -> dict:
    """Every keyword option of the optimiser's class, read from the instance (all its settings, defaults too)."""
    if name in OPTIMIZERS:
        return {k: getattr(optimizer, k) for k in OPTIMIZERS.options(name) if hasattr(optimizer, k)}
    return {k: v for k, v in vars(optimizer).items() if not k.startswith("_") and k != "iteration"}


def _seed_regularizers(regularizers, seed: int, device) -> list:
    """The regularisers, those with ``generator`` None copied with one seeded from ``seed`` and their place."""
    out = []
    for i, r in enumerate(regularizer_list(regularizers)):
        if hasattr(r, "generator") and getattr(r, "generator") is None:
            r = copy.deepcopy(r)
            digest = hashlib.sha256(f"dualgan.GameTrainer:{seed}:regularizer:{i}".encode()).digest()
            r.generator = torch.Generator(device=device).manual_seed(int.from_bytes(digest[:8], "little") >> 1)
        out.append(r)
    return out


@TRAINERS.register("game")
class GameTrainer(GameMixin, Trainer):
    r"""Train a GAN with a game optimiser: one optimiser step on both players per iteration.

    Parameters
    ----------
    generator : torch.nn.Module
        Maps noise ``(B, latent_dim)`` to samples ``(B, ...)`` (player 0, :math:`\theta`).
    discriminator : torch.nn.Module
        Maps samples to one raw score each, shape ``(B,)`` or ``(B, 1)`` (player 1, :math:`\psi`).
    latent_dim : int
        Noise dimension (>= 1).
    batch_size : int, default 64
        Real and generated samples per iteration (>= 1).
    noise : str, default "normal"
        ``"normal"`` or ``"uniform"`` (on [-1, 1]) generator input.
    optimizer : str or GameOptimizer, default "simultaneous"
        A name of :data:`~dualgan.games.optimizers.OPTIMIZERS` or a fresh
        :class:`~dualgan.games.optimizers.GameOptimizer` instance (not yet bound to a game).
    optimizer_options : dict, optional
        Keyword options of the named optimiser (``lr``, ``base``, ``gamma``, ...; ``OPTIMIZERS.options(name)``
        lists them). Default None: its defaults. Not allowed with an instance.
    gan_loss : str or GANLoss, default "non_saturating"
        A name of :data:`dualgan.losses.LOSSES` or a ``GANLoss`` (eqs. (5.2)-(5.6) of the theory page; the keyword
        of :class:`~dualgan.trust_region.TrustRegionGAN`, while ``loss`` of :class:`~dualgan.train.DualLinearGAN`
        is its linear discriminator's loss). Recorded as ``meta["gan_loss"]``.
    regularizers : sequence of callable, default ()
        Discriminator regularisers ``(discriminator, x_real, x_fake) -> scalar``, e.g.
        :class:`dualgan.regularizers.R1` (eq. (5.10)); a weight :class:`~dualgan.regularizers.Schedule` advances
        once per iteration. One whose ``generator`` is None (WGAN-GP's
        :class:`~dualgan.regularizers.CoupledGradientPenalty`, DRAGAN's
        :class:`~dualgan.regularizers.LocalGradientPenalty`) would draw from torch's global generator, which no
        checkpoint holds: a copy gets a ``torch.Generator`` seeded from ``seed``, saved in checkpoints (the
        caller's object is unchanged). Recorded by class and fields.
    constraint : ConstraintHandler, optional
        A handler of :mod:`dualgan.constraints`: the generator is wrapped, the penalty added to :math:`L_G`,
        ``update`` called after every step. Default None.
    seed : int, default 0
        Seeds the game's batch draws (data and noise) and the random regularisers.
    generator_lr, discriminator_lr, beta1, generator_optimizer : None
        Not taken (one game optimiser updates both players with one step size); passing one raises a
        ``ValueError`` saying where the setting lives: the step size is ``optimizer_options={"lr": ...}``,
        Adam's momentum ``optimizer_options={"base": "adam", "base_kwargs": {"betas": (beta1, 0.999)}}``.

    Raises
    ------
    ValueError
        If the optimiser name or one of its options is unknown, options are given with an instance, the instance
        has already stepped a game, a number is out of range, the loss is unknown, ``latent_dim`` does not fit
        the generator, a keyword that is not taken is given, the discriminator does not give one score per
        sample (``nn.Linear(8, 2)``), or the generator breaks its contract (see :class:`~dualgan.train.base.Trainer`).
    TypeError
        If a model is not a module, ``optimizer`` is neither a name nor a
        :class:`~dualgan.games.optimizers.GameOptimizer`, the constraint handler is incomplete, the
        discriminator's dtype is not the generator's, or ``base_kwargs`` in ``optimizer_options`` is not a dict.

    References
    ----------
    Lars Mescheder, Sebastian Nowozin, Andreas Geiger. "The Numerics of GANs." NeurIPS 2017.
    David Balduzzi, Sebastien Racaniere, James Martens, Jakob Foerster, Karl
    Tuyls, Thore Graepel. "The Mechanics of n-Player Differentiable Games." ICML 2018.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from dualgan.data import ring
    >>> from dualgan.games import GameTrainer
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> g = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2)).double()
    >>> d = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1)).double()
    >>> trainer = GameTrainer(g, d, latent_dim=2, batch_size=32, optimizer="consensus",
    ...                       optimizer_options={"lr": 1e-2, "gamma": 1.0})
    >>> history = trainer.fit(ring(5), 5)
    >>> trainer.status.success, len(history)
    (True, 5)
    """

    kind = "game"

    def __init__(self, generator: nn.Module, discriminator: nn.Module, *, latent_dim: int, batch_size: int = 64,
                 noise: str = "normal", optimizer="simultaneous", optimizer_options: Mapping | None = None,
                 gan_loss="non_saturating", regularizers: Sequence = (), constraint=None, seed: int = 0,
                 generator_lr=None, beta1=None, generator_optimizer=None, discriminator_lr=None):
        for key, value in zip(_NOT_TAKEN, (generator_lr, beta1, generator_optimizer, discriminator_lr)):
            if value is not None:
                raise ValueError(f"GameTrainer takes no {key}: a game optimiser updates both players with one step "
                                 f"size, so GameTrainer has no separate generator or discriminator optimiser; "
                                 f"{_NOT_TAKEN[key]}")
        if not isinstance(discriminator, nn.Module):
            raise TypeError(f"discriminator must be a torch.nn.Module, got {type(discriminator).__name__}")
        if isinstance(optimizer, GameOptimizer):
            if optimizer_options:
                raise ValueError("optimizer_options are for an optimiser given by name; configure the instance "
                                 "itself, or pass its name and the options")
            if optimizer.iteration or getattr(optimizer, "_game", None) is not None:
                raise ValueError("optimizer has already stepped a game (it keeps per-game state); pass a fresh one")
            self.game_optimizer, self.optimizer_name = optimizer, _registered_name(optimizer)
        elif isinstance(optimizer, str):
            options = OPTIMIZERS.check_options(optimizer, optimizer_options)
            self.game_optimizer, self.optimizer_name = OPTIMIZERS.get(optimizer)(**options), optimizer
        else:
            raise TypeError(f"optimizer must be a name of dualgan.games.optimizers.OPTIMIZERS "
                            f"({OPTIMIZERS.names()}) or a GameOptimizer, got {type(optimizer).__name__}")
        # the optimiser's settings read from the instance: a name with options and an instance with the same
        # settings are the same setting (in checkpoints too)
        self.optimizer_options = _optimizer_options(self.game_optimizer, self.optimizer_name)
        handler = None if constraint is None else check_handler(constraint)
        super().__init__(generator, latent_dim=latent_dim, batch_size=batch_size, noise=noise, seed=seed)
        _check_discriminator(discriminator, generator, self.latent_dim, self.dtype, self.device)
        regularizers = _seed_regularizers(regularizers, self.seed, self.device)
        # the game wraps the generator with the handler and adds its penalty and updates
        self.game = GANGame(self.generator, discriminator, gan_loss, sample_real=self._real,
                            sample_latent=self._noise, batch_size=self.batch_size, regularizers=regularizers,
                            constraint=handler, seed=self.seed)
        self.constraint = NoConstraint() if handler is None else handler
        self.generator = self.game.generator
        self.discriminator = discriminator
        # recorded now: a schedule's counter moves while training
        self._settings = {"optimizer": self.optimizer_name,
                          "optimizer_options": settings_string(self.optimizer_options),
                          "gan_loss": self.game.loss.name,
                          "regularizers": settings_string(self.game.regularizers)}

    def _make_generator_optimizer(self, factory):
        return None  # the game optimiser steps both players

    def _meta(self) -> dict:
        shared = {k: v for k, v in super()._meta().items() if k not in _NOT_TAKEN}  # keywords it does not take
        return {**shared, **self._settings}

    # ------------------------------------------------------------------ one iteration
    def _step(self) -> dict | None:
        self.game.resample()  # real samples come from Trainer._real, which ends the run on non-finite data
        record = self._play()
        if record.status.code is StatusCode.NON_FINITE:
            self._non_finite("game field or losses")  # the step was not applied
            return None
        if not record.ok:  # the step's own failure (e.g. competitive GD's inner solve): its code, its message
            self.status = Status(record.status.code, f"{self.optimizer_name} step at iteration {self.iteration}: "
                                                     f"{record.status.message}")
            return None
        loss_g, loss_d = (float(v) for v in record.losses[:2])
        row = {"objective": loss_d, "generator_loss": loss_g, "field_norm": record.field_norm,
               "update_norm": record.update_norm, "coefficient": record.coefficient,
               "inner_iterations": float(record.inner_iterations)}
        if not isinstance(self.constraint, NoConstraint):
            with torch.no_grad():
                row.update(self._constraint_columns(self.generator(self.game.z)))
        if not all(math.isfinite(p) for p in (row["field_norm"], loss_g)):
            self._non_finite("game field or losses")
            return None
        return row
