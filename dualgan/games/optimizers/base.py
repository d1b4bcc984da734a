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
is *not* applied: its record says ``status="non_finite"`` and the parameters
keep their last finite values.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from ..._checks import check_positive
from ..game import Game

__all__ = ["StepRecord", "GameOptimizer", "make_base_optimizer", "BASE_OPTIMIZERS", "OPTIMIZERS", "register"]

OPTIMIZERS: dict[str, type] = {}


def register(cls):
    """Class decorator: make a :class:`GameOptimizer` subclass available by its ``name``.

    Parameters
    ----------
    cls : type
        A subclass of :class:`GameOptimizer` with a class attribute ``name`` (str).

    Returns
    -------
    type
        ``cls`` itself, now in :data:`OPTIMIZERS` under ``cls.name``.

    Raises
    ------
    ValueError
        If ``cls`` is not a :class:`GameOptimizer` subclass or another class
        is already registered under its name.
    """
    if not (isinstance(cls, type) and issubclass(cls, GameOptimizer)):
        raise ValueError("register expects a GameOptimizer subclass")
    if cls.name in OPTIMIZERS and OPTIMIZERS[cls.name] is not cls:
        raise ValueError(f"an optimiser named {cls.name!r} is already registered")
    OPTIMIZERS[cls.name] = cls
    return cls


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
    status : str, default "ok"
        ``"ok"``, ``"non_finite"`` (step skipped, parameters unchanged) or a
        solver message (competitive GD).
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
    status: str = "ok"
    coefficient: float = float("nan")
    inner_iterations: int = 0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


BASE_OPTIMIZERS: dict[str, Callable] = {
    "sgd": lambda params, lr, **kw: torch.optim.SGD(params, lr=lr, **kw),
    "adam": lambda params, lr, **kw: torch.optim.Adam(params, lr=lr, **kw),
    "rmsprop": lambda params, lr, **kw: torch.optim.RMSprop(params, lr=lr, **kw),
}


def make_base_optimizer(base, params, lr: float, base_kwargs: dict | None = None) -> torch.optim.Optimizer:
    """Build ``base`` (``"sgd"``, ``"adam"``, ``"rmsprop"`` or a callable ``(params, lr, **kw) -> Optimizer``).

    Parameters
    ----------
    base : str or callable
        A name of :data:`BASE_OPTIMIZERS` (case-insensitive) or a callable
        ``(params, lr, **kw) -> torch.optim.Optimizer``.
    params : list of torch.Tensor
        The parameter tensors the optimiser updates.
    lr : float
        Learning rate (the step size :math:`h`).
    base_kwargs : dict, optional
        Extra keyword arguments of the optimiser. Default None: none.

    Returns
    -------
    torch.optim.Optimizer
        The base optimiser over ``params``.

    Raises
    ------
    ValueError
        If the name is unknown, ``base`` is neither a name nor a callable, or
        the callable does not return a torch optimiser.
    """
    kwargs = dict(base_kwargs or {})
    if isinstance(base, str):
        if base.lower() not in BASE_OPTIMIZERS:
            raise ValueError(f"unknown base optimiser {base!r}; choose one of {sorted(BASE_OPTIMIZERS)} or pass a "
                             f"callable (params, lr, **kwargs) -> torch.optim.Optimizer")
        return BASE_OPTIMIZERS[base.lower()](params, lr, **kwargs)
    if callable(base):
        opt = base(params, lr, **kwargs)
        if not isinstance(opt, torch.optim.Optimizer):
            raise ValueError(f"base callable must return a torch.optim.Optimizer, got {type(opt).__name__}")
        return opt
    raise ValueError(f"base must be a name {sorted(BASE_OPTIMIZERS)} or a callable, got {type(base).__name__}")


class GameOptimizer:
    """Base class: subclasses implement :meth:`_step` and return a :class:`StepRecord`.

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
        If ``lr`` is not a finite number > 0 or ``base`` is unknown or does
        not build a torch optimiser.
    """

    name = "base"

    def __init__(self, lr: float = 0.01, base="sgd", base_kwargs: dict | None = None):
        self.lr = check_positive(lr, "lr")
        self.base = base
        self.base_kwargs = dict(base_kwargs or {})
        make_base_optimizer(base, [torch.zeros(1, requires_grad=True)], self.lr, self.base_kwargs)  # validate now
        self.iteration = 0
        self._game: Game | None = None
        self._optimizer: torch.optim.Optimizer | None = None

    def __repr__(self):
        return f"{type(self).__name__}(lr={self.lr}, base={self.base!r})"

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
            (``status="non_finite"``).

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

    def load_state_dict(self, state: dict, game: Game) -> None:
        """Bind to ``game`` (as the first :meth:`step` would) and restore :meth:`state_dict`'s output.

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
        self.set_lr(state["lr"])
        if state["base"] is not None:
            self._optimizer.load_state_dict(state["base"])
        self.iteration = int(state["iteration"])
        self._load_extra_state(state["extra"])

    def _extra_state(self):
        return None

    def _load_extra_state(self, extra) -> None:
        return None

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

    def _record(self, field, losses, direction, status: str = "ok", coefficient: float = float("nan"),
                inner_iterations: int = 0) -> StepRecord:
        return StepRecord(self.iteration, _norm(field), _norm(direction), tuple(losses), status,
                          float(coefficient), int(inner_iterations))

    def _non_finite(self, field, losses, *others) -> StepRecord | None:
        """A ``non_finite`` record when ``field``, ``losses`` or any vector in ``others`` is not finite, else None."""
        vectors = [field, *others]
        if all(bool(torch.isfinite(t).all()) for vec in vectors for t in vec) and all(math.isfinite(l) for l in losses):
            return None
        return StepRecord(self.iteration, _norm(field), float("nan"), tuple(losses), "non_finite")

    def _step(self, game: Game) -> StepRecord:  # pragma: no cover - abstract
        raise NotImplementedError


def _norm(vector) -> float:
    return float(torch.sqrt(sum((t.detach().double() ** 2).sum() for t in vector)))
