r"""Negative momentum (Gidel et al. 2019): :math:`z_{t+1} = z_t - h v(z_t) + \beta (z_t - z_{t-1})`, :math:`\beta < 0`.

Its local rate is that of its linearised map on :math:`(z_t, z_{t-1})`, as in eq. (3.11) of the theory page.
"""
from __future__ import annotations

from ..._checks import check_number
from .base import OPTIMIZERS, GameOptimizer

__all__ = ["NegativeMomentum"]


@OPTIMIZERS.register("negative_momentum", batchable=True, coefficient=None)
class NegativeMomentum(GameOptimizer):
    r"""Simultaneous gradient descent plus a heavy-ball term of weight ``momentum`` (negative: it damps rotation).

    The step of eq. (3.3) of the theory page, then :math:`\beta (z_t - z_{t-1})` added (none at the first
    step). On the bilinear game the linearised map on :math:`(z_t, z_{t-1})` is
    :math:`\begin{pmatrix} (1 + \beta) I - hJ & -\beta I \\ I & 0 \end{pmatrix}`.

    Parameters
    ----------
    lr, base, base_kwargs : float, str or callable, dict
        Step size :math:`h` and base optimiser, as for :class:`~dualgan.games.GameOptimizer`.
    momentum : float, default -0.1
        The weight :math:`\beta` of the previous displacement, finite, in (-1, 1).

    Raises
    ------
    ValueError
        If ``lr`` is not a finite number > 0, ``momentum`` is not in (-1, 1) or ``base`` is unknown.

    References
    ----------
    Gauthier Gidel, Reyhane Askari Hemmat, Mohammad Pezeshki, Rémi Le Priol, Gabriel Huang, Simon
    Lacoste-Julien, Ioannis Mitliagkas. "Negative Momentum for Improved Game Dynamics." AISTATS 2019.
    """

    memory_steps = 1     # the previous iterate

    def __init__(self, *, lr: float = 0.01, momentum: float = -0.1, base="sgd", base_kwargs=None):
        super().__init__(lr=lr, base=base, base_kwargs=base_kwargs)
        self.momentum = check_number(momentum, "momentum", low=-1.0, high=1.0, low_open=True, high_open=True)

    def _batched_step(self, point, lr, coefficient, move, memory):
        """One base step along v, plus ``momentum`` times the last displacement; ``memory`` is the previous iterate."""
        Z = move(point.Z, point.v, lr)
        if memory is not None:
            Z = Z + self.momentum * (point.Z - memory)
        return Z, point.Z, None
