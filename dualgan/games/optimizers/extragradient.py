"""Extragradient (Korpelevich 1976), eq. (3.6) of the theory page.

The look-ahead step and the real step both go through the base optimiser (with plain SGD exactly eq.
(3.6)). With a stateful base (Adam, RMSProp) the parameters are restored after the look-ahead but the
base optimiser's moments see both fields, as in extra-Adam (Gidel et al. 2019). Two field evaluations
per step, both on the game's current batch.
"""
from __future__ import annotations

from ..._checks import check_positive
from .base import OPTIMIZERS, GameOptimizer

__all__ = ["Extragradient"]


@OPTIMIZERS.register("extragradient", batchable=True, coefficient="extrapolation")
class Extragradient(GameOptimizer):
    """Extragradient, eq. (3.6) of the theory page; ``update_norm`` is :math:`\\|v(x')\\|`, the field of the real step.

    Parameters
    ----------
    lr, base, base_kwargs : float, str or callable, dict
        Step size :math:`h` and base optimiser, as for :class:`~dualgan.games.GameOptimizer`.
    extrapolation : float, default 1.0
        Factor :math:`c > 0` of the look-ahead step :math:`x' = x - c h v(x)` (the base optimiser's
        learning rate is scaled for the look-ahead only), the record's ``coefficient``; 1 is Korpelevich's rule.

    Raises
    ------
    ValueError
        If ``lr`` or ``extrapolation`` is not a finite number > 0 or ``base`` is unknown.

    References
    ----------
    G. M. Korpelevich. "The extragradient method for finding saddle points and
    other problems." Ekonomika i Matematicheskie Metody 12, 1976.
    """

    def __init__(self, *, lr: float = 0.01, base="sgd", base_kwargs=None, extrapolation: float = 1.0):
        super().__init__(lr=lr, base=base, base_kwargs=base_kwargs)
        self.extrapolation = check_positive(extrapolation, "extrapolation")     # the look-ahead step / lr

    def _batched_step(self, point, lr, coefficient, move, memory):
        """A look-ahead base step of ``coefficient * lr`` along v, then the real step along v there."""
        lookahead = move(point.Z, point.v, coefficient * lr)
        return move(point.Z, point.field_at(lookahead), lr), memory, None
