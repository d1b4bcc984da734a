r"""The (f, g, h) component functions of the common GAN losses (eqs. (5.1)-(5.6) of the theory page, docs/theory.md).

=================  ==========================  ==========================  ==========================
loss               f (real)                    g (generated)               h (generator)
=================  ==========================  ==========================  ==========================
minimax            :math:`\log\sigma(s)`       :math:`\log(1-\sigma(s))`   :math:`\log(1-\sigma(s))`
non_saturating     :math:`\log\sigma(s)`       :math:`\log(1-\sigma(s))`   :math:`-\log\sigma(s)`
wasserstein        :math:`s`                   :math:`-s`                  :math:`-s`
hinge              :math:`-\max(0, 1-s)`       :math:`-\max(0, 1+s)`       :math:`-s`
least_squares      :math:`-(s-1)^2`            :math:`-s^2`                :math:`(s-1)^2`
=================  ==========================  ==========================  ==========================

The logistic forms use ``logsigmoid`` (:math:`\log(1-\sigma(s)) = \log\sigma(-s)`),
finite for any finite score. A NaN score gives a NaN loss (propagated, never
replaced by a finite number; trainers report it as a non-finite status). Pointwise optimal discriminators (density ratio
:math:`p/q`): logit :math:`\log(p/q)` for the logistic losses, :math:`p/(p+q)`
for least squares. The Wasserstein loss needs a Lipschitz constraint
(:mod:`dualgan.regularizers`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ..registry import Registry

__all__ = ["GANLoss", "LOSSES", "get_loss", "minimax", "non_saturating", "wasserstein", "hinge", "least_squares"]

Component = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class GANLoss:
    r"""A GAN objective given by its component functions.

    ``f`` and ``g`` act on the discriminator's score of real and generated
    samples (the discriminator maximises their means); ``h`` acts on the score
    of generated samples (the generator minimises its mean).

    Parameters
    ----------
    name : str
        Name of the loss (its name in :data:`dualgan.losses.LOSSES` for the registered ones).
    f : callable
        Component on real scores, ``Tensor -> Tensor`` elementwise.
    g : callable
        Component on generated scores for the discriminator.
    h : callable
        Component on generated scores for the generator.

    References
    ----------
    Eq. (5.1) of the theory page, docs/theory.md; Dong and Yang, "Towards a Deeper
    Understanding of Adversarial Losses", arXiv:1901.08753, 2019.
    """

    name: str
    f: Component
    g: Component
    h: Component

    def __post_init__(self):
        for part in ("f", "g", "h"):
            if not callable(getattr(self, part)):
                raise ValueError(f"GANLoss component {part} must be a callable tensor -> tensor (elementwise), "
                                 f"got {type(getattr(self, part)).__name__}")

    def discriminator_value(self, score_real: torch.Tensor, score_fake: torch.Tensor) -> torch.Tensor:
        r""":math:`E_{p_d}[f(s)] + E_{p_g}[g(s)]` (to be maximised).

        Scores of shape ``(B,)`` or ``(B, 1)``; the batches may differ in size.

        Parameters
        ----------
        score_real : torch.Tensor
            Raw scores (logits) of the real batch, shape ``(B,)`` or ``(B, 1)``.
        score_fake : torch.Tensor
            Raw scores of the generated batch, shape ``(B',)`` or ``(B', 1)``.

        Returns
        -------
        torch.Tensor
            0-d tensor.
        """
        score_real = _check_scores(score_real, "score_real")
        score_fake = _check_scores(score_fake, "score_fake")
        return self.f(score_real).mean() + self.g(score_fake).mean()

    def discriminator_loss(self, score_real: torch.Tensor, score_fake: torch.Tensor) -> torch.Tensor:
        """The discriminator's loss to minimise: minus :meth:`discriminator_value`.

        Parameters
        ----------
        score_real : torch.Tensor
            Raw scores (logits) of the real batch, shape ``(B,)`` or ``(B, 1)``.
        score_fake : torch.Tensor
            Raw scores of the generated batch (usually computed on ``x_fake.detach()``).

        Returns
        -------
        torch.Tensor
            0-d tensor :math:`-(E_{p_d}[f(s)] + E_{p_g}[g(s)])`.
        """
        return -self.discriminator_value(score_real, score_fake)

    def generator_loss(self, score_fake: torch.Tensor) -> torch.Tensor:
        r""":math:`E_{p_g}[h(s)]` (to be minimised).

        Parameters
        ----------
        score_fake : torch.Tensor
            Raw scores of the generated batch, shape ``(B,)`` or ``(B, 1)``, with the generator's graph.

        Returns
        -------
        torch.Tensor
            0-d tensor.
        """
        return self.h(_check_scores(score_fake, "score_fake")).mean()


def _check_scores(scores, name: str) -> torch.Tensor:
    if not isinstance(scores, torch.Tensor):
        raise ValueError(f"{name} must be a torch tensor of discriminator scores, got {type(scores).__name__}")
    if scores.numel() == 0:
        raise ValueError(f"{name} is empty; pass at least one score")
    return scores


def _log_one_minus_sigmoid(s):
    return F.logsigmoid(-s)  # log(1 - sigmoid(s)), stable


def _negate(s):
    return -s


minimax = GANLoss("minimax", f=F.logsigmoid, g=_log_one_minus_sigmoid, h=_log_one_minus_sigmoid)
non_saturating = GANLoss("non_saturating", f=F.logsigmoid, g=_log_one_minus_sigmoid, h=lambda s: -F.logsigmoid(s))
# wasserstein's h is the same function object as its g, which is what declares a GAN game with this loss
# zero-sum up to E_pd[f] (dualgan.games.GANGame)
wasserstein = GANLoss("wasserstein", f=lambda s: s, g=_negate, h=_negate)
hinge = GANLoss("hinge", f=lambda s: -F.relu(1.0 - s), g=lambda s: -F.relu(1.0 + s), h=lambda s: -s)
least_squares = GANLoss("least_squares", f=lambda s: -(s - 1.0) ** 2, g=lambda s: -s ** 2, h=lambda s: (s - 1.0) ** 2)

#: every registered GAN loss, by name: a :class:`GANLoss` per entry, registered with
#: ``LOSSES.register(name, GANLoss(name, f, g, h))`` in any module of :mod:`dualgan.losses`
LOSSES = Registry("GAN loss", package="dualgan.losses")
for _loss in (minimax, non_saturating, wasserstein, hinge, least_squares):
    LOSSES.register(_loss.name, _loss)
del _loss


def get_loss(name_or_loss) -> GANLoss:
    """A loss from itself or its name in :data:`dualgan.losses.LOSSES`.

    Parameters
    ----------
    name_or_loss : str or GANLoss
        A name of :data:`dualgan.losses.LOSSES` (``"minimax"``, ``"non_saturating"``,
        ``"wasserstein"``, ``"hinge"``, ``"least_squares"``), or a :class:`GANLoss`
        (returned as is).

    Returns
    -------
    GANLoss
        The loss.

    Raises
    ------
    ValueError
        If the name is not registered (the message lists the registered names;
        a loss of one's own is ``GANLoss(name, f, g, h)``).
    """
    if isinstance(name_or_loss, GANLoss):
        return name_or_loss
    return LOSSES.get(name_or_loss)
