r"""The one step protocol of every game optimiser, and the base torch optimisers under them.

A game optimiser turns the simultaneous field :math:`v` into an *adjusted*
field :math:`\tilde v` (e.g. :math:`v + \gamma J^\top v` for consensus
optimisation), writes it into each parameter's ``.grad`` and calls a base
torch optimiser, as the reference implementations of consensus optimisation
and SGA do. With the default base (plain SGD, learning rate ``lr``) the step is
exactly :math:`x \leftarrow x - h \tilde v` of eq. (3.3) of the theory page; with
``base="rmsprop"`` or ``"adam"`` the adjusted field is preconditioned by the
base optimiser.

``step(game)`` returns a :class:`StepRecord`. A step whose field is not finite
is *not* applied: its record's status is :attr:`~dualgan.status.StatusCode.NON_FINITE`
and the parameters keep their last finite values.

Besides its step on a :class:`~dualgan.games.Game`, an optimiser writes

* its update on a whole batch of cells at once (:meth:`GameOptimizer.batched_step`,
  implemented by a subclass's ``_batched_step``,
  run by :func:`dualgan.games.batched_run` on a
  :class:`~dualgan.games.FunctionalGame`), if it is registered with
  ``batchable=True``;
* its update map linearised at an equilibrium
  (:meth:`GameOptimizer.local_update_map`, used by the stability maps) and on
  the bilinear game in closed form (:meth:`GameOptimizer.bilinear_update_map`).

Its registration declares what the batched runner and the stability maps need
to know: ``@OPTIMIZERS.register(name, batchable=True, coefficient="gamma")``,
where ``coefficient`` names the constructor option that is the second axis of a
stability map (None: the method has none). Adding an optimiser is adding one
module to this package.

The base optimisers are registered in :data:`BASE_OPTIMIZERS` with their torch
factory and, for the batched runner, their update rule written on batched
tensors (info ``batchable``, ``defaults``, ``batched_init``, ``batched_step``).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch

from ..._checks import check_positive
from ...registry import Registry
from ._base_optimizers import BASE_OPTIMIZERS, NotBatchableError, check_base_kwargs, make_base_optimizer
from ...status import Status, StatusCode
from ...train.checkpoint import CheckpointError, _check_optimizer_state
from ..game import Game

__all__ = ["StepRecord", "GameOptimizer", "make_base_optimizer", "BASE_OPTIMIZERS", "OPTIMIZERS",
           "NotBatchableError"]

#: every game optimiser, by name: a :class:`GameOptimizer` subclass per module of
#: :mod:`dualgan.games.optimizers`, registered with
#: ``@OPTIMIZERS.register(name, batchable=..., coefficient=...)``; its keyword-only
#: constructor parameters are its options (``OPTIMIZERS.options(name)``).
#: ``OPTIMIZERS.names(batchable=True)`` lists those the batched runner runs;
#: ``OPTIMIZERS.entry(name).coefficient`` is the name of the option that is a
#: stability map's second axis (None: the method has none)
OPTIMIZERS = Registry("game optimiser", package="dualgan.games.optimizers")


@dataclass(frozen=True)
class StepRecord:
    """What one step did.

    Parameters
    ----------
    iteration : int
        Index of the step (0 for the optimiser's first step).
    field_norm : float
        :math:`\\|v\\|` (eq. (3.1) of the theory page) at the point where the step started.
    update_norm : float
        Euclidean norm of the adjusted field handed to the base optimiser
        (NaN for a skipped step).
    losses : tuple of float
        Each player's loss at the start point, in player order.
    status : dualgan.status.Status, default ``Status(StatusCode.SUCCESS)``
        ``SUCCESS`` (the step was applied), ``NON_FINITE`` (the field, a loss
        or the update was not finite: step skipped, parameters unchanged) or
        ``NUMERICAL_ERROR`` (competitive GD's linear solve failed: step
        skipped; the message names the solver and its code).
    coefficient : float, default NaN
        The method's scalar of this step where it has one (SGA's signed
        lambda of eq. (3.9), consensus' gamma, extragradient's extrapolation
        factor), NaN otherwise.
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
        if not isinstance(self.status, Status):
            raise TypeError(f"status must be a dualgan.status.Status, got {type(self.status).__name__}")

    @property
    def ok(self) -> bool:
        """True when the step was applied (``status.success``)."""
        return self.status.success


