"""The public functions of the trust-region family take samples as the step does (a narrower dtype widened
exactly, a wider one refused naming the fix) and refuse arguments that gave a wrong cost without an error."""
import numpy as np
import pytest
import torch
from torch import nn

from dualgan.trust_region import discriminator_cost, score_linearization, score_vjp


def _disc(dtype):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1)).to(dtype)


def _jacobian(disc, x):
    """The N x P Jacobian of the scores in the parameters, by torch.func.jacrev (the reference)."""
    params = {k: v.detach() for k, v in disc.named_parameters()}
    jac = torch.func.jacrev(lambda p: torch.func.functional_call(disc, p, (x,)).reshape(-1))(params)
    return torch.cat([jac[k].reshape(x.shape[0], -1) for k in params], dim=1)


def test_narrower_samples_are_widened_exactly_and_wider_ones_refused():
    # float32 samples with a float64 discriminator raised torch's 'mat1 and mat2 must have the same dtype'
    disc = _disc(torch.float64)
    x32 = torch.randn(5, 2)
    lin = score_linearization(disc, x32)
    J = _jacobian(disc, x32.double())
    torch.testing.assert_close(lin.gram, J @ J.T, rtol=1e-12, atol=1e-14)
    c = torch.linspace(-1, 1, 5, dtype=torch.float64)
    torch.testing.assert_close(score_vjp(disc, x32, c), J.T @ c, rtol=1e-12, atol=1e-14)
    small = _disc(torch.float32)
    for fn, args in ((score_linearization, ()), (score_vjp, (c,))):
        with pytest.raises(TypeError, match=r"inputs has dtype torch.float64 but the discriminator's parameters are "
                                            r"torch.float32; a cast to torch.float32 would round the samples"):
            fn(small, x32.double(), *args)


def test_discriminator_cost_refuses_a_negative_weight_and_mismatched_vectors():
    scores = torch.tensor([0.3, -1.2, 2.0, 0.1], dtype=torch.float64)
    y = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=torch.float64)
    a = torch.full((4,), 0.5, dtype=torch.float64)
    reference = 0.5 * 0.1 * 2.0 + sum(0.5 * np.logaddexp(0.0, -yi * si) for yi, si in zip(y.tolist(), scores.tolist()))
    assert float(discriminator_cost(scores, y, a, 0.1, 2.0)) == pytest.approx(reference, rel=1e-15)
    with pytest.raises(ValueError, match="C must be finite and > 0, got -0.1"):
        discriminator_cost(scores, y, a, -0.1, 2.0)  # was a cost 0.2 smaller, without an error
    with pytest.raises(ValueError, match=r"scores, y and a must be vectors of one length N .* got shapes \(3,\), "
                                         r"\(4,\) and \(4,\)"):
        discriminator_cost(scores[:3], y, a, 0.1, 2.0)
