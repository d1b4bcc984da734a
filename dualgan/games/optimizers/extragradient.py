r"""Extragradient (Korpelevich 1976): :math:`x' = x - h v(x)`, then :math:`x \leftarrow x - h v(x')`.

The look-ahead step and the real step both go through the base optimiser
(with plain SGD this is exactly the rule above). With a stateful base (Adam,
RMSProp) the parameters are restored after the look-ahead but the base
optimiser's moment estimates see both fields, as in extra-Adam (Gidel et al.
2019). Two field evaluations per step; both use the game's current batch.
"""
from __future__ import annotations

from .base import GameOptimizer, StepRecord, register

__all__ = ["Extragradient"]


@register
class Extragradient(GameOptimizer):
    """Extragradient; ``update_norm`` is :math:`\\|v(x')\\|`, the field used for the real step."""

    name = "extragradient"

    def _step(self, game) -> StepRecord:
        ev = game.evaluate()
        bad = self._non_finite(ev.field, ev.losses)
        if bad is not None:
            return bad
        saved = game.get_values()
        self._apply(game, ev.field)
        lookahead = game.vector_field()
        game.set_values(saved)
        bad = self._non_finite(ev.field, ev.losses, lookahead)
        if bad is not None:
            return bad
        self._apply(game, lookahead)
        return self._record(ev.field, ev.losses, lookahead)
