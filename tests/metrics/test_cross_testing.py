"""Cross-testing: exact rates on a known discriminator, and two trained GANs."""
import numpy as np
import pytest
import torch
from torch import nn

from dualgan.losses import non_saturating
from dualgan.metrics.cross_testing import confusion_rates, cross_test
from dualgan.regularizers import JSRegularizer


def test_rates_of_a_threshold_discriminator_by_counting():
    D = lambda x: x[:, 0] - 1.0           # real iff x > 1
    real = torch.tensor([[0.5], [1.5], [2.0], [3.0]])
    fake = torch.tensor([[0.0], [1.2], [-1.0]])
    r = confusion_rates(D, real, fake)
    assert (r.true_positive_rate, r.false_negative_rate) == (0.75, 0.25)
    assert (r.false_positive_rate, r.true_negative_rate) == (1 / 3, 2 / 3)
    r2 = confusion_rates(D, real, fake, threshold=1.0)     # now real iff x > 2
    assert (r2.true_positive_rate, r2.false_positive_rate) == (0.25, 0.0)


def _train_1d_gan(penalty, steps, seed):
    """Data N(1, 0.2^2) in 1-D; small MLPs, non-saturating loss, alternating Adam steps."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    G = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
    D = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
    opt_g = torch.optim.Adam(G.parameters(), lr=3e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=3e-3, betas=(0.5, 0.999))
    for _ in range(steps):
        x = 1.0 + 0.2 * torch.randn(64, 1, generator=gen)
        fake = G(torch.randn(64, 1, generator=gen))
        d_loss = non_saturating.discriminator_loss(D(x), D(fake.detach()))
        if penalty is not None:
            d_loss = d_loss + penalty(D, x, fake.detach())
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = non_saturating.generator_loss(D(fake))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
    sample = lambda n: G(torch.randn(n, 1, generator=gen)).detach()
    return D, sample


def test_cross_test_two_trained_models():
    D_a, sample_a = _train_1d_gan(None, steps=150, seed=0)
    D_b, sample_b = _train_1d_gan(JSRegularizer(1.0), steps=150, seed=1)
    real = 1.0 + 0.2 * torch.randn(2000, 1, generator=torch.Generator().manual_seed(5))
    xa, xb = sample_a(2000), sample_b(2000)
    report = cross_test(D_a, xa, D_b, xb, real, name_a="unreg", name_b="reg")
    for rates, D, fake in ((report.own_a, D_a, xa), (report.own_b, D_b, xb),
                           (report.a_on_b, D_a, xb), (report.b_on_a, D_b, xa)):
        values = [rates.true_positive_rate, rates.false_negative_rate, rates.false_positive_rate,
                  rates.true_negative_rate]
        assert all(0.0 <= v <= 1.0 for v in values)
        assert rates.true_positive_rate + rates.false_negative_rate == pytest.approx(1.0, abs=1e-15)
        assert rates.false_positive_rate + rates.true_negative_rate == pytest.approx(1.0, abs=1e-15)
        # independent recount with numpy
        with torch.no_grad():
            s_real, s_fake = D(real).numpy()[:, 0], D(fake).numpy()[:, 0]
        assert rates.true_positive_rate == np.mean(s_real > 0)
        assert rates.false_positive_rate == np.mean(s_fake > 0)
    assert "D_unreg vs G_reg" in report.table()


def test_bad_input_is_named():
    D = lambda x: x[:, 0]
    with pytest.raises(ValueError, match="real"):
        confusion_rates(D, torch.zeros(0, 1), torch.zeros(2, 1))
    with pytest.raises(ValueError, match="one score per sample"):
        confusion_rates(lambda x: x, torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="NaN"):
        confusion_rates(lambda x: x[:, 0] * float("nan"), torch.ones(2, 1), torch.ones(2, 1))


def test_samples_of_another_type_are_named_by_their_type():
    # a numpy batch was refused with 'got (10, 2)', a shape that looks right, hiding that it was an ndarray
    import numpy as np
    import torch
    from torch import nn

    from dualgan.metrics import confusion_rates

    D = nn.Linear(2, 1)
    x = torch.randn(10, 2)
    with pytest.raises(ValueError, match=r"real samples must be a torch tensor of shape \(batch, ...\) with batch >= "
                                         r"1, got ndarray \(convert with torch.as_tensor\)"):
        confusion_rates(D, x.numpy(), x)
    with pytest.raises(ValueError, match=r"fake samples must be .* got a tensor of shape \(0, 2\)"):
        confusion_rates(D, x, x[:0])
