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
(:func:`batched_run`). Built-in small games come with closed forms of
:math:`v` and :math:`J` (the *fast path*, checked against the ``torch.func``
path and the object games in the tests):

* :func:`bilinear_functional`: :math:`x^\top A y` (:class:`~dualgan.games.BilinearGame`);
* :func:`dirac_functional`: the Dirac-GAN of Mescheder, Geiger, Nowozin,
  "Which Training Methods for GANs do actually Converge?", ICML 2018, with the
  minimax, non-saturating, Wasserstein, hinge or least-squares loss, R1, R2,
  the WGAN-GP and DRAGAN penalties, and WGAN's weight clipping;
* :func:`as_functional`: the functional form of a built-in object game
  (:class:`~dualgan.games.BilinearGame`, :class:`~dualgan.games.DiracGAN`),
  or a clear :class:`NotBatchableError` naming what cannot be batched.

Each step is the optimiser's own :meth:`~dualgan.games.GameOptimizer.batched_step`
(the optimisers registered with ``batchable=True``: ``OPTIMIZERS.names(batchable=True)``).
The base optimisers (the torch optimiser that receives the adjusted field) are
written on batched tensors as well, in their registration in
:data:`~dualgan.games.optimizers.BASE_OPTIMIZERS` (:func:`functional_base`):
``"sgd"`` (with momentum, dampening, Nesterov, weight decay), ``"adam"`` (with
amsgrad, weight decay) and ``"rmsprop"`` (with momentum, centred, weight
decay), each step the arithmetic of ``torch.optim``'s single-tensor CPU
implementation, per parameter coordinate (a player that does not move in an
alternating step keeps its state, as a torch parameter whose ``.grad`` is None does).

Everything here is float64 by default; a cell whose field, direction or
iterate stops being finite, or whose :math:`\|v\|` or distance passes
``diverge_above``, is frozen at its last finite iterate and flagged
(:attr:`BatchedRun.diverged`); no NaN is turned into a number.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field as dc_field
from typing import Callable, Sequence

import numpy as np
import torch

from .._checks import check_int, check_number, check_positive
from .._threads import with_thread_policy
from ..regularizers import clip_weights
from .gan import DiracGAN
from .optimizers._rowwise import matvec as _matvec, rmatvec as _rmatvec, rownorm as _rownorm
from .optimizers.base import BASE_OPTIMIZERS, OPTIMIZERS, GameOptimizer, NotBatchableError

__all__ = ["FunctionalGame", "BatchedPoint", "FunctionalBase", "functional_base", "bilinear_functional",
           "dirac_functional", "mixture_functional", "as_functional", "BatchedRun", "batched_run",
           "ClippedDiracGAN"]

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


# ============================================================================================ built-in games
def bilinear_functional(A, seed_scale: float = 1.0, dtype=torch.float64) -> FunctionalGame:
    r"""The bilinear game :math:`\min_x \max_y x^\top A y` as a :class:`FunctionalGame` (closed forms, linear field).

    Parameters
    ----------
    A : array-like of shape (n_x, n_y)
        The coupling matrix (finite).
    seed_scale : float, default 1.0
        Initial points are ``seed_scale`` times the standard normal draws of
        ``BilinearGame(A, seed=seed)`` (x then y from ``torch.Generator().manual_seed(seed)``),
        so ``seed_scale=1`` starts exactly where the object game of that seed starts.
    dtype : torch.dtype, default torch.float64
        Floating-point type of the parameters and the arithmetic (float64 for correctness checks).

    Returns
    -------
    FunctionalGame
        Players ``x`` (n_x) and ``y`` (n_y), :math:`v = J z` with
        :math:`J = [[0, A], [-A^\top, 0]]`, equilibrium 0, zero-sum;
        ``make_game(z)`` builds the :class:`~dualgan.games.BilinearGame` at ``z``.

    Raises
    ------
    ValueError
        If ``A`` is not a finite, non-empty 2-D matrix or ``seed_scale`` is not
        a finite number > 0 (``bool`` refused).
    """
    from .bilinear import BilinearGame

    A = torch.as_tensor(np.asarray(A, dtype=np.float64), dtype=dtype)
    if A.ndim != 2 or A.numel() == 0 or not bool(torch.isfinite(A).all()):
        raise ValueError(f"A must be a finite, non-empty 2-D matrix (n_x, n_y), got shape {tuple(A.shape)}")
    seed_scale = check_positive(seed_scale, "seed_scale")
    nx, ny = A.shape
    J = torch.zeros(nx + ny, nx + ny, dtype=dtype)
    J[:nx, nx:] = A
    J[nx:, :nx] = -A.T

    def losses(z):
        value = z[:nx] @ A @ z[nx:]
        return torch.stack([value, -value])

    def fast_field(Z):          # v_x = A y, v_y = -A^T x, as the object game's autograd computes them
        return torch.cat([Z[:, nx:] @ A.T, -(Z[:, :nx] @ A)], dim=1)

    def fast_jacobian(Z):
        return J.expand(Z.shape[0], nx + ny, nx + ny)

    def initial_point(seed):
        gen = torch.Generator().manual_seed(check_int(seed, "seed", low=0))
        x0 = torch.randn(nx, generator=gen, dtype=torch.float64)
        y0 = torch.randn(ny, generator=gen, dtype=torch.float64)
        return seed_scale * torch.cat([x0, y0]).to(dtype)

    def make_game(z):
        z = torch.as_tensor(z, dtype=dtype)
        return BilinearGame(A, x0=z[:nx].clone(), y0=z[nx:].clone(), dtype=dtype)

    return FunctionalGame(losses, (nx, ny), name=f"bilinear {nx}x{ny}", player_names=("x", "y"),
                          equilibrium=torch.zeros(nx + ny, dtype=dtype), zero_sum=True, n_tensors=2,
                          initial_point=initial_point, make_game=make_game, fast_field=fast_field,
                          fast_jacobian=fast_jacobian, dtype=dtype)


# ------------------------------------------------------------------ Dirac-GAN closed forms
def _sig(s):
    return torch.sigmoid(s)


