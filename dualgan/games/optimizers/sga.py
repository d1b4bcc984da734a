r"""Symplectic gradient adjustment (Balduzzi et al. 2018): :math:`x \leftarrow x - h (v + \lambda A^\top v)`.

:math:`A = (J - J^\top)/2` is the antisymmetric part of the Jacobian, so
:math:`A^\top v = (J^\top v - J v)/2` costs one vjp and one jvp (computed
together by :meth:`dualgan.games.Game.jvp_and_vjp`). With sign alignment
(default) the coefficient is

.. math::
    \lambda = |\lambda_0| \, \mathrm{sign}\Big(\frac{\langle v, J^\top v\rangle
              \langle A^\top v, J^\top v\rangle}{n} + \epsilon\Big),

with :math:`J^\top v = \nabla \tfrac12 \|v\|^2`, :math:`\epsilon = 0.1` and
:math:`n` the number of parameter tensors, as in the reference code (SPEC.md
section 3). On a zero-sum bilinear game :math:`\langle v, J^\top v\rangle = 0`
(J is antisymmetric), so :math:`\lambda = |\lambda_0|` and SGA coincides with
consensus optimisation with :math:`\gamma = \lambda_0`.
"""
from __future__ import annotations

import math

from ..game import dot
from .base import GameOptimizer, StepRecord, register

__all__ = ["SymplecticGradientAdjustment"]


@register
class SymplecticGradientAdjustment(GameOptimizer):
    """SGA with coefficient ``lam`` (|lam| with sign alignment, ``lam`` as given without)."""

    name = "sga"

    def __init__(self, lr: float = 0.01, lam: float = 1.0, align: bool = True, eps: float = 0.1, base="sgd",
                 base_kwargs=None):
        super().__init__(lr, base, base_kwargs)
        if not math.isfinite(float(lam)):
            raise ValueError(f"lam must be a finite number, got {lam!r}")
        if not float(eps) >= 0:
            raise ValueError(f"eps must be >= 0, got {eps!r}")
        self.lam = float(lam)
        self.align = bool(align)
        self.eps = float(eps)

    def _step(self, game) -> StepRecord:
        ev = game.evaluate(create_graph=True)
        field = [f.detach() for f in ev.field]
        bad = self._non_finite(field, ev.losses)
        if bad is not None:
            return bad
        j_v, jt_v = game.jvp_and_vjp(field, field=ev.field)
        at_v = [(b - a) / 2 for a, b in zip(j_v, jt_v)]
        if self.align:
            n = len(game.parameters)
            alignment = float(dot(field, jt_v)) * float(dot(at_v, jt_v)) / n + self.eps
            lam = abs(self.lam) * (1.0 if alignment >= 0 else -1.0)
        else:
            lam = self.lam
        direction = [f + lam * a for f, a in zip(field, at_v)]
        bad = self._non_finite(field, ev.losses, direction)
        if bad is not None:
            return bad
        self._apply(game, direction)
        return self._record(field, ev.losses, direction, coefficient=lam)
