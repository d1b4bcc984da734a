r"""Conditional GANs: generators :math:`G(z, y)` and discriminators :math:`D(x, y)` (eq. (5.14) of the theory page, docs/theory.md).

The label ``y`` (integer class in ``[0, n_classes)``) enters as a one-hot code
or a learned embedding:

* :class:`ConditionalGenerator`: :math:`G(z, y) = \mathrm{body}([z, e(y)])`;
* :class:`ConditionalDiscriminator`: :math:`D(x, y) = \mathrm{body}([\mathrm{vec}(x), e(y)])`
  (input concatenation, Mirza & Osindero 2014);
* :class:`ProjectionDiscriminator`: :math:`D(x, y) = \psi(\phi(x)) + e(y)^\top \phi(x)`
  (Miyato & Koyama 2018).

Any loss of :mod:`dualgan.losses` applies unchanged to the conditional scores;
:func:`conditional_losses` computes both players' losses for one batch, and
:func:`bind_labels` fixes the labels so that the regularisers of
:mod:`dualgan.regularizers` (which see ``x -> scores``) work on ``D(., y)``.


Examples
--------
>>> import torch
>>> from torch import nn
>>> from dualgan.conditional import ConditionalGenerator, ConditionalDiscriminator, conditional_losses
>>> G = ConditionalGenerator(nn.Sequential(nn.Linear(2 + 3, 16), nn.ReLU(), nn.Linear(16, 2)), n_classes=3)
>>> D = ConditionalDiscriminator(nn.Sequential(nn.Linear(2 + 3, 16), nn.ReLU(), nn.Linear(16, 1)), n_classes=3)
>>> x, y = torch.randn(8, 2), torch.randint(3, (8,))
>>> losses = conditional_losses("hinge", G, D, x, y, torch.randn(8, 2), torch.randint(3, (8,)))
"""
from .models import (ConditionalDiscriminator, ConditionalGenerator, ConditionalLosses, LabelEmbedding,
                     ProjectionDiscriminator, bind_labels, conditional_losses, sample_labels)

__all__ = ["LabelEmbedding", "ConditionalGenerator", "ConditionalDiscriminator", "ProjectionDiscriminator",
           "ConditionalLosses", "bind_labels", "conditional_losses", "sample_labels"]
