"""Optimistic gradient descent (Daskalakis et al. 2018), eq. (3.7) of the theory page.

The base optimiser receives :math:`2 v(x_t) - v(x_{t-1})`, :math:`v(x_0)` on the first step; one field
evaluation per step.
"""
from __future__ import annotations

from .base import OPTIMIZERS, GameOptimizer

__all__ = ["OptimisticGD"]


@OPTIMIZERS.register("optimistic", batchable=True, coefficient=None)
class OptimisticGD(GameOptimizer):
    """Optimistic gradient descent (past-gradient extrapolation, eq. (3.7) of the theory page).

    Its parameters (``lr``, ``base``, ``base_kwargs``) are those of :class:`~dualgan.games.GameOptimizer`.

    References
    ----------
    Constantinos Daskalakis, Andrew Ilyas, Vasilis Syrgkanis, Haoyang Zeng.
    "Training GANs with Optimism." ICLR 2018.
    """

    memory_steps = 1     # its previous field: the linear map acts on (z_t, z_{t-1})

    def _loaded_memory(self, extra):
        # a checkpoint written while the object step was written apart holds the previous field per tensor
        return self._game.flatten(extra).unsqueeze(0) if isinstance(extra, list) else extra

    def _batched_step(self, point, lr, coefficient, move, memory):
        """The base step along 2 v(z_t) - v(z_{t-1}) (v(z_0) first); ``memory`` is the previous field."""
        direction = point.v if memory is None else 2 * point.v - memory
        return move(point.Z, direction, lr), point.v, None
