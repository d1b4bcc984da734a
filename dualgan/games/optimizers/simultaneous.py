r"""Simultaneous gradient descent: :math:`x \leftarrow x - h\, v(x)` (eq. (3.3) of the theory page, docs/theory.md).

Every player steps on its own gradient at the same point. On the bilinear
game :math:`x^\top A y` the update map :math:`I - hJ` has spectral radius
:math:`\sqrt{1 + h^2 \sigma_{\max}(A)^2} > 1`: it diverges for every step size.
"""
from __future__ import annotations

from .base import GameOptimizer, StepRecord, register

__all__ = ["SimultaneousGD"]


@register
class SimultaneousGD(GameOptimizer):
    """Simultaneous gradient descent on top of a base optimiser (plain SGD by default)."""

    name = "simultaneous"

    def _step(self, game) -> StepRecord:
        ev = game.evaluate()
        bad = self._non_finite(ev.field, ev.losses)
        if bad is not None:
            return bad
        self._apply(game, ev.field)
        return self._record(ev.field, ev.losses, ev.field)
