"""Nothing turns NaN into a finite number: losses, gradient penalties, projections and penalties propagate
NaN (documented), the augmented Lagrangian raises; the issue's input (WGAN-GP/DRAGAN gave 10.0) included."""
import math

import pytest
import torch
from torch import nn

from dualgan.constraints import AffineSubspace, AugmentedLagrangian, HyperplaneUnion, Penalty, Projection
from dualgan.losses import LOSSES, get_loss
from dualgan.regularizers import R1, R2, CoupledGradientPenalty, JSRegularizer, LocalGradientPenalty

NAN = float("nan")


def _nan_disc():
    torch.manual_seed(0)
    d = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    with torch.no_grad():
        d[0].weight.fill_(NAN)
    return d


@pytest.mark.parametrize("penalty", [CoupledGradientPenalty(), LocalGradientPenalty(), R1(), R2(), JSRegularizer(),
                                     CoupledGradientPenalty(one_sided=True)])
def test_gradient_penalties_propagate_nan_weights(penalty):
    """The issue's input: WGAN-GP and DRAGAN returned a finite 10.0 for NaN weights."""
    x = torch.randn(6, 2, dtype=torch.float64)
    value = penalty(_nan_disc(), x, x + 1)
    assert math.isnan(float(value))


@pytest.mark.parametrize("penalty", [CoupledGradientPenalty(), LocalGradientPenalty()])
def test_zero_gradient_rows_still_give_the_exact_finite_value(penalty):
    """The derivative guard at a zero gradient stays: a constant discriminator gives (0 - k)^2 = 1 times 10."""
    d = nn.Linear(2, 1).double()
    with torch.no_grad():
        d.weight.zero_()
    x = torch.randn(5, 2, dtype=torch.float64, requires_grad=True)
    value = penalty(d, x, x + 1)
    assert float(value) == 10.0
    (g,) = torch.autograd.grad(value, d.weight)
    assert torch.isfinite(g).all()


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_propagate_nan_scores(name):
    loss = get_loss(name)
    s = torch.tensor([0.3, NAN, -1.0], dtype=torch.float64)
    ok = torch.tensor([0.3, -1.0], dtype=torch.float64)
    assert math.isnan(float(loss.generator_loss(s)))
    assert math.isnan(float(loss.discriminator_loss(s, ok)))
    assert math.isnan(float(loss.discriminator_loss(ok, s)))
    assert math.isfinite(float(loss.discriminator_loss(ok, ok)))


@pytest.mark.parametrize("constraint", [AffineSubspace([[1.0, 1.0]], [0.5]),
                                        HyperplaneUnion([[1.0, 0.0], [0.0, 1.0]], [0.5, -0.5])])
def test_projection_and_penalty_propagate_nan_samples(constraint):
    x = torch.tensor([[0.1, 0.2], [NAN, 1.0]], dtype=torch.float64)
    projected = Projection(constraint).project(x)
    assert torch.isnan(projected[1]).any() and torch.isfinite(projected[0]).all()
    assert math.isnan(float(Penalty(constraint).penalty(x)))
    with pytest.raises(FloatingPointError, match="non-finite generated samples"):
        AugmentedLagrangian(constraint).update(x)
