r"""Optimistic gradient descent (Daskalakis et al. 2018): :math:`x_{t+1} = x_t - 2h v(x_t) + h v(x_{t-1})`.

The base optimiser receives :math:`2 v(x_t) - v(x_{t-1})`; on the first step
(no previous field) it receives :math:`v(x_0)`. One field evaluation per step.
"""
from __future__ import annotations

from .base import GameOptimizer, StepRecord, register

__all__ = ["OptimisticGD"]


@register
class OptimisticGD(GameOptimizer):
    """Optimistic gradient descent (past-gradient extrapolation)."""

    name = "optimistic"

    def _bind(self, game):
        self._previous = None

    def _extra_state(self):
        return None if self._previous is None else [p.clone() for p in self._previous]

    def _load_extra_state(self, extra) -> None:
        self._previous = None if extra is None else [p.clone() for p in extra]

    def _step(self, game) -> StepRecord:
        ev = game.evaluate()
        bad = self._non_finite(ev.field, ev.losses)
        if bad is not None:
            return bad
        if self._previous is None:
            direction = ev.field
        else:
            direction = [2 * f - p for f, p in zip(ev.field, self._previous)]
        self._apply(game, direction)
        self._previous = [f.detach().clone() for f in ev.field]
        return self._record(ev.field, ev.losses, direction)
