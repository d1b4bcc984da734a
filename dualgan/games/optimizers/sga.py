r"""Symplectic gradient adjustment (Balduzzi et al. 2018): :math:`x \leftarrow x - h (v + \lambda A^\top v)`.

:math:`A = (J - J^\top)/2` is the antisymmetric part of the Jacobian;
:math:`A^\top v = (J^\top v - J v)/2` is exact. On a batch of cells it comes
from one vjp and one jvp; on an object game from the game's own passes
(:meth:`dualgan.games.Game.vjp_and_antisymmetric_vjp`, and
:meth:`dualgan.games.Game.antisymmetric_vjp` without sign alignment): one
backward pass per player for a two-player game that is zero-sum up to separable
terms (:attr:`~dualgan.games.Game.zero_sum`, e.g. a GAN with the minimax or
Wasserstein loss), a third-order transpose-trick pass otherwise. With sign alignment (default)
the coefficient is

.. math::
    \lambda = |\lambda_0| \, \mathrm{sign}\Big(\frac{\langle v, J^\top v\rangle
              \langle A^\top v, J^\top v\rangle}{n} + \epsilon\Big),

with :math:`J^\top v = \nabla \tfrac12 \|v\|^2`, :math:`\epsilon = 0.1` and
:math:`n` the number of parameter tensors, as in the reference code (eq. (3.9)
of the theory page). On a zero-sum bilinear game :math:`\langle v, J^\top v\rangle = 0`
(J is antisymmetric), so :math:`\lambda = |\lambda_0|` and SGA coincides with
consensus optimisation with :math:`\gamma = \lambda_0`.
"""
from __future__ import annotations

import torch

from ..._checks import check_number
from ._rowwise import rowdot
from .base import OPTIMIZERS, GameOptimizer

__all__ = ["SymplecticGradientAdjustment"]


@OPTIMIZERS.register("sga", batchable=True, coefficient="lam")
class SymplecticGradientAdjustment(GameOptimizer):
    """SGA with coefficient ``lam`` (|lam| with sign alignment, ``lam`` as given without).

    Eqs. (3.8) and (3.9) of the theory page.

    Parameters
    ----------
    lr, base, base_kwargs : float, str or callable, dict
        Step size :math:`h` and base optimiser, as for :class:`~dualgan.games.GameOptimizer`.
    lam : float, default 1.0
        Coefficient :math:`\\lambda_0` of the adjustment :math:`A^\\top v`
        (dimensionless, finite): :math:`|\\lambda_0|` with sign alignment,
        as given without.
    align : bool, default True
        Choose the sign of :math:`\\lambda` by eq. (3.9) (sign alignment).
    eps : float, default 0.1
        The constant :math:`\\epsilon \\ge 0` of eq. (3.9).

    Raises
    ------
    ValueError
        If ``lr``, ``lam`` or ``eps`` is out of range or ``base`` is unknown.

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
        eps = check_number(eps, "eps", low=0.0)
        self.align = bool(align)
        self.eps = float(eps)

    def _check_linearisable(self) -> None:
        # with sign alignment the product of eq. (3.9) is O(|z - z*|^4): for eps > 0 the sign is + near z*
        if self.align and not self.eps > 0:
            raise ValueError("with sign alignment the linearised SGA map needs eps > 0 (the sign of lambda at the "
                             "equilibrium is then +); pass eps > 0 or align=False")

    def _batched_step(self, point, lr, coefficient, move, memory):
        r"""One step of every cell along :math:`v + \lambda A^\top v`, ``coefficient`` the cells' :math:`\lambda_0`.

        With sign alignment each cell's sign is that of eq. (3.9) at its own
        iterate; see :meth:`GameOptimizer.batched_step` for the parameters and the returns.
        """
        field = point.v
        jt_v, at_v = _antisymmetric_products(point, field, self.align)
        if self.align:
            alignment = rowdot(field, jt_v) * rowdot(at_v, jt_v) / point.game.n_tensors + float(self.eps)
            lam = coefficient.abs() * torch.where(alignment >= 0, 1.0, -1.0).to(field.dtype).unsqueeze(1)
        else:
            lam = coefficient
        self._note(coefficient=lam)
        return move(point.Z, field + lam * at_v, lr), memory, None


def _antisymmetric_products(point, U, with_vjp):
    r""":math:`J^\top u` and :math:`A^\top u = (J^\top u - J u)/2`, by the point's own passes where it has them."""
    own = getattr(point, "antisymmetric_products", None)     # an object game: one backward pass per player
    if own is not None:
        return own(U, with_vjp)
    jt = point.vjp(U)
    return jt, (jt - point.jvp(U)) / 2
