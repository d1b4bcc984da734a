"""The points an optimiser's rule reads besides :class:`~dualgan.games.functional.BatchedPoint`'s.

A linear game's (:math:`v = Jz`: the update maps) and an object :class:`~dualgan.games.Game`'s (a batch of one:
:meth:`~dualgan.games.GameOptimizer.step`), each with its interface: ``Z``, ``v``, ``J``, ``jvp``, ``vjp``,
``field_at`` and ``game`` with the players' flat blocks.
"""
from __future__ import annotations

from itertools import accumulate

import torch

from ..analysis import _dense_jacobian
from ..game import Game


def player_slices(sizes) -> list:
    """The slice of the flat parameter vector that each player owns, from the sizes in player order."""
    starts = list(accumulate(sizes, initial=0))
    return [slice(a, b) for a, b in zip(starts[:-1], starts[1:])]


class _Blocks:
    """Shapes as a batched step reads them: flat player blocks, names, tensor count, zero-sum declaration."""

    def __init__(self, player_sizes, player_names, n_tensors, name, zero_sum=False):
        self.player_sizes, self.n, self.n_tensors, self.name = tuple(player_sizes), sum(player_sizes), n_tensors, name
        self.player_names = tuple(player_names or (f"player{i}" for i in range(len(self.player_sizes))))
        self.zero_sum, self.player_slices = zero_sum, player_slices(self.player_sizes)


class _LinearPoint:
    """A batch of points of the linear game v(z) = J z (J of shape (n, n))."""

    matrix_free = False

    def __init__(self, game, J, Z):
        self.game, self._J, self.Z = game, J, Z
        self.v = Z @ J.T
        self.J = J.expand(Z.shape[0], -1, -1)

    def jvp(self, U):
        return U @ self._J.T

    def vjp(self, U):
        return U @ self._J

    field_at = jvp          # the field of a linear game at Z is J Z


class _ObjectPoint:
    """An object game at its current parameters as a batch of one.

    ``matrix_free``: a step reads products, never the dense ``J``; :meth:`antisymmetric_products` take the
    game's per-player passes (one backward pass per player for a zero-sum game instead of a third-order one).
    """

    matrix_free = True

    def __init__(self, game: Game, create_graph: bool = True):
        self._object = game
        self.game = _Blocks([sum(t.numel() for t in p.parameters) for p in game.players],
                            [p.name for p in game.players], len(game.parameters), type(game).__name__,
                            game.zero_sum)
        self.Z = game.get_flat().unsqueeze(0)
        evaluation = game.evaluate(create_graph=create_graph)
        self._field, self.losses, self._jvp = evaluation.field, tuple(evaluation.losses), None
        self.v = game.flatten([f.detach() for f in self._field]).unsqueeze(0)

    def _flat(self, vector):
        return self._object.flatten(vector).unsqueeze(0)

    def jvp(self, U):
        if self._jvp is None:       # one transpose-trick graph for every product at this point (CG, GMRES)
            self._jvp = self._object.jvp_operator(self._field)
        return self._flat(self._jvp(self._object.unflatten(U[0])))

    def vjp(self, U):
        return self._flat(self._object.vjp(self._object.unflatten(U[0]), field=self._field))

    def antisymmetric_products(self, U, with_vjp: bool = True):
        r""":math:`(J^\top u, A^\top u)`, :math:`A = (J - J^\top)/2` (:math:`J^\top u` None without ``with_vjp``)."""
        u = self._object.unflatten(U[0])
        if with_vjp:
            jt, at = self._object.vjp_and_antisymmetric_vjp(u, field=self._field)
            return self._flat(jt), self._flat(at)
        return None, self._flat(self._object.antisymmetric_vjp(u, field=self._field))

    @property
    def J(self):
        return _dense_jacobian(self._object, self._field).unsqueeze(0)

    def field_at(self, Z):
        game, saved = self._object, self._object.get_values()
        game.set_flat(Z[0])
        try:
            return self._flat(game.vector_field())
        finally:
            game.set_values(saved)
