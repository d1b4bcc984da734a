"""Radius policies: one table of (rho, step at boundary?) -> (accepted, new radius), worked out by hand."""
import math

import pytest

from dualgan.trust_region import FixedRadius, StandardRadius, SymmetricRadius, get_policy

R = 1.0
TABLE = [
    # policy, rho, step_norm, accepted, new radius
    (StandardRadius(), -0.5, 1.0, False, 0.25),
    (StandardRadius(), 5e-5, 1.0, False, 0.25),
    (StandardRadius(), 0.1, 1.0, True, 0.25),
    (StandardRadius(), 0.5, 1.0, True, 1.0),
    (StandardRadius(), 0.9, 1.0, True, 2.0),
    (StandardRadius(), 0.9, 0.5, True, 1.0),  # good rho but interior step: keep
    (StandardRadius(), 3.0, 1.0, True, 2.0),  # the standard policy rewards rho >> 1
    (StandardRadius(max_radius=1.5), 0.9, 1.0, True, 1.5),
    (StandardRadius(eta_accept=0.2), 0.1, 1.0, False, 0.25),
    (StandardRadius(shrink=0.5, grow=3.0), 0.9, 1.0, True, 3.0),
    (StandardRadius(), math.nan, 1.0, False, 0.25),
    (SymmetricRadius(), 3.0, 1.0, False, 0.25),  # far above 1: the model is poor, reject
    (SymmetricRadius(), 1.7, 1.0, True, 1.0),
    (SymmetricRadius(), 1.1, 1.0, True, 2.0),
    (SymmetricRadius(), 1.1, 0.2, True, 1.0),
    (SymmetricRadius(), 0.2, 1.0, False, 0.25),
    (SymmetricRadius(tolerance=0.9), 0.2, 1.0, True, 1.0),
    (FixedRadius(), -10.0, 1.0, True, 1.0),
]


@pytest.mark.parametrize("policy, rho, step_norm, accepted, radius", TABLE)
def test_policy_table(policy, rho, step_norm, accepted, radius):
    decision = policy.update(rho, step_norm, R)
    assert decision.accepted is accepted
    assert decision.radius == pytest.approx(radius, rel=1e-15)
    assert decision.reason


def test_min_radius_is_a_floor():
    decision = StandardRadius(min_radius=0.5).update(-1.0, 1.0, 1.0)
    assert decision.radius == 0.5 and "min_radius" in decision.reason


@pytest.mark.parametrize("kwargs", [dict(eta_shrink=0.8, eta_grow=0.7), dict(shrink=1.5), dict(grow=0.5),
                                    dict(min_radius=2.0, max_radius=1.0), dict(eta_accept=-0.1)])
def test_standard_policy_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        StandardRadius(**kwargs)


def test_symmetric_policy_rejects_bad_settings_and_names_resolve():
    with pytest.raises(ValueError, match="grow_tolerance"):
        SymmetricRadius(tolerance=0.2, grow_tolerance=0.5)
    assert isinstance(get_policy("symmetric"), SymmetricRadius)
    assert isinstance(get_policy(None), StandardRadius)
    with pytest.raises(ValueError, match="radius policy"):
        get_policy("bold")
