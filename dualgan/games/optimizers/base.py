r"""The one step protocol of every game optimiser: one rule, on a batch of points.

A game optimiser turns the field :math:`v` into an adjusted field (consensus: :math:`v + \gamma J^\top v`) and
hands it to a base optimiser: plain SGD gives the rules (3.3)-(3.10) of the theory page, Adam or RMSProp
precondition it, as the reference implementations do. Each optimiser writes that rule once, ``_batched_step``,
on a batch of points; the same function is its :meth:`GameOptimizer.step` on an object
:class:`~dualgan.games.Game` (a batch of one), its :meth:`GameOptimizer.batched_step` in
:func:`dualgan.games.batched_run` (registered with ``batchable=True``) and, applied to the linear field
:math:`v = Jz`, its :meth:`GameOptimizer.local_update_map` and :meth:`GameOptimizer.bilinear_update_map`. A step
whose field is not finite is not applied (status :attr:`~dualgan.status.StatusCode.NON_FINITE`). Adding an
optimiser is adding one module to this package.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..._checks import as_tensor, check_positive
from ...registry import Registry
from ...status import Status, StatusCode, check_status
from ...train.checkpoint import CheckpointError
from ..bilinear import bilinear_jacobian
from ..game import Game, check_player_names, check_player_sizes
from ._base_optimizers import (BASE_OPTIMIZERS, BoundBase, NotBatchableError, check_base_kwargs, functional_base,
                               make_base_optimizer)
from ._points import _Blocks, _LinearPoint, _ObjectPoint

__all__ = ["StepRecord", "GameOptimizer", "make_base_optimizer", "BASE_OPTIMIZERS", "OPTIMIZERS",
           "NotBatchableError"]

#: every game optimiser, by name: a :class:`GameOptimizer` subclass per module of :mod:`dualgan.games.optimizers`
#: (``@OPTIMIZERS.register(name, batchable=..., coefficient=...)``); its keyword-only constructor parameters are
#: its options; ``OPTIMIZERS.entry(name).coefficient`` names the one that is a stability map's second axis
OPTIMIZERS = Registry("game optimiser", package="dualgan.games.optimizers")


@dataclass(frozen=True)
class StepRecord:
    """What one step did.

    Parameters
    ----------
    iteration : int
        Index of the step (0 for the optimiser's first).
    field_norm : float
        :math:`\\|v\\|` (eq. (3.1) of the theory page) where the step started.
    update_norm : float
        Norm of the adjusted field handed to the base optimiser (NaN for a skipped step).
    losses : tuple of float
        Each player's loss at the start point, in player order.
    status : dualgan.status.Status, default ``Status(StatusCode.SUCCESS)``
        ``SUCCESS`` (applied), ``NON_FINITE`` (field, a loss or the update not finite) or ``NUMERICAL_ERROR``
        (competitive GD's linear solve failed; the message names the solver and its code): both skip the step.
    coefficient : float, default NaN
        The method's scalar of this step (SGA's signed lambda of eq. (3.9), consensus' gamma,
        extragradient's extrapolation factor), NaN where it has none.
    inner_iterations : int, default 0
        Linear-solver iterations (competitive GD), 0 otherwise.
    """

    iteration: int
    field_norm: float
    update_norm: float
    losses: tuple
    status: Status = Status(StatusCode.SUCCESS)
    coefficient: float = float("nan")
    inner_iterations: int = 0

    def __post_init__(self):
        check_status(self.status, "status")

    @property
    def ok(self) -> bool:
        """True when the step was applied (``status.success``)."""
        return self.status.success


class GameOptimizer:
    """Base class of the game optimisers: a subclass writes its update rule once, ``_batched_step`` (see the module).

    ``@OPTIMIZERS.register(name)`` names a subclass; its options are its constructor's keyword-only parameters.

    Parameters
    ----------
    lr : float, default 0.01
        Step size :math:`h` (the base optimiser's learning rate), > 0.
    base : str or callable, default "sgd"
        ``"sgd"`` (the plain rules (3.3)-(3.10) of the theory page), ``"adam"``, ``"rmsprop"`` (the pure rules
        of :data:`BASE_OPTIMIZERS`, torch.optim's arithmetic) or a callable ``(params, lr, **kw) -> Optimizer``
        (object games only; its gradient is the adjusted field).
    base_kwargs : dict, optional
        Extra keyword arguments of the base optimiser (e.g. ``{"alpha": 0.9}``: RMSProp with the reference
        code's TensorFlow decay). Default None: none.

    Raises
    ------
    ValueError
        If ``lr`` is not a finite number > 0, ``base`` is unknown or builds no torch optimiser, or the base
        refuses a value of ``base_kwargs`` (e.g. ``{"betas": (2.0, 0.9)}``).
    TypeError
        If ``base_kwargs`` is not a dict of options (e.g. ``[0.9]``).
    """

    #: past iterates a step remembers (optimistic GD: 1): a linear map acts on (z_t, ..., z_{t-memory_steps})
    memory_steps = 0
    #: the step reads J products (point.jvp, point.vjp): an object game's field is evaluated with its graph
    field_graph = False
    #: the step treats the players' blocks apart (alternating, competitive GD): a linear map needs player_sizes
    needs_players = False

    def __init__(self, *, lr: float = 0.01, base="sgd", base_kwargs: dict | None = None):
        self.lr = check_positive(lr, "lr")
        self.base = base
        self.base_kwargs = check_base_kwargs(base_kwargs)
        make_base_optimizer(base, [torch.zeros(1, requires_grad=True)], self.lr, self.base_kwargs)  # validate now
        self.iteration = 0
        self._game: Game | None = None
        self._optimizer: BoundBase | None = None
        self._memory = self._notes = None

    def __repr__(self):
        return f"{type(self).__name__}(lr={self.lr}, base={self.base!r})"

    def bilinear_update_map(self, A) -> np.ndarray:
        r""":meth:`local_update_map` of :class:`~dualgan.games.BilinearGame` ``(A)`` (eq. (3.12)), players ``x``, ``y``.

        Parameters
        ----------
        A : array_like
            The coupling matrix, shape ``(n_x, n_y)``, finite.

        Returns
        -------
        numpy.ndarray
            :math:`M`, float64, shape ``(k n, k n)`` with :math:`n = n_x + n_y`.

        Raises
        ------
        ValueError
            If the base optimiser is not plain SGD (``base="sgd"`` without ``base_kwargs``).
        NotBatchableError
            If the optimiser has no update rule.
        """
        self._check_plain_sgd()
        return self._linear_map(bilinear_jacobian(A), np.shape(A), ("x", "y"))

    def local_update_map(self, jacobian, player_sizes=None, player_names=None) -> np.ndarray:
        r"""The plain-SGD update map :math:`M` linearised at an equilibrium where the game Jacobian is ``jacobian``.

        The rule applied to :math:`v = J (z - z^*)`, on the stacked :math:`(z_t, \dots, z_{t-k+1})` of a method
        that remembers ``k - 1`` past iterates. Its spectral radius is the exact local rate of the stability maps
        (Mescheder, Nowozin, Geiger, "The Numerics of GANs", NeurIPS 2017, Proposition 3).

        Parameters
        ----------
        jacobian : array_like
            :math:`J` at the equilibrium, shape ``(n, n)``, finite.
        player_sizes : sequence of int, optional
            Parameters per player, summing to ``n``; required by alternating and competitive GD.
        player_names : sequence of str, optional
            The players' names, in order (an alternating ``order`` by names). Default ``player0``, ...

        Returns
        -------
        numpy.ndarray
            :math:`M`, float64, shape ``(k n, k n)``.

        Raises
        ------
        ValueError
            If the base optimiser is not plain SGD, ``jacobian`` is not a finite square matrix, ``player_sizes``
            are not positive integers summing to ``n`` or are missing where needed, or the linearisation does not
            determine the step (SGA's sign alignment with ``eps = 0``).
        NotBatchableError
            If the optimiser has no update rule.
        """
        self._check_plain_sgd()
        J = as_tensor(jacobian, "jacobian", dtype=torch.float64).detach().cpu().numpy()
        if J.ndim != 2 or J.shape[0] != J.shape[1] or not np.all(np.isfinite(J)):
            raise ValueError(f"jacobian must be a finite square matrix, got shape {J.shape}")
        sizes = None if player_sizes is None else check_player_sizes(player_sizes)
        if sizes is not None and sum(sizes) != J.shape[0]:
            raise ValueError(f"player_sizes {sizes!r} must sum to n = {J.shape[0]}")
        if player_names is not None and sizes is None:
            raise ValueError("player_names needs player_sizes with one size per name")
        names = None if player_names is None else check_player_names(player_names, len(sizes))
        self._check_linearisable()
        if self.needs_players and sizes is None:
            raise ValueError(f"player_sizes is required for {type(self).__name__} (it treats the players' blocks "
                             f"of J apart)")
        return self._linear_map(J, sizes or (J.shape[0],), names)

    def batched_init(self, game, Z):
        """Check that :meth:`batched_step` can run on ``game`` and return its initial memory (default None).

        Parameters
        ----------
        game : dualgan.games.FunctionalGame
            The game every cell plays (``player_sizes``, ``player_slices``, ``player_names``, ``n``).
        Z : torch.Tensor
            The initial points, shape ``(B, n)``, one row per cell.

        Returns
        -------
        object
            The ``memory`` :meth:`batched_step` receives at the first step.

        Raises
        ------
        NotBatchableError
            If the method cannot run on ``game`` (competitive GD on a game that is not two-player).
        """
        return self._batched_init(game, Z)

    def _batched_init(self, game, Z):
        return None

    def batched_step(self, point, lr, coefficient, move, memory):
        r"""One step of every cell of a batch: the optimiser's one update rule.

        Each cell has its own step size and, for a method registered with a ``coefficient``, its own value of
        that option; the other options are this instance's.

        Parameters
        ----------
        point : dualgan.games.functional.BatchedPoint
            The iterates ``point.Z`` (``(B, n)``) with, on demand, ``point.v``, ``point.J`` (``(B, n, n)``),
            ``point.jvp(U)``, ``point.vjp(U)``, ``point.field_at(Z)`` (same data) and ``point.game`` (the
            players' flat blocks). An object game's point (a batch of one) is ``matrix_free``: a rule should not
            read its dense ``J``.
        lr : torch.Tensor
            Step sizes :math:`h`, shape ``(B, 1)`` (0-dim on an object game).
        coefficient : torch.Tensor or None
            The method's coefficient per cell, shape as ``lr``; None for a method registered without one.
        move : callable
            ``move(Z, D, lr, mask=None) -> Z_new``: one base-optimiser step (its state kept between calls)
            from ``Z`` along ``D``, on the coordinates where the ``(n,)`` bool ``mask`` is True (None: all).
        memory : object
            What the previous call returned (:meth:`batched_init`'s value first).

        Returns
        -------
        Z_new : torch.Tensor
            The new iterates, shape ``(B, n)``.
        memory : object
            Passed to the next call.
        finite : torch.Tensor or None
            ``(B,)`` bool: the cells whose step is valid, for a method that can fail without a NaN in
            ``Z_new`` (a linear solve); None otherwise.

        Raises
        ------
        NotBatchableError
            If the optimiser has no update rule (registered without ``batchable=True``).
        """
        return self._batched_step(point, lr, coefficient, move, memory)

    def _batched_step(self, point, lr, coefficient, move, memory):
        """A subclass's update rule on batched tensors (see :meth:`batched_step`)."""
        raise NotBatchableError(f"{type(self).__name__} has no batched step; the batched runner knows "
                                f"{OPTIMIZERS.names(batchable=True)} (use dualgan.games.run_optimizer for it)")

    def set_lr(self, lr: float) -> None:
        """Change the step size, keeping the base optimiser's state (step-size schedules).

        Parameters
        ----------
        lr : float
            The new step size :math:`h`, a finite number > 0.

        Raises
        ------
        ValueError
            If ``lr`` is not a finite number > 0.
        """
        self.lr = check_positive(lr, "lr")

    def step(self, game: Game) -> StepRecord:
        """One step of the update rule on ``game`` as a batch of one (the first call binds the optimiser to it).

        A step whose field, losses or new parameters are not finite, or whose rule reports a failure, is not
        applied: the parameters and the base optimiser's state stay.

        Parameters
        ----------
        game : Game
            The game to step; after the first call always the same game.

        Returns
        -------
        StepRecord
            What the step did (status ``NON_FINITE`` or ``NUMERICAL_ERROR`` for a step not applied).

        Raises
        ------
        ValueError
            If ``game`` is not a :class:`~dualgan.games.Game` or not the game this optimiser is bound to.
        """
        if not isinstance(game, Game):
            raise ValueError(f"game must be a dualgan.games.Game, got {type(game).__name__}")
        self._bind(game)
        record = self._step(game)
        self.iteration += 1
        if record.ok:
            game.after_step()
        return record

    def state_dict(self) -> dict:
        """The run state for checkpoints: ``{"iteration", "lr", "base", "extra", "written_by"}``.

        ``base``: None before the first step, else the base optimiser's state in torch.optim's layout; ``extra``:
        the rule's memory; ``written_by``: the optimiser's class and base, which loading checks.

        Returns
        -------
        dict
            The state.
        """
        return {"iteration": self.iteration, "lr": self.lr,
                "base": None if self._optimizer is None else self._optimizer.state_dict(), "extra": self._memory,
                "written_by": _writer(self)}

    def check_state_dict(self, state: dict, parameters) -> None:
        """Check that ``state`` has this optimiser's layout and its base state fits ``parameters`` (nothing changes).

        Parameters
        ----------
        state : dict
            A dictionary returned by :meth:`state_dict`.
        parameters : list of torch.Tensor
            The parameters of the game the state will be loaded for.

        Raises
        ------
        dualgan.train.CheckpointError
            If the keys are not this optimiser's, another optimiser or base wrote it, or the base state does not
            fit ``parameters``.
        """
        _check_layout(self, state, CheckpointError)
        trial = [torch.zeros_like(q, requires_grad=True) for q in parameters]
        BoundBase(self.base, self.base_kwargs, trial, self.lr).check_state_dict(
            state["base"], "game optimiser's base optimiser")

    def load_state_dict(self, state: dict, game: Game) -> None:
        """Bind to ``game`` (as the first :meth:`step` would) and restore :meth:`state_dict`'s output.

        A state saved before the first step (``base`` None) gives a fresh base optimiser, as the saved run had.

        Parameters
        ----------
        state : dict
            A dictionary returned by :meth:`state_dict` of an optimiser of the same class.
        game : Game
            The game to bind to (the one the saved run stepped).

        Raises
        ------
        ValueError
            If ``state`` is not such a dictionary, another optimiser or base wrote it, or the optimiser is bound
            to another game.
        """
        _check_layout(self, state, ValueError)
        self._bind(game)
        self.set_lr(state["lr"])
        self._optimizer.load_state_dict(state["base"])
        self.iteration = int(state["iteration"])
        self._memory = self._loaded_memory(state["extra"])

    def _loaded_memory(self, extra):
        """A subclass converts a memory saved by an earlier version here."""
        return extra

    # ------------------------------------------------------------------ the rule on an object game
    def _bind(self, game: Game) -> None:
        if self._game is None:
            self._game = game
            self._optimizer = BoundBase(self.base, self.base_kwargs, game.parameters, self.lr, game)
        elif game is not self._game:
            raise ValueError("this optimiser is bound to another game (it keeps per-game state); create a new one")

    def _step(self, game: Game) -> StepRecord:
        """The update rule on a batch of one: the object game as a point, its base optimiser as ``move``."""
        point = _ObjectPoint(game, self.field_graph)
        field_norm = _norm(point.v)

        def record(update_norm, **extra):
            return StepRecord(self.iteration, field_norm, update_norm, point.losses, **extra)
        if self.iteration == 0 or self._memory is None:
            self._memory = self.batched_init(point.game, point.Z)
        if not (bool(torch.isfinite(point.v).all()) and all(math.isfinite(x) for x in point.losses)):
            return record(float("nan"), status=_NOT_FINITE)
        saved, undo = game.get_values(), self._optimizer.snapshot()
        coefficient = self._coefficient_cells(None, torch.float64)
        self._notes = {"direction": None}
        Z, memory, finite = self.batched_step(point, torch.tensor(self.lr, dtype=torch.float64), coefficient,
                                              self._object_move, self._memory)
        notes, self._notes = self._notes, None
        failed, inner = notes.get("status"), int(notes.get("inner_iterations", 0))
        if failed is not None or not bool(torch.isfinite(Z).all()) or (finite is not None and not bool(finite.all())):
            game.set_values(saved)                   # the step is not applied: parameters and base state restored
            self._optimizer.restore(undo)
            return record(float("nan"), status=failed or _NOT_FINITE, inner_iterations=inner)
        game.set_flat(Z[0])
        self._memory = memory
        used = notes.get("coefficient", coefficient)
        direction = notes["direction"] if notes["direction"] is not None else point.v
        return record(_norm(direction), coefficient=float("nan") if used is None else float(used),
                      inner_iterations=inner)

    def _object_move(self, Z, D, lr, mask=None):
        """``move`` on the bound object game; the directions of a step's moves make its record's ``update_norm``."""
        previous = self._notes["direction"]
        if mask is None or previous is None:
            self._notes["direction"] = D if mask is None else torch.where(mask, D, 0.0)
        else:                                        # players moving in turn: each block's own direction
            self._notes["direction"] = torch.where(mask, D, previous)
        return self._optimizer.move(Z, D, lr, mask)

    def _note(self, **values) -> None:
        """A rule reports an object game's ``coefficient``, ``inner_iterations`` or ``status`` (a failure) here."""
        if self._notes is not None:           # None outside an object game's step
            self._notes.update(values)

    # ------------------------------------------------------------------ the rule on a linear game
    def _check_linearisable(self) -> None:
        """Subclasses raise ValueError here when the linearisation does not determine their step."""

    def _coefficient_cells(self, cells, dtype):
        """This optimiser's coefficient (the option named at its registration): (cells, 1), 0-dim for None cells."""
        name = next((nm for nm in OPTIMIZERS if OPTIMIZERS.entry(nm).obj is type(self)), None)
        coef_name = None if name is None else OPTIMIZERS.entry(name).coefficient
        if coef_name is None:
            return None
        return torch.full(() if cells is None else (cells, 1), float(getattr(self, coef_name)), dtype=dtype)

    def _linear_map(self, J: np.ndarray, player_sizes, player_names) -> np.ndarray:
        """The update rule with plain SGD on the linear game v(z) = J z, as a matrix.

        One cell per coordinate of the stacked state (z_t, ..., z_{t-k+1}), each a basis vector scaled by
        2^-60: a power of two keeps the linear steps exact, and it puts every iterate near the equilibrium,
        where a method with a state-dependent sign (SGA's alignment, O(|z|^4) against eps) takes its local sign.
        """
        n, k = J.shape[0], 1 + self.memory_steps
        game = _Blocks(player_sizes, player_names, len(player_sizes), "linear game v = J z")
        Jt = torch.from_numpy(J)
        scale = 2.0 ** -60
        E = scale * torch.eye(k * n, dtype=torch.float64)
        coefficient = self._coefficient_cells(k * n, torch.float64)
        lr = torch.full((k * n, 1), self.lr, dtype=torch.float64)
        sgd = functional_base("sgd")                # the registered plain SGD rule: Z - lr D, no state that matters

        def move(Z, D, lr, mask=None):
            return sgd.step(Z, D, lr, sgd.init(Z), mask)[0]

        memory = self.batched_init(game, E[:, :n])
        for j in range(k - 1, 0, -1):               # the past iterates leave their memory, oldest first
            _, memory, _ = self.batched_step(_LinearPoint(game, Jt, E[:, j * n:(j + 1) * n]), lr, coefficient,
                                             move, memory)
        Z, _, _ = self.batched_step(_LinearPoint(game, Jt, E[:, :n]), lr, coefficient, move, memory)
        M = np.eye(k * n, k=-n)                     # the past iterates shift down one block
        M[:n] = (Z / scale).numpy().T
        return M

    def _check_plain_sgd(self) -> None:
        if not (isinstance(self.base, str) and self.base.lower() == "sgd" and not self.base_kwargs):
            raise ValueError(f"the update map is linear only with the plain SGD base (base='sgd', no base_kwargs); "
                             f"this optimiser has base={self.base!r}, base_kwargs={self.base_kwargs}")


_NOT_FINITE = Status(StatusCode.NON_FINITE, "the field, a loss or the update is not finite; step not applied")


def _check_layout(optimizer, state, error) -> None:
    """``error`` unless ``state`` has the keys of a state (``written_by`` optional: older states lack it) and,
    where it says, was written by an optimiser of ``optimizer``'s class and base."""
    if not isinstance(state, dict) or set(state) - {"written_by"} != {"iteration", "lr", "base", "extra"}:
        raise error(f"its game optimiser state is not a {type(optimizer).__name__} state: {state!r:.80}")
    writer, mine = state.get("written_by", _writer(optimizer)), _writer(optimizer)
    if writer != mine:
        raise error(f"the game optimiser state was written by {writer}, not by this optimiser's {mine}; load it "
                    f"into an optimiser built as the saved one")


def _writer(optimizer) -> dict:
    """The optimiser's class and base optimiser's name, as its state records them."""
    base = optimizer.base
    return {"optimizer": type(optimizer).__name__,
            "base": base.lower() if isinstance(base, str) else getattr(base, "__name__", type(base).__name__)}


def _norm(vector) -> float:
    return float(torch.linalg.vector_norm(vector.detach().double()))
