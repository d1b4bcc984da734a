r"""Functional games: the players' losses as a pure function of the stacked parameters, batched with ``torch.func``.

``torch.func`` gives a :class:`FunctionalGame`'s :math:`v`, :math:`J u`, :math:`J^\top u` and :math:`J` (eqs.
(3.1)-(3.2) of the theory page) on a whole batch of points at once, so every optimiser of
:mod:`dualgan.games.optimizers` runs on a batch of seeds and hyper-parameters (:func:`~dualgan.games.batched_run`);
the built-in games (:mod:`dualgan.games.catalogue`) add closed forms of :math:`v` and :math:`J` (the *fast path*,
tested against ``torch.func``). :class:`BatchedPoint` is what an optimiser's batched step reads. Float64 by default.
"""
from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Callable

import torch

from .._checks import check_bool, check_int
from .game import check_player_names, check_player_sizes
from .optimizers._points import player_slices
from .optimizers._rowwise import matvec as _matvec, rmatvec as _rmatvec
from .optimizers.base import NotBatchableError

__all__ = ["FunctionalGame", "BatchedPoint"]

_MAX_DENSE = 256   # largest game for which a batched dense Jacobian is formed (competitive GD)


@dataclass(frozen=True)
class FunctionalGame:
    r"""A game given as a pure function of the stacked parameters.

    Parameters
    ----------
    losses : callable
        ``losses(z) -> tensor (k,)``: the players' losses at one flat ``z`` of shape ``(n,)``, in torch operations
        that ``torch.func`` transforms (no ``.item()``, no in-place update of ``z``, no ``torch.autograd.grad``).
    player_sizes : tuple of int
        Parameters per player (positive), stacked in this order.
    name : str, default "game"
        Display name.
    player_names : tuple of str, optional
        Default ``("player0", "player1", ...)``.
    equilibrium : tensor of shape (n,), optional
        A finite point with :math:`v = 0`, where distances, rates and the local analysis are measured; None:
        only :math:`\|v\|` is reported.
    zero_sum : bool, default False
        Declares :math:`J_{ij} = -J_{ji}^\top` (zero-sum up to separable terms), as :attr:`dualgan.games.Game.zero_sum`.
    n_tensors : int, optional
        The object game's number of parameter tensors (:math:`n` of eq. (3.9)); default: the number of players.
    initial_point : callable, optional
        ``seed -> tensor (n,)``; default ``equilibrium + N(0, I)`` from ``torch.Generator().manual_seed(seed)``.
    make_game : callable, optional
        ``z -> dualgan.games.Game``: the equivalent object game at ``z`` (for the per-run harness), if any.
    fast_field, fast_jacobian : callable, optional
        Closed forms ``Z (B, n) -> V (B, n)`` and ``Z -> J (B, n, n)`` used instead of ``torch.func``; they
        must agree with ``losses``.
    project : callable, optional
        ``Z (B, n) -> Z`` after every complete step (WGAN's clipping), as :meth:`dualgan.games.Game.after_step`.
    dtype : torch.dtype, default torch.float64
        Type of the parameters and the arithmetic: torch.float64 or torch.float32.
    sample_batch : callable, optional
        For games that draw a batch every step: ``sample_batch(generator) -> tuple of tensors``, taken as
        ``losses(z, *batch)``; :func:`batched_run` then needs each cell's seed.
    no_local_analysis : str, optional
        Why the linearisation at :attr:`equilibrium` does not describe the game (e.g. losses not differentiable
        there): stability maps give this reason for reporting no exact rate. None: it does.

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
        sizes = check_player_sizes(self.player_sizes)
        object.__setattr__(self, "player_sizes", sizes)
        object.__setattr__(self, "zero_sum", check_bool(self.zero_sum, "zero_sum"))
        names = self.player_names if self.player_names is not None else tuple(f"player{i}" for i in range(len(sizes)))
        object.__setattr__(self, "player_names", check_player_names(names, len(sizes)))
        if self.dtype not in (torch.float64, torch.float32):
            raise ValueError(f"dtype must be torch.float64 or torch.float32, got {self.dtype}")
        if self.equilibrium is not None:
            eq = torch.as_tensor(self.equilibrium, dtype=self.dtype).reshape(-1)
            if eq.shape != (self.n,) or not bool(torch.isfinite(eq).all()):
                raise ValueError(f"equilibrium must be a finite vector of shape ({self.n},), got shape "
                                 f"{tuple(eq.shape)}")
            object.__setattr__(self, "equilibrium", eq)
        n_tensors = len(sizes) if self.n_tensors is None else check_int(self.n_tensors, "n_tensors", low=1)
        object.__setattr__(self, "n_tensors", n_tensors)
        for nm in ("initial_point", "make_game", "fast_field", "fast_jacobian", "project"):
            if getattr(self, nm) is not None and not callable(getattr(self, nm)):
                raise ValueError(f"{nm} must be a callable or None")
        object.__setattr__(self, "_owner", torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes)))

    @property
    def n(self) -> int:
        """Total number of parameters."""
        return sum(self.player_sizes)

    @property
    def player_slices(self) -> list:
        """Slices of the flat vector owned by each player."""
        return player_slices(self.player_sizes)

    def start(self, seed: int) -> torch.Tensor:
        """The initial point of ``seed``.

        Parameters
        ----------
        seed : int
            The seed, >= 0 (``bool`` and floats refused, numpy integers accepted; see ``initial_point``).

        Returns
        -------
        torch.Tensor
            Shape ``(n,)``, :attr:`dtype`.

        Raises
        ------
        ValueError
            If ``seed`` is not a non-negative integer or ``initial_point`` returns the wrong shape.
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
        """:math:`v(z)` at one point by ``torch.func.jacrev`` of the losses, shape ``(n,)``.

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
        """:math:`v` at every row of ``Z`` by ``torch.func`` (``vmap`` of :meth:`field_one`), shape ``(B, n)``.

        Parameters
        ----------
        Z : torch.Tensor of shape (B, n)
            Parameter vectors, one per row.
        data : tuple of torch.Tensor, default ()
            Per-row batches (leading dimension B) for games with :attr:`sample_batch`; empty otherwise.
        """
        return torch.func.vmap(self.field_one)(Z, *data)

    def reference_jacobian(self, Z: torch.Tensor, data=()) -> torch.Tensor:
        """:math:`J` at every row of ``Z`` by ``torch.func`` (``vmap`` of ``jacfwd``), shape ``(B, n, n)``.

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

    # ------------------------------------------------------------------ batched readers: the closed form if given
    def field(self, Z: torch.Tensor, data=()) -> torch.Tensor:
        """:math:`v` at every row of ``Z`` (``fast_field`` if given, else :meth:`reference_field`), ``(B, n)``.

        Parameters
        ----------
        Z : torch.Tensor of shape (B, n)
            Parameter vectors, one per row.
        data : tuple of torch.Tensor, default ()
            Per-row batches (leading dimension B) for games with :attr:`sample_batch`; empty otherwise.
        """
        return self.fast_field(Z) if self.fast_field is not None else self.reference_field(Z, data)

    def jacobian(self, Z: torch.Tensor, data=()) -> torch.Tensor:
        """:math:`J` at every row of ``Z`` (``fast_jacobian`` if given, else :meth:`reference_jacobian`), ``(B, n, n)``.

        Parameters
        ----------
        Z : torch.Tensor of shape (B, n)
            Parameter vectors, one per row.
        data : tuple of torch.Tensor, default ()
            Per-row batches (leading dimension B) for games with :attr:`sample_batch`; empty otherwise.
        """
        return self.fast_jacobian(Z) if self.fast_jacobian is not None else self.reference_jacobian(Z, data)

    def jvp(self, Z: torch.Tensor, U: torch.Tensor, data=()) -> torch.Tensor:
        """:math:`J u` row by row, shape ``(B, n)`` (the closed-form J if given, else ``torch.func.jvp`` of the field).

        Parameters
        ----------
        Z : torch.Tensor of shape (B, n)
            Parameter vectors, one per row.
        U : torch.Tensor of shape (B, n)
            Directions, one per row.
        data : tuple of torch.Tensor, default ()
            Per-row batches (leading dimension B) for games with :attr:`sample_batch`; empty otherwise.
        """
        return self._product(Z, U, data, transpose=False)

    def vjp(self, Z: torch.Tensor, U: torch.Tensor, data=()) -> torch.Tensor:
        r""":math:`J^\top u` row by row, shape ``(B, n)`` (the closed-form J if given, else ``torch.func.vjp``).

        Parameters
        ----------
        Z : torch.Tensor of shape (B, n)
            Parameter vectors, one per row.
        U : torch.Tensor of shape (B, n)
            Directions, one per row.
        data : tuple of torch.Tensor, default ()
            Per-row batches (leading dimension B) for games with :attr:`sample_batch`; empty otherwise.
        """
        return self._product(Z, U, data, transpose=True)

    def _product(self, Z, U, data, transpose, J=None):
        """J u (J^T u with ``transpose``) row by row: the closed-form J (``J`` if already formed), else torch.func."""
        if self.fast_jacobian is not None:
            return (_rmatvec if transpose else _matvec)(self.fast_jacobian(Z) if J is None else J, U)

        def one(z, u, *d):
            def v(zz):
                return self.field_one(zz, *d)
            return torch.func.vjp(v, z)[1](u)[0] if transpose else torch.func.jvp(v, (z,), (u,))[1]
        return torch.func.vmap(one)(Z, U, *data)


