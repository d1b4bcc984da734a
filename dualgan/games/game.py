r"""A differentiable game: players, their losses and the simultaneous gradient field (eqs. (3.1) and (3.2) of the theory page, docs/theory.md).

Player :math:`i` owns parameters :math:`x_i` and minimises :math:`L_i(x)`. The
simultaneous gradient field and its Jacobian are

.. math::
    v(x) = (\nabla_{x_1} L_1, \dots, \nabla_{x_k} L_k), \qquad J(x) = \partial v / \partial x,

:math:`J` is not symmetric for a game. :class:`Game` gives :math:`v`,
:math:`J u` and :math:`J^\top u` by double backward on the players' own
device and dtype: :math:`J^\top u` is one backward pass of
:math:`\langle v, u \rangle`; :math:`J u` uses the transpose trick
:math:`J u = \partial_w \langle J^\top w, u \rangle` with a dummy :math:`w`
(the trick of the SGA reference code), so any loss closure works, including
nn.Modules, regularisers with input gradients and constraint penalties.

In player blocks :math:`J_{ij} = \partial v_i / \partial x_j`; the diagonal
blocks :math:`J_{ii} = \nabla^2_{x_i} L_i` are symmetric. The per-player
backward passes :math:`g_j = \nabla_x \langle u_j, v_j \rangle` (block
:math:`i` of :math:`g_j` is :math:`J_{ji}^\top u_j`) sum to
:math:`J^\top u`, and the antisymmetric part :math:`A = (J - J^\top)/2`
satisfies

.. math::
    \big((J^\top - J) u\big)_i = \sum_{j \ne i} \big(J_{ji}^\top - J_{ij}\big) u_j
    = \sum_{j \ne i} \nabla_{x_i} \big\langle u_j, \nabla_{x_j} (L_j - L_i) \big\rangle .

When the off-diagonal blocks are antisymmetric, :math:`J_{ij} = -J_{ji}^\top`
(two players whose losses sum to a separable function, :attr:`Game.zero_sum`),
this is :math:`(A^\top u)_i = \sum_{j \ne i} (g_j)_i`: no third-order pass
(:meth:`Game.vjp_and_antisymmetric_vjp`).

Vectors in parameter space are lists of tensors, one per parameter tensor, in
the order of :attr:`Game.parameters`; :meth:`Game.flatten` /
:meth:`Game.unflatten` convert to and from one flat tensor.

>>> import torch
>>> from dualgan.games import Game, Player
>>> x = torch.tensor([1.0], requires_grad=True); y = torch.tensor([2.0], requires_grad=True)
>>> game = Game([Player("x", [x], lambda: (x * y).sum()), Player("y", [y], lambda: -(x * y).sum())])
>>> [t.item() for t in game.vector_field()]     # (dL1/dx, dL2/dy) = (y, -x)
[2.0, -1.0]
"""
from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from .._checks import check_int

__all__ = ["Player", "Game", "FieldEvaluation", "as_parameter_list"]

Vector = list  # list[torch.Tensor], one entry per parameter tensor


def as_parameter_list(params, name: str = "parameters") -> list[torch.Tensor]:
    """Turn a tensor, an nn.Module or an iterable of tensors/modules into a list of leaf tensors."""
    if isinstance(params, nn.Module):
        out = [p for p in params.parameters()]
    elif isinstance(params, torch.Tensor):
        out = [params]
    else:
        try:
            items = list(params)
        except TypeError as exc:
            raise ValueError(f"{name} must be a tensor, an nn.Module or a list of them, got {type(params).__name__}") from exc
        out = []
        for item in items:
            out.extend(as_parameter_list(item, name))
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
    """One player: a name, its parameter tensors and (optionally) the loss it minimises.

    Player :math:`i` of eq. (3.1) of the theory page: it owns the parameters
    :math:`x_i` and minimises :math:`L_i(x)`.

    Parameters
    ----------
    name : str
        The player's name (unique within a :class:`Game`), used in messages and reports.
    parameters : torch.Tensor or torch.nn.Module or iterable of them
        The player's parameters :math:`x_i`: leaf floating-point tensors with
        ``requires_grad=True`` (any shape, dtype and device), a module (its
        ``parameters()``) or a list of tensors and modules. Stored as a flat
        list of tensors.
    loss : callable, optional
        Zero-argument callable returning the player's loss :math:`L_i` as a
        0-d (or one-element) tensor. Default None: left out when the game
        computes all losses at once (override :meth:`Game.losses`).

    Raises
    ------
    ValueError
        If ``parameters`` is empty, holds something other than leaf
        floating-point tensors with ``requires_grad=True``, or ``loss`` is not callable.
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
        The simultaneous gradient :math:`v(x)` of eq. (3.1) of the theory
        page, one tensor per parameter tensor, each shaped, typed and placed
        like that parameter.
    losses : tuple of float
        Each player's loss :math:`L_i(x)` at the same point, in player order.
    """

    field: list
    losses: tuple