# (g', g'', h', h'') of each library loss as functions of the fake score s (g: discriminator's fake term, h: generator)
def _loss_derivatives(name):
    if name == "minimax":        # g = h = log(1 - sigma(s)): g' = -sigma(s), g'' = -sigma(s) sigma(-s)
        d1 = lambda s: -_sig(s)
        d2 = lambda s: -_sig(s) * _sig(-s)
        return d1, d2, d1, d2
    if name == "non_saturating":  # h = -log sigma(s): h' = -sigma(-s), h'' = sigma(s) sigma(-s)
        return (lambda s: -_sig(s), lambda s: -_sig(s) * _sig(-s), lambda s: -_sig(-s), lambda s: _sig(s) * _sig(-s))
    if name == "wasserstein":     # g = h = -s
        one = lambda s: -torch.ones_like(s)
        zero = lambda s: torch.zeros_like(s)
        return one, zero, one, zero
    if name == "hinge":           # g = -relu(1 + s) (relu'(0) = 0, as autograd), h = -s
        return (lambda s: -(s > -1).to(s.dtype), lambda s: torch.zeros_like(s), lambda s: -torch.ones_like(s),
                lambda s: torch.zeros_like(s))
    if name == "least_squares":   # g = -s^2, h = (s - 1)^2
        return (lambda s: -2 * s, lambda s: -2 * torch.ones_like(s), lambda s: 2 * (s - 1), lambda s: 2 * torch.ones_like(s))
    return None


def _constant_weight(reg, name):
    from ..regularizers.schedules import ConstantSchedule

    if type(reg.schedule) is not ConstantSchedule:
        raise NotBatchableError(f"regulariser {name} has the schedule {reg.schedule!r}: a weight that changes with "
                                f"the step cannot be batched; use a constant weight, or dualgan.games.run_optimizer")
    return float(reg.schedule.weight)


def _dirac_regularizer_terms(regularizers):
    r"""For each regulariser of a Dirac-GAN: (R'(psi), R''(psi)) closed forms (all depend on psi only there).

    On the Dirac-GAN :math:`\nabla_x D(x) = \psi` at every x, so R1 and R2 are
    :math:`\tfrac{\gamma}{2}\psi^2` and the WGAN-GP / DRAGAN penalties are
    :math:`\lambda(|\psi| - k)^2` (one-sided: :math:`\lambda\max(|\psi| - k, 0)^2`),
    whatever points they sample; :math:`|\psi|` has derivative 0 at
    :math:`\psi = 0` (the library's safe norm). JS regulariser: no closed form here (None).
    """
    from ..regularizers import R1, R2, CoupledGradientPenalty, LocalGradientPenalty

    terms = []
    for reg in regularizers:
        kind = type(reg)
        if kind in (R1, R2):
            gamma = _constant_weight(reg, kind.__name__)
            terms.append((lambda p, g=gamma: g * p, lambda p, g=gamma: g * torch.ones_like(p)))
        elif kind in (CoupledGradientPenalty, LocalGradientPenalty):
            lam = _constant_weight(reg, kind.__name__)
            k, one_sided = reg.target, reg.one_sided

            def d1(p, lam=lam, k=k, one_sided=one_sided):
                excess = p.abs() - k
                if one_sided:
                    excess = excess.clamp(min=0.0)
                return 2 * lam * excess * torch.sign(p)

            def d2(p, lam=lam, k=k, one_sided=one_sided):
                active = (p != 0) & ((p.abs() > k) if one_sided else torch.ones_like(p, dtype=torch.bool))
                return torch.where(active, 2 * lam * torch.ones_like(p), torch.zeros_like(p))

            terms.append((d1, d2))
        else:
            return None
    return terms


