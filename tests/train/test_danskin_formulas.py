"""The dual GAN's generator gradient (Danskin, eq. (1.14) of the theory page) against finite differences.

The reference is independent of the library's solvers: ``g(theta)`` is the
minimum of the primal (1.1), solved by scipy's trust-region Newton method
(``tests/_references.py``), and its gradient with respect to the generator's
parameters is a central difference of that value. The generator is a set of
learnable points (it ignores its noise), so the parameters are the generated
samples themselves; the feature map ``[x, sin(2x)]`` is written again in numpy.

What is checked is what the trainer does with the gradient: the step of a
plain SGD generator optimiser (``theta_1 = theta_0 + lr * grad g``; Adam would
hide a wrong scale), the recorded ``generator_grad_norm`` and ``objective``
of every mode, so a surrogate off by a factor, a sign or a term fails here.
"""
import math

import numpy as np
import pytest
import torch
from torch import nn

from dualgan.train import DualLinearGAN
from tests._references import logistic_primal

C = 0.05
N = 6


class _Points(nn.Module):
    """A generator whose output is its parameter: N learnable points in the plane (the noise is ignored)."""

    def __init__(self, points):
        super().__init__()
        self.points = nn.Parameter(torch.as_tensor(points, dtype=torch.float64).clone())

    def forward(self, z):
        return self.points[: z.shape[0]] + 0.0 * z[:, :1]


class _SinFeatures(nn.Module):
    def forward(self, x):
        return torch.cat([x, torch.sin(2.0 * x)], dim=1)


def _phi(x):
    return np.hstack([x, np.sin(2.0 * x)])


REAL = np.random.default_rng(0).standard_normal((N, 2))
FAKE0 = np.random.default_rng(1).standard_normal((N, 2)) * 0.8 + np.array([0.6, -0.3])


def _data(n, gen):
    assert n == N
    return torch.as_tensor(REAL)


def _g(points):
    return logistic_primal(_phi(REAL), _phi(points), C)[0]


def _grad_g(points, h=1e-5):
    """Central differences of the independently solved g over every coordinate of every generated point."""
    grad = np.zeros_like(points)
    for idx in np.ndindex(points.shape):
        up, down = points.copy(), points.copy()
        up[idx] += h
        down[idx] -= h
        grad[idx] = (_g(up) - _g(down)) / (2 * h)
    return grad


def _trainer(mode, **kw):
    return DualLinearGAN(_Points(FAKE0), _SinFeatures(), C=C, latent_dim=1, batch_size=N, mode=mode, tol=1e-13,
                         **kw)


def test_a_plain_sgd_step_moves_the_generator_by_lr_times_the_gradient_of_g():
    lr = 0.3
    gan = _trainer("minibatch", generator_optimizer=lambda params: torch.optim.SGD(params, lr=lr))
    gan.fit(_data, 1)
    assert gan.status.success, gan.status
    moved = gan.generator.points.detach().numpy() - FAKE0
    np.testing.assert_allclose(moved, lr * _grad_g(FAKE0), rtol=1e-5, atol=1e-9)


def test_minibatch_row_records_g_and_the_norm_of_its_gradient():
    gan = _trainer("minibatch")
    hist = gan.fit(_data, 1)
    assert gan.status.success, gan.status
    assert math.isclose(hist["objective"][0], _g(FAKE0), rel_tol=1e-11)
    assert math.isclose(hist["generator_loss"][0], -_g(FAKE0), rel_tol=1e-11)
    assert math.isclose(hist["generator_grad_norm"][0], np.linalg.norm(_grad_g(FAKE0)), rel_tol=1e-5)


def test_fixed_batch_lbfgs_row_records_g_and_its_gradient_at_the_accepted_point():
    gan = _trainer("fixed")
    hist = gan.fit(_data, 1)
    assert gan.status.success, gan.status
    points = gan.generator.points.detach().numpy().copy()
    assert np.abs(points - FAKE0).max() > 1e-3          # the ascent moved
    assert math.isclose(hist["objective"][0], _g(points), rel_tol=1e-11)
    assert hist["objective"][0] > _g(FAKE0)            # and increased g
    assert math.isclose(hist["generator_grad_norm"][0], np.linalg.norm(_grad_g(points)), rel_tol=1e-5)


def test_fixed_batch_adam_row_records_the_gradient_at_the_start_and_g_at_the_accepted_point():
    gan = _trainer("fixed", fixed_optimizer="adam", generator_lr=0.05)
    hist = gan.fit(_data, 1)
    assert gan.status.success, gan.status
    assert hist["accepted"][0] == 1.0
    points = gan.generator.points.detach().numpy().copy()
    assert math.isclose(hist["objective"][0], _g(points), rel_tol=1e-11)
    assert math.isclose(hist["generator_grad_norm"][0], np.linalg.norm(_grad_g(FAKE0)), rel_tol=1e-5)


@pytest.mark.parametrize("lr", [0.1])
def test_sgd_ascent_increases_g_as_the_first_order_model_predicts(lr):
    # g(theta_1) - g(theta_0) = lr |grad g|^2 + O(lr^2): the step is an ascent step of the right length
    gan = _trainer("minibatch", generator_optimizer=lambda params: torch.optim.SGD(params, lr=lr))
    hist = gan.fit(_data, 2)
    grad = _grad_g(FAKE0)
    predicted = lr * float(np.sum(grad ** 2))
    gained = hist["objective"][1] - hist["objective"][0]
    assert 0.5 * predicted < gained < 1.5 * predicted


def test_hinge_loss_sgd_step_is_lr_times_the_gradient_of_the_qp_value():
    from tests._references import hinge_dual

    def g(points):
        return hinge_dual(_phi(REAL), _phi(points), C)[0]

    grad = np.zeros_like(FAKE0)
    for idx in np.ndindex(FAKE0.shape):
        up, down = FAKE0.copy(), FAKE0.copy()
        up[idx] += 1e-5
        down[idx] -= 1e-5
        grad[idx] = (g(up) - g(down)) / 2e-5
    lr = 0.3
    gan = _trainer("minibatch", loss="hinge", generator_optimizer=lambda params: torch.optim.SGD(params, lr=lr))
    hist = gan.fit(_data, 1)
    assert gan.status.success, gan.status
    assert math.isclose(hist["objective"][0], g(FAKE0), rel_tol=1e-9)
    np.testing.assert_allclose(gan.generator.points.detach().numpy() - FAKE0, lr * grad, rtol=1e-4, atol=1e-8)