class GameOptimizer:
    """Base class: subclasses implement :meth:`_step` and return a :class:`StepRecord`.

    They write their rule once, on a batch of points: ``_batched_step`` (and
    optionally ``_batched_init``) behind :meth:`batched_step` and
    :meth:`batched_init`. The linearised maps (:meth:`local_update_map`,
    :meth:`bilinear_update_map`) are that update applied to the linear game
    :math:`v(z) = Jz`; the step on an object game (:meth:`step`) is that
    update on a batch of one, unless a subclass writes ``_step`` itself.

    A subclass is made available by name with ``@OPTIMIZERS.register(name)``;
    its options are the keyword-only parameters of its constructor.

    Parameters
    ----------
    lr : float, default 0.01
        Step size :math:`h` (the base optimiser's learning rate); must be > 0.
    base : str or callable, default "sgd"
        ``"sgd"`` (the plain update rules, eqs. (3.3)-(3.10) of the theory page),
        ``"adam"``, ``"rmsprop"`` or a callable ``(params, lr, **kw) -> Optimizer``.
    base_kwargs : dict, optional
        Extra keyword arguments of the base optimiser (e.g. ``{"alpha": 0.9}``
        for RMSProp with the TensorFlow default decay of the reference code).
        Default None: none.

    Raises
    ------
    ValueError
        If ``lr`` is not a finite number > 0, ``base`` is unknown or does
        not build a torch optimiser, or the base optimiser refuses a value of
        ``base_kwargs`` (e.g. ``{"betas": (2.0, 0.9)}``).
    TypeError
        If ``base_kwargs`` is not a dict of options (e.g. ``[0.9]``).
    """

    def __init__(self, *, lr: float = 0.01, base="sgd", base_kwargs: dict | None = None):
        self.lr = check_positive(lr, "lr")
        self.base = base
        self.base_kwargs = check_base_kwargs(base_kwargs)
        make_base_optimizer(base, [torch.zeros(1, requires_grad=True)], self.lr, self.base_kwargs)  # validate now
        self.iteration = 0
        self._game: Game | None = None
        self._optimizer: torch.optim.Optimizer | None = None

    def __repr__(self):
        return f"{type(self).__name__}(lr={self.lr}, base={self.base!r})"

    def bilinear_update_map(self, A) -> np.ndarray:
        r"""The matrix :math:`M` of one step on :class:`~dualgan.games.BilinearGame` ``(A)``, in closed form.

        On :math:`x^\top A y` (eq. (3.12) of the theory page) the field is
        linear, :math:`v = Jz` with :math:`J` of
        :func:`~dualgan.games.bilinear_jacobian`, and every optimiser with the
        plain SGD base is a linear map :math:`z_{t+1} = M z_t` (on the stacked
        :math:`(z_t, \dots, z_{t-k+1})` for a method that remembers ``k - 1``
        past fields; its first step, without a past, differs). :math:`M` is the
        optimiser's batched update (eqs. (3.3)-(3.10)) applied to that linear
        field with its own hyper-parameters.

        Parameters
        ----------
        A : array_like
            The coupling matrix, shape ``(n_x, n_y)``, finite.

        Returns
        -------
        numpy.ndarray
            :math:`M`, shape ``(k n, k n)`` with :math:`n = n_x + n_y`; float64.

        Raises
        ------
        ValueError
            If the base optimiser is not plain SGD (``base="sgd"`` without
            ``base_kwargs``): the step is then not linear in :math:`z`.
        NotBatchableError
            If the optimiser has no batched step (its update is what is linearised).
        """
        self._check_plain_sgd()
        A = np.asarray(A, dtype=np.float64)
        n, m = A.shape
        J = np.block([[np.zeros((n, n)), A], [-A.T, np.zeros((m, m))]])     # eq. (3.12): v = (A y, -A^T x)
        return self._linear_map(J, (n, m), ("x", "y"))

    def local_update_map(self, jacobian, player_sizes=None, player_names=None) -> np.ndarray:
        r"""The update map :math:`M` linearised at an equilibrium whose game Jacobian is ``jacobian``.

        At a point :math:`z^*` with :math:`v(z^*) = 0` and :math:`J = \partial v/\partial z`
        there, one step with the plain SGD base is
        :math:`z_{t+1} - z^* = M (z_t - z^*) + O(\|z_t - z^*\|^2)` (on the
        stacked :math:`(z_t, \dots, z_{t-k+1})` for a method that remembers
        ``k - 1`` past fields). The spectral radius of :math:`M` is the exact
        local rate of the stability maps (Mescheder, Nowozin, Geiger, "The
        Numerics of GANs", NeurIPS 2017, Proposition 3); each optimiser writes
        :math:`M` from its update rule (eqs. (3.3)-(3.10) of the theory page,
        the table of :mod:`dualgan.games.stability`): the optimiser's batched
        update applied to the linear field :math:`v = J (z - z^*)` with its own step size
        and hyper-parameters.

        Parameters
        ----------
        jacobian : array_like
            :math:`J` at the equilibrium, shape ``(n, n)``, finite; float64.
        player_sizes : sequence of int, optional
            Parameters per player, summing to ``n`` (methods that treat the
            players' blocks apart need them: alternating and competitive GD).
            Default None: not given.
        player_names : sequence of str, optional
            The players' names, in order (for an alternating ``order`` given
            by names). Default None: ``player0``, ``player1``, ...

        Returns
        -------
        numpy.ndarray
            :math:`M`, shape ``(k n, k n)``; float64.

        Raises
        ------
        ValueError
            If the base optimiser is not plain SGD, ``jacobian`` is not a
            finite square matrix, ``player_sizes`` do not sum to ``n``, the
            method needs ``player_sizes`` and has none, or the linearisation
            does not determine the step (SGA's sign alignment with ``eps = 0``).
        NotBatchableError
            If the optimiser has no batched step (its update is what is linearised).
        """
        self._check_plain_sgd()
        J = np.asarray(jacobian, dtype=np.float64)
        if J.ndim != 2 or J.shape[0] != J.shape[1] or not np.all(np.isfinite(J)):
            raise ValueError(f"jacobian must be a finite square matrix, got shape {J.shape}")
        sizes = None
        if player_sizes is not None:
            sizes = tuple(int(k) for k in player_sizes)
            if sum(sizes) != J.shape[0] or any(k < 1 for k in sizes):
                raise ValueError(f"player_sizes {tuple(player_sizes)!r} must be positive and sum to n = {J.shape[0]}")
        if player_names is not None and (sizes is None or len(tuple(player_names)) != len(sizes)):
            raise ValueError("player_names needs player_sizes with one size per name")
        self._check_linearisable()
        if self.needs_players and sizes is None:
            raise ValueError(f"player_sizes is required for {type(self).__name__} (it treats the players' blocks "
                             f"of J apart)")
        return self._linear_map(J, sizes or (J.shape[0],), None if player_names is None else tuple(player_names))

    #: past iterates a step remembers (optimistic GD: its previous field, 1); the state of the linear map is
    #: (z_t, ..., z_{t-k+1}) with k = 1 + memory_steps
    memory_steps = 0
    #: the step reads J products (point.jvp, point.vjp): an object game's field is evaluated with its graph
    field_graph = False
    #: the step treats the players' blocks apart (alternating, competitive GD): a linear map needs player_sizes
    needs_players = False

    def _check_linearisable(self) -> None:
        """Subclasses raise ValueError here when the linearisation does not determine their step."""

    def _coefficient_cells(self, cells: int, dtype):
        """This optimiser's coefficient (the option named at its registration) for ``cells`` cells; None without one."""
        name = next((nm for nm in OPTIMIZERS if OPTIMIZERS.entry(nm).obj is type(self)), None)
        coef_name = None if name is None else OPTIMIZERS.entry(name).coefficient
        return None if coef_name is None else torch.full((cells, 1), float(getattr(self, coef_name)), dtype=dtype)

    def _linear_map(self, J: np.ndarray, player_sizes, player_names) -> np.ndarray:
        """The update of :meth:`batched_step` with plain SGD on the linear game v(z) = J z, as a matrix.

        One cell per coordinate of the stacked state (z_t, ..., z_{t-k+1}), each a basis vector scaled by
        2^-60: a power of two keeps the linear steps exact, and it puts every iterate near the equilibrium,
        where a method with a state-dependent sign (SGA's alignment, O(|z|^4) against eps) takes its local sign.
        """
        n, k = J.shape[0], 1 + self.memory_steps
        game = _LinearGame(torch.from_numpy(J), tuple(player_sizes), player_names)
        scale = 2.0 ** -60
        E = scale * torch.eye(k * n, dtype=torch.float64)
        coefficient = self._coefficient_cells(k * n, torch.float64)
        lr = torch.full((k * n, 1), self.lr, dtype=torch.float64)
        memory = self.batched_init(game, E[:, :n])
        for j in range(k - 1, 0, -1):               # the past iterates leave their memory, oldest first
            _, memory, _ = self.batched_step(_LinearPoint(game, E[:, j * n:(j + 1) * n]), lr, coefficient,
                                             _plain_sgd, memory)
        Z, _, _ = self.batched_step(_LinearPoint(game, E[:, :n]), lr, coefficient, _plain_sgd, memory)
        M = np.zeros((k * n, k * n))
        M[:n] = (Z / scale).numpy().T
        for j in range(1, k):
            M[j * n:(j + 1) * n, (j - 1) * n:j * n] = np.eye(n)
        return M

    def _check_plain_sgd(self) -> None:
        if not (isinstance(self.base, str) and self.base.lower() == "sgd" and not self.base_kwargs):
            raise ValueError(f"the update map is linear only with the plain SGD base (base='sgd', no base_kwargs); "
                             f"this optimiser has base={self.base!r}, base_kwargs={self.base_kwargs}")

    # ------------------------------------------------------------------ batched steps (dualgan.games.batched_run)
    def batched_init(self, game, Z):
        """Check that :meth:`batched_step` can run on ``game`` and return the step's initial memory.

        Called once by :func:`dualgan.games.batched_run` before its first
        step. The default accepts every game and has no memory (None).

        Parameters
        ----------
        game : dualgan.games.FunctionalGame
            The game every cell plays.
        Z : torch.Tensor
            The initial points, shape ``(B, n)``, one row per cell.

        Returns
        -------
        object
            What :meth:`batched_step` receives as ``memory`` at the first step.

        Raises
        ------
        NotBatchableError
            If the method cannot run batched on ``game`` (e.g. competitive GD
            on a game that is not two-player).
        """
        return self._batched_init(game, Z)

    def _batched_init(self, game, Z):
        return None

    def batched_step(self, point, lr, coefficient, move, memory):
        r"""One step of every cell of a batch: the update rule of :meth:`step` on batched tensors.

        The runner (:func:`dualgan.games.batched_run`) gives each cell its own
        step size and, for a method registered with a ``coefficient``, its own
        value of that option; every other option (SGA's ``align`` and ``eps``,
        alternating's ``order``) is this instance's and applies to every cell.
        The base optimiser is applied through ``move``, which keeps its state
        (momentum, moment estimates) between calls. With ``move`` the plain
        SGD step :math:`Z - h D` the update is that of eqs. (3.3)-(3.10) of
        the theory page.

        Parameters
        ----------
        point : dualgan.games.functional.BatchedPoint
            The cells' current iterates ``point.Z`` (shape ``(B, n)``) with,
            computed once on demand, the field ``point.v``, the Jacobian
            ``point.J`` (``(B, n, n)``), ``point.jvp(U)`` (:math:`J u`),
            ``point.vjp(U)`` (:math:`J^	op u`) and ``point.field_at(Z)``
            (the field at other iterates on the same batch of data);
            ``point.game`` is the :class:`~dualgan.games.FunctionalGame`.
        lr : torch.Tensor
            Step sizes :math:`h`, shape ``(B, 1)``.
        coefficient : torch.Tensor or None
            The method's coefficient per cell, shape ``(B, 1)``; None for a
            method registered without one.
        move : callable
            ``move(Z, D, lr, mask=None) -> Z_new``: one step of the base
            optimiser from ``Z`` along ``D`` (both ``(B, n)``) with step sizes
            ``lr`` (``(B, 1)``), on the coordinates where ``mask`` (``(n,)``
            bool) is True (None: all), as a torch optimiser whose other
            parameters have no gradient.
        memory : object
            What the previous call returned (:meth:`batched_init`'s value at
            the first step).

        Returns
        -------
        Z_new : torch.Tensor
            The new iterates, shape ``(B, n)``.
        memory : object
            Passed to the next call.
        finite : torch.Tensor or None
            ``(B,)`` bool: cells whose step is valid, for a method that can
            fail in a way that does not show in ``Z_new`` (a linear solve);
            None otherwise (a NaN or infinity in a field or direction reaches
            ``Z_new``, which the runner checks).

        Raises
        ------
        NotBatchableError
            If the optimiser has no batched step (it is then registered
            without ``batchable=True``).
        """
        return self._batched_step(point, lr, coefficient, move, memory)

    def _batched_step(self, point, lr, coefficient, move, memory):
        # subclasses write their update rule on batched tensors here (see batched_step)
        raise NotBatchableError(f"{type(self).__name__} has no batched step; the batched runner knows "
                                f"{OPTIMIZERS.names(batchable=True)} (use dualgan.games.run_optimizer for it)")

    def set_lr(self, lr: float) -> None:
        """Change the step size (also in the base optimiser, keeping its state): for step-size schedules.

        Parameters
        ----------
        lr : float
            The new step size :math:`h`; must be a finite number > 0.

        Raises
        ------
        ValueError
            If ``lr`` is not a finite number > 0.
        """
        self.lr = check_positive(lr, "lr")
        if self._optimizer is not None:
            for group in self._optimizer.param_groups:
                group["lr"] = self.lr

    def step(self, game: Game) -> StepRecord:
        """Take one step on ``game`` (the first call binds the optimiser to the game).

        Parameters
        ----------
        game : Game
            The game to step; after the first call always the same game.

        Returns
        -------
        StepRecord
            What the step did; a step with a non-finite field is not applied
            (its status is :attr:`~dualgan.status.StatusCode.NON_FINITE`).

        Raises
        ------
        ValueError
            If ``game`` is not a :class:`~dualgan.games.Game` or is not the
            game this optimiser is bound to.
        """
        if not isinstance(game, Game):
            raise ValueError(f"game must be a dualgan.games.Game, got {type(game).__name__}")
        if self._game is None:
            self._game = game
            self._optimizer = make_base_optimizer(self.base, game.parameters, self.lr, self.base_kwargs)
            self._bind(game)
        elif game is not self._game:
            raise ValueError("this optimiser is bound to another game (it keeps per-game state); create a new one")
        record = self._step(game)
        self.iteration += 1
        if record.ok:
            game.after_step()
        return record

    def state_dict(self) -> dict:
        """The optimiser's run state (step count, step size, base optimiser state, e.g. an optimistic
        step's previous field), for checkpoints; ``base`` is None before the first step."""
        return {"iteration": self.iteration, "lr": self.lr,
                "base": None if self._optimizer is None else self._optimizer.state_dict(),
                "extra": self._extra_state()}

    def check_state_dict(self, state: dict, parameters) -> None:
        """Check that ``state`` has this optimiser's layout and fits ``parameters`` (nothing changes).

        Its base optimiser's moments are checked against an optimiser of the same kind built over zero
        tensors shaped like ``parameters``, so that a state of the wrong shape is refused here rather
        than failing inside torch at the next step.

        Parameters
        ----------
        state : dict
            A dictionary returned by :meth:`state_dict`: ``{"iteration", "lr", "base", "extra"}``.
        parameters : list of torch.Tensor
            The parameters of the game the state will be loaded for.

        Raises
        ------
        dualgan.train.CheckpointError
            If the keys are not this optimiser's, or the base optimiser's state does not fit ``parameters``.
        """
        if not isinstance(state, dict) or set(state) != {"iteration", "lr", "base", "extra"}:
            raise CheckpointError(f"its game optimiser state is not a {type(self).__name__} state")
        if state["base"] is not None:
            trial = make_base_optimizer(self.base, [torch.zeros_like(q, requires_grad=True) for q in parameters],
                                        self.lr, self.base_kwargs)
            _check_optimizer_state("game optimiser's base optimiser", trial, state["base"])

    def load_state_dict(self, state: dict, game: Game) -> None:
        """Bind to ``game`` (as the first :meth:`step` would) and restore :meth:`state_dict`'s output.

        A state saved before the first step (``base`` None) gives a fresh base optimiser
        (no moments, no momentum), also when this optimiser has stepped already, so the
        run continues exactly as the saved one would.

        Parameters
        ----------
        state : dict
            A dictionary returned by :meth:`state_dict` of an optimiser of the same class.
        game : Game
            The game to bind to (the one the saved run stepped).

        Raises
        ------
        ValueError
            If ``state`` is not such a dictionary or the optimiser is bound to another game.
        """
        if not isinstance(state, dict) or set(state) != {"iteration", "lr", "base", "extra"}:
            raise ValueError(f"not a {type(self).__name__} state: {state!r:.80}")
        if self._game is None:
            self._game = game
            self._optimizer = make_base_optimizer(self.base, game.parameters, self.lr, self.base_kwargs)
            self._bind(game)
        elif game is not self._game:
            raise ValueError("this optimiser is bound to another game; create a new one")
        if state["base"] is None:
            # the saved optimiser had not stepped: drop any state of steps taken since binding
            self._optimizer = make_base_optimizer(self.base, game.parameters, self.lr, self.base_kwargs)
        self.set_lr(state["lr"])
        if state["base"] is not None:
            self._optimizer.load_state_dict(state["base"])
        self.iteration = int(state["iteration"])
        self._load_extra_state(state["extra"])

    def _extra_state(self):
        return getattr(self, "_memory", None)     # the memory of the batched update on the object game

    def _load_extra_state(self, extra) -> None:
        self._memory = extra

    # ------------------------------------------------------------------ helpers for subclasses
    def _bind(self, game: Game) -> None:
        """Subclasses set up per-game state here."""

    def _apply(self, game: Game, direction, only_player: int | None = None) -> None:
        """Write ``direction`` into ``.grad`` (of one player's parameters, or all) and step the base optimiser."""
        sl = game.player_slices[only_player] if only_player is not None else slice(None)
        selected = set(range(len(game.parameters))[sl])
        for i, (p, d) in enumerate(zip(game.parameters, direction)):
            p.grad = d.detach().clone() if i in selected else None
        self._optimizer.step()
        for p in game.parameters:
            p.grad = None

    def _record(self, field, losses, direction, status: Status | None = None, coefficient: float = float("nan"),
                inner_iterations: int = 0) -> StepRecord:
        return StepRecord(self.iteration, _norm(field), _norm(direction), tuple(losses),
                          Status(StatusCode.SUCCESS) if status is None else status, float(coefficient),
                          int(inner_iterations))

    def _non_finite(self, field, losses, *others) -> StepRecord | None:
        """A NON_FINITE record when ``field``, ``losses`` or any vector in ``others`` is not finite, else None."""
        vectors = [field, *others]
        if all(bool(torch.isfinite(t).all()) for vec in vectors for t in vec) and all(math.isfinite(l) for l in losses):
            return None
        status = Status(StatusCode.NON_FINITE, "the field, a loss or the update is not finite; step not applied")
        return StepRecord(self.iteration, _norm(field), float("nan"), tuple(losses), status)

    def _step(self, game: Game) -> StepRecord:
        """The batched update on a batch of one: the object game as a point, the base optimiser as ``move``."""
        point = _ObjectPoint(game, self.field_graph)
        if self.iteration == 0 or getattr(self, "_memory", None) is None:
            self._memory = self.batched_init(point.game, point.Z)
        bad = self._non_finite([point.v], point.losses)
        if bad is not None:
            return bad
        saved, base_state = game.get_values(), copy.deepcopy(self._optimizer.state_dict())
        # 0-dim float64 step size and coefficient: they act as the Python floats of the object step would
        coefficient = self._coefficient_cells(1, torch.float64)
        coefficient = None if coefficient is None else coefficient[0, 0]
        self._direction = None
        Z, memory, finite = self.batched_step(point, torch.tensor(self.lr, dtype=torch.float64), coefficient,
                                              self._object_move, self._memory)
        if not bool(torch.isfinite(Z).all()) or (finite is not None and not bool(finite.all())):
            game.set_values(saved)                   # the step is not applied: parameters and base state restored
            self._optimizer.load_state_dict(base_state)
            return StepRecord(self.iteration, _norm([point.v]), float("nan"), point.losses,
                              Status(StatusCode.NON_FINITE, "the field, a loss or the update is not finite; step "
                                                            "not applied"))
        game.set_flat(Z[0])
        self._memory = memory
        return self._record([point.v], point.losses, [self._direction if self._direction is not None else point.v[0]],
                            coefficient=float("nan") if coefficient is None else float(coefficient))

    def _object_move(self, Z, D, lr, mask=None):
        """``move`` of :meth:`batched_step` on the bound object game: one base-optimiser step from ``Z`` along ``D``."""
        game = self._game
        game.set_flat(Z[0])
        self._direction = D[0] if mask is None else torch.where(mask, D[0], 0.0)   # the record's update_norm
        direction = game.unflatten(self._direction)
        moving = None if mask is None else game.unflatten(mask.to(D.dtype))
        for group in self._optimizer.param_groups:
            group["lr"] = float(lr.reshape(-1)[0])
        try:
            for i, (param, d) in enumerate(zip(game.parameters, direction)):
                param.grad = d.detach().clone() if moving is None or bool(moving[i].any()) else None
            self._optimizer.step()
        finally:
            for group in self._optimizer.param_groups:
                group["lr"] = self.lr
            for param in game.parameters:
                param.grad = None
        return game.get_flat().unsqueeze(0)


