"""A constraint handler written by a user to the documented protocol (HandlerBase): what it returns is checked
where the trainers use it, naming the handler, instead of failing deep inside a backward pass or a history row."""
import pytest
import torch
from torch import nn

from dualgan.constraints import ConstraintState, HandlerBase
from dualgan.data import ring
from dualgan.features import RBF
from dualgan.train import DualLinearGAN, mlp_generator
from dualgan.trust_region import TrustRegionGAN

DATA = ring(5, radius=2.0, std=0.3)


class PerSamplePenalty(HandlerBase):
    def penalty(self, samples):
        return samples.pow(2).sum(1)  # one per sample: torch's 'grad can be implicitly created only for scalar outputs'

    def state(self, samples):
        return ConstraintState(0.0, 0.0)


class FloatPenalty(PerSamplePenalty):
    def penalty(self, samples):
        return 0.5  # AttributeError: 'float' object has no attribute 'detach'


class DictState(HandlerBase):
    def state(self, samples):
        return {"mean_violation": 0.0}  # AttributeError 'mean_violation' when the history row was written


class Honest(HandlerBase):
    def penalty(self, samples):
        return 1e-3 * samples.pow(2).sum(1).mean()

    def state(self, samples):
        return ConstraintState(0.25, 0.5, penalty_weight=1e-3)


def _dual(handler):
    feats = RBF(DATA.sample(10, generator=torch.Generator().manual_seed(0), dtype=torch.float64), sigma=0.5)
    return DualLinearGAN(mlp_generator(dtype=torch.float64, output_gain=3.0), feats, C=1e-3, latent_dim=2,
                         batch_size=16, mode="fixed", constraint=handler)


def _trust_region(handler):
    torch.manual_seed(0)
    disc = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    return TrustRegionGAN(mlp_generator(dtype=torch.float64), disc, latent_dim=2, batch_size=16, constraint=handler)


@pytest.mark.parametrize("make", [_dual, _trust_region])
@pytest.mark.parametrize("handler, error", [
    (PerSamplePenalty(), r"PerSamplePenalty.penalty returned a tensor of shape \(16,\) and dtype torch.float64; a "
                         r"constraint handler's penalty is a 0-d floating-point tensor"),
    (FloatPenalty(), r"FloatPenalty.penalty returned a float; a constraint handler's penalty is a 0-d"),
    (DictState(), r"DictState.state returned a dict; a constraint handler's state is a "
                  r"dualgan.constraints.ConstraintState"),
])
def test_a_handler_that_breaks_the_protocol_is_named(make, handler, error):
    with pytest.raises(TypeError, match=error):
        make(handler).fit(DATA, 1)


@pytest.mark.parametrize("make", [_dual, _trust_region])
def test_a_handler_that_keeps_it_trains_and_is_recorded(make):
    gan = make(Honest())
    history = gan.fit(DATA, 2)
    assert gan.status.success, gan.status
    assert list(history["constraint_mean_violation"]) == [0.25, 0.25]
    assert list(history["constraint_penalty_weight"]) == [1e-3, 1e-3]
