r"""Optimistic gradient descent (Daskalakis et al. 2018): :math:`x_{t+1} = x_t - 2h v(x_t) + h v(x_{t-1})`.

The base optimiser receives :math:`2 v(x_t) - v(x_{t-1})`; on the first step
(no previous field) it receives :math:`v(x_0)`. One field evaluation per step.
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
        """One step of every cell along 2 v(z_t) - v(z_{t-1}) (v(z_0) first); ``memory`` is the previous field.

        See :meth:`GameOptimizer.batched_step` for the parameters and the returns.
        """
        direction = point.v if memory is None else 2 * point.v - memory
        return move(point.Z, direction, lr), point.v, None
