"""HandlerBase: the defaults every handler without variables shares (issue 25: each part owns its state)."""
import pytest
import torch

from dualgan.constraints import AffineSubspace, AugmentedLagrangian, HandlerBase, NoConstraint, Penalty, Projection
from dualgan.constraints.base import ConstraintHandler, ConstraintState, check_handler, handler_load_state_dict, \
    handler_state_dict


class Reporter(HandlerBase):
    """A user handler that writes only what it reports."""

    def state(self, samples):
        return ConstraintState(float(samples.abs().mean()), float(samples.abs().max()))


def test_a_handler_writing_only_state_gets_the_no_op_defaults():
    h = check_handler(Reporter())
    assert isinstance(h, ConstraintHandler)
    g = torch.nn.Linear(2, 3)
    assert h.wrap_generator(g) is g
    x = torch.randn(4, 3, dtype=torch.float64)
    p = h.penalty(x)
    assert p.shape == () and p.dtype == torch.float64 and float(p) == 0.0
    assert h.update(x) is None
    assert handler_state_dict(h) == {}
    handler_load_state_dict(h, {})
    with pytest.raises(ValueError, match="Reporter has no training state"):
        handler_load_state_dict(h, {"mu": torch.zeros(1)})
    assert h.state(x).max_violation == float(x.abs().max())


def test_the_base_requires_state():
    class Silent(HandlerBase):
        pass

    with pytest.raises(TypeError, match="abstract"):
        Silent()


def test_every_library_handler_derives_from_the_base_and_keeps_its_own_state():
    S = AffineSubspace([[1.0, 1.0, 0.0]], [1.0])
    for h in (NoConstraint(), Projection(S), Penalty(S), AugmentedLagrangian(S)):
        assert isinstance(h, HandlerBase) and check_handler(h) is h
    assert Penalty(S).state_dict() == {} and Projection(S).state_dict() == {}
    with pytest.raises(ValueError, match="Penalty has no training state"):
        Penalty(S).load_state_dict({"rho": 1.0})
    assert set(AugmentedLagrangian(S).state_dict())  # the augmented Lagrangian keeps its multipliers