class ClippedDiracGAN(DiracGAN):
    """A :class:`~dualgan.games.DiracGAN` whose discriminator weight is clipped to [-c, c] after every step (WGAN).

    Parameters
    ----------
    *args, **kwargs
        As :class:`~dualgan.games.DiracGAN`.
    clip_value : float
        The bound c > 0; :func:`dualgan.regularizers.clip_weights` is applied
        to the discriminator in :meth:`after_step`, which every optimiser calls
        after a complete step.
    """

    def __init__(self, *args, clip_value: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.clip_value = check_positive(clip_value, "clip_value")

    def after_step(self) -> None:
        """Clip the discriminator's weight to ``[-clip_value, clip_value]`` (after the parent's hook)."""
        super().after_step()
        clip_weights(self.discriminator, self.clip_value)


def dirac_functional(loss="minimax", regularizers=(), clip: float | None = None, init_low: float = 0.5,
                     init_high: float = 1.5, dtype=torch.float64) -> FunctionalGame:
    r"""The Dirac-GAN family as a :class:`FunctionalGame` (Mescheder, Geiger, Nowozin, ICML 2018).

    Data: a point mass at 0; generator: a point mass at :math:`\theta`;
    discriminator :math:`D(x) = \psi x`; :math:`z = (\theta, \psi)`, the order
    of :class:`~dualgan.games.DiracGAN`'s parameters. With the fake score
    :math:`s = \psi\theta` and the loss components (g, h) of
    :mod:`dualgan.losses` and regularisers :math:`R(\psi)`:

    .. math::
        v = \big(h'(s)\,\psi,\; -g'(s)\,\theta + R'(\psi)\big), \qquad
        J = \begin{pmatrix} h''(s)\psi^2 & h'(s) + h''(s) s \\
                            -g'(s) - g''(s) s & -g''(s)\theta^2 + R''(\psi) \end{pmatrix}.

    Parameters
    ----------
    loss : str or GANLoss, default "minimax"
        ``minimax``, ``non_saturating``, ``wasserstein``, ``hinge``,
        ``least_squares`` have closed forms; another :class:`~dualgan.losses.GANLoss`
        is handled by ``torch.func`` alone (slower).
    regularizers : sequence, default ()
        :class:`~dualgan.regularizers.R1`, :class:`~dualgan.regularizers.R2`,
        :class:`~dualgan.regularizers.CoupledGradientPenalty` (WGAN-GP),
        :class:`~dualgan.regularizers.LocalGradientPenalty` (DRAGAN) with
        constant weights (closed forms), :class:`~dualgan.regularizers.JSRegularizer`
        (``torch.func`` only). On the Dirac-GAN :math:`\nabla_x D = \psi`
        everywhere, so the penalties do not depend on the points they sample.
        WGAN-GP and DRAGAN with a target k > 0 are not differentiable at
        :math:`\psi = 0`: the game then sets ``no_local_analysis`` (no exact rate).
    clip : float, optional
        WGAN's weight clipping: :math:`\psi` is clipped to ``[-clip, clip]``
        after every step (object game: :class:`ClippedDiracGAN`).
    init_low, init_high : float, default 0.5, 1.5
        Seed ``s`` starts at ``init_low + (init_high - init_low) * U`` with
        ``U = torch.rand(2, generator=torch.Generator().manual_seed(s))``
        (the defaults are ``dualgan compare-optimizers --game dirac*``'s starts).
    dtype : torch.dtype, default torch.float64
        Floating-point type of the parameters and the arithmetic (float64 for correctness checks).

    Returns
    -------
    FunctionalGame
        With equilibrium (0, 0), ``zero_sum`` as the object game declares it,
        ``make_game(z)`` building the :class:`~dualgan.games.DiracGAN` at ``z``.

    Raises
    ------
    NotBatchableError
        A regulariser the functional form does not know, or one with a
        weight schedule that changes with the step.
    ValueError
        If ``clip`` is not None or a finite number > 0, or ``init_low`` /
        ``init_high`` are not finite numbers with ``init_low <= init_high``.
    """
    from ..losses import LOSSES, get_loss
    from ..regularizers import JSRegularizer

    loss_obj = get_loss(loss)
    if callable(regularizers):
        regularizers = [regularizers]
    regularizers = list(regularizers)
    clip = check_number(clip, "clip (WGAN's clipping bound)", low=0.0, low_open=True, allow_none=True)
    init_low = check_number(init_low, "init_low")
    init_high = check_number(init_high, "init_high")
    if init_low > init_high:
        raise ValueError(f"init_low must be <= init_high, got {init_low!r} > {init_high!r}; swap them")
    for reg in regularizers:
        if type(reg) is JSRegularizer:
            _constant_weight(reg, "JSRegularizer")
    terms = _dirac_regularizer_terms(regularizers)
    unknown = [type(r).__name__ for r in regularizers
               if type(r).__name__ not in ("R1", "R2", "CoupledGradientPenalty", "LocalGradientPenalty", "JSRegularizer")]
    if unknown:
        raise NotBatchableError(f"regulariser(s) {unknown} have no functional form; the batched runner knows R1, R2, "
                                f"CoupledGradientPenalty, LocalGradientPenalty and JSRegularizer; use "
                                f"dualgan.games.run_optimizer for the others")
    derivs = (_loss_derivatives(loss_obj.name) if loss_obj.name in LOSSES and LOSSES.get(loss_obj.name) is loss_obj
              else None)
    probe = DiracGAN(loss_obj, 1.0, 1.0, regularizers=regularizers, dtype=dtype)
    zero_sum = probe.zero_sum

    def losses(z):
        theta, psi = z[0], z[1]
        x_real = torch.zeros(1, 1, dtype=z.dtype)
        x_fake = theta.reshape(1, 1)
        score = lambda x: (x * psi).reshape(-1)
        s_real, s_fake = score(x_real), score(x_fake)
        loss_d = loss_obj.discriminator_loss(s_real, s_fake)
        for reg in regularizers:
            loss_d = loss_d + _functional_penalty(reg, score, x_real, x_fake)
        loss_g = loss_obj.generator_loss(s_fake)
        return torch.stack([loss_g.reshape(()), loss_d.reshape(())])

    fast_field = fast_jacobian = None
    if derivs is not None and terms is not None:
        g1, g2, h1, h2 = derivs

        def fast_field(Z):
            theta, psi = Z[:, 0], Z[:, 1]
            s = psi * theta
            v_psi = -g1(s) * theta
            for d1, _ in terms:
                v_psi = v_psi + d1(psi)
            return torch.stack([h1(s) * psi, v_psi], dim=1)

        def fast_jacobian(Z):
            theta, psi = Z[:, 0], Z[:, 1]
            s = psi * theta
            hs1, hs2, gs1, gs2 = h1(s), h2(s), g1(s), g2(s)
            j_pp = -gs2 * theta * theta
            for _, d2 in terms:
                j_pp = j_pp + d2(psi)
            row0 = torch.stack([hs2 * psi * psi, hs1 + hs2 * s], dim=1)
            row1 = torch.stack([-gs1 - gs2 * s, j_pp], dim=1)
            return torch.stack([row0, row1], dim=1)

    project = None
    if clip is not None:
        c = float(clip)

        def project(Z):
            return torch.cat([Z[:, :1], Z[:, 1:].clamp(-c, c)], dim=1)

    lo, hi = float(init_low), float(init_high)

    def initial_point(seed):
        gen = torch.Generator().manual_seed(check_int(seed, "seed", low=0))
        u = torch.rand(2, generator=gen, dtype=torch.float64)
        return (u * (hi - lo) + lo).to(dtype)

    def make_game(z):
        z = [float(t) for t in torch.as_tensor(z).reshape(-1)]
        if clip is None:
            return DiracGAN(loss_obj, theta0=z[0], psi0=z[1], regularizers=regularizers, dtype=dtype)
        return ClippedDiracGAN(loss_obj, theta0=z[0], psi0=z[1], regularizers=regularizers, dtype=dtype,
                                      clip_value=float(clip))

    nonsmooth = [type(r).__name__ for r in regularizers
                 if type(r).__name__ in ("CoupledGradientPenalty", "LocalGradientPenalty") and r.target > 0]
    no_local = (f"{'+'.join(nonsmooth)} penalises (|psi| - k)^2, not differentiable at psi = 0: the origin is "
                f"stationary only by the safe norm's derivative 0 there" if nonsmooth else None)
    reg_names = "+".join(type(r).__name__ for r in regularizers)
    name = f"dirac {loss_obj.name}" + (f" + {reg_names}" if reg_names else "") + (f" clip {clip:g}" if clip else "")
    return FunctionalGame(losses, (1, 1), name=name, player_names=("generator", "discriminator"),
                          equilibrium=torch.zeros(2, dtype=dtype), zero_sum=zero_sum, n_tensors=2,
                          initial_point=initial_point, make_game=make_game, fast_field=fast_field,
                          fast_jacobian=fast_jacobian, project=project, dtype=dtype, no_local_analysis=no_local)


def _functional_penalty(reg, score, x_real, x_fake):
    r"""A penalty of :mod:`dualgan.regularizers` as a pure function (input gradients by ``torch.func.grad``).

    Only for the Dirac-GAN: :math:`\nabla_x D` does not depend on x there, so
    the sampled points of WGAN-GP and DRAGAN are replaced by the real point.
    """
    from ..regularizers import R1, R2, CoupledGradientPenalty, JSRegularizer, LocalGradientPenalty

    def input_grad(x):
        return torch.func.grad(lambda xx: score(xx).sum())(x)

    kind = type(reg)
    if kind is JSRegularizer:
        w = 0.5 * _constant_weight(reg, "JSRegularizer")
        gr, gf = input_grad(x_real), input_grad(x_fake)
        sr, sf = score(x_real), score(x_fake)
        term_r = torch.sigmoid(-sr).pow(2) * gr.flatten(1).pow(2).sum(dim=1)
        term_f = torch.sigmoid(sf).pow(2) * gf.flatten(1).pow(2).sum(dim=1)
        return w * (term_r.mean() + term_f.mean())
    if kind in (R1, R2):
        w = 0.5 * _constant_weight(reg, kind.__name__)
        g = input_grad(x_real if kind is R1 else x_fake)
        return w * g.flatten(1).pow(2).sum(dim=1).mean()
    if kind in (CoupledGradientPenalty, LocalGradientPenalty):
        w = _constant_weight(reg, kind.__name__)
        g = input_grad(x_real).flatten(1)
        sq = g.pow(2).sum(dim=1)
        zero = sq == 0
        norm = torch.where(zero, torch.zeros_like(sq), torch.where(zero, torch.ones_like(sq), sq).sqrt())
        excess = norm - reg.target
        if reg.one_sided:
            excess = excess.clamp(min=0.0)
        return w * (excess ** 2).mean()
    raise NotBatchableError(f"regulariser {kind.__name__} has no functional form")  # pragma: no cover


def mixture_functional(mixture, loss="minimax", hidden: int = 8, depth: int = 2, latent_dim: int = 2,
                       batch_size: int = 32, regularizers=(), dtype=torch.float64) -> FunctionalGame:
    r"""A small :class:`~dualgan.games.MixtureGAN` as a :class:`FunctionalGame` (``torch.func.functional_call``).

    The losses are those of :class:`~dualgan.games.GANGame` on one batch,
    computed by ``torch.func.functional_call`` of the MixtureGAN's own
    generator and discriminator with the parameters taken from the flat
    vector (generator first, in ``named_parameters`` order). Every step draws
    a batch (real samples, then latent codes) from each seed's
    ``torch.Generator().manual_seed(seed)``, exactly as ``MixtureGAN(seed=seed)``
    resamples before every step of the per-run harness; seed ``s`` starts at
    that game's initial weights. Meant for small widths: every cell carries
    its own copy of the weights and CGD forms the dense Jacobian (at most 256 parameters).

    Parameters
    ----------
    mixture : dualgan.data.GaussianMixture
        The data (e.g. ``dualgan.data.ring(4)``).
    loss : str or GANLoss, default "minimax"
        The GAN loss (:func:`dualgan.losses.get_loss`).
    hidden, depth, latent_dim, batch_size : int, default 8, 2, 2, 32
        As :class:`~dualgan.games.MixtureGAN`.
    regularizers : sequence, default ()
        :class:`~dualgan.regularizers.R1`, :class:`~dualgan.regularizers.R2`,
        :class:`~dualgan.regularizers.JSRegularizer` with constant weights
        (input gradients by ``torch.func.grad``).
    dtype : torch.dtype, default torch.float64
        Floating-point type of the parameters and the arithmetic (float64 for correctness checks).

    Returns
    -------
    FunctionalGame
        With :attr:`FunctionalGame.sample_batch`, no equilibrium (distances and
        rates are NaN; the map reports :math:`\|v\|` and divergence), and
        ``make_game(z, seed=0)`` building the ``MixtureGAN(seed=seed)`` at ``z``.

    Raises
    ------
    NotBatchableError
        WGAN-GP, DRAGAN (they draw random points every step) or any other regulariser.
    """
    from ..losses import get_loss
    from ..regularizers import R1, R2, JSRegularizer
    from .gan import MixtureGAN

    loss_obj = get_loss(loss)
    if callable(regularizers):
        regularizers = [regularizers]
    regularizers = list(regularizers)
    for reg in regularizers:
        if type(reg) not in (R1, R2, JSRegularizer):
            raise NotBatchableError(f"regulariser {type(reg).__name__} cannot be batched on a MixtureGAN (the batched "
                                    f"runner knows R1, R2 and JSRegularizer there); use dualgan.games.run_optimizer")
        _constant_weight(reg, type(reg).__name__)

    def build(seed):
        return MixtureGAN(mixture, loss_obj, hidden=hidden, depth=depth, latent_dim=latent_dim,
                          batch_size=batch_size, regularizers=regularizers, seed=seed, dtype=dtype)

    probe = build(0)
    gen_mod, disc_mod = probe.generator, probe.discriminator
    g_items = [(name, tuple(p.shape), p.numel()) for name, p in gen_mod.named_parameters()]
    d_items = [(name, tuple(p.shape), p.numel()) for name, p in disc_mod.named_parameters()]
    n_g = sum(k for _, _, k in g_items)
    n_d = sum(k for _, _, k in d_items)

    def split(flat, items):
        out, start = {}, 0
        for name, shape, k in items:
            out[name] = flat[start:start + k].reshape(shape)
            start += k
        return out

    def losses(z, x_real, z_latent):
        pg, pd = split(z[:n_g], g_items), split(z[n_g:], d_items)
        x_fake = torch.func.functional_call(gen_mod, pg, (z_latent,))
        score = lambda x: torch.func.functional_call(disc_mod, pd, (x,))
        s_real, s_fake = score(x_real), score(x_fake)
        loss_d = loss_obj.discriminator_loss(s_real, s_fake)
        for reg in regularizers:
            loss_d = loss_d + _functional_penalty(reg, score, x_real, x_fake)
        loss_g = loss_obj.generator_loss(s_fake)
        return torch.stack([loss_g.reshape(()), loss_d.reshape(())])

    def sample_batch(gen):
        x = mixture.sample(batch_size, generator=gen, dtype=torch.float64)
        zl = torch.randn(batch_size, latent_dim, generator=gen, dtype=torch.float64)
        return x, zl

    def make_game(z, seed=0):
        game = build(seed)
        game.set_flat(torch.as_tensor(z, dtype=dtype))
        return game

    reg_names = "+".join(type(r).__name__ for r in regularizers)
    name = f"mixture GAN {loss_obj.name} width {hidden} depth {depth}" + (f" + {reg_names}" if reg_names else "")
    return FunctionalGame(losses, (n_g, n_d), name=name, player_names=("generator", "discriminator"),
                          zero_sum=probe.zero_sum, n_tensors=len(probe.parameters),
                          initial_point=lambda seed: build(seed).get_flat(), make_game=make_game, dtype=dtype,
                          sample_batch=sample_batch)


def as_functional(game) -> FunctionalGame:
    """The functional form of a built-in object game, or a :class:`NotBatchableError` naming what blocks it.

    Parameters
    ----------
    game : dualgan.games.Game or FunctionalGame
        :class:`~dualgan.games.BilinearGame` (its A; its current point is
        seed 0's start only if it was built with seed 0) or
        :class:`~dualgan.games.DiracGAN` (its loss and regularisers). A
        :class:`FunctionalGame` is returned as it is.

    Returns
    -------
    FunctionalGame

    Raises
    ------
    NotBatchableError
        Any other game (a GAN with a changing batch such as
        :class:`~dualgan.games.MixtureGAN`, a constraint handler, a custom
        :class:`~dualgan.games.Game`): write its losses as a pure function and
        build a :class:`FunctionalGame`, or run it with :func:`dualgan.games.run_optimizer`.
    """
    from .bilinear import BilinearGame
    from .gan import MixtureGAN

    if isinstance(game, FunctionalGame):
        return game
    if type(game) is BilinearGame:
        return bilinear_functional(game.A.detach().cpu().numpy(), dtype=game.A.dtype)
    if type(game) in (DiracGAN, ClippedDiracGAN):
        if game.constraint is not None:
            raise NotBatchableError("a DiracGAN with a constraint handler cannot be batched (its penalty and update "
                                    "are object code); use dualgan.games.run_optimizer")
        return dirac_functional(game.loss, game.regularizers, clip=getattr(game, "clip_value", None),
                                dtype=game.dtype)
    if isinstance(game, MixtureGAN):
        raise NotBatchableError("MixtureGAN: its widths and depth are not recorded on the object; build its "
                                "functional form with dualgan.games.mixture_functional(mixture, hidden=..., "
                                "depth=..., ...) (small widths), or use dualgan.games.run_optimizer")
    from .game import Game

    if isinstance(game, Game) and type(game).after_step is Game.after_step and getattr(game, "equilibrium", None) \
            is not None:
        return _object_functional(game)
    raise NotBatchableError(f"game {type(game).__name__} has no functional form: declare its equilibrium (the "
                            f"attribute equilibrium, a flat tensor with v = 0) on a game without after_step to run "
                            f"it as it is, build a dualgan.games.FunctionalGame(losses, player_sizes) from its "
                            f"losses as a pure function of the stacked parameters, or use dualgan.games.run_optimizer")


class _ObjectFunctionalGame(FunctionalGame):
    """An object game behind the FunctionalGame interface: the Jacobian at a point is the object game's."""

    def jacobian_at(self, z=None):
        z = self.equilibrium if z is None else torch.as_tensor(z, dtype=self.dtype).reshape(-1)
        return self.fast_jacobian(z.unsqueeze(0))[0]


def _object_functional(game) -> FunctionalGame:
    """A custom deterministic :class:`~dualgan.games.Game` that declares ``equilibrium``, evaluated row by row.

    Each cell is the object game at that cell's parameters (set, evaluated, put back): its field by
    autograd, its Jacobian by one vector-Jacobian product per coordinate.
    """
    from .optimizers.base import _ObjectPoint

    def rows(Z, read):
        saved = game.get_values()
        try:
            out = []
            for z in Z:
                game.set_flat(z)
                out.append(read(_ObjectPoint(game)))
            return torch.stack(out)
        finally:
            game.set_values(saved)

    def losses(z):          # not differentiable by torch.func: the fast forms above serve every batched read
        return rows(z.unsqueeze(0), lambda point: torch.tensor(point.losses, dtype=z.dtype))[0]

    sizes = tuple(sum(t.numel() for t in p.parameters) for p in game.players)
    return _ObjectFunctionalGame(losses, sizes, name=type(game).__name__,
                                 player_names=tuple(p.name for p in game.players),
                                 equilibrium=torch.as_tensor(game.equilibrium, dtype=game.dtype).reshape(-1),
                                 zero_sum=game.zero_sum, n_tensors=len(game.parameters), dtype=game.dtype,
                                 fast_field=lambda Z: rows(Z, lambda point: point.v[0]),
                                 fast_jacobian=lambda Z: rows(Z, lambda point: point.J[0]))


# ============================================================================================ base optimisers
@dataclass(frozen=True)
class FunctionalBase:
    """A base optimiser on batched tensors: ``init(Z) -> state``, ``step(Z, G, lr, state, mask) -> (Z, state)``.

    Built by :func:`functional_base`; its update rule is the one registered
    with the base optimiser in :data:`~dualgan.games.optimizers.BASE_OPTIMIZERS`.

    Parameters
    ----------
    name : str
        A name of ``BASE_OPTIMIZERS.names(batchable=True)`` (``"sgd"``, ``"adam"``, ``"rmsprop"``).
    options : dict
        Its keyword arguments with the torch defaults filled in.

    Notes
    -----
    ``lr`` is a ``(B, 1)`` tensor (one step size per cell); ``mask`` a
    ``(n,)`` boolean tensor of the coordinates that move (None: all). State
    counters (Adam's step) are per coordinate and shared by the batch: every
    cell takes the same sequence of masks.
    """

    name: str
    options: dict

    @property
    def is_plain_sgd(self) -> bool:
        """True for SGD without momentum, weight decay or maximize: the base of the exact local maps."""
        o = self.options
        return self.name == "sgd" and o["momentum"] == 0 and o["weight_decay"] == 0 and not o["maximize"]

    def init(self, Z: torch.Tensor) -> dict:
        """The zero state for iterates ``Z`` of shape ``(B, n)``: the rule's tensors and each coordinate's step count.

        Parameters
        ----------
        Z : torch.Tensor
            The initial iterates, shape ``(B, n)``.

        Returns
        -------
        dict
            Tensors of ``Z``'s shape and ``"count"`` (``(n,)`` int64 zeros).
        """
        state = dict(BASE_OPTIMIZERS.entry(self.name).batched_init(Z, self.options))
        state["count"] = torch.zeros(Z.shape[1], dtype=torch.long)
        return state

    def step(self, Z, G, lr, state, mask=None):
        """One step of the base optimiser on every row of ``Z`` along the gradients ``G``.

        Parameters
        ----------
        Z, G : torch.Tensor
            Iterates and the gradients handed to the optimiser, shape ``(B, n)``.
        lr : torch.Tensor
            Step sizes, shape ``(B, 1)``.
        state : dict
            The state of :meth:`init` or of the previous call.
        mask : torch.Tensor, optional
            ``(n,)`` bool: the coordinates that move; the others keep their
            values and their state. Default None: all move.

        Returns
        -------
        tuple of (torch.Tensor, dict)
            The new iterates and the new state.
        """
        o = self.options
        sel = None if mask is None else mask.unsqueeze(0)
        count = state["count"] + (1 if mask is None else mask.long())
        if o.get("maximize", False):
            G = -G
        if o.get("weight_decay", 0) != 0:
            G = G + o["weight_decay"] * Z
        Zn, changed = BASE_OPTIMIZERS.entry(self.name).batched_step(Z, G, lr, state, count, o)
        new = dict(state, count=count)
        for key, value in changed.items():
            new[key] = value if sel is None else torch.where(sel, value, state[key])
        if sel is not None:
            Zn = torch.where(sel, Zn, Z)
        return Zn, new


def functional_base(base="sgd", base_kwargs: dict | None = None) -> FunctionalBase:
    """The batched form of a base optimiser, or a :class:`NotBatchableError` naming it.

    Parameters
    ----------
    base : str, default "sgd"
        A name of ``BASE_OPTIMIZERS.names(batchable=True)``: ``"sgd"`` (plain,
        momentum, Nesterov), ``"adam"``, ``"rmsprop"`` (case-insensitive). A
        callable base (any ``torch.optim.Optimizer`` factory) cannot be batched.
    base_kwargs : dict, optional
        Keyword arguments as for ``torch.optim.SGD`` / ``Adam`` / ``RMSprop``:
        sgd ``momentum, dampening, nesterov, weight_decay, maximize``; adam
        ``betas, eps, weight_decay, amsgrad, maximize``; rmsprop ``alpha, eps,
        weight_decay, momentum, centered, maximize``. Default None: none.

    Returns
    -------
    FunctionalBase

    Raises
    ------
    NotBatchableError
        A callable base, a name without a batched rule, or a keyword the batched rule does not implement.
    ValueError
        A keyword value the torch optimiser refuses.
    """
    if callable(base) and not isinstance(base, str):
        raise NotBatchableError(f"base optimiser {getattr(base, '__name__', type(base).__name__)!r} is a callable; "
                                f"only {BASE_OPTIMIZERS.names(batchable=True)} are written on batched tensors. Use "
                                f"dualgan.games.run_optimizer for it")
    batchable = BASE_OPTIMIZERS.names(batchable=True)
    if not isinstance(base, str) or base.lower() not in batchable:
        raise NotBatchableError(f"base optimiser {base!r} cannot be batched; choose one of {batchable}")
    name = base.lower()
    defaults = BASE_OPTIMIZERS.entry(name).defaults
    kwargs = dict(base_kwargs or {})
    unknown = sorted(set(kwargs) - set(defaults))
    if unknown:
        raise NotBatchableError(f"base optimiser {name!r}: keyword(s) {unknown} are not implemented on batched "
                                f"tensors (known: {sorted(defaults)}); use dualgan.games.run_optimizer")
    BASE_OPTIMIZERS.get(name)([torch.zeros(1, requires_grad=True)], 0.1, **kwargs)     # torch validates the values
    return FunctionalBase(name, dict(defaults, **kwargs))


# ============================================================================================ batched runs
@dataclass(frozen=True)
class BatchedRun:
    r"""One optimiser run on a batch of cells (seeds x hyper-parameters), all in one loop.

    Attributes
    ----------
    optimizer : str
        Optimiser name.
    base : str
        Base optimiser name.
    lr : ndarray of shape (B,)
        Each cell's step size.
    coefficient : ndarray of shape (B,)
        Each cell's coefficient of the method (NaN where the method has none).
    final_params : ndarray of shape (B, n)
        The last iterate (the last finite one for a diverged cell).
    initial_distance : ndarray of shape (B,)
        :math:`\|z_0 - z^*\|_2` (NaN if the game has no equilibrium).
    final_distance : ndarray of shape (B,)
        :math:`\|z_T - z^*\|_2` at the last iterate (NaN if the game has no equilibrium).
    final_field_norm : ndarray of shape (B,)
        :math:`\|v\|_2` at the last iterate.
    measured_rate : ndarray of shape (B,)
        :math:`\exp` of the least-squares slope of :math:`\log\|z_t - z^*\|`
        over the last ``rate_window`` fraction of the run (steps where the
        distance is above ``1e-200``); if fewer than two such steps remain
        there (a cell that reached 1e-200 early), the end-to-end rate
        :math:`(d_t / d_0)^{1/t}` up to the last step t above 1e-200; NaN for
        diverged cells and cells that never left their start point.
    diverged : ndarray of bool, shape (B,)
        The field, direction or iterate stopped being finite, or
        :math:`\|v\|` or the distance passed ``diverge_above``.
    diverged_at : ndarray of int, shape (B,)
        The step at which a cell was flagged (-1: never).
    steps : int
        Steps taken.
    seconds : float
        Wall time of the loop.
    trajectory : ndarray of shape (steps + 1, B, n) or None
        Every iterate, if recorded.
    """

    optimizer: str
    base: str
    lr: np.ndarray
    coefficient: np.ndarray
    final_params: np.ndarray
    initial_distance: np.ndarray
    final_distance: np.ndarray
    final_field_norm: np.ndarray
    measured_rate: np.ndarray
    diverged: np.ndarray
    diverged_at: np.ndarray
    steps: int
    seconds: float
    trajectory: np.ndarray | None = None

    @property
    def converged(self) -> np.ndarray:
        """Cells that did not diverge, whose measured rate is below 1 and that ended closer than they started."""
        with np.errstate(invalid="ignore"):
            return (~self.diverged) & (self.measured_rate < 1) & (self.final_distance < self.initial_distance)


def _as_batch(values, B, name, dtype, allow_none=False):
    if values is None:
        if allow_none:
            return None
        raise ValueError(f"{name} is required")
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be a real number or an array of real numbers (one per cell), got dtype "
                         f"{arr.dtype}")
    t = torch.as_tensor(arr.astype(np.float64), dtype=dtype).reshape(-1)
    if t.numel() == 1:
        t = t.expand(B).clone()
    if t.shape != (B,):
        raise ValueError(f"{name} must be a scalar or have one value per cell ({B}), got {t.numel()} values")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite")
    return t


