r"""Functional games: the players' losses as a pure function of the stacked parameters, batched with ``torch.func``.

A :class:`FunctionalGame` holds ``losses(z) -> (L_1, ..., L_k)``, a pure
function of one flat parameter vector :math:`z \in \mathbb{R}^n` (players'
parameters stacked in player order), and the players' sizes. From it
``torch.func`` gives, for a whole batch of parameter vectors at once
(``vmap`` over the batch),

.. math::
    v(z) = (\nabla_{z_1} L_1, \dots, \nabla_{z_k} L_k), \qquad J u, \qquad J^\top u, \qquad J(z),

(``jacrev`` of the losses, ``jvp``/``vjp`` of the field, ``jacfwd`` of the
field), so every optimiser of :mod:`dualgan.games.optimizers` can run on a
batch of seeds and hyper-parameters in one loop of tensor operations
(:func:`~dualgan.games.batched_run`, :mod:`dualgan.games.batched`). The
built-in games (:mod:`dualgan.games.catalogue`) come with closed forms of
:math:`v` and :math:`J` (the *fast path*, checked against the ``torch.func``
path and the object games in the tests); :class:`BatchedPoint` is what an
optimiser's batched step reads. Everything here is float64 by default.
"""
from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Callable

import torch

from .._checks import check_int
from .optimizers._rowwise import matvec as _matvec, rmatvec as _rmatvec
from .optimizers.base import NotBatchableError

__all__ = ["FunctionalGame", "BatchedPoint"]

_MAX_DENSE = 256   # largest game for which a batched dense Jacobian is formed (competitive GD)


