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

The policies are the entries of :data:`POLICIES` (registered by name with
``@POLICIES.register(name)`` in any module of :mod:`dualgan.trust_region`; their
options are their keyword-only fields). :class:`StandardRadius` and
:class:`SymmetricRadius` share :meth:`RadiusPolicy.update` (reject and shrink,
accept and shrink, grow at the boundary, keep) and write only their thresholds
and their rule. A non-finite :math:`\rho` (the trial
cost overflowed) is always a rejection with a shrink. The radius never falls below ``min_radius``: a policy that
would go lower says so in ``reason`` and keeps ``min_radius``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .._checks import check_number
from ..registry import Registry

__all__ = ["RadiusDecision", "RadiusPolicy", "StandardRadius", "SymmetricRadius", "FixedRadius", "POLICIES",
           "get_policy"]

#: every trust-radius policy, by name: a :class:`RadiusPolicy` class whose keyword-only fields are its options
POLICIES = Registry("radius policy", package="dualgan.trust_region")


@dataclass(frozen=True)
class RadiusDecision:
    """Whether the step is accepted, the radius to use next, and why.

    Parameters
    ----------
    accepted : bool
        Whether the step is accepted (eqs. (2.12)-(2.13) of the theory page).
    radius : float
        The trust radius :math:`\\Delta_{k+1}` for the next solve (parameter-space
        Euclidean norm units), never below the policy's ``min_radius``.
    reason : str
        A human-readable explanation (the value of :math:`\\rho` and the rule that applied).
    """

    accepted: bool
    radius: float
    reason: str


def _set_number(policy, name: str, **bounds) -> float:
    """Check the field ``name`` of a (frozen) policy with :func:`check_number` and store it as a float."""
    value = check_number(getattr(policy, name), f"{type(policy).__name__}.{name}", **bounds)
    object.__setattr__(policy, name, value)
    return value


def _check_common(policy, min_radius_may_be_zero: bool = False) -> None:
    """``min_radius`` (finite, > 0, or >= 0 where allowed), ``max_radius`` (> min_radius, inf allowed: no cap)
    and ``boundary_fraction`` (in (0, 1)), each named in its error."""
    lo = _set_number(policy, "min_radius", low=0.0, low_open=not min_radius_may_be_zero)
    hi = _set_number(policy, "max_radius", low=0.0, low_open=True, allow_inf=True)
    if not hi > lo:
        raise ValueError(f"{type(policy).__name__}: need min_radius < max_radius, got min_radius={lo!r}, "
                         f"max_radius={hi!r}; raise max_radius or lower min_radius")
    _set_number(policy, "boundary_fraction", low=0.0, high=1.0, low_open=True, high_open=True)


