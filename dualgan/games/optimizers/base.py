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

import numpy as np
import torch

from ..._checks import check_positive
from ...registry import Registry
from ..game import Game

__all__ = ["StepRecord", "GameOptimizer", "make_base_optimizer", "BASE_OPTIMIZERS", "OPTIMIZERS"]

#: every game optimiser, by name: a :class:`GameOptimizer` subclass per module of
#: :mod:`dualgan.games.optimizers`, registered with ``@OPTIMIZERS.register(name)``;
#: its keyword-only constructor parameters are its options (``OPTIMIZERS.options(name)``)
OPTIMIZERS = Registry("game optimiser", package="dualgan.games.optimizers")

#: the base torch optimisers that receive the adjusted field, by (lower-case) name:
#: ``(params, lr, **kwargs) -> torch.optim.Optimizer``
BASE_OPTIMIZERS = Registry("base optimiser")


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


@BASE_OPTIMIZERS.register("sgd")
def _sgd(params, lr: float, **kwargs) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, **kwargs)


@BASE_OPTIMIZERS.register("adam")
def _adam(params, lr: float, **kwargs) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, **kwargs)


@BASE_OPTIMIZERS.register("rmsprop")
def _rmsprop(params, lr: float, **kwargs) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(params, lr=lr, **kwargs)


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
        If the name is unknown, ``base_kwargs`` do not fit the named optimiser,
        ``base`` is neither a name nor a callable, or the callable does not
        return a torch optimiser.
    """
    kwargs = dict(base_kwargs or {})
    if isinstance(base, str):
        if base.lower() not in BASE_OPTIMIZERS:
            raise ValueError(f"unknown base optimiser {base!r}; choose one of {BASE_OPTIMIZERS.names()} or pass a "
                             f"callable (params, lr, **kwargs) -> torch.optim.Optimizer")
        build = BASE_OPTIMIZERS.get(base.lower())
        try:
            return build(params, lr, **kwargs)
        except TypeError as exc:  # an option the torch optimiser does not take
            raise ValueError(f"base_kwargs {sorted(kwargs)} do not fit base optimiser {base!r}: {exc}") from exc
    if callable(base):
        opt = base(params, lr, **kwargs)
        if not isinstance(opt, torch.optim.Optimizer):
            raise ValueError(f"base callable must return a torch.optim.Optimizer, got {type(opt).__name__}")
        return opt
    raise ValueError(f"base must be a name {BASE_OPTIMIZERS.names()} or a callable, got {type(base).__name__}")


class GameOptimizer:
    """Base class: subclasses implement :meth:`_step` and return a :class:`StepRecord`.

    A subclass is made available by name with ``@OPTIMIZERS.register(name)``;
    its options are the keyword-only parameters of its constructor. It also
    writes its update on the bilinear game in closed form
    (:meth:`bilinear_update_map`), the reference its steps are tested against.

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

    def __init__(self, *, lr: float = 0.01, base="sgd", base_kwargs: dict | None = None):
        self.lr = check_positive(lr, "lr")
        self.base = base
        self.base_kwargs = dict(base_kwargs or {})
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
        past fields; its first step, without a past, differs). Each optimiser
        writes :math:`M` from its update rule (eqs. (3.3)-(3.10)), independently
        of the code of its step, with its own hyper-parameters.

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
        NotImplementedError
            If the optimiser does not define its closed form.
        """
        if not (isinstance(self.base, str) and self.base.lower() == "sgd" and not self.base_kwargs):
            raise ValueError(f"the update map is linear only with the plain SGD base (base='sgd', no base_kwargs); "
                             f"this optimiser has base={self.base!r}, base_kwargs={self.base_kwargs}")
        from ..bilinear import bilinear_jacobian

        A = np.asarray(A, dtype=np.float64)
        return self._bilinear_map(A, bilinear_jacobian(A))

    def _bilinear_map(self, A: np.ndarray, J: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not write its update map on the bilinear game; "
                                  f"define _bilinear_map(A, J)")

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
