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


def test_a_users_radius_policy_is_held_to_the_decision_it_must_return():
    """A policy overriding update that returned radius - 1 had a step recorded as a success with radius_after
    -0.5, then the next step failed with 'radius must be finite and > 0' naming no policy; one returning a tuple
    raised AttributeError 'accepted'. Both are refused at the decision, naming the policy, parameters unchanged."""
    from dataclasses import dataclass

    from dualgan.trust_region import RadiusDecision, RadiusPolicy, TrustRegionDiscriminator

    @dataclass(frozen=True)
    class MinusOne(RadiusPolicy):
        min_radius: float = 1e-10
        max_radius: float = 10.0
        boundary_fraction: float = 0.999

        def update(self, rho, step_norm, radius):
            return RadiusDecision(True, radius - 1.0, "minus one")

    @dataclass(frozen=True)
    class Pair(MinusOne):
        def update(self, rho, step_norm, radius):
            return (True, radius)

    @dataclass(frozen=True)
    class Half(MinusOne):
        def update(self, rho, step_norm, radius):
            return RadiusDecision(np.True_, np.float32(radius / 2), "half")

    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(16, 2, generator=g, dtype=torch.float64) + 1, torch.randn(16, 2, generator=g,
                                                                                       dtype=torch.float64)
    for model in ("score", "cost"):
        for policy, error, match in ((MinusOne(), ValueError, r"the radius MinusOne.update chose must be finite and "
                                                              r">= 1e-10, got -0.5"),
                                     (Pair(), TypeError, r"the radius policy Pair.update returned a tuple; a policy "
                                                         r"returns RadiusDecision")):
            disc = _disc(torch.float64)
            before = [p.detach().clone() for p in disc.parameters()]
            step = TrustRegionDiscriminator(disc, model=model, radius=0.5, policy=policy)
            with pytest.raises(error, match=match):
                step.step(real, fake)
            assert step.radius == 0.5 and all(torch.equal(p, q) for p, q in zip(disc.parameters(), before))
        rec = TrustRegionDiscriminator(_disc(torch.float64), model=model, radius=0.5, policy=Half()).step(real, fake)
        assert rec.radius_after == float(np.float32(0.25)) and type(rec.radius_after) is float and rec.accepted