class RadiusPolicy:
    """Base of the radius policies: :meth:`update` decides from the acceptance ratio.

    A subclass either writes ``_judge`` (what ``rho`` says: reject, accept and
    shrink, grow at the boundary, or keep the radius; the rules of eqs. (2.12) and
    (2.13)) and has ``shrink`` and ``grow`` factors, or overrides :meth:`update` whole.
    """

    min_radius: float
    max_radius: float
    boundary_fraction: float

    def decide(self, rho: float, step_norm: float, radius: float) -> RadiusDecision:
        """:meth:`update`, with its decision checked: what the trust-region step calls.

        A policy that overrides :meth:`update` (a user's policy) may return something
        else than a :class:`RadiusDecision`, or a radius that is not finite or is below ``min_radius``
        (a negative one was recorded under a success and failed the next step with a message
        naming no policy); that is refused here, naming the policy.

        Parameters
        ----------
        rho : float
            The acceptance ratio :math:`\\rho_k` of eq. (2.11) of the theory page.
        step_norm : float
            :math:`\\|\\delta\\|` of the step.
        radius : float
            The radius :math:`\\Delta_k` the step was solved at.

        Returns
        -------
        RadiusDecision
            The policy's decision, its radius a float.

        Raises
        ------
        TypeError
            If :meth:`update` returns something else than a :class:`RadiusDecision`.
        ValueError
            If its radius is not a finite number >= ``min_radius`` (> 0).
        """
        decision = self.update(rho, step_norm, radius)
        name = type(self).__name__
        if not isinstance(decision, RadiusDecision):
            raise TypeError(f"the radius policy {name}.update returned a {type(decision).__name__}; a policy "
                            f"returns RadiusDecision(accepted, radius, reason)")
        floor = self.min_radius
        try:  # a radius above max_radius stays possible: a step started above it keeps its radius
            value = check_number(decision.radius, f"the radius {name}.update chose", low=floor, low_open=floor == 0)
        except ValueError as exc:
            raise ValueError(f"{exc} (the policy's min_radius is {floor:g}); a policy keeps the radius finite and at "
                             f"least min_radius") from None
        return RadiusDecision(bool(decision.accepted), value, decision.reason)

    def update(self, rho: float, step_norm: float, radius: float) -> RadiusDecision:
        """Accept or reject a step and choose the next radius, by the policy's rule (eqs. (2.12)-(2.13)).

        A ``rho`` that is not finite (the trial cost overflowed) is a rejection with a
        shrink; a growth happens only for a step on the boundary (:meth:`at_boundary`);
        the radius stays within ``[min_radius, max_radius]``.

        Parameters
        ----------
        rho : float
            The acceptance ratio :math:`\\rho_k` of eq. (2.11) of the theory page (NaN or inf: reject).
        step_norm : float
            :math:`\\|\\delta\\|` of the step.
        radius : float
            The radius :math:`\\Delta_k` the step was solved at.

        Returns
        -------
        RadiusDecision
            Whether the step is accepted, the next radius and why.
        """
        if not math.isfinite(rho):
            return self._shrink(radius, self.shrink, False, "rho is not finite: reject and shrink")
        verdict, why = self._judge(rho)
        if verdict in ("reject", "shrink"):
            return self._shrink(radius, self.shrink, verdict == "shrink", why)
        if verdict == "grow" and self.at_boundary(step_norm, radius):
            return RadiusDecision(True, min(self.grow * radius, self.max_radius), why)
        return RadiusDecision(True, radius, f"rho {rho:.3g}: accept, keep the radius")

    def _judge(self, rho: float) -> tuple[str, str]:  # pragma: no cover
        """``(verdict, why)`` for a finite ``rho``: verdict "reject" (and shrink), "shrink" (accept and
        shrink), "grow" (accept, and grow if the step is on the boundary) or "keep"."""
        raise NotImplementedError

    def at_boundary(self, step_norm: float, radius: float) -> bool:
        """The step counts as on the boundary when ``step_norm >= boundary_fraction * radius``.

        Parameters
        ----------
        step_norm : float
            :math:`\\|\\delta\\|` of the step.
        radius : float
            The trust radius :math:`\\Delta_k`.

        Returns
        -------
        bool
            Whether the step reached the boundary of the ball.
        """
        return step_norm >= self.boundary_fraction * radius

    def _shrink(self, radius: float, factor: float, accepted: bool, why: str) -> RadiusDecision:
        """The radius times ``factor`` (held at ``min_radius``), the step accepted or not, and why."""
        new = factor * radius
        if new < self.min_radius:
            return RadiusDecision(accepted, self.min_radius, f"{why}; radius held at min_radius {self.min_radius:g}")
        return RadiusDecision(accepted, new, why)


@dataclass(frozen=True, kw_only=True)
class _ShrinkGrowRadius(RadiusPolicy):
    """The fields and checks the shrinking and growing policies share; a subclass adds its thresholds,
    checked by its ``_check_thresholds``, and its ``_judge``."""

    shrink: float = 0.25
    grow: float = 2.0
    max_radius: float = 10.0
    min_radius: float = 1e-10
    boundary_fraction: float = 0.999

    def __post_init__(self):
        self._check_thresholds()
        _set_number(self, "shrink", low=0.0, high=1.0, low_open=True, high_open=True)
        _set_number(self, "grow", low=1.0)
        _check_common(self)

    def _check_thresholds(self) -> None:  # pragma: no cover
        raise NotImplementedError


