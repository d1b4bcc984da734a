"""Every GAN loss against a hand computation of its value and score gradient.

Hand formulas (sigma the logistic function, s the raw score):
  minimax:        f = log sigma(s),   g = log(1 - sigma(s)), h = log(1 - sigma(s))
  non-saturating: f, g as minimax,    h = -log sigma(s)
  Wasserstein:    f = s, g = -s, h = -s
  hinge:          f = -max(0, 1 - s), g = -max(0, 1 + s), h = -s
  least squares:  f = -(s - 1)^2, g = -s^2, h = (s - 1)^2
with derivatives written out below (not taken from torch).
"""
import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize_scalar

from dualgan.losses import GANLoss, LOSSES, get_loss

sig = lambda s: 1.0 / (1.0 + math.exp(-s))

HAND = {
    # name: (f, f', g, g', h, h')
    "minimax": (lambda s: math.log(sig(s)), lambda s: 1 - sig(s),
                lambda s: math.log(1 - sig(s)), lambda s: -sig(s),
                lambda s: math.log(1 - sig(s)), lambda s: -sig(s)),
    "non_saturating": (lambda s: math.log(sig(s)), lambda s: 1 - sig(s),
                       lambda s: math.log(1 - sig(s)), lambda s: -sig(s),
                       lambda s: -math.log(sig(s)), lambda s: -(1 - sig(s))),
    "wasserstein": (lambda s: s, lambda s: 1.0, lambda s: -s, lambda s: -1.0, lambda s: -s, lambda s: -1.0),
    "hinge": (lambda s: -max(0.0, 1 - s), lambda s: 1.0 if s < 1 else 0.0,
              lambda s: -max(0.0, 1 + s), lambda s: -1.0 if s > -1 else 0.0,
              lambda s: -s, lambda s: -1.0),
    "least_squares": (lambda s: -(s - 1) ** 2, lambda s: -2 * (s - 1), lambda s: -s ** 2, lambda s: -2 * s,
                      lambda s: (s - 1) ** 2, lambda s: 2 * (s - 1)),
}

S_REAL = [2.0, -0.5, 0.3, 1.7]       # away from the hinge kinks at +-1
S_FAKE = [-1.5, 0.4, -0.2]


@pytest.mark.parametrize("name", sorted(HAND))
def test_value_and_gradient_by_hand(name):
    loss = get_loss(name)
    f, df, g, dg, h, dh = HAND[name]
    s_real = torch.tensor(S_REAL, dtype=torch.float64, requires_grad=True)
    s_fake = torch.tensor(S_FAKE, dtype=torch.float64, requires_grad=True)
    n, m = len(S_REAL), len(S_FAKE)

    d_value = np.mean([f(s) for s in S_REAL]) + np.mean([g(s) for s in S_FAKE])
    d_loss = loss.discriminator_loss(s_real, s_fake)
    assert math.isclose(loss.discriminator_value(s_real, s_fake).item(), d_value, rel_tol=1e-14, abs_tol=1e-15)
    assert math.isclose(d_loss.item(), -d_value, rel_tol=1e-14, abs_tol=1e-15)
    grad_real, grad_fake = torch.autograd.grad(d_loss, [s_real, s_fake])
    np.testing.assert_allclose(grad_real.numpy(), [-df(s) / n for s in S_REAL], rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(grad_fake.numpy(), [-dg(s) / m for s in S_FAKE], rtol=1e-13, atol=1e-16)

    g_loss = loss.generator_loss(s_fake)
    assert math.isclose(g_loss.item(), np.mean([h(s) for s in S_FAKE]), rel_tol=1e-14, abs_tol=1e-15)
    (grad_gen,) = torch.autograd.grad(g_loss, s_fake)
    np.testing.assert_allclose(grad_gen.numpy(), [dh(s) / m for s in S_FAKE], rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("name,optimal_score", [
    ("minimax", lambda p, q: math.log(p / q)),          # D* = p / (p + q) in logit form
    ("non_saturating", lambda p, q: math.log(p / q)),
    ("least_squares", lambda p, q: p / (p + q)),
])
def test_pointwise_optimal_discriminator(name, optimal_score):
    # maximise p f(s) + q g(s) over s numerically (scipy) and compare with the closed form
    loss = get_loss(name)
    for p, q in [(0.7, 0.3), (0.2, 1.1), (2.0, 2.0)]:
        objective = lambda s: -(p * loss.f(torch.tensor(s, dtype=torch.float64)) +
                                q * loss.g(torch.tensor(s, dtype=torch.float64))).item()
        best = minimize_scalar(objective, bounds=(-20, 20), method="bounded", options={"xatol": 1e-10})
        assert abs(best.x - optimal_score(p, q)) < 1e-6


@pytest.mark.parametrize("name", ["minimax", "non_saturating"])
def test_logistic_losses_are_finite_for_huge_scores(name):
    loss = get_loss(name)
    s = torch.tensor([-1e4, 1e4], dtype=torch.float32, requires_grad=True)
    total = loss.discriminator_loss(s, s) + loss.generator_loss(s)
    (grad,) = torch.autograd.grad(total, s)
    assert torch.isfinite(total) and torch.isfinite(grad).all()


def test_user_defined_loss_from_components():
    # f(s) = -exp(-s), g(s) = -exp(s): a valid (f, g, h) triple not in the table
    loss = GANLoss("exponential", f=lambda s: -torch.exp(-s), g=lambda s: -torch.exp(s), h=lambda s: torch.exp(-s))
    s_real = torch.tensor([0.5, 1.0], dtype=torch.float64)
    s_fake = torch.tensor([-0.5], dtype=torch.float64)
    expected = -(np.mean([-math.exp(-0.5), -math.exp(-1.0)]) + -math.exp(-0.5))
    assert math.isclose(loss.discriminator_loss(s_real, s_fake).item(), expected, rel_tol=1e-14)
    assert get_loss(loss) is loss


def test_scores_of_shape_b_by_1_are_accepted():
    loss = get_loss("non_saturating")
    s = torch.tensor([[0.3], [-0.2]], dtype=torch.float64)
    assert math.isclose(loss.discriminator_loss(s, s).item(), loss.discriminator_loss(s[:, 0], s[:, 0]).item())


def test_table_and_bad_input():
    assert set(LOSSES) == set(HAND)
    with pytest.raises(ValueError, match=r"unknown GAN loss .nonsaturating.; choose one of \[.*non_saturating"):
        get_loss("nonsaturating")
    with pytest.raises(ValueError, match="callable"):
        GANLoss("broken", f=1.0, g=lambda s: s, h=lambda s: s)
    with pytest.raises(ValueError, match="score_real"):
        get_loss("minimax").discriminator_loss([1.0], torch.zeros(1))
    with pytest.raises(ValueError, match="score_fake"):
        get_loss("minimax").generator_loss(torch.zeros(0))
