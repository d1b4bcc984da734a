r"""Alternating gradient descent, eq. (3.4) of the theory page: players step in turn.

On the bilinear game the update map is symplectic (determinant 1) with all eigenvalues on the unit
circle for :math:`h \sigma_{\max}(A) < 2`: the iterates stay bounded and cycle without converging.
"""
from __future__ import annotations

import numbers

import torch

from .base import OPTIMIZERS, GameOptimizer

__all__ = ["AlternatingGD"]


@OPTIMIZERS.register("alternating", batchable=True, coefficient=None)
class AlternatingGD(GameOptimizer):
    """Alternating gradient descent (eq. (3.4) of the theory page).

    The record's ``update_norm`` is the norm of the per-player gradients actually used (each at its turn).

    Parameters
    ----------
    lr, base, base_kwargs : float, str or callable, dict
        Step size :math:`h` and base optimiser, as for :class:`~dualgan.games.GameOptimizer`.
    order : sequence of str or int, optional
        Player names or indices in the order they move. Default None: the game's player order.

    Raises
    ------
    ValueError
        If ``lr`` is not a finite number > 0 or ``base`` is unknown or does not build a torch optimiser.
    TypeError
        If ``order`` is not a sequence (a str is refused) of player names or integer indices (bools refused).
    """

    needs_players = True

    def __init__(self, *, lr: float = 0.01, base="sgd", base_kwargs=None, order=None):
        super().__init__(lr=lr, base=base, base_kwargs=base_kwargs)
        if order is not None and (isinstance(order, (str, bytes)) or not hasattr(order, "__iter__")):
            raise TypeError(f"order must be a sequence of player names or indices, got {order!r}; e.g. ['x', 'y'] "
                            f"or [1, 0]")
        self.order = None if order is None else list(order)
        if self.order is not None and any(isinstance(i, bool) or not isinstance(i, (str, numbers.Integral))
                                          for i in self.order):
            raise TypeError(f"order must hold player names (str) or indices (int, not bool), got {order!r}")

    def _resolve_order(self, names) -> list:
        """The players' indices in the order they move, from ``order`` and the players' ``names``."""
        if self.order is None:
            return list(range(len(names)))
        order = [names.index(item) if isinstance(item, str) and item in names else item for item in self.order]
        if not all(isinstance(i, int) for i in order) or sorted(order) != list(range(len(names))):
            raise ValueError(f"order must list every player exactly once, by name {names} or index "
                             f"0..{len(names) - 1}; got {self.order}")
        return order

    def _batched_init(self, game, Z):
        """Each player's coordinates, in the order they move: the step's memory."""
        masks = []
        for index in self._resolve_order(list(game.player_names)):
            mask = torch.zeros(game.n, dtype=torch.bool, device=Z.device)
            mask[game.player_slices[index]] = True
            masks.append(mask)
        return masks

    def _batched_step(self, point, lr, coefficient, move, memory):
        """Each player in turn (``memory``: their coordinates) takes a base step on the field at the newest values."""
        Z, field = point.Z, point.v
        for k, mask in enumerate(memory):
            if k > 0:
                field = point.field_at(Z)
            Z = move(Z, field, lr, mask)
        return Z, memory, None
