"""DCGAN-style builders: sizes against hand-counted parameters, layers against torch.nn.functional written out here."""
import pytest
import torch
import torch.nn.functional as F

from dualgan.models import DCGANDiscriminator, dcgan_discriminator, dcgan_generator


def _disc_params(c_in, channels, hidden, image_size):
    """Parameter count by hand: 3x3 convs (weights + biases), pooled side, fc1, fc2, head on [h1, h2]."""
    n, prev, side = 0, c_in, image_size
    for c in channels:
        n += 9 * prev * c + c
        prev, side = c, side // 2
    h1, h2 = hidden
    return n + (prev * side * side + 1) * h1 + (h1 + 1) * h2 + (h1 + h2 + 1)


def _gen_params(latent, hidden, channels, side0, out_channels):
    """Linear + BN (2 per unit), projection + BN, 4x4 up-convolutions + BN, last 3x3 convolution."""
    n_proj = channels[0] * side0 * side0
    n = (latent + 1) * hidden + 2 * hidden + (hidden + 1) * n_proj + 2 * n_proj
    for a, b in zip(channels[:-1], channels[1:]):
        n += 16 * a * b + b + 2 * b
    return n + 9 * channels[-1] * out_channels + out_channels


def _count(net):
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("kwargs", [{}, {"channels": (16, 32, 32), "hidden": (64, 32)},
                                    {"channels": (8, 16), "hidden": (10, 5), "image_size": 20, "in_channels": 3}])
def test_discriminator_parameter_count_by_hand(kwargs):
    args = {"in_channels": 1, "channels": (32, 64, 64), "hidden": (128, 64), "image_size": 28, **kwargs}
    d = dcgan_discriminator(**args)
    assert _count(d) == _disc_params(args["in_channels"], args["channels"], args["hidden"], args["image_size"])
    if not kwargs:
        assert _count(d) == 138_049


def test_discriminator_layers_against_functional_reference():
    d = dcgan_discriminator(channels=(4, 6, 8), hidden=(12, 5), dtype=torch.float64, seed=3)
    x = torch.rand(7, 1, 28, 28, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    h = x
    for conv in convs:
        h = F.max_pool2d(F.relu(F.conv2d(h, conv.weight, conv.bias, padding=1)), 2)
    assert h.shape[-2:] == (3, 3)  # 28 -> 14 -> 7 -> 3
    h1 = F.relu(h.flatten(1) @ d.features.fc1.weight.T + d.features.fc1.bias)
    h2 = F.relu(h1 @ d.features.fc2.weight.T + d.features.fc2.bias)
    phi = torch.cat([h1, h2], dim=1)
    torch.testing.assert_close(d.features(x), phi, rtol=1e-14, atol=1e-14)
    scores = phi @ d.head.weight[0] + d.head.bias[0]
    out = d(x)
    assert out.shape == (7,)
    torch.testing.assert_close(out, scores, rtol=1e-14, atol=1e-14)
    assert d.features.out_features == 17
    # no batch norm: a sample's score does not depend on the rest of the batch
    torch.testing.assert_close(d(x[2:3]), out[2:3], rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("kwargs", [{}, {"latent_dim": 5, "hidden": 9, "channels": (6, 4), "out_channels": 3},
                                    {"channels": (4,), "image_size": 10}])
def test_generator_shapes_range_and_count(kwargs):
    args = {"latent_dim": 32, "hidden": 128, "channels": (64, 32, 16), "image_size": 28, "out_channels": 1, **kwargs}
    g = dcgan_generator(**args, dtype=torch.float64)
    side0 = args["image_size"] // 2 ** (len(args["channels"]) - 1)
    assert _count(g) == _gen_params(args["latent_dim"], args["hidden"], args["channels"], side0,
                                    args["out_channels"])
    x = g(torch.randn(6, args["latent_dim"], dtype=torch.float64)).detach()
    assert x.shape == (6, args["out_channels"], args["image_size"], args["image_size"])
    # the output is a sigmoid of the last convolution (pre-activation recomputed through the layers)
    z = torch.randn(4, args["latent_dim"], dtype=torch.float64)
    pre = g.out(g.upsample(g.project(z).view(4, *g.start_shape)))
    torch.testing.assert_close(g(z), 1.0 / (1.0 + torch.exp(-pre)), rtol=1e-13, atol=1e-15)
    assert float(x.min()) > 0.0 and float(x.max()) < 1.0


def test_seeded_builders_reproduce_and_restore_the_global_generator():
    state = torch.random.get_rng_state()
    a, b = dcgan_discriminator(seed=4), dcgan_discriminator(seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    c = dcgan_discriminator(seed=5)
    assert not torch.equal(a.head.weight, c.head.weight)
    g1, g2 = dcgan_generator(seed=1), dcgan_generator(seed=1)
    assert all(torch.equal(p, q) for p, q in zip(g1.parameters(), g2.parameters()))
    assert isinstance(a, DCGANDiscriminator)


@pytest.mark.parametrize("build, kwargs, match", [
    (dcgan_generator, {"image_size": 30}, r"image_size must be divisible by 2\*\*\(len\(channels\) - 1\) = 4"),
    (dcgan_generator, {"latent_dim": 0}, "latent_dim must be a positive integer, got 0"),
    (dcgan_generator, {"channels": ()}, "channels must be a non-empty sequence"),
    (dcgan_generator, {"channels": (8, -1)}, r"channels\[1\] must be a positive integer, got -1"),
    (dcgan_discriminator, {"hidden": (10,)}, r"hidden must give the widths of the two fully connected layers"),
    (dcgan_discriminator, {"image_size": 4}, r"image_size must be at least 2\*\*len\(channels\) = 8"),
    (dcgan_discriminator, {"in_channels": 1.0}, "in_channels must be a positive integer"),
    (dcgan_discriminator, {"seed": -1}, "seed must be a non-negative integer"),
])
def test_bad_sizes_are_named(build, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build(**kwargs)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"z must have shape \(batch, latent_dim=32\), got \(3, 4\)"):
        dcgan_generator()(torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"x must be images of shape \(batch, 1, height, width\)"):
        dcgan_discriminator()(torch.zeros(3, 784))


def test_features_drive_a_dual_gan_and_the_discriminator_a_trust_region_step():
    from dualgan.train import DualLinearGAN
    from dualgan.trust_region import TrustRegionDiscriminator

    g = dcgan_generator(latent_dim=4, hidden=8, channels=(4, 2), image_size=8, seed=0)
    d = dcgan_discriminator(channels=(2, 2), hidden=(6, 3), image_size=8, seed=0)
    real = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    feats = d.features
    for p in feats.parameters():
        p.requires_grad_(False)
    res = DualLinearGAN(g, feats, latent_dim=4, batch_size=8, seed=0).fit(real, iterations=2)
    assert res.status.ok, res.status
    step = TrustRegionDiscriminator(dcgan_discriminator(channels=(2, 2), hidden=(6, 3), image_size=8,
                                                        dtype=torch.float64), model="score")
    rec = step.step(real[:8].double(), g(torch.randn(8, 4)).detach().double())
    assert rec.status.ok, rec.status
