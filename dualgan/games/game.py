r"""A differentiable game: players, their losses, the simultaneous field and products with its Jacobian.

The field :math:`v` and its Jacobian :math:`J` are eq. (3.1) of the theory page, the products eq. (3.2).
:class:`Game` takes them by double backward on the players' own device and dtype: :math:`J^\top u` is one
backward pass of :math:`\langle v, u \rangle`; :math:`J u` takes the transpose trick with a dummy
:math:`\omega` (as the SGA reference code does), so any loss closure works, including nn.Modules, regularisers
with input gradients and constraint penalties. A two-player game declared zero-sum gets :math:`A^\top u` from
one backward pass per player instead (:meth:`Game.vjp_and_antisymmetric_vjp`).

Vectors in parameter space are lists of tensors, one per parameter tensor, in the order of
:attr:`Game.parameters`; :meth:`Game.flatten` / :meth:`Game.unflatten` convert to and from one flat tensor.

Examples
--------
>>> import torch
>>> from dualgan.games import Game, Player
>>> x = torch.tensor([1.0], requires_grad=True); y = torch.tensor([2.0], requires_grad=True)
>>> game = Game([Player("x", [x], lambda: (x * y).sum()), Player("y", [y], lambda: -(x * y).sum())])
>>> [t.item() for t in game.vector_field()]     # (dL1/dx, dL2/dy) = (y, -x)
[2.0, -1.0]
"""
from __future__ import annotations

import functools
import itertools
import operator
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from .._checks import check_bool, check_int

__all__ = ["Player", "Game", "FieldEvaluation", "as_parameter_list"]

Vector = list  # list[torch.Tensor], one entry per parameter tensor


def check_game(game, name: str = "game"):
    """``game`` unchanged if it is a :class:`Game`; else a TypeError naming ``name`` and the value."""
    if not isinstance(game, Game):
        raise TypeError(f"{name} must be a dualgan.games.Game (e.g. BilinearGame(A)), got {type(game).__name__} "
                        f"{game!r:.60}")
    return game


def check_player_sizes(sizes) -> tuple:
    """``sizes`` as a non-empty tuple of positive ints (parameters per player); a ValueError naming it otherwise."""
    if not isinstance(sizes, (str, bytes)) and hasattr(sizes, "__iter__"):
        sizes = tuple(sizes)
    if not isinstance(sizes, tuple) or not sizes:
        raise ValueError(f"player_sizes must be a non-empty sequence of positive integers (parameters per player), "
                         f"got {sizes!r}; e.g. (n_x, n_y) for two players")
    return tuple(check_int(s, f"player_sizes[{i}] (parameters of player {i})", low=1) for i, s in enumerate(sizes))


def check_player_names(names, count: int) -> tuple:
    """``names`` as a tuple of ``count`` str (a str is refused: "xy" is not ("x", "y")); a ValueError otherwise."""
    named = not isinstance(names, (str, bytes)) and hasattr(names, "__iter__")
    names = tuple(names) if named else names
    if not named or len(names) != count or not all(isinstance(name, str) for name in names):
        raise ValueError(f"player_names must be {count} str, one per player, got {names!r}; e.g. ('x', 'y')")
    return names


def as_parameter_list(params, name: str = "parameters") -> list[torch.Tensor]:
    """Turn a tensor, an nn.Module or an iterable of tensors/modules into a list of leaf tensors."""
    if isinstance(params, nn.Module):
        out = list(params.parameters())
    elif isinstance(params, torch.Tensor):
        out = [params]
    else:
        try:
            if isinstance(params, str):  # a str would iterate into one-character strs without end
                raise TypeError(params)
            items = list(params)
        except TypeError as exc:
            raise ValueError(f"{name} must be a tensor, an nn.Module or a list of them, "
                             f"got {type(params).__name__}") from exc
        out = [t for item in items for t in as_parameter_list(item, name)]
    for p in out:
        if not isinstance(p, torch.Tensor):
            raise ValueError(f"{name} must hold torch tensors, got {type(p).__name__}")
        if not p.is_leaf or not p.requires_grad:
            raise ValueError(f"{name}: every parameter must be a leaf tensor with requires_grad=True "
                             f"(create it with torch.tensor(..., requires_grad=True) or use nn.Parameter)")
        if not torch.is_floating_point(p):
            raise ValueError(f"{name}: parameters must be floating point, got {p.dtype}")
    if not out:
        raise ValueError(f"{name} is empty; every player needs at least one parameter tensor")
    return out