@POLICIES.register("standard")
@dataclass(frozen=True, kw_only=True)
class StandardRadius(_ShrinkGrowRadius):
    """The standard policy: shrink on small rho, grow on good rho at the boundary, reject below ``eta_accept``.

    Eq. (2.12) of the theory page.

    Parameters
    ----------
    eta_accept : float, default 1e-4
        :math:`\\eta_0`: reject when :math:`\\rho < \\eta_0`.
    eta_shrink : float, default 0.25
        :math:`\\eta_1`: shrink when :math:`\\rho < \\eta_1`.
    eta_grow : float, default 0.75
        :math:`\\eta_2`: grow when :math:`\\rho > \\eta_2` on the boundary;
        :math:`0 \\le \\eta_0 \\le \\eta_1 < \\eta_2 < 1`.
    shrink : float, default 0.25
        :math:`\\gamma_{dec} \\in (0, 1)`.
    grow : float, default 2.0
        :math:`\\gamma_{inc} \\ge 1`.
    max_radius : float, default 10.0
        :math:`\\Delta_{max}`, the cap of the radius (> min_radius; inf: no cap).
    min_radius : float, default 1e-10
        :math:`\\Delta_{min}`, the floor of the radius (finite, 0 < min_radius < max_radius).
    boundary_fraction : float, default 0.999
        A step counts as on the boundary when :math:`\\|\\delta\\| \\ge` this fraction of :math:`\\Delta`; in (0, 1).

    Raises
    ------
    ValueError
        If a field is not a real number (``bool`` refused), is NaN or
        infinite (only ``max_radius`` may be inf), or is out of its range
        above; the message names the field.

    References
    ----------
    Jorge Nocedal, Stephen J. Wright. "Numerical Optimization", 2nd ed.
    Springer, 2006 (chapter 4, Algorithm 4.1).
    """

    eta_accept: float = 1e-4
    eta_shrink: float = 0.25
    eta_grow: float = 0.75

    def _check_thresholds(self) -> None:
        e0 = _set_number(self, "eta_accept", low=0.0, high=1.0, high_open=True)
        e1 = _set_number(self, "eta_shrink", low=0.0, high=1.0, high_open=True)
        e2 = _set_number(self, "eta_grow", low=0.0, high=1.0, high_open=True)
        if not e0 <= e1 < e2:
            raise ValueError(f"StandardRadius: need 0 <= eta_accept <= eta_shrink < eta_grow < 1, got eta_accept={e0}, "
                             f"eta_shrink={e1}, eta_grow={e2}; order the three thresholds")

    def _judge(self, rho: float) -> tuple[str, str]:
        # eq. (2.12)
        if rho < self.eta_accept:
            return "reject", f"rho {rho:.3g} < eta_accept: reject and shrink"
        if rho < self.eta_shrink:
            return "shrink", f"rho {rho:.3g} < eta_shrink: accept and shrink"
        if rho > self.eta_grow:
            return "grow", f"rho {rho:.3g} > eta_grow at the boundary: accept and grow"
        return "keep", ""