def _batched_optimizer(name, options) -> GameOptimizer:
    """The optimiser ``name`` built with ``options`` (the per-cell ones excluded), if it can be batched."""
    batchable = OPTIMIZERS.names(batchable=True)
    if not isinstance(name, str) or name not in batchable:
        raise NotBatchableError(f"optimiser {name!r} cannot be batched; the batched runner knows {batchable} (use "
                                f"dualgan.games.run_optimizer for others)")
    options = OPTIMIZERS.check_options(name, options)
    coef_name = OPTIMIZERS.entry(name).info.get("coefficient")
    per_cell = sorted(set(options) & {"lr", "base", "base_kwargs", coef_name})
    if per_cell:
        raise ValueError(f"options {per_cell} of {name!r} are per run or per cell here: pass lr=, base=, "
                         f"base_kwargs= and coefficient= ({coef_name}) instead of options")
    return OPTIMIZERS.get(name)(**options)


def _coefficient_default(name) -> float | None:
    """The default of the optimiser's coefficient option (None: it has none)."""
    coef_name = OPTIMIZERS.entry(name).info.get("coefficient")
    return None if coef_name is None else float(OPTIMIZERS.options(name)[coef_name])


def _check_coefficients(name, values, options) -> None:
    """Each distinct coefficient value must be accepted by the optimiser's constructor (its own range check)."""
    coef_name = OPTIMIZERS.entry(name).info.get("coefficient")
    for value in np.unique(np.asarray(values, dtype=np.float64)):
        try:
            OPTIMIZERS.get(name)(**dict(options or {}), **{coef_name: float(value)})
        except ValueError as exc:
            raise ValueError(f"coefficient ({name}'s {coef_name}) {float(value)!r} is refused: {exc}") from exc