@dataclass
class Player:
    """One player of eq. (3.1) of the theory page: a name, its parameters :math:`x_i` and the loss :math:`L_i`.

    Parameters
    ----------
    name : str
        The player's name (unique within a :class:`Game`), used in messages and reports.
    parameters : torch.Tensor or torch.nn.Module or iterable of them
        Leaf floating-point tensors with ``requires_grad=True`` (any shape, dtype, device), a module (its
        ``parameters()``) or a list of tensors and modules; stored as a flat list of tensors.
    loss : callable, optional
        Zero-argument callable returning :math:`L_i` as a 0-d (or one-element) tensor. Default None: the game
        computes all losses at once (it overrides :meth:`Game.losses`).

    Raises
    ------
    ValueError
        If ``parameters`` is empty, holds something other than leaf floating-point tensors with
        ``requires_grad=True``, or ``loss`` is not callable.
    """

    name: str
    parameters: object
    loss: Callable[[], torch.Tensor] | None = None

    def __post_init__(self):
        self.parameters = as_parameter_list(self.parameters, f"parameters of player {self.name!r}")
        if self.loss is not None and not callable(self.loss):
            raise ValueError(f"loss of player {self.name!r} must be a zero-argument callable returning a scalar tensor")


@dataclass(frozen=True)
class FieldEvaluation:
    """The field ``v`` (list of tensors) at the current point and the losses (floats) there.

    Parameters
    ----------
    field : list of torch.Tensor
        :math:`v(x)` of eq. (3.1) of the theory page, one tensor per parameter tensor, shaped, typed and placed
        like it.
    losses : tuple of float
        Each player's loss :math:`L_i(x)` at the same point, in player order.
    """

    field: list
    losses: tuple


