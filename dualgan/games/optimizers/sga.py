r"""Symplectic gradient adjustment (Balduzzi et al. 2018): eqs. (3.8) and (3.9) of the theory page.

On a batch of cells :math:`A^\top v` comes from one vjp and one jvp; on an object game from the game's
own passes (:meth:`dualgan.games.Game.vjp_and_antisymmetric_vjp`, and
:meth:`dualgan.games.Game.antisymmetric_vjp` without sign alignment): one backward pass per player for a
two-player game that is zero-sum up to separable terms (:attr:`~dualgan.games.Game.zero_sum`), a
third-order transpose-trick pass otherwise.
"""
from __future__ import annotations

import torch

from ..._checks import check_bool, check_number
from ._rowwise import rowdot
from .base import OPTIMIZERS, GameOptimizer

__all__ = ["SymplecticGradientAdjustment"]


@OPTIMIZERS.register("sga", batchable=True, coefficient="lam")
class SymplecticGradientAdjustment(GameOptimizer):
    """SGA with coefficient ``lam`` (|lam| with sign alignment, ``lam`` as given without), eqs. (3.8)-(3.9).

    Parameters
    ----------
    lr, base, base_kwargs : float, str or callable, dict
        Step size :math:`h` and base optimiser, as for :class:`~dualgan.games.GameOptimizer`.
    lam : float, default 1.0
        Coefficient :math:`\\lambda_0` of the adjustment :math:`A^\\top v` (dimensionless, finite).
    align : bool, default True
        Choose the sign of :math:`\\lambda` by eq. (3.9) (sign alignment).
    eps : float, default 0.1
        The constant :math:`\\epsilon \\ge 0` of eq. (3.9).

    Raises
    ------
    ValueError
        If ``lr``, ``lam`` or ``eps`` is out of range, ``align`` is not a bool or ``base`` is unknown.

    References
    ----------
    David Balduzzi, Sébastien Racanière, James Martens, Jakob Foerster, Karl
    Tuyls, Thore Graepel. "The Mechanics of n-Player Differentiable Games." ICML 2018.
    """

    field_graph = True     # J^T v, A^T v

    def __init__(self, *, lr: float = 0.01, lam: float = 1.0, align: bool = True, eps: float = 0.1, base="sgd",
                 base_kwargs=None):
        super().__init__(lr=lr, base=base, base_kwargs=base_kwargs)
        self.lam = check_number(lam, "lam")
        self.eps = float(check_number(eps, "eps", low=0.0))
        self.align = check_bool(align, "align")

    def _check_linearisable(self) -> None:
        # with sign alignment the product of eq. (3.9) is O(|z - z*|^4): for eps > 0 the sign is + near z*
        if self.align and not self.eps > 0:
            raise ValueError("with sign alignment the linearised SGA map needs eps > 0 (the sign of lambda at the "
                             "equilibrium is then +); pass eps > 0 or align=False")

    def _batched_step(self, point, lr, coefficient, move, memory):
        """Eq. (3.8) with ``coefficient`` the cells' lambda_0, each cell's sign by eq. (3.9) at its own iterate."""
        field, own = point.v, getattr(point, "antisymmetric_products", None)
        if own is not None:                      # an object game: one backward pass per player
            jt_v, at_v = own(field, self.align)
        else:                                    # A^T v = (J^T v - J v) / 2
            jt_v = point.vjp(field)
            at_v = (jt_v - point.jvp(field)) / 2
        if self.align:
            alignment = rowdot(field, jt_v) * rowdot(at_v, jt_v) / point.game.n_tensors + float(self.eps)
            lam = coefficient.abs() * torch.where(alignment >= 0, 1.0, -1.0).to(field.dtype).unsqueeze(1)
        else:
            lam = coefficient
        self._note(coefficient=lam)
        return move(point.Z, field + lam * at_v, lr), memory, None
