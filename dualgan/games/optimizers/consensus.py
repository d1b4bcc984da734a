r"""Consensus optimisation (Mescheder, Nowozin, Geiger 2017): eq. (3.5) of the theory page.

:math:`J^\top v` is one double-backward pass through the field. The adjusted Jacobian
:math:`J + \gamma J^\top J` has its eigenvalues' real parts pushed right by :math:`\gamma \sigma^2`, which
makes the purely imaginary ones of bilinear and Dirac-GAN games attracting. The reference code feeds the
adjusted field to RMSProp: ``ConsensusOptimization(lr=1e-4, gamma=10, base="rmsprop")``.
"""
from __future__ import annotations

from ..._checks import check_number
from .base import OPTIMIZERS, GameOptimizer

__all__ = ["ConsensusOptimization"]


@OPTIMIZERS.register("consensus", batchable=True, coefficient="gamma")
class ConsensusOptimization(GameOptimizer):
    """Consensus optimisation with weight ``gamma`` on :math:`J^\\top v` (eq. (3.5) of the theory page).

    Parameters
    ----------
    lr, base, base_kwargs : float, str or callable, dict
        Step size :math:`h` and base optimiser, as for :class:`~dualgan.games.GameOptimizer`.
    gamma : float, default 1.0
        Weight :math:`\\gamma \\ge 0` of the consensus term :math:`J^\\top v` (dimensionless, finite).

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
        """Eq. (3.5) with ``coefficient`` the cells' gamma."""
        direction = point.v + coefficient * point.vjp(point.v)
        return move(point.Z, direction, lr), memory, None
