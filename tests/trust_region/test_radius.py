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


# ------------------------------------------------------------------ every field of every policy is checked
from dualgan.trust_region import POLICIES  # noqa: E402


def _fields():
    return [(name, field) for name in POLICIES.names() for field in POLICIES.options(name)]


def test_reported_fixed_policy_with_nan_min_radius_is_refused():
    with pytest.raises(ValueError, match=r"min_radius must be finite"):
        POLICIES.get("fixed")(min_radius=float("nan"))


@pytest.mark.parametrize("name, field", _fields())
@pytest.mark.parametrize("bad", [float("nan"), True, "0.5", None])
def test_every_policy_field_refuses_nan_bool_and_non_numbers(name, field, bad):
    with pytest.raises(ValueError, match=rf"\.{field} must be"):
        POLICIES.get(name)(**{field: bad})


@pytest.mark.parametrize("name, field", [(n, f) for n, f in _fields() if f != "max_radius"])
def test_every_policy_field_but_the_cap_refuses_inf(name, field):
    with pytest.raises(ValueError, match=rf"\.{field} must be"):
        POLICIES.get(name)(**{field: math.inf})
    with pytest.raises(ValueError, match=field):
        POLICIES.get(name)(**{field: -math.inf})


@pytest.mark.parametrize("name", POLICIES.names())
def test_every_policy_orders_its_radius_bounds_and_keeps_its_defaults(name):
    cls = POLICIES.get(name)
    with pytest.raises(ValueError, match="min_radius < max_radius"):
        cls(min_radius=2.0, max_radius=1.0)
    with pytest.raises(ValueError, match="boundary_fraction"):
        cls(boundary_fraction=1.0)
    with pytest.raises(ValueError, match="max_radius"):
        cls(max_radius=0.0)
    cls()  # the defaults pass their own checks


@pytest.mark.parametrize("name, kwargs, match", [
    ("standard", dict(min_radius=0.0), "min_radius"),       # a floor of 0 would let the radius vanish
    ("standard", dict(eta_accept=0.5), "eta_accept <= eta_shrink"),
    ("standard", dict(eta_grow=1.0), "eta_grow"),
    ("standard", dict(grow=math.inf), "grow"),
    ("standard", dict(shrink=0.0), "shrink"),
    ("symmetric", dict(tolerance=0.0), "tolerance"),
    ("symmetric", dict(grow_tolerance=0.0), "grow_tolerance"),
    ("symmetric", dict(grow=0.99), "grow"),
    ("fixed", dict(min_radius=-1.0), "min_radius"),
])
def test_policy_ranges_name_the_field(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        POLICIES.get(name)(**kwargs)


def test_numpy_fields_are_stored_as_floats_and_decide_like_python_floats():
    import numpy as np

    a = StandardRadius(shrink=np.float64(0.5), grow=np.int64(3), max_radius=np.float32(4.0))
    assert type(a.shrink) is float and type(a.grow) is float and a.grow == 3.0
    b = StandardRadius(shrink=0.5, grow=3.0, max_radius=4.0)
    for rho, step in [(0.9, 1.0), (0.1, 1.0), (-1.0, 1.0)]:
        assert a.update(rho, step, 1.0) == b.update(rho, step, 1.0)
    assert FixedRadius(max_radius=math.inf).update(0.3, 1.0, 2.5).radius == 2.5
