r"""Simultaneous gradient descent, eq. (3.3) of the theory page.

On the bilinear game its update map :math:`I - hJ` has spectral radius
:math:`\sqrt{1 + h^2 \sigma_{\max}(A)^2} > 1`: it diverges for every step size.
"""
from __future__ import annotations

from .base import OPTIMIZERS, GameOptimizer

__all__ = ["SimultaneousGD"]


@OPTIMIZERS.register("simultaneous", batchable=True, coefficient=None)
class SimultaneousGD(GameOptimizer):
    """Simultaneous gradient descent on top of a base optimiser (plain SGD by default), eq. (3.3) of the theory page.

    Its parameters (``lr``, ``base``, ``base_kwargs``) are those of :class:`~dualgan.games.GameOptimizer`.
    """

    def _batched_step(self, point, lr, coefficient, move, memory):
        """The base step along :math:`v` (see :meth:`GameOptimizer.batched_step`)."""
        return move(point.Z, point.v, lr), memory, None
