"""TrustRegionGAN: records, feasibility of every step, discriminator kinds, constraint handlers."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from dualgan.constraints import AffineSubspace, AugmentedLagrangian, Projection
from dualgan.data import ring
from dualgan.features import RBF
from dualgan.trust_region import TrustRegionGAN


def _gen(out=2, latent=4, dtype=torch.float64):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(latent, 16), nn.ReLU(), nn.Linear(16, out)).to(dtype)


def _mlp(dim=2, dtype=torch.float64):
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(dim, 16), nn.Tanh(), nn.Linear(16, 1)).to(dtype)


@pytest.mark.parametrize("model", ["score", "cost"])
def test_history_records_and_feasibility_on_the_ring(model):
    data = ring(8)
    trainer = TrustRegionGAN(_gen(), _mlp(), latent_dim=4, batch_size=32, model=model, C=1e-3, radius=0.5, seed=0)
    h = trainer.fit(lambda n, g: data.sample(n, generator=g, dtype=torch.float64), iterations=6)
    assert trainer.status.success and len(h) == 6 and h is trainer.history
    for col in ("objective", "cost_before", "rho", "radius_after", "radius_before", "accepted", "step_norm",
                "predicted_decrease", "actual_decrease", "generator_loss", "seconds"):
        assert col in h.columns
    assert np.all(h["step_norm"] <= h["radius_before"] + 1e-9)
    assert np.all(h["predicted_decrease"] >= 0)
    acc = h["accepted"] == 1
    # accepted rows: the objective is the cost after the step; rejected rows keep the cost
    np.testing.assert_allclose(h["objective"][acc], (h["cost_before"] - h["actual_decrease"])[acc], rtol=1e-12)
    np.testing.assert_array_equal(h["objective"][~acc], h["cost_before"][~acc])
    np.testing.assert_allclose(h["rho"], h["actual_decrease"] / h["predicted_decrease"], rtol=1e-12)
    np.testing.assert_array_equal(h["radius_before"][1:], h["radius_after"][:-1])
    assert trainer.radius == h.last("radius_after")
    assert trainer.accepted_fraction == pytest.approx(float(np.mean(h["accepted"])), rel=1e-15)
    if model == "score":
        assert np.all(h["inner_gap"] <= 1e-8)


def test_feature_map_discriminator_keeps_the_features_fixed():
    anchors = ring(8).sample(20, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    torch.manual_seed(3)
    disc = nn.Sequential(RBF(anchors, sigma=0.5), nn.Linear(20, 1)).double()
    anchors_before = disc[0].anchors.clone()
    trainer = TrustRegionGAN(_gen(), disc, latent_dim=4, batch_size=16, model="score", C=1e-2, radius=0.3)
    h = trainer.fit(ring(8), iterations=3)
    assert torch.equal(disc[0].anchors, anchors_before)
    # a discriminator linear in its parameters: the score model is exact, rho = 1
    rho = h["rho"]
    assert np.all(np.abs(rho[np.isfinite(rho)] - 1.0) <= 1e-8)


def test_conv_discriminator_on_images_float32():
    torch.manual_seed(4)
    gen = nn.Sequential(nn.Linear(8, 64), nn.Sigmoid(), nn.Unflatten(1, (1, 8, 8)))
    disc = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(4, 4, 3, stride=2),
                         nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(36, 1))
    images = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    trainer = TrustRegionGAN(gen, disc, latent_dim=8, batch_size=16, model="score", C=1e-3, radius=0.1)
    h = trainer.fit(images, iterations=3)
    assert trainer.status.success
    assert np.all(h["step_norm"] <= h["radius_before"] + 1e-9) and np.all(h["predicted_decrease"] >= 0)
    assert trainer.sample(5).shape == (5, 1, 8, 8)


class _Recorder(nn.Module):
    """The generator, keeping its last no-gradient output (the generated batch the discriminator steps on)."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.last = inner, None

    def forward(self, z):
        out = self.inner(z)
        if not torch.is_grad_enabled():
            self.last = out.detach().clone()
        return out