def _norm(vector) -> float:
    return float(torch.sqrt(sum((t.detach().double() ** 2).sum() for t in vector)))


def _plain_sgd(Z, D, lr, mask=None):
    """The plain SGD base on batched tensors: ``Z - lr D`` on the coordinates of ``mask`` (None: all)."""
    new = Z - lr * D
    return new if mask is None else torch.where(mask.unsqueeze(0), new, Z)


class _LinearGame:
    """The linear game v(z) = J z as the batched steps read it (shapes, players, the Jacobian)."""

    def __init__(self, J, player_sizes, player_names):
        self.J, self.player_sizes, self.n = J, player_sizes, J.shape[0]
        self.player_names = player_names or tuple(f"player{i}" for i in range(len(player_sizes)))
        self.name, self.n_tensors = "linear game v = J z", len(player_sizes)
        starts = np.cumsum((0,) + player_sizes)
        self.player_slices = [slice(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:])]


class _LinearPoint:
    """A batch of points of a :class:`_LinearGame`: the BatchedPoint interface (v, J, jvp, vjp, field_at)."""

    def __init__(self, game, Z):
        self.game, self.Z = game, Z
        self.v = Z @ game.J.T
        self.J = game.J.expand(Z.shape[0], -1, -1)

    def jvp(self, U):
        return U @ self.game.J.T

    def vjp(self, U):
        return U @ self.game.J

    def field_at(self, Z):
        return Z @ self.game.J.T