class Game:
    """A game of ``players``; each player minimises its own loss over its own parameters.

    Subclasses that compute every loss from one shared forward pass (a GAN)
    override :meth:`losses`. ``zero_sum=True`` declares a zero-sum game up to
    separable terms: :math:`\\sum_i L_i = \\sum_i c_i(x_i)`, each :math:`c_i`
    a function of player :math:`i`'s own parameters only (strictly zero-sum:
    every :math:`c_i = 0`; a GAN's minimax loss has
    :math:`L_G + L_D = -E_{p_d}[f(D(x))]`, a function of :math:`\\psi` only).
    For two players this is exactly :math:`J_{21} = -J_{12}^\\top` (the
    mixed second derivatives of :math:`L_1 + L_2` vanish): competitive
    gradient descent then solves a symmetric positive definite system with
    conjugate gradients, and SGA gets :math:`A^\\top u` without a third-order
    pass (:meth:`vjp_and_antisymmetric_vjp`). Declare it only when it holds:
    both methods rely on it.

    The field and its Jacobian are eq. (3.1) of the theory page; the
    products with the Jacobian are eq. (3.2).

    Parameters
    ----------
    players : sequence of Player
        The players, in order; their parameter tensors are stacked in this
        order (:attr:`parameters`). Names must be unique and no tensor may
        belong to two players.
    zero_sum : bool, default False
        Declares the game zero-sum up to separable terms (see above). Only
        has an effect for two players (:attr:`has_antisymmetric_interactions`).

    Raises
    ------
    ValueError
        If ``players`` is empty or holds something other than :class:`Player`
        objects, the names repeat, or one tensor belongs to two players.

    References
    ----------
    David Balduzzi, Sébastien Racanière, James Martens, Jakob Foerster, Karl
    Tuyls, Thore Graepel. "The Mechanics of n-Player Differentiable Games."
    ICML 2018.
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
        self.zero_sum = bool(zero_sum)
        self.parameters: list[torch.Tensor] = [t for p in players for t in p.parameters]
        self.player_slices: list[slice] = []
        start = 0
        for p in players:
            self.player_slices.append(slice(start, start + len(p.parameters)))
            start += len(p.parameters)

    # ------------------------------------------------------------------ losses and field
    def losses(self) -> Sequence[torch.Tensor]:
        """Each player's loss at the current parameters (0-d tensors, in player order).

        Returns
        -------
        sequence of torch.Tensor
            :math:`L_1(x), \\dots, L_k(x)`, one 0-d tensor per player.

        Raises
        ------
        ValueError
            If a player has no loss (give ``Player(loss=...)`` or override this method).
        """
        out = []
        for p in self.players:
            if p.loss is None:
                raise ValueError(f"player {p.name!r} has no loss; give Player(loss=...) or override Game.losses()")
            out.append(p.loss())
        return out

    def after_step(self) -> None:
        """Hook the optimisers call after every completed step (a GAN game updates its constraint handler here)."""
        return None

    def state_dict(self) -> dict:
        """Everything a run changes (parameter values; subclasses add samplers, batches, handlers), for checkpoints."""
        return {"values": self.get_values(), "extra": self._extra_state()}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output (shapes checked before anything changes).

        Parameters
        ----------
        state : dict
            A dictionary returned by :meth:`state_dict` of a game of the same
            kind and sizes.

        Raises
        ------
        ValueError
            If the saved values do not match this game's parameters (another
            game or other sizes), or the extra state does not fit.
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
            If the keys are not ``{"values", "extra"}``, the saved values do not match this game's
            parameters (another game or other sizes), or the extra state does not fit (a subclass's check).
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
        """The field :math:`v` and the losses at the current point (eq. (3.1) of the theory page).

        Parameters
        ----------
        create_graph : bool, default False
            Keep the graph of :math:`v` so that it can be differentiated again
            (needed for products with :math:`J`).

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
        field = self._field_from_losses(losses, create_graph=create_graph)
        return FieldEvaluation(field, tuple(float(l.detach()) for l in losses))

    def vector_field(self, create_graph: bool = False) -> Vector:
        r""":math:`v(x) = (\nabla_{x_i} L_i)_i` as a list of tensors (one per parameter tensor).

        The simultaneous gradient of eq. (3.1) of the theory page.

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

    def jvp(self, u: Vector, field: Vector | None = None) -> Vector:
        r""":math:`J u` (directional derivative of :math:`v` along ``u``), by the transpose trick.

        Eq. (3.2) of the theory page: :math:`J u = \nabla_\omega \langle J^\top \omega, u \rangle`.

        Parameters
        ----------
        u : list of torch.Tensor
            The direction, one tensor per parameter tensor, shaped like the parameters.
        field : list of torch.Tensor, optional
            A :math:`v` already computed at the current point with
            ``create_graph=True``. Default None: computed here.

        Returns
        -------
        list of torch.Tensor
            :math:`J u`, shaped like the parameters (detached).
        """
        return self.jvp_operator(field)(u)

    def vjp(self, u: Vector, field: Vector | None = None, create_graph: bool = False) -> Vector:
        r""":math:`J^\top u = \nabla_x \langle v(x), u \rangle` (one backward pass through :math:`v`).

        Eq. (3.2) of the theory page.

        Parameters
        ----------
        u : list of torch.Tensor
            The vector, one tensor per parameter tensor, shaped like the parameters.
        field : list of torch.Tensor, optional
            A :math:`v` already computed at the current point with
            ``create_graph=True``. Default None: computed here.
        create_graph : bool, default False
            Keep the graph of the result (for a further derivative).

        Returns
        -------
        list of torch.Tensor
            :math:`J^\top u`, shaped like the parameters.
        """
        field = self._graph_field(field)
        return self._vjp_with_field(field, u, create_graph=create_graph)

    def jvp_operator(self, field: Vector | None = None) -> Callable[[Vector], Vector]:
        r"""A function ``u -> J u`` that reuses one transpose-trick graph (one backward pass per product).

        For repeated products at one point (conjugate gradients, Arnoldi);
        eq. (3.2) of the theory page.

        Parameters
        ----------
        field : list of torch.Tensor, optional
            A :math:`v` already computed at the current point with
            ``create_graph=True``. Default None: computed here.

        Returns
        -------
        callable
            ``apply(u) -> J u`` for ``u`` a list of tensors shaped like the
            parameters; the result has the same layout.
        """
        field = self._graph_field(field)
        w = [torch.zeros_like(p, requires_grad=True) for p in self.parameters]
        jt_w = self._vjp_with_field(field, w, create_graph=True)

        def apply(u: Vector) -> Vector:
            return self._grad_or_zero(jt_w, w, u, retain_graph=True)

        return apply

    def jvp_and_vjp(self, u: Vector, field: Vector | None = None) -> tuple:
        r"""Both :math:`J u` and :math:`J^\top u` with two backward passes (SGA's general path).

        The dummy of the transpose trick is set to ``u`` itself, so
        :math:`J^\top w` at :math:`w = u` is :math:`J^\top u` and its
        derivative along ``u`` is :math:`J u` (eq. (3.2) of the theory page).

        Parameters
        ----------
        u : list of torch.Tensor
            The vector, one tensor per parameter tensor, shaped like the parameters.
        field : list of torch.Tensor, optional
            A :math:`v` already computed at the current point with
            ``create_graph=True``. Default None: computed here.

        Returns
        -------
        tuple of (list of torch.Tensor, list of torch.Tensor)
            ``(J u, J^T u)``, each shaped like the parameters (detached).
        """
        field = self._graph_field(field)
        w = [ui.detach().clone().requires_grad_(True) for ui in u]
        jt_w = self._vjp_with_field(field, w, create_graph=True)
        ju = self._grad_or_zero(jt_w, w, u, retain_graph=True)
        return ju, [t.detach() for t in jt_w]

    def player_vjps(self, u: Vector, field: Vector | None = None, cross_only: bool = False) -> list:
        r"""The per-player parts :math:`g_j = \nabla_x \langle u_j, v_j \rangle` of :math:`J^\top u`, one per player.

        One backward pass through player :math:`j`'s part of the field each;
        block :math:`i` of :math:`g_j` is :math:`J_{ji}^\top u_j` and
        :math:`\sum_j g_j = J^\top u`. Valid for every game. With
        ``cross_only=True`` pass :math:`j` differentiates only with respect to
        the other players' parameters (block :math:`j` of :math:`g_j`, the
        Hessian product :math:`J_{jj} u_j`, is left at zero), which lets autograd
        skip the parts of the graph that only lead to player :math:`j`.

        Parameters
        ----------
        u : list of torch.Tensor
            The vector, one tensor per parameter tensor, shaped like the parameters.
        field : list of torch.Tensor, optional
            A :math:`v` already computed at the current point with
            ``create_graph=True``. Default None: computed here.
        cross_only : bool, default False
            Differentiate pass :math:`j` only with respect to the other
            players' parameters (block :math:`j` of :math:`g_j` is zero).

        Returns
        -------
        list of list of torch.Tensor
            :math:`g_1, \dots, g_k`, one per player, each a full
            parameter-space vector shaped like the parameters.
        """
        field = self._graph_field(field)
        parts = []
        for sl in self.player_slices:
            part = [torch.zeros_like(p) for p in self.parameters]
            index = [k for k in range(len(self.parameters)) if not (cross_only and sl.start <= k < sl.stop)]
            if index:
                grads = self._grad_or_zero(field[sl], [self.parameters[k] for k in index], u[sl], retain_graph=True)
                for k, g in zip(index, grads):
                    part[k] = g
            parts.append(part)
        return parts

    @property
    def has_antisymmetric_interactions(self) -> bool:
        r"""Whether :math:`J_{ij} = -J_{ji}^\top` (:math:`i \ne j`) is declared: two players and :attr:`zero_sum`.

        For three or more players a separable :math:`\sum_i L_i` does not make
        each pair's mixed blocks antisymmetric, so they use the general path.
        """
        return self.zero_sum and len(self.players) == 2

    def vjp_and_antisymmetric_vjp(self, u: Vector, field: Vector | None = None) -> tuple:
        r""":math:`J^\top u` and :math:`A^\top u = (J^\top u - J u)/2` (shared by SGA), exactly.

        With antisymmetric interactions (:attr:`has_antisymmetric_interactions`:
        :math:`J_{ij} = -J_{ji}^\top` for :math:`i \ne j`) and symmetric
        :math:`J_{ii}`, the per-player passes :math:`g_j` of
        :meth:`player_vjps` give both:

        .. math::
            J^\top u = \sum_j g_j, \qquad (A^\top u)_i = \sum_{j \ne i} (g_j)_i
            = \sum_{j \ne i} J_{ji}^\top u_j,

        e.g. for two players :math:`x, y` with :math:`P = J_{xx}`,
        :math:`Q = J_{xy}`, :math:`R = J_{yx} = -Q^\top`, :math:`S = J_{yy}`:
        :math:`A^\top u = (R^\top u_y, Q^\top u_x)`. That is one backward pass
        per player through the field's graph instead of the third-order pass
        of the transpose trick. Every other game takes :meth:`jvp_and_vjp`.
        These are the products of eqs. (3.2) and (3.8) of the theory page.

        Parameters
        ----------
        u : list of torch.Tensor
            The vector, one tensor per parameter tensor, shaped like the parameters.
        field : list of torch.Tensor, optional
            A :math:`v` already computed at the current point with
            ``create_graph=True``. Default None: computed here.

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
        r""":math:`A^\top u = (J^\top u - J u)/2` alone, exactly.

        With antisymmetric interactions :math:`(A^\top u)_i = \sum_{j \ne i}
        J_{ji}^\top u_j` needs only the cross blocks: the passes of
        :meth:`player_vjps` with ``cross_only=True``, which skip the Hessian
        products :math:`J_{jj} u_j` (cheaper than
        :meth:`vjp_and_antisymmetric_vjp`). Every other game takes
        :meth:`jvp_and_vjp`. :math:`A = (J - J^\top)/2` as in eqs. (3.2) and
        (3.8) of the theory page.

        Parameters
        ----------
        u : list of torch.Tensor
            The vector, one tensor per parameter tensor, shaped like the parameters.
        field : list of torch.Tensor, optional
            A :math:`v` already computed at the current point with
            ``create_graph=True``. Default None: computed here.

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
        out, start = [], 0
        for p in self.parameters:
            out.append(flat[start:start + p.numel()].reshape(p.shape).to(device=p.device, dtype=p.dtype))
            start += p.numel()
        return out

    def get_flat(self) -> torch.Tensor:
        """The current parameters as one flat (detached) tensor."""
        return self.flatten(self.get_values())

    def set_flat(self, flat) -> None:
        """Overwrite the parameters from a flat tensor (or numpy array).

        Parameters
        ----------
        flat : torch.Tensor or numpy.ndarray
            Shape ``(num_parameters,)``, entries in parameter order; cast to
            each parameter's dtype and device.

        Raises
        ------
        ValueError
            If ``flat`` is not 1-D with :attr:`num_parameters` entries.
        """
        self.set_values(self.unflatten(torch.as_tensor(flat)))

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
            One tensor per parameter tensor, shaped like the parameters (as
            :meth:`get_values` returns them).
        """
        with torch.no_grad():
            for p, value in zip(self.parameters, values):
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
            If ``index`` is not an integer in ``[0, len(players) - 1]``
            (``bool`` and floats are refused, numpy integers accepted).
        """
        index = check_int(index, "index (player position)", low=0, high=len(self.players) - 1)
        return vector[self.player_slices[index]]

    # ------------------------------------------------------------------ internals
    def _graph_field(self, field: Vector | None) -> Vector:
        """The field given (computed with ``create_graph=True``), or computed here for products with :math:`J`."""
        return self.vector_field(create_graph=True) if field is None else field

    def _checked_losses(self) -> list:
        losses = list(self.losses())
        if len(losses) != len(self.players):
            raise ValueError(f"losses() returned {len(losses)} losses for {len(self.players)} players")
        for p, l in zip(self.players, losses):
            if not isinstance(l, torch.Tensor) or l.numel() != 1:
                raise ValueError(f"loss of player {p.name!r} must be a scalar tensor")
        return [l.reshape(()) for l in losses]

    def _field_from_losses(self, losses, create_graph: bool) -> Vector:
        field: Vector = []
        for player, loss in zip(self.players, losses):
            if loss.requires_grad:
                grads = torch.autograd.grad(loss, player.parameters, create_graph=create_graph,
                                            retain_graph=True, allow_unused=True)
            else:
                grads = [None] * len(player.parameters)
            field.extend(torch.zeros_like(p) if g is None else g for p, g in zip(player.parameters, grads))
        return field

    def _vjp_with_field(self, field: Vector, u: Vector, create_graph: bool) -> Vector:
        pairs = [(f, ui) for f, ui in zip(field, u) if f.requires_grad]
        if not pairs:
            return [torch.zeros_like(p) for p in self.parameters]
        outs, grad_outs = zip(*pairs)
        grads = torch.autograd.grad(outs, self.parameters, grad_outputs=grad_outs, retain_graph=True,
                                    create_graph=create_graph, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g for p, g in zip(self.parameters, grads)]

    def _cross_sum(self, parts: list) -> Vector:
        """Block i of the result is the sum over players j != i of block i of ``parts[j]``."""
        out = []
        for i, sl in enumerate(self.player_slices):
            for k in range(sl.start, sl.stop):
                out.append(functools.reduce(operator.add, [g[k] for j, g in enumerate(parts) if j != i]).detach())
        return out

    @staticmethod
    def _grad_or_zero(outputs: Vector, inputs: Vector, grad_outputs: Vector, retain_graph: bool) -> Vector:
        pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad]
        if not pairs:
            return [torch.zeros_like(i) for i in inputs]
        outs, gos = zip(*pairs)
        grads = torch.autograd.grad(outs, inputs, grad_outputs=gos, retain_graph=retain_graph, allow_unused=True)
        return [torch.zeros_like(i) if g is None else g.detach() for i, g in zip(inputs, grads)]

