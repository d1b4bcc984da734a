r"""Discriminator regularisers (eqs. (5.7)-(5.13) of the theory page, docs/theory.md).

Every gradient penalty is a callable object with one signature,

    ``penalty(discriminator, x_real, x_fake) -> scalar tensor``,

to be *added* to the discriminator's loss (the quantity it minimises). The
discriminator is any callable ``x -> scores`` (shape ``(B,)`` or ``(B, 1)``);
for a conditional discriminator bind the labels first with
:func:`dualgan.conditional.bind_labels`. Because the penalty only sees a
callable and two batches it works with every trainer and game optimiser.

* :class:`CoupledGradientPenalty` (WGAN-GP): interpolates of real and fake;
* :class:`LocalGradientPenalty` (DRAGAN): real + c * N(0, I) perturbations;
* :class:`R1`, :class:`R2`: squared gradient norm on real / generated data;
* :class:`JSRegularizer`: Roth et al.'s Jensen-Shannon regulariser in logit
  form, with :class:`ExponentialAnnealing` of its weight;
* :func:`apply_spectral_norm`: spectral normalisation of the layers of a module;
* :func:`clip_weights` / :class:`WeightClipper`: WGAN weight clipping.


Examples
--------
>>> import torch
>>> from dualgan.regularizers import R1
>>> D = torch.nn.Linear(2, 1)
>>> x_real, x_fake = torch.randn(8, 2), torch.randn(8, 2)
>>> penalty = R1(gamma=10.0)
>>> d_loss = torch.nn.functional.softplus(-D(x_real)).mean() + penalty(D, x_real, x_fake)
"""
from .penalties import (
    CoupledGradientPenalty,
    GradientPenalty,
    JSRegularizer,
    LocalGradientPenalty,
    R1,
    R2,
    input_gradient,
)
from .schedules import ConstantSchedule, ExponentialAnnealing, Schedule
from .weights import WeightClipper, apply_spectral_norm, clip_weights, remove_spectral_norm

__all__ = [
    "GradientPenalty",
    "CoupledGradientPenalty",
    "LocalGradientPenalty",
    "R1",
    "R2",
    "JSRegularizer",
    "input_gradient",
    "Schedule",
    "ConstantSchedule",
    "ExponentialAnnealing",
    "apply_spectral_norm",
    "remove_spectral_norm",
    "clip_weights",
    "WeightClipper",
]
