r"""Trust-radius policies: accept or reject a step from its acceptance ratio, and set the next radius.

Eqs. (2.11)-(2.13) of the theory page, docs/theory.md. With the acceptance ratio

.. math::

    \rho = \frac{f(w_k) - f(w_k + \delta)}{m(0) - m(\delta)}

(actual over predicted decrease), every policy returns a :class:`RadiusDecision`.

* :class:`StandardRadius` (Nocedal & Wright, Algorithm 4.1): reject when
  :math:`\rho < \eta_0`; shrink :math:`\Delta \leftarrow \gamma_{dec}\Delta`
  when :math:`\rho < \eta_1`; grow :math:`\Delta \leftarrow
  \min(\gamma_{inc}\Delta, \Delta_{max})` when :math:`\rho > \eta_2` and the step
  reached the boundary. Defaults :math:`\eta_0 = 10^{-4}, \eta_1 = 0.25,
  \eta_2 = 0.75, \gamma_{dec} = 0.25, \gamma_{inc} = 2, \Delta_{max} = 10`.
* :class:`SymmetricRadius` (the Dualing GANs appendix C): the model is poor when
  :math:`\rho` is far from 1 on *either* side. Reject and shrink when
  :math:`|\rho - 1| > \tau` (default 0.75, i.e. accept :math:`\rho \in [0.25, 1.75]`);
  grow when :math:`|\rho - 1| < \tau_{grow}` (0.25) at the boundary.
* :class:`FixedRadius`: accept every step that decreases the model, keep the
  radius: with cost linearisation this is plain normalised-gradient training
  with step size :math:`\Delta`.

A non-finite :math:`\rho` (the trial cost overflowed) is always a rejection
with a shrink. The radius never falls below ``min_radius``: a policy that
would go lower says so in ``reason`` and keeps ``min_radius``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["RadiusDecision", "RadiusPolicy", "StandardRadius", "SymmetricRadius", "FixedRadius", "get_policy"]


@dataclass(frozen=True)
class RadiusDecision:
    """Whether the step is accepted, the radius to use next, and why."""

    accepted: bool
    radius: float
    reason: str


def _check_unit(value, name, low_open=True):
    v = float(value)
    if not (0.0 < v < 1.0 if low_open else 0.0 <= v < 1.0):
        raise ValueError(f"{name} must lie in {'(0, 1)' if low_open else '[0, 1)'}, got {value!r}")
    return v


def _check_radius_bounds(min_radius, max_radius):
    if not (float(min_radius) > 0 and float(max_radius) > float(min_radius)):
        raise ValueError(f"need 0 < min_radius < max_radius, got min_radius={min_radius!r}, max_radius={max_radius!r}")


class RadiusPolicy:
    """Base: subclasses implement :meth:`update`."""

    min_radius: float
    max_radius: float
    boundary_fraction: float

    def update(self, rho: float, step_norm: float, radius: float) -> RadiusDecision:  # pragma: no cover
        raise NotImplementedError

    def at_boundary(self, step_norm: float, radius: float) -> bool:
        """The step counts as on the boundary when ``step_norm >= boundary_fraction * radius``."""
        return step_norm >= self.boundary_fraction * radius

    def _shrink(self, radius: float, factor: float, accepted: bool, why: str) -> RadiusDecision:
        new = factor * radius
        if new < self.min_radius:
            return RadiusDecision(accepted, self.min_radius, f"{why}; radius held at min_radius {self.min_radius:g}")
        return RadiusDecision(accepted, new, why)

    def _grow(self, radius: float, factor: float, why: str) -> RadiusDecision:
        return RadiusDecision(True, min(factor * radius, self.max_radius), why)


@dataclass(frozen=True)
class StandardRadius(RadiusPolicy):
    """The standard policy: shrink on small rho, grow on good rho at the boundary, reject below ``eta_accept``."""

    eta_accept: float = 1e-4
    eta_shrink: float = 0.25
    eta_grow: float = 0.75
    shrink: float = 0.25
    grow: float = 2.0
    max_radius: float = 10.0
    min_radius: float = 1e-10
    boundary_fraction: float = 0.999

    def __post_init__(self):
        if not (0.0 <= self.eta_accept <= self.eta_shrink < self.eta_grow < 1.0):
            raise ValueError(f"need 0 <= eta_accept <= eta_shrink < eta_grow < 1, got eta_accept={self.eta_accept}, "
                             f"eta_shrink={self.eta_shrink}, eta_grow={self.eta_grow}")
        _check_unit(self.shrink, "shrink")
        if not self.grow >= 1.0:
            raise ValueError(f"grow must be >= 1, got {self.grow!r}")
        _check_radius_bounds(self.min_radius, self.max_radius)
        _check_unit(self.boundary_fraction, "boundary_fraction")

    def update(self, rho: float, step_norm: float, radius: float) -> RadiusDecision:
        if not math.isfinite(rho):
            return self._shrink(radius, self.shrink, False, "rho is not finite: reject and shrink")
        if rho < self.eta_accept:
            return self._shrink(radius, self.shrink, False, f"rho {rho:.3g} < eta_accept: reject and shrink")
        if rho < self.eta_shrink:
            return self._shrink(radius, self.shrink, True, f"rho {rho:.3g} < eta_shrink: accept and shrink")
        if rho > self.eta_grow and self.at_boundary(step_norm, radius):
            return self._grow(radius, self.grow, f"rho {rho:.3g} > eta_grow at the boundary: accept and grow")
        return RadiusDecision(True, radius, f"rho {rho:.3g}: accept, keep the radius")


@dataclass(frozen=True)
class SymmetricRadius(RadiusPolicy):
    """Shrink and re-solve when rho is far from 1 on either side (``|rho - 1| > tolerance``)."""

    tolerance: float = 0.75
    grow_tolerance: float = 0.25
    shrink: float = 0.25
    grow: float = 2.0
    max_radius: float = 10.0
    min_radius: float = 1e-10
    boundary_fraction: float = 0.999

    def __post_init__(self):
        if not (0.0 < self.grow_tolerance <= self.tolerance):
            raise ValueError(f"need 0 < grow_tolerance <= tolerance, got grow_tolerance={self.grow_tolerance}, "
                             f"tolerance={self.tolerance}")
        _check_unit(self.shrink, "shrink")
        if not self.grow >= 1.0:
            raise ValueError(f"grow must be >= 1, got {self.grow!r}")
        _check_radius_bounds(self.min_radius, self.max_radius)
        _check_unit(self.boundary_fraction, "boundary_fraction")

    def update(self, rho: float, step_norm: float, radius: float) -> RadiusDecision:
        if not math.isfinite(rho):
            return self._shrink(radius, self.shrink, False, "rho is not finite: reject and shrink")
        dev = abs(rho - 1.0)
        if dev > self.tolerance:
            return self._shrink(radius, self.shrink, False, f"|rho - 1| = {dev:.3g} > tolerance: reject and shrink")
        if dev < self.grow_tolerance and self.at_boundary(step_norm, radius):
            return self._grow(radius, self.grow, f"|rho - 1| = {dev:.3g} < grow_tolerance at the boundary: grow")
        return RadiusDecision(True, radius, f"rho {rho:.3g}: accept, keep the radius")


@dataclass(frozen=True)
class FixedRadius(RadiusPolicy):
    """Accept every step, never change the radius (cost linearisation = normalised gradient descent)."""

    min_radius: float = 0.0
    max_radius: float = math.inf
    boundary_fraction: float = 0.999

    def update(self, rho: float, step_norm: float, radius: float) -> RadiusDecision:
        return RadiusDecision(True, radius, "fixed radius: accept")


_POLICIES = {"standard": StandardRadius, "symmetric": SymmetricRadius, "fixed": FixedRadius}


def get_policy(policy) -> RadiusPolicy:
    """A policy object from itself or its name (``"standard"``, ``"symmetric"``, ``"fixed"``)."""
    if isinstance(policy, RadiusPolicy):
        return policy
    if policy is None:
        return StandardRadius()
    if policy not in _POLICIES:
        raise ValueError(f"unknown radius policy {policy!r}; choose one of {sorted(_POLICIES)} "
                         f"or pass a RadiusPolicy instance such as StandardRadius(shrink=0.5)")
    return _POLICIES[policy]()
