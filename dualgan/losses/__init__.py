r"""GAN objectives in the component-function form (eqs. (5.1)-(5.6) of the theory page, docs/theory.md).

The discriminator maximises :math:`E_{p_d}[f(D(x))] + E_{p_g}[g(D(x))]` and the
generator minimises :math:`E_{p_g}[h(D(x))]`, with ``D`` the raw score (logit).
A :class:`GANLoss` holds ``f``, ``g`` and ``h``; users define their own by
passing three torch functions. :data:`LOSSES` holds the losses chosen by name
(``LOSSES.get("hinge")``; :func:`get_loss` also passes a :class:`GANLoss` through);
a module of this package that registers one adds it.


Examples
--------
>>> import torch
>>> from dualgan.losses import get_loss
>>> loss = get_loss("non_saturating")
>>> s_real, s_fake = torch.tensor([2.0]), torch.tensor([-1.0])
>>> d_loss = loss.discriminator_loss(s_real, s_fake)   # minimise: -(E f + E g)
>>> g_loss = loss.generator_loss(s_fake)
"""
from .components import GANLoss, LOSSES, get_loss, minimax, non_saturating, wasserstein, hinge, least_squares

__all__ = ["GANLoss", "LOSSES", "get_loss", "minimax", "non_saturating", "wasserstein", "hinge", "least_squares"]