class _ObjectView:
    """An object game's shapes as the batched steps read them: flat player blocks, names, tensor count."""

    def __init__(self, game: Game):
        self.player_sizes = tuple(sum(t.numel() for t in p.parameters) for p in game.players)
        self.player_names = tuple(p.name for p in game.players)
        self.n, self.n_tensors, self.name = sum(self.player_sizes), len(game.parameters), type(game).__name__
        starts = np.cumsum((0,) + self.player_sizes)
        self.player_slices = [slice(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:])]


class _ObjectPoint:
    """An object game at its current parameters as a batch of one (the BatchedPoint interface)."""

    def __init__(self, game: Game, create_graph: bool = True):
        self._object, self.game = game, _ObjectView(game)
        self.Z = game.get_flat().unsqueeze(0)
        evaluation = game.evaluate(create_graph=create_graph)
        self._field, self.losses = evaluation.field, evaluation.losses
        self.v = game.flatten([f.detach() for f in self._field]).unsqueeze(0)

    def jvp(self, U):
        return self._object.flatten(self._object.jvp(self._object.unflatten(U[0]), field=self._field)).unsqueeze(0)

    def vjp(self, U):
        return self._object.flatten(self._object.vjp(self._object.unflatten(U[0]), field=self._field)).unsqueeze(0)

    @property
    def J(self):
        eye = torch.eye(self.game.n, dtype=self.Z.dtype)
        return torch.stack([self.vjp(eye[i:i + 1])[0] for i in range(self.game.n)]).unsqueeze(0)

    def field_at(self, Z):
        game, saved = self._object, self._object.get_values()
        game.set_flat(Z[0])
        try:
            return game.flatten(game.vector_field()).unsqueeze(0)
        finally:
            game.set_values(saved)
