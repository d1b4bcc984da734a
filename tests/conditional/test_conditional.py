"""Conditional generators/discriminators: hand-checked forward passes and a short training run per loss."""
import math

import pytest
import torch
from torch import nn

from dualgan.conditional import (ConditionalDiscriminator, ConditionalGenerator, ProjectionDiscriminator,
                                 bind_labels, conditional_losses, sample_labels)
from dualgan.losses import LOSSES
from dualgan.regularizers import R1, apply_spectral_norm


def test_concat_discriminator_is_body_of_x_and_one_hot():
    body = nn.Linear(2 + 3, 1).double()
    D = ConditionalDiscriminator(body, n_classes=3)
    x = torch.tensor([[0.5, -1.0], [2.0, 0.1]], dtype=torch.float64)
    y = torch.tensor([2, 0])
    w, b = body.weight.detach()[0], body.bias.detach()[0]
    hand = torch.stack([x[0] @ w[:2] + w[2 + 2] + b, x[1] @ w[:2] + w[2 + 0] + b])
    assert torch.allclose(D(x, y), hand, rtol=1e-14)
    assert not torch.allclose(D(x, torch.tensor([0, 0])), D(x, y))   # the label matters


def test_generator_with_learned_embedding():
    body = nn.Linear(4 + 5, 2).double()
    G = ConditionalGenerator(body, n_classes=7, embedding_dim=5).double()
    z = torch.randn(3, 4, dtype=torch.float64)
    y = torch.tensor([6, 0, 3])
    hand = body(torch.cat([z, G.embed.table.weight[y]], dim=1))
    assert torch.allclose(G(z, y), hand)


def test_projection_discriminator_by_hand():
    phi = nn.Sequential(nn.Linear(3, 4), nn.Tanh()).double()
    D = ProjectionDiscriminator(phi, feature_dim=4, n_classes=2).double()
    x = torch.randn(5, 3, dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 0, 1])
    feats = phi(x)
    hand = D.head(feats)[:, 0] + (D.embed.table.weight[y] * feats).sum(1)
    assert torch.allclose(D(x, y), hand, rtol=1e-14)


def test_r1_on_a_conditional_discriminator_via_bound_labels():
    # D(x, y) = w^T x + v_y: input gradient w for every label, R1 = gamma/2 ||w||^2
    body = nn.Linear(2 + 2, 1).double()
    D = ConditionalDiscriminator(body, n_classes=2)
    x = torch.randn(4, 2, dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 0])
    value = R1(4.0)(bind_labels(D, y), x, x)
    w = body.weight.detach()[0, :2]
    assert math.isclose(value.item(), 2.0 * float(w @ w), rel_tol=1e-13)
    with pytest.raises(ValueError, match="bound labels"):
        bind_labels(D, y[:2])(x)


def _two_class_gan(loss_name, steps=400, seed=0):
    """1-D data: class 0 ~ N(-2, 0.1^2), class 1 ~ N(+2, 0.1^2). Returns per-class sample means."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    G = ConditionalGenerator(nn.Sequential(nn.Linear(1 + 2, 32), nn.ReLU(), nn.Linear(32, 1)), n_classes=2)
    D = ConditionalDiscriminator(nn.Sequential(nn.Linear(1 + 2, 32), nn.ReLU(), nn.Linear(32, 1)), n_classes=2)
    if loss_name in ("wasserstein", "hinge"):
        apply_spectral_norm(D)          # unbounded losses need a Lipschitz discriminator
    opt_g = torch.optim.Adam(G.parameters(), lr=5e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=5e-3, betas=(0.5, 0.999))
    centres = torch.tensor([-2.0, 2.0])
    for _ in range(steps):
        y_real = sample_labels(64, 2, generator=gen)
        x_real = (centres[y_real] + 0.1 * torch.randn(64, generator=gen))[:, None]
        losses = conditional_losses(loss_name, G, D, x_real, y_real, torch.randn(64, 1, generator=gen),
                                    sample_labels(64, 2, generator=gen))
        # simultaneous update: both gradients before either step
        opt_d.zero_grad()
        opt_g.zero_grad()
        losses.discriminator_loss.backward(inputs=list(D.parameters()))
        losses.generator_loss.backward(inputs=list(G.parameters()))
        opt_d.step()
        opt_g.step()
    with torch.no_grad():
        z = torch.randn(2000, 1, generator=gen)
        return [float(G(z, torch.full((2000,), c)).mean()) for c in (0, 1)]


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
def test_conditional_gan_learns_the_class_means_with_every_loss(loss_name):
    mean0, mean1 = _two_class_gan(loss_name)
    assert abs(mean0 + 2.0) < 0.5 and abs(mean1 - 2.0) < 0.5, (mean0, mean1)


def test_bad_labels_are_named():
    D = ConditionalDiscriminator(nn.Linear(3, 1), n_classes=2)
    x = torch.randn(2, 1)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        D(x, torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="integer"):
        D(x, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="shape"):
        D(x, torch.tensor([0]))
    with pytest.raises(ValueError, match="n_classes"):
        ConditionalGenerator(nn.Linear(3, 1), n_classes=0)
