"""Gradient penalties against hand computations (value and parameter gradient).

The quadratic discriminator D(x) = 1/2 x^T A x + b^T x + c has the closed-form
input gradient A x + b, so R1/R2's double backward can be written out by hand:
d/db [gamma/2 mean ||A x + b||^2] = gamma mean (A x + b) and
d/dA = gamma mean (A x + b) x^T (symmetrised, since A = (M + M^T)/2).
"""
import math

import numpy as np
import pytest
import torch
from torch import nn

from dualgan.regularizers import (CoupledGradientPenalty, ExponentialAnnealing, JSRegularizer,
                                  LocalGradientPenalty, R1, R2, input_gradient)



@pytest.fixture(autouse=True)
def float64_default():
    # float64 for the hand checks; restored so other test modules keep torch's default
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


class Quadratic(nn.Module):
    def __init__(self, d, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.M = nn.Parameter(torch.randn(d, d, generator=g, dtype=torch.float64))
        self.b = nn.Parameter(torch.randn(d, generator=g, dtype=torch.float64))
        self.c = nn.Parameter(torch.randn((), generator=g, dtype=torch.float64))

    @property
    def A(self):
        return 0.5 * (self.M + self.M.T)

    def forward(self, x):
        return 0.5 * ((x @ self.A) * x).sum(1) + x @ self.b + self.c


def _data(n=5, d=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(n, d, generator=g, dtype=torch.float64)


def _grads(value, module):
    return torch.autograd.grad(value, [module.M, module.b, module.c], allow_unused=True)


def _finite_difference(fn, module, h=1e-6):
    """Central differences of the scalar fn() with respect to every parameter entry."""
    out = []
    for p in (module.M, module.b, module.c):
        g = torch.zeros_like(p)
        flat = p.data.view(-1)
        for i in range(flat.numel()):
            old = flat[i].item()
            flat[i] = old + h
            up = float(fn())
            flat[i] = old - h
            down = float(fn())
            flat[i] = old
            g.view(-1)[i] = (up - down) / (2 * h)
        out.append(g)
    return out


@pytest.mark.parametrize("cls,which", [(R1, "real"), (R2, "fake")])
def test_r1_r2_value_and_double_backward_by_hand(cls, which):
    D = Quadratic(3)
    x_real, x_fake = _data()
    x = x_real if which == "real" else x_fake
    gamma = 3.0
    value = cls(gamma)(D, x_real, x_fake)
    A, b = D.A.detach(), D.b.detach()
    r = x @ A + b                          # closed-form grad_x D (A symmetric)
    expected = gamma / 2 * (r ** 2).sum(1).mean()
    assert torch.allclose(value, expected, rtol=1e-13, atol=0)
    dM, db, dc = _grads(value, D)
    hand_db = gamma * r.mean(0)
    hand_dA = gamma * (r[:, :, None] * x[:, None, :]).mean(0)
    hand_dM = 0.5 * (hand_dA + hand_dA.T)  # chain rule through A = (M + M^T)/2
    assert torch.allclose(db, hand_db, rtol=1e-12, atol=1e-14)
    assert torch.allclose(dM, hand_dM, rtol=1e-12, atol=1e-14)
    assert dc is None or float(dc.abs().max()) == 0.0  # the constant does not enter the gradient


def test_input_gradient_matches_closed_form():
    D = Quadratic(4, seed=3)
    x, _ = _data(6, 4)
    scores, grad = input_gradient(D, x)
    assert torch.allclose(scores, D(x))
    assert torch.allclose(grad, x @ D.A.detach() + D.b.detach(), rtol=1e-13)


def test_js_regularizer_value_and_gradient():
    D = Quadratic(3, seed=2)
    x_real, x_fake = _data(4, 3, seed=5)
    gamma = 0.7
    reg = JSRegularizer(gamma)
    value = reg(D, x_real, x_fake)
    A, b = D.A.detach(), D.b.detach()

    def by_hand():
        # D = sigmoid(s) written out with exp, not torch.sigmoid
        out = 0.0
        for x, real in ((x_real, True), (x_fake, False)):
            s = (0.5 * ((x @ D.A) * x).sum(1) + x @ D.b + D.c).detach()
            prob = 1.0 / (1.0 + torch.exp(-s))
            weight = (1 - prob) ** 2 if real else prob ** 2
            grad_sq = ((x @ D.A.detach() + D.b.detach()) ** 2).sum(1)
            out += float((weight * grad_sq).mean())
        return gamma / 2 * out

    assert math.isclose(value.item(), by_hand(), rel_tol=1e-12)
    analytic = _grads(value, D)
    numeric = _finite_difference(by_hand, D)
    for a, n in zip(analytic, numeric):
        assert torch.allclose(a, n, rtol=1e-6, atol=1e-8)
    del A, b


def test_js_regularizer_is_stable_for_large_logits():
    D = nn.Linear(2, 1)
    with torch.no_grad():
        D.weight.fill_(1.0)
        D.bias.fill_(800.0)      # sigmoid(s) = 1 exactly in float64, sigmoid(-s) ~ 0
    x = torch.zeros(3, 2)
    value = JSRegularizer(1.0)(D, x, x)
    # real term ~ 0, fake term = 1/2 * sigmoid(800)^2 * ||w||^2 = 1/2 * 2 = 1
    assert math.isfinite(value.item()) and math.isclose(value.item(), 1.0, rel_tol=1e-12)


@pytest.mark.parametrize("one_sided", [False, True])
@pytest.mark.parametrize("norm_w", [0.5, 2.0])
def test_coupled_penalty_on_linear_discriminator(one_sided, norm_w):
    # D(x) = w^T x has gradient w everywhere: penalty = lam (||w|| - k)^2 (one-sided: only above k)
    D = nn.Linear(3, 1, bias=False)
    w = torch.tensor([1.0, -2.0, 2.0]) / 3.0 * norm_w
    with torch.no_grad():
        D.weight.copy_(w[None])
    x_real, x_fake = _data(6, 3)
    lam, k = 4.0, 1.0
    value = CoupledGradientPenalty(lam, target=k, one_sided=one_sided)(D, x_real, x_fake)
    excess = norm_w - k
    if one_sided:
        excess = max(excess, 0.0)
    assert math.isclose(value.item(), lam * excess ** 2, rel_tol=1e-12, abs_tol=1e-15)
    (dw,) = torch.autograd.grad(value, D.weight)
    hand = 2 * lam * excess * w / norm_w
    assert torch.allclose(dw[0], hand, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("cls", [CoupledGradientPenalty, LocalGradientPenalty])
def test_sampled_penalties_on_quadratic_by_hand(cls):
    D = Quadratic(3, seed=4)
    x_real, x_fake = _data(5, 3, seed=6)
    lam, k = 2.0, 0.5
    reg = cls(lam, target=k, generator=torch.Generator().manual_seed(11))
    value = reg(D, x_real, x_fake)
    # redraw the same random points with a fresh generator of the same seed
    g = torch.Generator().manual_seed(11)
    if cls is CoupledGradientPenalty:
        eps = torch.rand((5, 1), generator=g, dtype=torch.float64)
        points = eps * x_real + (1 - eps) * x_fake
    else:
        points = x_real + 0.5 * torch.randn((5, 3), generator=g, dtype=torch.float64)

    def by_hand():
        r = points @ D.A.detach() + D.b.detach()
        return lam * float(((r.norm(dim=1) - k) ** 2).mean())

    assert math.isclose(value.item(), by_hand(), rel_tol=1e-12)
    analytic = _grads(value, D)
    numeric = _finite_difference(by_hand, D)
    for a, n in zip(analytic, numeric):
        if a is None:
            assert float(n.abs().max()) < 1e-8
        else:
            assert torch.allclose(a, n, rtol=1e-6, atol=1e-8)


def test_penalty_gradient_reaches_the_generator_when_not_detached():
    # R2 at x_fake = theta (a "generator" that outputs its parameter): d/dtheta gamma/2 ||A theta + b||^2
    D = Quadratic(2, seed=7)
    theta = torch.tensor([[0.3, -0.8]], requires_grad=True)
    value = R2(2.0)(D, torch.zeros(1, 2), theta)
    (dtheta,) = torch.autograd.grad(value, theta)
    A, b = D.A.detach(), D.b.detach()
    hand = 2.0 * (A @ (A @ theta.detach()[0] + b))
    assert torch.allclose(dtheta[0], hand, rtol=1e-12)


def test_zero_input_gradient_gives_finite_penalty_gradient():
    D = nn.Linear(2, 1)
    with torch.no_grad():
        D.weight.zero_()
    x = torch.randn(4, 2)
    value = CoupledGradientPenalty(1.0, target=1.0)(D, x, x)
    value.backward()
    assert math.isclose(value.item(), 1.0) and torch.isfinite(D.weight.grad).all()


def test_annealed_weight_follows_the_schedule():
    D = Quadratic(2)
    x_real, x_fake = _data(3, 2)
    schedule = ExponentialAnnealing(0.1, total_steps=100)
    reg = JSRegularizer(schedule)
    base = JSRegularizer(1.0)(D, x_real, x_fake).item()
    assert math.isclose(reg(D, x_real, x_fake).item(), 0.1 * base, rel_tol=1e-12)
    schedule.step(50)
    assert math.isclose(reg(D, x_real, x_fake).item(), 0.1 * 0.1 * base, rel_tol=1e-12)   # 0.01^(1/2) = 0.1
    assert math.isclose(reg(D, x_real, x_fake, step=100).item(), 0.001 * base, rel_tol=1e-12)


def test_float32_in_float32_out_and_penalties_keep_device():
    D = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1)).float()
    x_real, x_fake = torch.randn(4, 3, dtype=torch.float32), torch.randn(4, 3, dtype=torch.float32)
    for reg in (R1(), R2(), JSRegularizer(), CoupledGradientPenalty(), LocalGradientPenalty()):
        v = reg(D, x_real, x_fake)
        assert v.dtype == torch.float32 and v.device == x_real.device and v.ndim == 0


def test_image_shaped_inputs_use_the_flattened_gradient():
    # D(x) = sum(W * x) on (B, 1, 2, 2) images: gradient W, R1 = gamma/2 ||W||_F^2
    W = torch.tensor([[[1.0, 2.0], [0.5, -1.0]]])
    D = lambda x: (x * W).flatten(1).sum(1)
    x = torch.randn(3, 1, 2, 2)
    assert math.isclose(float(R1(2.0)(D, x, x)), float((W ** 2).sum()), rel_tol=1e-12)


def test_bad_input_is_named():
    D = nn.Linear(2, 1)
    x = torch.randn(4, 2)
    with pytest.raises(ValueError, match="x_real"):
        R1()(D, np.zeros((4, 2)), x)
    with pytest.raises(ValueError, match="x_fake"):
        R1()(D, x, torch.randn(4))
    with pytest.raises(ValueError, match="sample shape"):
        R1()(D, x, torch.randn(4, 3))
    with pytest.raises(ValueError, match="equal size"):
        CoupledGradientPenalty()(D, x, torch.randn(3, 2))
    with pytest.raises(ValueError, match="one score per sample"):
        R1()(lambda t: t, x, x)
    with pytest.raises(ValueError, match="gamma"):
        R1(-1.0)
    with pytest.raises(ValueError, match="target"):
        CoupledGradientPenalty(target=-1)
    with pytest.raises(ValueError, match="scale"):
        LocalGradientPenalty(scale=float("nan"))
    with pytest.raises(ValueError, match="discriminator"):
        R1()("not a network", x, x)


def test_js_from_gradients_reuses_a_shared_forward_pass():
    D = Quadratic(3, seed=8)
    x_real, x_fake = _data(4, 3, seed=9)
    reg = JSRegularizer(0.3)
    x = torch.cat([x_real, x_fake]).requires_grad_(True)
    scores = D(x)
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    shared = reg.from_gradients(scores[:4], grad[:4], scores[4:], grad[4:])
    direct = reg(D, x_real, x_fake)
    assert torch.allclose(shared, direct, rtol=1e-14)
    for a, b in zip(_grads(shared, D), _grads(direct, D)):
        assert torch.allclose(a, b, rtol=1e-12)
