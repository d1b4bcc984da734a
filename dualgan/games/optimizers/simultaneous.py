r"""Simultaneous gradient descent: :math:`x \leftarrow x - h\, v(x)` (eq. (3.3) of the theory page).

Every player steps on its own gradient at the same point. On the bilinear
game :math:`x^\top A y` the update map :math:`I - hJ` has spectral radius
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
        """One step of every cell (see :meth:`GameOptimizer.batched_step`): the base step along :math:`v`."""
        return move(point.Z, point.v, lr), memory, None