class BatchedPoint:
    r"""A batch of iterates of a :class:`FunctionalGame`, with :math:`v`, :math:`J` and their products on demand.

    What an optimiser's :meth:`~dualgan.games.GameOptimizer.batched_step`
    reads; the field and the Jacobian are computed once, when first read.

    Parameters
    ----------
    game : FunctionalGame
        The game.
    Z : torch.Tensor
        The iterates, shape ``(B, n)``, one row per cell, in the game's dtype.
    data : tuple of torch.Tensor, default ()
        This step's batch for games with :attr:`FunctionalGame.sample_batch` (leading dimension B); empty otherwise.
    """

    def __init__(self, game: FunctionalGame, Z: torch.Tensor, data=()):
        self.game, self.Z, self.data = game, Z, data
        self._v = self._J = None

    @property
    def v(self) -> torch.Tensor:
        """:math:`v(Z)`, shape ``(B, n)``."""
        if self._v is None:
            self._v = self.game.field(self.Z, self.data)
        return self._v

    @property
    def J(self) -> torch.Tensor:
        """:math:`J(Z)`, shape ``(B, n, n)``; NotBatchableError above 256 parameters without a closed form."""
        if self._J is None:
            if self.game.n > _MAX_DENSE and self.game.fast_jacobian is None:
                raise NotBatchableError(f"game {self.game.name!r} has {self.game.n} parameters; the batched runner "
                                        f"forms a dense Jacobian (competitive GD) only up to {_MAX_DENSE}; use "
                                        f"dualgan.games.run_optimizer for it")
            self._J = self.game.jacobian(self.Z, self.data)
        return self._J

    def jvp(self, U: torch.Tensor) -> torch.Tensor:
        """:math:`J u` row by row, shape ``(B, n)``.

        Parameters
        ----------
        U : torch.Tensor
            Directions, shape ``(B, n)``.
        """
        return self._product(U, transpose=False)

    def vjp(self, U: torch.Tensor) -> torch.Tensor:
        r""":math:`J^\top u` row by row, shape ``(B, n)``.

        Parameters
        ----------
        U : torch.Tensor
            Directions, shape ``(B, n)``.
        """
        return self._product(U, transpose=True)

    def _product(self, U, transpose):
        """The game's product, with this point's closed-form J formed once."""
        J = self.J if self.game.fast_jacobian is not None else None
        return self.game._product(self.Z, U, self.data, transpose, J)

    def field_at(self, Z: torch.Tensor) -> torch.Tensor:
        """:math:`v` at other iterates on this step's batch of data, shape ``(B, n)``.

        Parameters
        ----------
        Z : torch.Tensor
            Iterates, shape ``(B, n)`` (e.g. a look-ahead point, or the iterates after one player moved).
        """
        return self.game.field(Z, self.data)