class Game:
    """A game of ``players``, each minimising its own loss over its own parameters (eqs. (3.1)-(3.2), theory page).

    Subclasses that compute every loss from one shared forward pass (a GAN) override :meth:`losses`.
    ``zero_sum=True`` declares :math:`\\sum_i L_i = \\sum_i c_i(x_i)`, each :math:`c_i` a function of player
    :math:`i`'s own parameters (a GAN's minimax loss: :math:`L_G + L_D = -E_{p_d}[f(D(x))]`, a function of
    :math:`\\psi` only). For two players the mixed blocks are then antisymmetric (section 3 of the theory page):
    competitive gradient descent solves its system by conjugate gradients and SGA skips the third-order pass.
    Declare it only when it holds: both rely on it.

    Parameters
    ----------
    players : sequence of Player
        The players, in order (their tensors are stacked in this order in :attr:`parameters`); unique names,
        no tensor shared by two players.
    zero_sum : bool, default False
        Declares the game zero-sum up to separable terms (see above); acts for two players only
        (:attr:`has_antisymmetric_interactions`).

    Raises
    ------
    ValueError
        If ``players`` is empty or holds something other than :class:`Player` objects, the names repeat, one
        tensor belongs to two players, or ``zero_sum`` is not a bool.

    References
    ----------
    David Balduzzi, Sébastien Racanière, James Martens, Jakob Foerster, Karl Tuyls, Thore Graepel. "The Mechanics
    of n-Player Differentiable Games." ICML 2018.
    """

    def __init__(self, players: Sequence[Player], zero_sum: bool = False):
        players = list(players)
        if len(players) < 1 or not all(isinstance(p, Player) for p in players):
            raise ValueError("players must be a non-empty list of Player objects")
        names = [p.name for p in players]
        if len(set(names)) != len(names):
            raise ValueError(f"player names must be unique, got {names}")
        seen = set()
        for p in players:
            for t in p.parameters:
                if id(t) in seen:
                    raise ValueError(f"a parameter tensor belongs to two players (second: {p.name!r}); each tensor "
                                     f"must be owned by exactly one player")
                seen.add(id(t))
        self.players = players
        self.zero_sum = check_bool(zero_sum, "zero_sum")
        self.parameters: list[torch.Tensor] = [t for p in players for t in p.parameters]
        ends = itertools.accumulate(len(p.parameters) for p in players)
        self.player_slices: list[slice] = [slice(end - len(p.parameters), end) for p, end in zip(players, ends)]

    # ------------------------------------------------------------------ losses, state and field
    def losses(self) -> Sequence[torch.Tensor]:
        """Each player's loss at the current parameters.

        Returns
        -------
        sequence of torch.Tensor
            :math:`L_1(x), \\dots, L_k(x)`, one 0-d tensor per player, in player order.

        Raises
        ------
        ValueError
            If a player has no loss (give ``Player(loss=...)`` or override this method).
        """
        for p in self.players:
            if p.loss is None:
                raise ValueError(f"player {p.name!r} has no loss; give Player(loss=...) or override Game.losses()")
        return [p.loss() for p in self.players]

    def after_step(self) -> None:
        """Hook the optimisers call after every completed step (a GAN game updates its constraint handler here)."""
        return None

    def state_dict(self) -> dict:
        """Everything a run changes (parameter values; subclasses add samplers, batches, handlers), for checkpoints."""
        return {"values": self.get_values(), "extra": self._extra_state()}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output once :meth:`check_state_dict` accepts it (nothing changes otherwise).

        Parameters
        ----------
        state : dict
            A dictionary returned by :meth:`state_dict` of a game of the same kind and sizes.

        Raises
        ------
        ValueError
            If :meth:`check_state_dict` refuses ``state`` (another game, other sizes, extra state that does not fit).
        """
        self.check_state_dict(state)
        self.set_values(state["values"])
        self._load_extra_state(state.get("extra"))

    def check_state_dict(self, state: dict) -> None:
        """Check that ``state`` has this game's layout (nothing changes): what :meth:`load_state_dict` checks first.

        Parameters
        ----------
        state : dict
            A dictionary returned by :meth:`state_dict`: ``{"values", "extra"}``.

        Raises
        ------
        ValueError
            If the keys are not ``{"values", "extra"}``, the saved values do not match this game's parameters
            (another game or other sizes), or the extra state does not fit (a subclass's check).
        """
        if not isinstance(state, dict) or set(state) != {"values", "extra"}:
            raise ValueError(f"not a game state ({{'values', 'extra'}}): {state!r:.80}")
        values = state["values"]
        if not isinstance(values, list) or len(values) != len(self.parameters) or any(
                not isinstance(v, torch.Tensor) or v.shape != p.shape for v, p in zip(values, self.parameters)):
            raise ValueError("the saved game state does not match this game's parameters (other game or sizes)")
        self._validate_extra_state(state["extra"])

    def _extra_state(self):
        return None

    def _validate_extra_state(self, extra) -> None:
        return None

    def _load_extra_state(self, extra) -> None:
        return None

    def evaluate(self, create_graph: bool = False) -> FieldEvaluation:
        """The field :math:`v` (eq. (3.1) of the theory page) and the losses at the current point.

        Parameters
        ----------
        create_graph : bool, default False
            Keep the graph of :math:`v` so that it can be differentiated again (products with :math:`J`).

        Returns
        -------
        FieldEvaluation
            The field (one tensor per parameter tensor) and the losses (floats).

        Raises
        ------
        ValueError
            If :meth:`losses` does not return one scalar tensor per player.
        """
        losses = self._checked_losses()
        field = [g for player, loss in zip(self.players, losses)
                 for g in self._grad([loss], player.parameters, [None], create_graph=create_graph)]
        return FieldEvaluation(field, tuple(float(l.detach()) for l in losses))

    def vector_field(self, create_graph: bool = False) -> Vector:
        r""":math:`v(x)` of eq. (3.1) of the theory page as a list of tensors (one per parameter tensor).

        Parameters
        ----------
        create_graph : bool, default False
            Keep the graph of :math:`v` for products with :math:`J`.

        Returns
        -------
        list of torch.Tensor
            :math:`v(x)`, each entry shaped, typed and placed like its parameter tensor.
        """
        return self.evaluate(create_graph=create_graph).field

    # ------------------------------------------------------------------ products with J (eq. (3.2))
    def jvp(self, u: Vector, field: Vector | None = None) -> Vector:
        r""":math:`J u` by the transpose trick of eq. (3.2) of the theory page.

        Parameters
        ----------
        u : list of torch.Tensor
            The direction, shaped like the parameters (one tensor per parameter tensor).
        field : list of torch.Tensor, optional
            :math:`v` at the current point, computed with ``create_graph=True``. Default None: computed here.

        Returns
        -------
        list of torch.Tensor
            :math:`J u`, shaped like the parameters (detached).

        Raises
        ------
        ValueError
            If ``u`` is not one tensor per parameter tensor, each of its shape.
        """
        return self.jvp_operator(field)(self._check_like(u, "u"))

    def vjp(self, u: Vector, field: Vector | None = None, create_graph: bool = False) -> Vector:
        r""":math:`J^\top u` (eq. (3.2) of the theory page): one backward pass through :math:`v`.

        Parameters
        ----------
        u : list of torch.Tensor
            The vector, shaped like the parameters (one tensor per parameter tensor).
        field : list of torch.Tensor, optional
            :math:`v` at the current point, computed with ``create_graph=True``. Default None: computed here.
        create_graph : bool, default False
            Keep the graph of the result (for a further derivative).

        Returns
        -------
        list of torch.Tensor
            :math:`J^\top u`, shaped like the parameters.

        Raises
        ------
        ValueError
            If ``u`` is not one tensor per parameter tensor, each of its shape.
        """
        u = self._check_like(u, "u")
        return self._grad(self._graph_field(field), self.parameters, u, create_graph=create_graph)

    def jvp_operator(self, field: Vector | None = None) -> Callable[[Vector], Vector]:
        r"""A function ``u -> J u`` reusing one transpose-trick graph, for repeated products at one point (CG, Arnoldi).

        Parameters
        ----------
        field : list of torch.Tensor, optional
            :math:`v` at the current point, computed with ``create_graph=True``. Default None: computed here.

        Returns
        -------
        callable
            ``apply(u) -> J u`` (one backward pass), ``u`` and the result shaped like the parameters.
        """
        return self._transpose_trick(field, [torch.zeros_like(p) for p in self.parameters])[1]

    def jvp_and_vjp(self, u: Vector, field: Vector | None = None) -> tuple:
        r"""Both :math:`J u` and :math:`J^\top u` with two backward passes (SGA's general path).

        The transpose trick's dummy is ``u`` itself: :math:`J^\top \omega` at :math:`\omega = u` is
        :math:`J^\top u`, and its derivative along ``u`` is :math:`J u`.

        Parameters
        ----------
        u : list of torch.Tensor
            The vector, shaped like the parameters (one tensor per parameter tensor).
        field : list of torch.Tensor, optional
            :math:`v` at the current point, computed with ``create_graph=True``. Default None: computed here.

        Returns
        -------
        tuple of (list of torch.Tensor, list of torch.Tensor)
            ``(J u, J^T u)``, each shaped like the parameters (detached).
        """
        jt_w, apply = self._transpose_trick(field, [ui.detach().clone() for ui in u])
        return apply(u), [t.detach() for t in jt_w]

    def player_vjps(self, u: Vector, field: Vector | None = None, cross_only: bool = False) -> list:
        r"""The per-player parts :math:`g_j = \nabla_x \langle u_j, v_j \rangle` of :math:`J^\top u`, one per player.

        One backward pass through player :math:`j`'s part of the field each: block :math:`i` of :math:`g_j` is
        :math:`J_{ji}^\top u_j`, and :math:`\sum_j g_j = J^\top u` for every game. ``cross_only=True`` leaves
        block :math:`j` (the Hessian product :math:`J_{jj} u_j`) at zero, so autograd skips the parts of the
        graph that only lead to player :math:`j`.

        Parameters
        ----------
        u : list of torch.Tensor
            The vector, shaped like the parameters (one tensor per parameter tensor).
        field : list of torch.Tensor, optional
            :math:`v` at the current point, computed with ``create_graph=True``. Default None: computed here.
        cross_only : bool, default False
            Differentiate pass :math:`j` only with respect to the other players' parameters.

        Returns
        -------
        list of list of torch.Tensor
            :math:`g_1, \dots, g_k`, each a full parameter-space vector shaped like the parameters.
        """
        field = self._graph_field(field)
        parts = []
        for sl in self.player_slices:
            index = [k for k in range(len(self.parameters)) if not (cross_only and sl.start <= k < sl.stop)]
            inputs = [self.parameters[k] for k in index]
            grads = dict(zip(index, self._grad(field[sl], inputs, u[sl]))) if index else {}
            parts.append([grads[k] if k in grads else torch.zeros_like(p) for k, p in enumerate(self.parameters)])
        return parts

    @property
    def has_antisymmetric_interactions(self) -> bool:
        r"""Whether :math:`J_{ij} = -J_{ji}^\top` (:math:`i \ne j`) is declared: two players and :attr:`zero_sum`.

        For three or more players a separable :math:`\sum_i L_i` does not make each pair's mixed blocks
        antisymmetric, so they take the general path.
        """
        return self.zero_sum and len(self.players) == 2

    def vjp_and_antisymmetric_vjp(self, u: Vector, field: Vector | None = None) -> tuple:
        r""":math:`J^\top u` and :math:`A^\top u` of eqs. (3.2) and (3.8) of the theory page (shared by SGA), exactly.

        With antisymmetric interactions (:attr:`has_antisymmetric_interactions`) and symmetric :math:`J_{ii}`,
        the passes :math:`g_j` of :meth:`player_vjps` give both:

        .. math::
            J^\top u = \sum_j g_j, \qquad (A^\top u)_i = \sum_{j \ne i} (g_j)_i = \sum_{j \ne i} J_{ji}^\top u_j,

        e.g. for two players with :math:`Q = J_{xy}`, :math:`R = J_{yx} = -Q^\top`:
        :math:`A^\top u = (R^\top u_y, Q^\top u_x)`. That is one backward pass per player instead of the
        third-order pass of the transpose trick. Every other game takes :meth:`jvp_and_vjp`.

        Parameters
        ----------
        u : list of torch.Tensor
            The vector, shaped like the parameters (one tensor per parameter tensor).
        field : list of torch.Tensor, optional
            :math:`v` at the current point, computed with ``create_graph=True``. Default None: computed here.

        Returns
        -------
        tuple of (list of torch.Tensor, list of torch.Tensor)
            ``(J^T u, A^T u)``, each shaped like the parameters (detached).
        """
        field = self._graph_field(field)
        if not self.has_antisymmetric_interactions:
            ju, jtu = self.jvp_and_vjp(u, field=field)
            return jtu, [(b - a) / 2 for a, b in zip(ju, jtu)]
        parts = self.player_vjps(u, field=field)
        return [functools.reduce(operator.add, ts).detach() for ts in zip(*parts)], self._cross_sum(parts)

    def antisymmetric_vjp(self, u: Vector, field: Vector | None = None) -> Vector:
        r""":math:`A^\top u` alone, exactly (eqs. (3.2) and (3.8) of the theory page).

        With antisymmetric interactions it needs only the cross blocks: the passes of :meth:`player_vjps` with
        ``cross_only=True``, which skip the Hessian products :math:`J_{jj} u_j` (cheaper than
        :meth:`vjp_and_antisymmetric_vjp`). Every other game takes :meth:`jvp_and_vjp`.

        Parameters
        ----------
        u : list of torch.Tensor
            The vector, shaped like the parameters (one tensor per parameter tensor).
        field : list of torch.Tensor, optional
            :math:`v` at the current point, computed with ``create_graph=True``. Default None: computed here.

        Returns
        -------
        list of torch.Tensor
            :math:`A^\top u`, shaped like the parameters (detached).
        """
        if not self.has_antisymmetric_interactions:
            return self.vjp_and_antisymmetric_vjp(u, field=field)[1]
        return self._cross_sum(self.player_vjps(u, field=field, cross_only=True))

    # ------------------------------------------------------------------ flat vectors
    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters)

    @property
    def device(self) -> torch.device:
        return self.parameters[0].device

    @property
    def dtype(self) -> torch.dtype:
        return self.parameters[0].dtype

    def flatten(self, vector: Vector) -> torch.Tensor:
        """Concatenate a list of tensors shaped like the parameters into one 1-D tensor.

        Parameters
        ----------
        vector : list of torch.Tensor
            One tensor per parameter tensor, shaped like the parameters.

        Returns
        -------
        torch.Tensor
            Shape ``(num_parameters,)``, the entries in parameter order.
        """
        return torch.cat([t.reshape(-1) for t in vector])

    def unflatten(self, flat: torch.Tensor) -> Vector:
        """Split a flat tensor into tensors shaped like the parameters.

        Parameters
        ----------
        flat : torch.Tensor or array_like
            Shape ``(num_parameters,)``, entries in parameter order.

        Returns
        -------
        list of torch.Tensor
            One tensor per parameter tensor, with its shape, dtype and device.

        Raises
        ------
        ValueError
            If ``flat`` is not 1-D with :attr:`num_parameters` entries.
        """
        flat = torch.as_tensor(flat)
        if flat.ndim != 1 or flat.numel() != self.num_parameters:
            raise ValueError(f"flat vector must be 1-D with {self.num_parameters} entries, got shape {tuple(flat.shape)}")
        pieces = flat.split([p.numel() for p in self.parameters])
        return [t.reshape(p.shape).to(device=p.device, dtype=p.dtype) for t, p in zip(pieces, self.parameters)]

    def get_flat(self) -> torch.Tensor:
        """The current parameters as one flat (detached) tensor."""
        return self.flatten(self.get_values())

    def set_flat(self, flat) -> None:
        """Overwrite the parameters from a flat tensor (or numpy array).

        Parameters
        ----------
        flat : torch.Tensor or numpy.ndarray
            Shape ``(num_parameters,)``, entries in parameter order; cast to each parameter's dtype and device.

        Raises
        ------
        ValueError
            If ``flat`` is not 1-D with :attr:`num_parameters` entries.
        """
        self.set_values(self.unflatten(flat))

    def get_values(self) -> Vector:
        """A detached copy of the current parameter values.

        Returns
        -------
        list of torch.Tensor
            One clone per parameter tensor, in parameter order.
        """
        return [p.detach().clone() for p in self.parameters]

    def set_values(self, values: Vector) -> None:
        """Overwrite the parameters in place.

        Parameters
        ----------
        values : list of torch.Tensor
            One tensor per parameter tensor, shaped like the parameters (as :meth:`get_values` returns them).

        Raises
        ------
        ValueError
            If ``values`` is not one tensor per parameter tensor, each of its shape.
        """
        with torch.no_grad():
            for p, value in zip(self.parameters, self._check_like(values, "values")):
                p.copy_(value)

    def player_part(self, vector: Vector, index: int) -> Vector:
        """The entries of ``vector`` that belong to player ``index``.

        Parameters
        ----------
        vector : list of torch.Tensor
            A parameter-space vector, one tensor per parameter tensor.
        index : int
            The player's position in :attr:`players` (0-based).

        Returns
        -------
        list of torch.Tensor
            The entries of player ``index``'s parameter tensors.

        Raises
        ------
        ValueError
            If ``index`` is not an integer in ``[0, len(players) - 1]`` (``bool`` and floats are refused, numpy
            integers accepted).
        """
        index = check_int(index, "index (player position)", low=0, high=len(self.players) - 1)
        return vector[self.player_slices[index]]

    # ------------------------------------------------------------------ internals
    def _check_like(self, vector, name: str) -> Vector:
        """``vector`` unchanged if it is one tensor per parameter tensor, each of its shape; else a ValueError."""
        shapes = [tuple(p.shape) for p in self.parameters]
        got = ([tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__ for t in vector]
               if isinstance(vector, (list, tuple)) else type(vector).__name__)
        if got != shapes:
            raise ValueError(f"{name} must be {len(shapes)} tensors shaped like the parameters {shapes}, got {got}; "
                             f"use game.unflatten(flat) for a flat vector")
        return vector

    def _graph_field(self, field: Vector | None) -> Vector:
        """The field given (computed with ``create_graph=True``), or computed here for products with :math:`J`."""
        return self.vector_field(create_graph=True) if field is None else field

    def _transpose_trick(self, field: Vector | None, w: Vector) -> tuple:
        """``(J^T w, u -> J u)`` from one graph of :math:`J^\\top w` at the dummy ``w`` (made a leaf here)."""
        w = [t.requires_grad_(True) for t in w]
        jt_w = self._grad(self._graph_field(field), self.parameters, w, create_graph=True)
        return jt_w, lambda u: self._grad(jt_w, w, u)

    def _checked_losses(self) -> list:
        losses = list(self.losses())
        if len(losses) != len(self.players):
            raise ValueError(f"losses() returned {len(losses)} losses for {len(self.players)} players")
        for p, l in zip(self.players, losses):
            if not isinstance(l, torch.Tensor) or l.numel() != 1:
                raise ValueError(f"loss of player {p.name!r} must be a scalar tensor")
        return [l.reshape(()) for l in losses]

    def _cross_sum(self, parts: list) -> Vector:
        """Block i of the result is the sum over players j != i of block i of ``parts[j]``."""
        return [functools.reduce(operator.add, [g[k] for j, g in enumerate(parts) if j != i]).detach()
                for i, sl in enumerate(self.player_slices) for k in range(sl.start, sl.stop)]

    @staticmethod
    def _grad(outputs: Vector, inputs: Vector, grad_outputs: Vector, create_graph: bool = False) -> Vector:
        """``sum_o <grad_output_o, d o / d input>`` per input, zeros where nothing depends on it; graph retained."""
        pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad]
        if not pairs:
            return [torch.zeros_like(i) for i in inputs]
        outs, gos = zip(*pairs)
        grads = torch.autograd.grad(outs, inputs, grad_outputs=gos, retain_graph=True, create_graph=create_graph,
                                    allow_unused=True)
        return [torch.zeros_like(i) if g is None else g if create_graph else g.detach()
                for i, g in zip(inputs, grads)]
