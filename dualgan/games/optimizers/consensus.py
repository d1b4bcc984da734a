r"""Consensus optimisation (Mescheder, Nowozin, Geiger 2017): :math:`x \leftarrow x - h (v + \gamma J^\top v)`.

:math:`J^\top v = \nabla (\tfrac12 \|v\|^2)` is one double-backward pass
through the field (eq. (3.5) of the theory page, docs/theory.md). The eigenvalues of the adjusted
Jacobian :math:`J + \gamma J^\top J` have real parts pushed right by
:math:`\gamma \sigma^2`, which turns the purely imaginary eigenvalues of
bilinear and Dirac-GAN games into attracting ones. The reference code feeds
:math:`v + \gamma J^\top v` to RMSProp (learning rate 1e-4, :math:`\gamma = 10`):
``ConsensusOptimization(lr=1e-4, gamma=10, base="rmsprop")``.
"""
from __future__ import annotations

from ..._checks import check_number
from .base import OPTIMIZERS, GameOptimizer

__all__ = ["ConsensusOptimization"]


@OPTIMIZERS.register("consensus", batchable=True, coefficient="gamma")
class ConsensusOptimization(GameOptimizer):
    """Consensus optimisation with weight ``gamma`` > 0 on :math:`\\nabla \\tfrac12\\|v\\|^2` (eq. (3.5) of the theory page).

    Parameters
    ----------
    lr, base, base_kwargs : float, str or callable, dict
        Step size :math:`h` and base optimiser, as for :class:`~dualgan.games.GameOptimizer`.
    gamma : float, default 1.0
        Weight :math:`\\gamma \\ge 0` of the consensus term :math:`J^\\top v`
        (dimensionless); must be finite.

    Raises
    ------
    ValueError
        If ``lr`` or ``gamma`` is out of range or ``base`` is unknown.

    References
    ----------
    Lars Mescheder, Sebastian Nowozin, Andreas Geiger. "The Numerics of GANs." NeurIPS 2017.
    """

    field_graph = True     # J^T v

    def __init__(self, *, lr: float = 0.01, gamma: float = 1.0, base="sgd", base_kwargs=None):
        super().__init__(lr=lr, base=base, base_kwargs=base_kwargs)
        self.gamma = check_number(gamma, "gamma", low=0.0)  # finite: gamma = inf made every step NaN

    def _batched_step(self, point, lr, coefficient, move, memory):
        r"""One step of every cell along :math:`v + \gamma J^\top v`, ``coefficient`` the cells' :math:`\gamma`.

        See :meth:`GameOptimizer.batched_step` for the parameters and the returns.
        """
        direction = point.v + coefficient * point.vjp(point.v)
        return move(point.Z, direction, lr), memory, None