@with_thread_policy  # torch and BLAS threads: the library's one policy (dualgan/_threads.py)
def batched_run(game: FunctionalGame, optimizer: str, z0, lr, coefficient=None, n_steps: int = 1000, *,
                options: dict | None = None, base="sgd", base_kwargs: dict | None = None,
                diverge_above: float = 1e12, rate_window: float = 0.5, record_trajectory: bool = False,
                progress: bool = False, seeds=None) -> BatchedRun:
    r"""Run ``optimizer`` on every row of ``z0`` at once, each row with its own step size and coefficient.

    Every step is the optimiser's :meth:`~dualgan.games.GameOptimizer.batched_step`:
    the update rule of the library's optimiser object
    (:mod:`dualgan.games.optimizers`) with the same base optimiser, applied to
    all cells with batched tensor arithmetic. The optimisers registered with
    ``batchable=True`` (``OPTIMIZERS.names(batchable=True)``): simultaneous and
    alternating GD, consensus optimisation (Mescheder, Nowozin, Geiger, "The
    Numerics of GANs", NeurIPS 2017), extragradient (Korpelevich 1976),
    optimistic GD (Daskalakis et al., "Training GANs with Optimism", ICLR
    2018), SGA with sign alignment (Balduzzi et al., "The Mechanics of
    n-Player Differentiable Games", ICML 2018) and competitive GD (Schaefer &
    Anandkumar, "Competitive Gradient Descent", NeurIPS 2019; dense solve of
    its linear system). Eqs. (3.3)-(3.10) of the theory page.

    Parameters
    ----------
    game : FunctionalGame
        The game (:func:`as_functional` converts the built-in object games).
    optimizer : str
        A name of ``OPTIMIZERS.names(batchable=True)``.
    z0 : tensor or array of shape (B, n)
        Initial points, one per cell.
    lr : float or array of shape (B,)
        Step sizes :math:`h > 0`.
    coefficient : float or array of shape (B,), optional
        The value of the optimiser's coefficient option per cell (the option
        named at its registration, ``OPTIMIZERS.entry(optimizer).info.get("coefficient")``:
        consensus' ``gamma``, SGA's ``lam``, extragradient's ``extrapolation``),
        checked by the optimiser's constructor; ignored by optimisers without
        one. Default None: the option's default (1 for each of those).
    n_steps : int, default 1000
        Steps per cell.
    options : dict, optional
        The optimiser's other options (``OPTIMIZERS.options(optimizer)``, e.g.
        SGA's ``{"align": False}`` or ``{"eps": 0.05}``), the same for every
        cell; not ``lr``, ``base``, ``base_kwargs`` or the coefficient.
        Default None: the defaults.
    base : str, default "sgd"
        Base optimiser (:func:`functional_base`).
    base_kwargs : dict, optional
        Its keyword arguments (:func:`functional_base`).
    diverge_above : float, default 1e12
        A cell whose :math:`\|v\|` or distance passes this is flagged and frozen.
    rate_window : float in (0, 1], default 0.5
        Fraction of the run (at its end) over which the rate is measured.
    record_trajectory : bool, default False
        Keep every iterate (memory ``(n_steps + 1) * B * n`` numbers).
    progress : bool, default False
        A tqdm bar over the steps.
    seeds : sequence of int of length B, optional
        Games that draw a batch every step (:attr:`FunctionalGame.sample_batch`,
        e.g. :func:`mixture_functional`): each cell's seed; the cells of one
        seed share that seed's stream of batches (``torch.Generator().manual_seed(seed)``,
        one batch per step, every field evaluation of a step on it), as
        the per-run harness resamples the object game before every step.
        Required for such games, ignored by the others.

    Returns
    -------
    BatchedRun

    Notes
    -----
    During the loop denormal numbers are flushed to zero
    (``torch.set_flush_denormal(True)``: a converging cell would otherwise
    slow every step down once its distance passes 1e-308) and flushing is
    switched off afterwards; batches of up to a million numbers run on one
    torch thread (restored afterwards). The losses are not evaluated, only
    the field: a NaN loss with a finite gradient is not flagged.

    Raises
    ------
    NotBatchableError
        An optimiser not registered as batchable, a base that cannot be
        batched, a game the optimiser cannot run batched (competitive GD on a
        game that is not two-player or too large for a dense Jacobian).
    ValueError
        Bad shapes or values, unknown options or a coefficient the optimiser
        refuses (the message names the argument).
    """
    if not isinstance(game, FunctionalGame):
        game = as_functional(game)
    opt = _batched_optimizer(optimizer, options)
    fbase = functional_base(base, base_kwargs)
    n_steps = check_int(n_steps, "n_steps", low=1)
    rate_window = check_number(rate_window, "rate_window", low=0.0, high=1.0, low_open=True)
    diverge_above = check_number(diverge_above, "diverge_above", low=0.0, low_open=True, allow_inf=True)
    dt = game.dtype
    Z = torch.as_tensor(np.asarray(z0, dtype=np.float64) if not isinstance(z0, torch.Tensor) else z0).to(dt)
    if Z.ndim != 2 or Z.shape[1] != game.n or Z.shape[0] < 1:
        raise ValueError(f"z0 must have shape (B, {game.n}) (one initial point per cell), got {tuple(Z.shape)}")
    if Z.device.type != "cpu":
        raise ValueError(f"z0 is on {Z.device}; the batched runner runs on the CPU (its cost is per-step overhead, "
                         f"not arithmetic): pass z0.cpu()")
    if not bool(torch.isfinite(Z).all()):
        raise ValueError("z0 must be finite")
    Z = Z.clone()
    B = Z.shape[0]
    h = _as_batch(lr, B, "lr", dt)
    if not bool((h > 0).all()):
        raise ValueError("lr must be > 0 in every cell")
    default = _coefficient_default(optimizer)
    if default is None:
        c = None
    else:
        c = _as_batch(default if coefficient is None else coefficient, B, "coefficient", dt)
        _check_coefficients(optimizer, c.double().numpy(), options)
    H = h.unsqueeze(1)
    C = None if c is None else c.unsqueeze(1)
    eq = game.equilibrium

    def dist(X):
        return _rownorm(X - eq) if eq is not None else torch.full((X.shape[0],), float("nan"), dtype=dt)

    samplers = seed_index = None
    if game.sample_batch is not None:
        if seeds is None:
            raise ValueError(f"game {game.name!r} draws a batch every step: pass seeds=(one seed per cell), the "
                             f"seed of each cell's batch stream")
        cell_seeds = [check_int(v, f"seeds[{i}]", low=0) for i, v in enumerate(np.asarray(seeds).reshape(-1))]
        if len(cell_seeds) != B:
            raise ValueError(f"seeds must give one seed per cell ({B}), got {len(cell_seeds)}")
        unique = sorted(set(cell_seeds))
        samplers = [torch.Generator().manual_seed(u) for u in unique]
        seed_index = torch.tensor([unique.index(v) for v in cell_seeds], dtype=torch.long)
    memory = opt.batched_init(game, Z)
    state = fbase.init(Z)

    def move(Zc, D, lr_cells, mask=None):
        nonlocal state
        Zn, state = fbase.step(Zc, D, lr_cells, state, mask)
        return Zn

    active = torch.ones(B, dtype=torch.bool)
    diverged_at = torch.full((B,), -1, dtype=torch.long)
    d0 = dist(Z)
    t0 = int(math.floor(n_steps * (1 - float(rate_window))))
    acc = {k: torch.zeros(B, dtype=torch.float64) for k in ("n", "t", "tt", "y", "ty")}
    last_d, last_t = d0.to(torch.float64).clone(), torch.zeros(B, dtype=torch.long)   # fallback: end-to-end rate
    traj = [Z.clone()] if record_trajectory else None
    floor = 1e-200
    iterator = range(1, n_steps + 1)
    if progress:
        from .._io import progress_bar

        iterator = progress_bar(iterator, desc=f"{optimizer} x {B} cells", leave=False)
    flush = torch.set_flush_denormal(True)
    start = time.perf_counter()
    try:
        for t in iterator:
            data = _draw(game, samplers, seed_index) if samplers is not None else ()
            p = BatchedPoint(game, Z, data)
            V = p.v
            # a non-finite field or direction reaches Zn (checked below); a step that can fail otherwise says so
            Zn, memory, finite = opt.batched_step(p, H, C, move, memory)
            if game.project is not None:
                Zn = game.project(Zn)
            vnorm = _rownorm(V)
            dn = dist(Zn)
            # a NaN or an infinity in v, in the direction or in the look-ahead reaches Zn (IEEE arithmetic:
            # the base steps and the clipping propagate it), so the field norm and the new iterate decide
            good = vnorm <= diverge_above
            good &= (dn <= diverge_above) if eq is not None else torch.isfinite(Zn).all(dim=1)
            if finite is not None:
                good &= finite
            newly = active & ~good
            diverged_at = torch.where(newly, t, diverged_at)
            active = active & good
            Z = torch.where(active.unsqueeze(1), Zn, Z)
            if eq is not None:
                ok_pt = active & (dn > floor)
                if t > t0:
                    y = torch.log(torch.where(ok_pt, dn, 1.0))
                    w = ok_pt.to(torch.float64)
                    tt = float(t - t0)
                    acc["n"] += w
                    acc["t"] += w * tt
                    acc["tt"] += w * (tt * tt)
                    wy = w * y
                    acc["y"] += wy
                    acc["ty"] += wy * tt
                last_d = torch.where(ok_pt, dn, last_d)
                last_t = torch.where(ok_pt, t, last_t)
            if record_trajectory:
                traj.append(Z.clone())
            if not bool(active.any()):
                break
    finally:
        torch.set_flush_denormal(False)
    seconds = time.perf_counter() - start
    del flush
    if samplers is not None:       # ||v|| at the last iterate on one more batch of each seed's stream
        data = _draw(game, samplers, seed_index)
    final_v = game.field(Z, data if samplers is not None else ()).norm(dim=1)
    rate = _slope_rate(acc)
    with np.errstate(all="ignore"):
        rate_all = torch.where(last_t > 0, (last_d / d0.to(torch.float64)) ** (1.0 / last_t.clamp(min=1)),
                               torch.full_like(rate, float("nan")))
    rate = torch.where(torch.isnan(rate), rate_all, rate)
    rate = torch.where(active, rate, torch.full_like(rate, float("nan")))
    coef_out = np.full(B, np.nan) if c is None else c.double().numpy()
    return BatchedRun(optimizer, fbase.name, h.double().numpy(), coef_out, Z.double().numpy(), d0.double().numpy(),
                      dist(Z).double().numpy(), final_v.double().numpy(), rate.numpy(), (~active).numpy(),
                      diverged_at.numpy(), t, seconds,
                      torch.stack(traj).double().numpy() if record_trajectory else None)


def _draw(game, samplers, seed_index):
    """One batch per seed stream, gathered to the cells: a tuple of (B, ...) tensors in the game's dtype."""
    per_seed = [tuple(torch.as_tensor(t).to(game.dtype) for t in game.sample_batch(gen)) for gen in samplers]
    return tuple(torch.stack([b[k] for b in per_seed])[seed_index] for k in range(len(per_seed[0])))


def _slope_rate(acc):
    n = acc["n"]
    den = n * acc["tt"] - acc["t"] ** 2
    num = n * acc["ty"] - acc["t"] * acc["y"]
    ok = (n >= 2) & (den > 0)
    slope = torch.where(ok, num / torch.where(ok, den, 1.0), torch.full_like(n, float("nan")))
    return torch.exp(slope)