def _mlp_cost(params, real, fake, C):
    """Eq. (2.1) written out for the Linear-Tanh-Linear discriminator of _mlp: C/2 |w|^2 + sum_i a_i log(1 + e^(-y_i F_i))."""
    W1, b1, W2, b2 = params
    x = torch.cat([real, fake])
    scores = (torch.tanh(x @ W1.T + b1) @ W2.T + b2).reshape(-1)
    y = torch.cat([torch.ones(len(real)), -torch.ones(len(fake))]).double()
    a = torch.cat([torch.full((len(real),), 1.0 / len(real)), torch.full((len(fake),), 1.0 / len(fake))]).double()
    return 0.5 * C * sum((p ** 2).sum() for p in params) + a @ torch.log1p(torch.exp(-y * scores))


def test_adam_baseline_records_the_cost_recomputed_from_the_weights_and_batches():
    """Every row's cost_before, objective and step_norm recomputed from the recorded batches and weights, and
    the first discriminator step checked against Adam's first step written out (-lr g / (|g| + eps))."""
    data, C, lr = ring(8), 1e-3, 1e-3
    reals, weights = [], []

    def sample(n, gen):
        x = data.sample(n, generator=gen, dtype=torch.float64)
        reals.append(x.clone())
        return x

    generator = _Recorder(_gen())
    trainer = TrustRegionGAN(generator, _mlp(), latent_dim=4, batch_size=16, model="adam", discriminator_lr=lr, C=C)
    weights.append([p.detach().clone() for p in trainer.discriminator.parameters()])
    fakes = []

    def cb(tr, it):
        fakes.append(generator.last)
        weights.append([p.detach().clone() for p in tr.discriminator.parameters()])

    h = trainer.fit(sample, iterations=3, callbacks=[cb])
    assert trainer.status.success and len(reals) == 3 and np.all(np.isnan(h["rho"]))
    for t in range(3):
        before = float(_mlp_cost(weights[t], reals[t], fakes[t], C))
        after = float(_mlp_cost(weights[t + 1], reals[t], fakes[t], C))
        assert h["cost_before"][t] == pytest.approx(before, rel=1e-12)
        assert h["objective"][t] == pytest.approx(after, rel=1e-12)
        assert h["actual_decrease"][t] == pytest.approx(before - after, rel=1e-9, abs=1e-15)
        step = torch.cat([(b - a).reshape(-1) for a, b in zip(weights[t], weights[t + 1])])
        assert h["step_norm"][t] == pytest.approx(float(step.norm()), rel=1e-12)
    w0 = [p.clone().requires_grad_(True) for p in weights[0]]
    grads = torch.autograd.grad(_mlp_cost(w0, reals[0], fakes[0], C), w0)
    for p0, p1, g in zip(weights[0], weights[1], grads):
        torch.testing.assert_close(p1 - p0, -lr * g / (g.abs() + 1e-8), rtol=1e-9, atol=1e-15)


def test_constraint_handlers_are_used():
    subspace = AffineSubspace([[1.0, 1.0]], [0.5])
    proj = TrustRegionGAN(_gen(), _mlp(), latent_dim=4, batch_size=16, model="cost", constraint=Projection(subspace))
    h = proj.fit(ring(8), iterations=2)
    assert np.all(h["constraint_max_violation"] <= 1e-9)
    x = proj.sample(10)
    assert float((x.sum(1) - 0.5).abs().max()) <= 1e-9
    lag = TrustRegionGAN(_gen(), _mlp(), latent_dim=4, batch_size=16, model="score",
                         constraint=AugmentedLagrangian(subspace))
    h = lag.fit(ring(8), iterations=2)
    assert np.all(np.isfinite(h["constraint_mean_violation"]))
    assert h.last("constraint_penalty_weight") == lag.constraint.rho


def test_bad_arguments():
    with pytest.raises(ValueError, match="model"):
        TrustRegionGAN(_gen(), _mlp(), latent_dim=4, model="sgd")
    with pytest.raises(ValueError, match="latent_dim"):
        TrustRegionGAN(_gen(), _mlp(), latent_dim=0)
    with pytest.raises(TypeError, match="constraint"):
        TrustRegionGAN(_gen(), _mlp(), latent_dim=4, constraint=object())
    with pytest.raises(ValueError, match="batch_size"):
        TrustRegionGAN(_gen(), _mlp(), latent_dim=4, batch_size=0)
    trainer = TrustRegionGAN(_gen(), _mlp(), latent_dim=4)
    with pytest.raises(ValueError, match="data"):
        trainer.fit(42, iterations=1)
    with pytest.raises(ValueError, match="iterations"):
        trainer.fit(ring(8), iterations=-1)
