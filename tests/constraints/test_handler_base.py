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


def test_check_state_dict_is_what_load_state_dict_checks_and_changes_nothing():
    S = AffineSubspace([[1.0, 1.0, 0.0]], [1.0])
    with pytest.raises(ValueError, match="NoConstraint has no training state"):
        NoConstraint().check_state_dict({"mu": 1.0})
    Projection(S).check_state_dict({})
    al = AugmentedLagrangian(S, check_every=2)
    for _ in range(3):
        al.update(torch.tensor([[2.0, 0.5, 1.0]], dtype=torch.float64))
    saved = al.state_dict()
    fresh = AugmentedLagrangian(S, check_every=2)
    fresh.check_state_dict(saved)
    assert fresh.n_updates == 0 and float(fresh.multipliers[0]) == 0.0  # checked, not loaded
    fresh.load_state_dict(saved)
    # mu = 0 + rho * mean(c over the first window) with c = A x - b = 2.5 - 1
    assert fresh.n_updates == 3 and float(fresh.multipliers[0]) == 1.5 and fresh._window_sum == saved["window_sum"]


@pytest.mark.parametrize("key, value", [("window_sum", "0.5"), ("window_sum", float("nan")), ("window_sum", -1.0),
                                        ("previous_window", float("inf")), ("previous_window", torch.ones(2)),
                                        ("rho", True), ("rho", 0.0)])
def test_a_bad_window_number_is_refused_before_the_multipliers_change(key, value):
    # the window's numbers were converted after mu and rho had been set: a bad one left a half-loaded handler
    S = AffineSubspace([[1.0, 1.0, 0.0]], [1.0])
    al = AugmentedLagrangian(S, check_every=1)
    al.update(torch.tensor([[2.0, 0.5, 1.0]], dtype=torch.float64))
    bad = dict(al.state_dict(), **{key: value})
    fresh = AugmentedLagrangian(S, check_every=1)
    with pytest.raises(ValueError, match=f"saved {key} must be"):
        fresh.load_state_dict(bad)
    assert float(fresh.multipliers[0]) == 0.0 and fresh.rho == 1.0 and fresh.n_updates == 0