# ============================================================================================ the game
@dataclass(frozen=True)
class FunctionalGame:
    r"""A game given as a pure function of the stacked parameters.

    Parameters
    ----------
    losses : callable
        ``losses(z) -> tensor`` of shape ``(k,)``: player :math:`i`'s loss
        :math:`L_i(z)` at one flat parameter vector ``z`` of shape ``(n,)``.
        Must be written with torch operations that ``torch.func.vmap``,
        ``jacrev`` and ``jvp`` can transform (no ``.item()``, no in-place
        updates of the input, no ``torch.autograd.grad``).
    player_sizes : tuple of int
        Number of parameters of each player; they are stacked in this order
        (player :math:`i` owns ``z[sum(sizes[:i]) : sum(sizes[:i+1])]``).
    name : str, default "game"
        Display name.
    player_names : tuple of str, optional
        Default ``("player0", "player1", ...)``.
    equilibrium : tensor of shape (n,), optional
        A point with :math:`v = 0`; distances, rates and the exact local
        analysis are measured there. None: only :math:`\|v\|` is reported.
    zero_sum : bool, default False
        Declares :math:`J_{ij} = -J_{ji}^\top` (two players whose losses sum
        to a separable function), as :attr:`dualgan.games.Game.zero_sum`.
    n_tensors : int, optional
        Number of parameter tensors of the object game (SGA's sign alignment
        divides by it, as the reference code does); default: the number of players.
    initial_point : callable, optional
        ``seed -> tensor (n,)``: the initial point of seed ``seed``.
        Default: ``equilibrium + N(0, I)`` drawn from ``torch.Generator().manual_seed(seed)``.
    make_game : callable, optional
        ``z -> dualgan.games.Game``: the equivalent object game at the
        parameters ``z`` (for the per-run harness), if there is one.
    fast_field, fast_jacobian : callable, optional
        Closed forms ``Z (B, n) -> V (B, n)`` and ``Z -> J (B, n, n)`` used by
        :func:`batched_run` instead of ``torch.func`` (they must agree with
        ``losses``; the built-in games' closed forms are tested against it).
    project : callable, optional
        ``Z (B, n) -> Z`` applied after every complete step (WGAN's weight
        clipping), as :meth:`dualgan.games.Game.after_step`.
    dtype : torch.dtype, default torch.float64
        Floating-point type of the parameters and the arithmetic (float64 for correctness checks).
    sample_batch : callable, optional
        For games that draw a batch every step: ``sample_batch(generator) ->
        tuple of tensors``, one batch drawn from a seeded ``torch.Generator``;
        ``losses(z, *batch)`` then takes it. :func:`batched_run` needs each
        cell's seed for such games.
    no_local_analysis : str, optional
        Why the linearisation at :attr:`equilibrium` does not describe the
        game (e.g. the losses are not differentiable there); stability maps
        then report no exact rate and give this reason. None: the analysis applies.

    Examples
    --------
    >>> import torch
    >>> from dualgan.games import FunctionalGame
    >>> g = FunctionalGame(lambda z: torch.stack([z[0] * z[1], -z[0] * z[1]]), (1, 1),
    ...                    equilibrium=torch.zeros(2, dtype=torch.float64), zero_sum=True)
    >>> g.field(torch.tensor([[1.0, 2.0]], dtype=torch.float64)).tolist()     # (dL1/dx, dL2/dy) = (y, -x)
    [[2.0, -1.0]]
    """

    losses: Callable
    player_sizes: tuple
    name: str = "game"
    player_names: tuple | None = None
    equilibrium: torch.Tensor | None = None
    zero_sum: bool = False
    n_tensors: int | None = None
    initial_point: Callable | None = None
    make_game: Callable | None = None
    fast_field: Callable | None = None
    fast_jacobian: Callable | None = None
    project: Callable | None = None
    dtype: torch.dtype = torch.float64
    sample_batch: Callable | None = None
    no_local_analysis: str | None = None
    _owner: torch.Tensor = dc_field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if not callable(self.losses):
            raise ValueError("losses must be a callable z (n,) -> tensor (k,) of the players' losses")
        sizes = tuple(self.player_sizes) if isinstance(self.player_sizes, (tuple, list)) else None
        if not sizes:
            raise ValueError(f"player_sizes must be a non-empty tuple of positive integers (parameters per player), "
                             f"got {self.player_sizes!r}")
        sizes = tuple(check_int(s, f"player_sizes[{i}] (parameters of player {i})", low=1)
                      for i, s in enumerate(sizes))
        object.__setattr__(self, "player_sizes", sizes)
        names = self.player_names if self.player_names is not None else tuple(f"player{i}" for i in range(len(sizes)))
        if len(names) != len(sizes):
            raise ValueError(f"player_names has {len(names)} names for {len(sizes)} players")
        object.__setattr__(self, "player_names", tuple(names))
        if self.dtype not in (torch.float64, torch.float32):
            raise ValueError(f"dtype must be torch.float64 or torch.float32, got {self.dtype}")
        if self.equilibrium is not None:
            eq = torch.as_tensor(self.equilibrium, dtype=self.dtype).reshape(-1)
            if eq.shape != (self.n,) or not bool(torch.isfinite(eq).all()):
                raise ValueError(f"equilibrium must be a finite vector of shape ({self.n},), got shape "
                                 f"{tuple(eq.shape)}")
            object.__setattr__(self, "equilibrium", eq)
        if self.n_tensors is None:
            object.__setattr__(self, "n_tensors", len(sizes))
        else:
            object.__setattr__(self, "n_tensors", check_int(self.n_tensors, "n_tensors", low=1))
        for nm in ("initial_point", "make_game", "fast_field", "fast_jacobian", "project"):
            if getattr(self, nm) is not None and not callable(getattr(self, nm)):
                raise ValueError(f"{nm} must be a callable or None")
        owner = torch.cat([torch.full((s,), i, dtype=torch.long) for i, s in enumerate(sizes)])
        object.__setattr__(self, "_owner", owner)

    # ------------------------------------------------------------------ shapes
    @property
    def n(self) -> int:
        """Total number of parameters."""
        return sum(self.player_sizes)

    @property
    def player_slices(self) -> list:
        """Slices of the flat vector owned by each player."""
        out, start = [], 0
        for s in self.player_sizes:
            out.append(slice(start, start + s))
            start += s
        return out

    def start(self, seed: int) -> torch.Tensor:
        """The initial point of ``seed`` (shape ``(n,)``, :attr:`dtype`).

        Parameters
        ----------
        seed : int
            The seed (>= 0; see ``initial_point``).

        Returns
        -------
        torch.Tensor
            Shape ``(n,)``, :attr:`dtype`.

        Raises
        ------
        ValueError
            If ``seed`` is not a non-negative integer (``bool`` and floats are
            refused, numpy integers accepted) or ``initial_point`` returns the
            wrong shape.
        """
        seed = check_int(seed, "seed", low=0)
        if self.initial_point is not None:
            z = torch.as_tensor(self.initial_point(seed), dtype=self.dtype).reshape(-1)
        else:
            gen = torch.Generator().manual_seed(seed)
            z = torch.randn(self.n, generator=gen, dtype=torch.float64).to(self.dtype)
            if self.equilibrium is not None:
                z = z + self.equilibrium
        if z.shape != (self.n,):
            raise ValueError(f"initial_point({seed}) must return shape ({self.n},), got {tuple(z.shape)}")
        return z

    # ------------------------------------------------------------------ torch.func path
    def field_one(self, z: torch.Tensor, *data) -> torch.Tensor:
        r""":math:`v(z)` at one point by ``torch.func.jacrev`` of the losses (shape ``(n,)``).

        Parameters
        ----------
        z : torch.Tensor of shape (n,)
            The parameters.
        *data : torch.Tensor
            One batch, for games with :attr:`sample_batch`.
        """
        grads = torch.func.jacrev(lambda zz: self._checked_losses(zz, *data))(z)   # (k, n): row i = grad of L_i
        return grads.gather(0, self._owner.to(z.device).unsqueeze(0)).squeeze(0)

    def _checked_losses(self, z, *data):
        out = self.losses(z, *data)
        if not isinstance(out, torch.Tensor) or out.shape != (len(self.player_sizes),):
            raise ValueError(f"losses(z) must return a tensor of shape ({len(self.player_sizes)},), one loss per "
                             f"player; got {type(out).__name__} {tuple(getattr(out, 'shape', ()))}")
        return out

    def reference_field(self, Z: torch.Tensor, data=()) -> torch.Tensor:
        """:math:`v` for a batch ``Z`` by ``torch.func`` (``vmap`` of :meth:`field_one`), shape ``(B, n)``.

        Parameters
        ----------
        Z : torch.Tensor of shape (B, n)
            Parameter vectors, one per row.
        data : tuple of torch.Tensor, default ()
            Per-row batches (leading dimension B) for games with :attr:`sample_batch`; empty otherwise.
        """
        return torch.func.vmap(self.field_one)(Z, *data)

    def reference_jacobian(self, Z: torch.Tensor, data=()) -> torch.Tensor:
        """:math:`J` for a batch ``Z`` by ``torch.func`` (``vmap`` of ``jacfwd``), shape ``(B, n, n)``.

        Parameters
        ----------
        Z : torch.Tensor of shape (B, n)
            Parameter vectors, one per row.
        data : tuple of torch.Tensor, default ()
            Per-row batches (leading dimension B) for games with :attr:`sample_batch`; empty otherwise.
        """
        return torch.func.vmap(torch.func.jacfwd(self.field_one))(Z, *data)

    def jacobian_at(self, z: torch.Tensor | None = None) -> torch.Tensor:
        """:math:`J` at one point by ``torch.func.jacfwd`` of the field, shape ``(n, n)``.

        Parameters
        ----------
        z : torch.Tensor of shape (n,), optional
            The point; default :attr:`equilibrium` (a ValueError if the game declares none).
        """
        if z is None:
            if self.equilibrium is None:
                raise ValueError(f"game {self.name!r} declares no equilibrium; pass the point z")
            z = self.equilibrium
        z = torch.as_tensor(z, dtype=self.dtype).reshape(-1)
        return torch.func.jacfwd(self.field_one)(z)

    # ------------------------------------------------------------------ batched oracles (fast path if given)
    def field(self, Z: torch.Tensor, data=()) -> torch.Tensor:
        """:math:`v` at every row of ``Z``: the closed form if the game has one, else ``torch.func``; ``(B, n)``.

        Parameters
        ----------
        Z : torch.Tensor of shape (B, n)
            Parameter vectors, one per row.
        data : tuple of torch.Tensor, default ()
            Per-row batches (leading dimension B) for games with :attr:`sample_batch`; empty otherwise.
        """
        return self.fast_field(Z) if self.fast_field is not None else self.reference_field(Z, data)

    def jacobian(self, Z: torch.Tensor, data=()) -> torch.Tensor:
        """:math:`J` at every row of ``Z``: ``(B, n, n)`` (closed form if given, else ``torch.func``).

        Parameters
        ----------
        Z : torch.Tensor of shape (B, n)
            Parameter vectors, one per row.
        data : tuple of torch.Tensor, default ()
            Per-row batches (leading dimension B) for games with :attr:`sample_batch`; empty otherwise.
        """
        return self.fast_jacobian(Z) if self.fast_jacobian is not None else self.reference_jacobian(Z, data)

    def jvp(self, Z: torch.Tensor, U: torch.Tensor, data=()) -> torch.Tensor:
        """:math:`J u` row by row (``torch.func.jvp`` of the field under ``vmap``, or the closed-form J).

        Parameters
        ----------
        Z : torch.Tensor of shape (B, n)
            Parameter vectors, one per row.
        U : torch.Tensor of shape (B, n)
            Directions, one per row.
        data : tuple of torch.Tensor, default ()
            Per-row batches (leading dimension B) for games with :attr:`sample_batch`; empty otherwise.
        """
        if self.fast_jacobian is not None:
            return _matvec(self.fast_jacobian(Z), U)
        return torch.func.vmap(lambda z, u, *d: torch.func.jvp(lambda zz: self.field_one(zz, *d), (z,), (u,))[1])(
            Z, U, *data)

    def vjp(self, Z: torch.Tensor, U: torch.Tensor, data=()) -> torch.Tensor:
        r""":math:`J^\top u` row by row (``torch.func.vjp`` of the field under ``vmap``, or the closed-form J).

        Parameters
        ----------
        Z : torch.Tensor of shape (B, n)
            Parameter vectors, one per row.
        U : torch.Tensor of shape (B, n)
            Directions, one per row.
        data : tuple of torch.Tensor, default ()
            Per-row batches (leading dimension B) for games with :attr:`sample_batch`; empty otherwise.
        """
        if self.fast_jacobian is not None:
            return _rmatvec(self.fast_jacobian(Z), U)
        return torch.func.vmap(lambda z, u, *d: torch.func.vjp(lambda zz: self.field_one(zz, *d), z)[1](u)[0])(
            Z, U, *data)