@POLICIES.register("symmetric")
@dataclass(frozen=True, kw_only=True)
class SymmetricRadius(_ShrinkGrowRadius):
    """Shrink and re-solve when rho is far from 1 on either side (``|rho - 1| > tolerance``).

    Eq. (2.13) of the theory page.

    Parameters
    ----------
    tolerance : float, default 0.75
        :math:`\\tau`: reject and shrink when :math:`|\\rho - 1| > \\tau`.
    grow_tolerance : float, default 0.25
        :math:`\\tau_{grow}`: grow when :math:`|\\rho - 1| < \\tau_{grow}` on
        the boundary; :math:`0 < \\tau_{grow} \\le \\tau`.
    shrink : float, default 0.25
        Shrink factor, in (0, 1).
    grow : float, default 2.0
        Growth factor, finite and >= 1.
    max_radius : float, default 10.0
        The cap of the radius (> min_radius; inf: no cap).
    min_radius : float, default 1e-10
        The floor of the radius (finite, 0 < min_radius < max_radius).
    boundary_fraction : float, default 0.999
        A step counts as on the boundary when :math:`\\|\\delta\\| \\ge` this fraction of :math:`\\Delta`; in (0, 1).

    Raises
    ------
    ValueError
        If a field is not a real number (``bool`` refused), is NaN or
        infinite (only ``max_radius`` may be inf), or is out of its range
        above; the message names the field.

    References
    ----------
    Yujia Li, Alexander Schwing, Kuan-Chieh Wang, Richard Zemel. "Dualing
    GANs." NeurIPS 2017 (appendix C).
    """

    tolerance: float = 0.75
    grow_tolerance: float = 0.25

    def _check_thresholds(self) -> None:
        tau = _set_number(self, "tolerance", low=0.0, low_open=True)
        tau_grow = _set_number(self, "grow_tolerance", low=0.0, low_open=True)
        if not tau_grow <= tau:
            raise ValueError(f"SymmetricRadius: need 0 < grow_tolerance <= tolerance, got grow_tolerance={tau_grow}, "
                             f"tolerance={tau}; lower grow_tolerance or raise tolerance")

    def _judge(self, rho: float) -> tuple[str, str]:
        # eq. (2.13): the model is poor when rho is far from 1 on either side
        dev = abs(rho - 1.0)
        if dev > self.tolerance:
            return "reject", f"|rho - 1| = {dev:.3g} > tolerance: reject and shrink"
        if dev < self.grow_tolerance:
            return "grow", f"|rho - 1| = {dev:.3g} < grow_tolerance at the boundary: grow"
        return "keep", ""


@POLICIES.register("fixed")
@dataclass(frozen=True, kw_only=True)
class FixedRadius(RadiusPolicy):
    """Accept every step, never change the radius (cost linearisation = normalised gradient descent).

    With cost linearisation the step is eq. (2.3) of the theory page with a constant radius.

    Parameters
    ----------
    min_radius : float, default 0.0
        Unused floor (the radius never changes); finite and >= 0.
    max_radius : float, default inf
        Unused cap (the radius never changes); > min_radius (inf allowed).
    boundary_fraction : float, default 0.999
        A step counts as on the boundary when :math:`\\|\\delta\\| \\ge` this fraction of :math:`\\Delta`; in (0, 1).

    Raises
    ------
    ValueError
        If a field is not a real number (``bool`` refused), is NaN, or is out
        of its range above; the message names the field.
    """

    min_radius: float = 0.0
    max_radius: float = math.inf
    boundary_fraction: float = 0.999

    def __post_init__(self):
        _check_common(self, min_radius_may_be_zero=True)

    def update(self, rho: float, step_norm: float, radius: float) -> RadiusDecision:
        """Accept and keep the radius, whatever ``rho`` is.

        Parameters
        ----------
        rho : float
            The acceptance ratio of eq. (2.11) of the theory page (ignored).
        step_norm : float
            :math:`\\|\\delta\\|` of the step (ignored).
        radius : float
            The current radius, returned unchanged.

        Returns
        -------
        RadiusDecision
            ``accepted=True`` with ``radius`` unchanged.
        """
        return RadiusDecision(True, radius, "fixed radius: accept")


def get_policy(policy) -> RadiusPolicy:
    """A policy object from itself, its name in :data:`POLICIES` (built with its defaults), or None.

    Parameters
    ----------
    policy : RadiusPolicy or str or None
        A policy (returned as is), a name of :data:`POLICIES` (``"standard"``,
        ``"symmetric"``, ``"fixed"``; the policy with its default options), or
        None for :class:`StandardRadius` with its defaults.

    Returns
    -------
    RadiusPolicy
        The policy.

    Raises
    ------
    ValueError
        If the name is not registered (the message lists the registered names).
    """
    if isinstance(policy, RadiusPolicy):
        return policy
    if policy is None:
        return StandardRadius()
    return POLICIES.get(policy)()
