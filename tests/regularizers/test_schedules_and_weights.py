"""Annealing schedule, spectral normalisation and weight clipping."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from dualgan.regularizers import (ConstantSchedule, ExponentialAnnealing, WeightClipper, apply_spectral_norm,
                                  clip_weights, remove_spectral_norm)


def test_exponential_annealing_closed_form():
    s = ExponentialAnnealing(0.1, total_steps=1000, final_ratio=0.01)
    ts = np.arange(0, 1001, 50)
    values = np.array([s.value(int(t)) for t in ts])
    np.testing.assert_allclose(values, 0.1 * 0.01 ** (ts / 1000), rtol=1e-13)
    assert math.isclose(s.value(1000), 0.001, rel_tol=1e-13)
    assert s.value(5000) == s.value(1000)            # floor after the run
    ratios = values[1:] / values[:-1]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-12)   # geometric decay


def test_schedule_counter():
    s = ExponentialAnnealing(1.0, total_steps=10, final_ratio=0.01)
    assert s.current == 1.0 and s() == 1.0
    for _ in range(5):
        s.step()
    assert math.isclose(s.current, 0.1, rel_tol=1e-13) and math.isclose(s(10), 0.01, rel_tol=1e-13)
    assert ConstantSchedule(2.5).step(7) == 2.5


def test_schedule_bad_input():
    with pytest.raises(ValueError, match="total_steps"):
        ExponentialAnnealing(0.1, total_steps=0)
    with pytest.raises(ValueError, match="final_ratio"):
        ExponentialAnnealing(0.1, total_steps=10, final_ratio=2.0)
    with pytest.raises(ValueError, match="initial"):
        ExponentialAnnealing(-0.1, total_steps=10)
    with pytest.raises(ValueError, match="step"):
        ExponentialAnnealing(0.1, total_steps=10).value(-1)


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1)).double()


def test_spectral_norm_divides_by_the_top_singular_value():
    net = _mlp()
    originals = [layer.weight.detach().clone() for layer in net if isinstance(layer, nn.Linear)]
    apply_spectral_norm(net, n_power_iterations=1)
    net.train()
    x = torch.randn(8, 5, dtype=torch.float64)
    for _ in range(200):          # power iteration advances one step per training forward pass
        net(x)
    net.eval()
    layers = [layer for layer in net if isinstance(layer, nn.Linear)]
    for layer, w0 in zip(layers, originals):
        sigma = np.linalg.svd(w0.numpy(), compute_uv=False)[0]     # independent reference
        np.testing.assert_allclose(layer.weight.detach().numpy(), w0.numpy() / sigma, rtol=1e-6, atol=1e-9)
        assert math.isclose(np.linalg.norm(layer.weight.detach().numpy(), 2), 1.0, rel_tol=1e-6)
    # tanh is 1-Lipschitz, so ||grad_x D|| <= 1 everywhere
    xs = torch.randn(256, 5, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(net(xs).sum(), xs)
    assert float(g.norm(dim=1).max()) <= 1.0 + 1e-9
    # the raw parameter still trains: the loss reaches it
    net.train()
    net(x).sum().backward()
    assert layers[0].parametrizations.weight.original.grad is not None


def test_spectral_norm_idempotent_and_removable():
    net = _mlp()
    apply_spectral_norm(net)
    apply_spectral_norm(net)
    assert all(len(layer.parametrizations.weight) == 1 for layer in net if isinstance(layer, nn.Linear))
    remove_spectral_norm(net)
    assert not any(hasattr(layer, "parametrizations") for layer in net)
    with pytest.raises(ValueError, match="layer_types"):
        apply_spectral_norm(nn.Sequential(nn.Tanh()))


def test_weight_clipping_matches_numpy_clip():
    net = _mlp()
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(10)
    before = [p.detach().numpy().copy() for p in net.parameters()]
    WeightClipper(0.05)(net)
    for p, b in zip(net.parameters(), before):
        np.testing.assert_array_equal(p.detach().numpy(), np.clip(b, -0.05, 0.05))
    with pytest.raises(ValueError, match="clip_value"):
        clip_weights(net, 0.0)
