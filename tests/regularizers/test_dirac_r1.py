"""R1 on the Dirac-GAN (Mescheder et al. 2018), with a plain gradient loop.

Data at 0, generator theta, discriminator D(x) = psi * x, minimax loss.
Unregularised simultaneous GD spirals out and alternating GD cycles; with R1
both converge to (0, 0). The torch loop (regulariser through double backward)
is first checked step by step against the closed-form vector field
    grad_psi  L_D = theta * sigmoid(psi * theta) + gamma * psi,
    grad_theta L_G = -psi * sigmoid(psi * theta).
"""
import math

import numpy as np
import pytest
import torch
from torch import nn

from dualgan.losses import minimax
from dualgan.regularizers import R1


def _torch_dirac(penalty, mode, steps, h=0.1, start=(1.0, 1.0)):
    D = nn.Linear(1, 1, bias=False).double()
    theta = nn.Parameter(torch.tensor([[start[0]]], dtype=torch.float64))
    with torch.no_grad():
        D.weight.fill_(start[1])
    x_real = torch.zeros(1, 1, dtype=torch.float64)

    def d_grad():
        loss = minimax.discriminator_loss(D(x_real), D(theta.detach()))
        if penalty is not None:
            loss = loss + penalty(D, x_real, theta.detach())
        return torch.autograd.grad(loss, D.weight)[0]

    def g_grad():
        return torch.autograd.grad(minimax.generator_loss(D(theta)), theta)[0]

    path = [(start[0], start[1])]
    for _ in range(steps):
        if mode == "simultaneous":
            gd, gg = d_grad(), g_grad()
            with torch.no_grad():
                D.weight -= h * gd
                theta -= h * gg
        else:
            gd = d_grad()
            with torch.no_grad():
                D.weight -= h * gd
            gg = g_grad()
            with torch.no_grad():
                theta -= h * gg
        path.append((theta.item(), D.weight.item()))
    return np.array(path)


def _closed_form_dirac(gamma, mode, steps, h=0.1, start=(1.0, 1.0)):
    sig = lambda t: 1.0 / (1.0 + math.exp(-t))
    theta, psi = start
    path = [(theta, psi)]
    for _ in range(steps):
        gpsi = theta * sig(psi * theta) + gamma * psi
        if mode == "simultaneous":
            gtheta = -psi * sig(psi * theta)
            psi, theta = psi - h * gpsi, theta - h * gtheta
        else:
            psi = psi - h * gpsi
            theta = theta + h * psi * sig(psi * theta)
        path.append((theta, psi))
    return np.array(path)


@pytest.mark.parametrize("mode", ["simultaneous", "alternating"])
@pytest.mark.parametrize("gamma", [0.0, 1.0])
def test_torch_loop_matches_closed_form_vector_field(mode, gamma):
    penalty = R1(gamma) if gamma > 0 else None
    np.testing.assert_allclose(_torch_dirac(penalty, mode, 40), _closed_form_dirac(gamma, mode, 40),
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("mode", ["simultaneous", "alternating"])
def test_r1_converges_and_unregularised_does_not(mode):
    steps = 600
    start_norm = math.sqrt(2.0)
    reg = _torch_dirac(R1(1.0), mode, steps)
    assert np.linalg.norm(reg[-1]) < 1e-8                       # converged to the equilibrium (0, 0)
    plain = _closed_form_dirac(0.0, mode, steps)                 # same field, checked equal above
    late = np.linalg.norm(plain[-100:], axis=1)
    if mode == "simultaneous":
        assert late.min() > start_norm                           # spirals outwards
    else:
        assert late.min() > 0.5 * start_norm                     # cycles: stays away from (0, 0)