class BatchedPoint:
    r"""A batch of iterates of a :class:`FunctionalGame` with :math:`v`, :math:`J`, :math:`J u`, :math:`J^\top u` on demand.

    What an optimiser's :meth:`~dualgan.games.GameOptimizer.batched_step`
    reads: the field and the Jacobian are computed once, the first time they
    are read (closed forms where the game has them, else ``torch.func``).

    Parameters
    ----------
    game : FunctionalGame
        The game.
    Z : torch.Tensor
        The iterates, shape ``(B, n)``, one row per cell, in the game's dtype.
    data : tuple of torch.Tensor, default ()
        This step's batch for games with :attr:`FunctionalGame.sample_batch`
        (leading dimension B); empty otherwise.
    """

    def __init__(self, game: FunctionalGame, Z: torch.Tensor, data=()):
        self.game, self.Z, self.data = game, Z, data
        self._v = self._J = None

    @property
    def v(self) -> torch.Tensor:
        """:math:`v(Z)`, shape ``(B, n)`` (eq. (3.1) of the theory page)."""
        if self._v is None:
            self._v = self.game.field(self.Z, self.data)
        return self._v

    @property
    def J(self) -> torch.Tensor:
        """:math:`J(Z)`, shape ``(B, n, n)``.

        Raises
        ------
        NotBatchableError
            If the game has more than 256 parameters and no closed-form
            Jacobian (the dense Jacobian would be too large).
        """
        if self._J is None:
            if self.game.n > _MAX_DENSE and self.game.fast_jacobian is None:
                raise NotBatchableError(f"game {self.game.name!r} has {self.game.n} parameters; the batched runner "
                                        f"forms a dense Jacobian (competitive GD) only up to {_MAX_DENSE}; use "
                                        f"dualgan.games.run_optimizer for it")
            self._J = self.game.jacobian(self.Z, self.data)
        return self._J

    def jvp(self, U: torch.Tensor) -> torch.Tensor:
        """:math:`J u` row by row for ``U`` of shape ``(B, n)``; shape ``(B, n)``.

        Parameters
        ----------
        U : torch.Tensor
            Directions, shape ``(B, n)``.
        """
        if self.game.fast_jacobian is not None:
            return _matvec(self.J, U)
        return self.game.jvp(self.Z, U, self.data)

    def vjp(self, U: torch.Tensor) -> torch.Tensor:
        r""":math:`J^\top u` row by row for ``U`` of shape ``(B, n)``; shape ``(B, n)``.

        Parameters
        ----------
        U : torch.Tensor
            Directions, shape ``(B, n)``.
        """
        if self.game.fast_jacobian is not None:
            return _rmatvec(self.J, U)
        return self.game.vjp(self.Z, U, self.data)

    def field_at(self, Z: torch.Tensor) -> torch.Tensor:
        """:math:`v` at other iterates ``Z`` (shape ``(B, n)``) on this step's batch of data; shape ``(B, n)``.

        Parameters
        ----------
        Z : torch.Tensor
            Iterates, shape ``(B, n)`` (e.g. a look-ahead point, or the iterates after one player moved).
        """
        return self.game.field(Z, self.data)
