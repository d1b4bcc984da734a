r"""Alternating gradient descent: players step in turn, each seeing the others' newest values.

For two players, :math:`x_1 \leftarrow x_1 - h \nabla_{x_1} L_1(x_1, x_2)`, then
:math:`x_2 \leftarrow x_2 - h \nabla_{x_2} L_2(x_1^{new}, x_2)`. On the bilinear
game the update map is symplectic (determinant 1) with all eigenvalues on the
unit circle for :math:`h \sigma_{\max}(A) < 2`: the iterates stay bounded and
cycle without converging (eqs. (3.4) and (3.12) of the theory page).
"""
from __future__ import annotations

import torch

from .base import OPTIMIZERS, GameOptimizer

__all__ = ["AlternatingGD"]


@OPTIMIZERS.register("alternating", batchable=True, coefficient=None)
class AlternatingGD(GameOptimizer):
    """Alternating gradient descent (eq. (3.4) of the theory page).

    The record's ``field_norm`` and ``losses`` are those at the start of the
    step; ``update_norm`` is the norm of the concatenated per-player gradients
    actually used.

    Parameters
    ----------
    lr, base, base_kwargs : float, str or callable, dict
        Step size :math:`h` and base optimiser, as for :class:`~dualgan.games.GameOptimizer`.
    order : sequence of str or int, optional
        Player names or indices in the order they move. Default None: the
        game's player order.

    Raises
    ------
    ValueError
        If ``lr`` is not a finite number > 0 or ``base`` is unknown or does
        not build a torch optimiser.
    """

    needs_players = True

    def __init__(self, *, lr: float = 0.01, base="sgd", base_kwargs=None, order=None):
        super().__init__(lr=lr, base=base, base_kwargs=base_kwargs)
        self.order = None if order is None else list(order)

    def _resolve_order(self, names) -> list:
        """The players' indices in the order they move, from ``order`` and the players' ``names``."""
        if self.order is None:
            return list(range(len(names)))
        order = []
        for item in self.order:
            if isinstance(item, str):
                if item not in names:
                    raise ValueError(f"order: unknown player {item!r}; players are {names}")
                order.append(names.index(item))
            elif isinstance(item, int) and 0 <= item < len(names):
                order.append(item)
            else:
                raise ValueError(f"order must hold player names or indices 0..{len(names) - 1}, got {item!r}")
        if sorted(order) != list(range(len(names))):
            raise ValueError(f"order must list every player exactly once, got {self.order}")
        return order

    def _batched_init(self, game, Z):
        """Each player's coordinates, in the order they move: the step's memory (:meth:`GameOptimizer.batched_init`)."""
        masks = []
        for index in self._resolve_order(list(game.player_names)):
            mask = torch.zeros(game.n, dtype=torch.bool, device=Z.device)
            mask[game.player_slices[index]] = True
            masks.append(mask)
        return masks

    def _batched_step(self, point, lr, coefficient, move, memory):
        """One step of every cell: each player in turn takes a base step on the field at the others' newest values.

        ``memory`` holds each player's coordinates (:meth:`GameOptimizer.batched_init`); see
        :meth:`GameOptimizer.batched_step` for the parameters and the returns.
        """
        Z, field = point.Z, point.v
        for k, mask in enumerate(memory):
            if k > 0:
                field = point.field_at(Z)
            Z = move(Z, field, lr, mask)
        return Z, memory, None
