r"""Run game optimisers on games and compare them over seeds: typed tables and PNG curves.

:func:`run_optimizer` runs one optimiser on one game (a :class:`RunResult`); :func:`compare_optimizers` runs
every optimiser over every seed on fresh games (a :class:`Comparison` of :class:`ComparisonRow` records, with
:meth:`Comparison.format` and :meth:`Comparison.plot`). The metric is :func:`default_metric`'s unless one is given.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from .._threads import with_thread_policy
from .._checks import NonFiniteError, check_bool, check_int, check_number
from ..regularizers.schedules import Schedule
from ..status import Status, StatusCode
from ..train.checkpoint import CheckpointError
from ..train.history import History
from ..train.loop import CHECKPOINT_FORMAT, Loop, check_checkpointing
from .game import Game, check_game
from .optimizers import GameOptimizer, make_optimizer

__all__ = ["RunResult", "ComparisonRow", "Comparison", "run_optimizer", "compare_optimizers", "default_metric"]


@dataclass(frozen=True)
class RunResult:
    r"""One run of :func:`run_optimizer`: the metric at ``eval_steps``, :math:`\|v\|` per step, the status.

    Parameters
    ----------
    optimizer : str
        Display name of the optimiser.
    seed : int
        The seed the run was labelled with.
    steps : int
        Number of steps taken (the last completed or attempted step).
    metric_name : str
        Name of the metric.
    eval_steps : numpy.ndarray
        Shape ``(E,)``, int: the steps at which the metric was evaluated (0 first).
    metric : numpy.ndarray
        Shape ``(E,)``, float64: the metric at ``eval_steps``.
    field_norms : numpy.ndarray
        Shape ``(steps,)``, float64: :math:`\|v\|` (eq. (3.1) of the theory page) at the start of each step.
    seconds_per_step : float
        Mean wall time of one optimiser step, in seconds (metric evaluations not timed).
    status : dualgan.status.Status
        How the run ended: ``SUCCESS``, ``NON_FINITE`` or ``NUMERICAL_ERROR``, as :func:`run_optimizer` says.
    trajectory : numpy.ndarray, optional
        Shape ``(steps + 1, n)``: the flat parameters after each step (initial point first); None unless recorded.
    """

    optimizer: str
    seed: int
    steps: int
    metric_name: str
    eval_steps: np.ndarray
    metric: np.ndarray
    field_norms: np.ndarray
    seconds_per_step: float
    status: Status
    trajectory: np.ndarray | None = None

    @property
    def final_metric(self) -> float:
        return float(self.metric[-1]) if len(self.metric) else float("nan")

    @property
    def final_field_norm(self) -> float:
        return float(self.field_norms[-1]) if len(self.field_norms) else float("nan")


@dataclass(frozen=True)
class ComparisonRow:
    """One (optimiser, seed) line of a comparison table.

    Parameters
    ----------
    optimizer : str
        Display name of the optimiser.
    seed : int
        The seed of the game.
    final_metric : float
        The metric at the end of the run (NaN if never evaluated).
    best_metric : float
        The best metric of the run (highest or lowest, as the metric says).
    final_field_norm : float
        :math:`\\|v\\|` at the start of the last step.
    seconds_per_step : float
        Mean wall time of one step, in seconds.
    steps : int
        Number of steps taken.
    status : dualgan.status.Status
        How the run ended (:attr:`RunResult.status`).
    """

    optimizer: str
    seed: int
    final_metric: float
    best_metric: float
    final_field_norm: float
    seconds_per_step: float
    steps: int
    status: Status


@dataclass(frozen=True)
class Comparison:
    """All runs of :func:`compare_optimizers`; ``rows`` in (optimiser, seed) order.

    Parameters
    ----------
    metric_name : str
        Name of the metric.
    higher_is_better : bool
        Whether a larger metric is better (modes covered) or a smaller one (distance).
    rows : tuple of ComparisonRow
        One row per (optimiser, seed).
    runs : tuple of RunResult
        The full runs, in the order of ``rows``.
    """

    metric_name: str
    higher_is_better: bool
    rows: tuple
    runs: tuple

    def format(self) -> str:
        """The table as aligned text (one line per run, then a mean per optimiser)."""
        head = (f"{'optimizer':16s} {'seed':>4s} {'final ' + self.metric_name:>22s} {'best':>11s} "
                f"{'final ||v||':>11s} {'ms/step':>8s} {'steps':>6s}  status")
        lines = [head, "-" * len(head)]
        for r in self.rows:
            lines.append(f"{r.optimizer:16s} {r.seed:4d} {r.final_metric:22.4g} {r.best_metric:11.4g} "
                         f"{r.final_field_norm:11.3g} {1e3 * r.seconds_per_step:8.2f} {r.steps:6d}  {r.status}")
        lines.append("-" * len(head))
        for name in dict.fromkeys(r.optimizer for r in self.rows):
            sel = [r for r in self.rows if r.optimizer == name]
            finals = np.array([r.final_metric for r in sel])
            lines.append(f"{name:16s} mean {np.mean(finals):22.4g} (min {np.min(finals):.4g}, max {np.max(finals):.4g}) "
                         f"{1e3 * np.mean([r.seconds_per_step for r in sel]):8.2f} ms/step")
        return "\n".join(lines)

    def plot(self, path, log_scale: bool | None = None) -> str:
        """PNG with the metric (left) and :math:`\\|v\\|` (right) against the step, one colour per optimiser.

        Parameters
        ----------
        path : str or os.PathLike
            The PNG file to write (atomically).
        log_scale : bool, optional
            Plot the absolute metric on a log scale. Default None: when a smaller metric is better.

        Returns
        -------
        str
            The path written.
        """
        from .._io import new_figure, save_figure

        if log_scale is None:
            log_scale = not self.higher_is_better
        fig, axes = new_figure(1, 2, figsize=(11, 4))
        colours = {}
        for run in self.runs:
            label = None if run.optimizer in colours else run.optimizer  # one legend entry per optimiser
            colour = colours.setdefault(run.optimizer, f"C{len(colours) % 10}")
            axes[0].plot(run.eval_steps, np.abs(run.metric) if log_scale else run.metric, color=colour, lw=1,
                         alpha=0.8, label=label)
            axes[1].plot(np.arange(1, len(run.field_norms) + 1), run.field_norms, color=colour, lw=0.8, alpha=0.7)
        if log_scale:
            axes[0].set_yscale("log")
        axes[0].set(xlabel="step", ylabel=self.metric_name)
        axes[1].set(xlabel="step", ylabel="||v||", yscale="log")
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        save_figure(fig, path, dpi=110)  # atomic: temporary file, then rename
        return str(path)


def default_metric(game: Game) -> tuple:
    """``(name, callable, higher_is_better)`` for the built-in games.

    Parameters
    ----------
    game : Game
        A game with ``coverage()`` (modes covered, higher is better) or ``distance_to_equilibrium()`` (lower is better).

    Returns
    -------
    tuple of (str, callable, bool)
        The metric's name, ``callable(game) -> float`` and whether higher is better.

    Raises
    ------
    ValueError
        If the game has neither method.
    """
    if hasattr(game, "coverage"):
        return "modes covered", lambda g: float(g.coverage().modes_covered), True
    if hasattr(game, "distance_to_equilibrium"):
        return "distance to equilibrium", lambda g: g.distance_to_equilibrium(), False
    raise ValueError("the game has no default metric; pass metric=(name, callable(game) -> float)")


@with_thread_policy  # torch and BLAS threads: the library's one policy (dualgan/_threads.py)
def run_optimizer(game: Game, optimizer: GameOptimizer, n_steps: int, metric=None, eval_every: int = 1,
                  record_trajectory: bool = False, resample: bool = True, stop_below: float | None = None,
                  diverge_above: float = 1e12, progress: bool = False, name: str | None = None,
                  seed: int = 0, checkpoint_path=None, checkpoint_every: int = 0, resume_from=None) -> RunResult:
    r"""Run ``n_steps`` steps of ``optimizer`` on ``game`` (a new batch before each step when the game has one).

    The update rules are eqs. (3.3)-(3.10) of the theory page. The metric is evaluated (not timed) at step 0,
    every ``eval_every`` steps and at the end. The run is the library's one loop
    (:class:`~dualgan.train.loop.Loop`); its checkpoints have the trainers' format, with the game, the optimiser
    and the curves as parts. It ends with ``SUCCESS`` after the last step (``"ran all N steps"``) or once the
    metric reaches ``stop_below`` (``"converged at step t: ..."``); ``NON_FINITE`` when a step's field or losses,
    :math:`\|v\|` or the metric is NaN or infinite (a step with a non-finite field is not applied);
    ``NUMERICAL_ERROR`` when the metric's modulus or :math:`\|v\|` passes ``diverge_above`` while finite
    (``"diverged at step t: ..."``: a step size outside its stability region, eq. (3.11)) or when a step's own
    solve fails (e.g. competitive GD's inner conjugate gradient; the step's message).

    Parameters
    ----------
    game : Game
        The game to run (its parameters are updated in place).
    optimizer : GameOptimizer
        A fresh optimiser (or the one bound to ``game``).
    n_steps : int
        Number of steps (>= 1).
    metric : tuple, optional
        ``(name, callable(game) -> float[, higher_is_better])``. Default None: :func:`default_metric`.
    eval_every : int, default 1
        Evaluate the metric every this many steps (>= 1).
    record_trajectory : bool, default False
        Keep the flat parameters after every step (:attr:`RunResult.trajectory`).
    resample : bool, default True
        Draw a new batch before each step when the game has ``resample()``.
    stop_below : float, optional
        End with ``SUCCESS`` once the metric is at or below this value. Default None: never.
    diverge_above : float, default 1e12
        End with ``NUMERICAL_ERROR`` once the metric's modulus or :math:`\|v\|` exceeds this value (> 0, inf allowed).
    progress : bool, default False
        Show a tqdm progress bar.
    name : str, optional
        Display name of the run. Default None: the optimiser's ``name`` attribute, else its class name.
    seed : int, default 0
        The seed the run is labelled with (>= 0; it seeds nothing).
    checkpoint_path : str or os.PathLike, optional
        File to write (atomically) the game's and the optimiser's state and the curves to. Default None: none.
    checkpoint_every : int, default 0
        Write a checkpoint every this many steps (0: never; > 0 needs ``checkpoint_path``).
    resume_from : str or os.PathLike, optional
        A checkpoint of this function (or of the layout dualgan 0.1.0 wrote before the one format) to continue
        from, bit for bit, with a freshly built game and optimiser of the same settings. Default None: step 0.

    Returns
    -------
    RunResult
        The curves, the mean time per step and how the run ended (:attr:`RunResult.status`).

    Raises
    ------
    ValueError
        If ``n_steps`` or ``eval_every`` is not a positive integer, ``checkpoint_every`` or ``seed`` is not a
        non-negative integer (``bool`` and floats are refused, numpy integers accepted), ``stop_below`` is not a
        finite number or None, ``diverge_above`` is not a number > 0, a flag is not a bool, ``checkpoint_every``
        is set without ``checkpoint_path``, the metric is invalid, or ``n_steps`` is below ``resume_from``'s step.
    TypeError
        If ``game`` is not a :class:`Game` or ``optimizer`` is not a :class:`GameOptimizer` (a name is refused).
    CheckpointError
        If ``resume_from`` is not a game-run checkpoint.
    """
    n_steps = check_int(n_steps, "n_steps", low=1)
    eval_every = check_int(eval_every, "eval_every", low=1)
    seed = check_int(seed, "seed", low=0)
    record_trajectory, resample = check_bool(record_trajectory, "record_trajectory"), check_bool(resample, "resample")
    progress = check_bool(progress, "progress")
    checkpoint_path, checkpoint_every = check_checkpointing(checkpoint_path, checkpoint_every)
    check_game(game)
    if not isinstance(optimizer, GameOptimizer):
        raise TypeError(f"optimizer must be a GameOptimizer, got {type(optimizer).__name__} {optimizer!r:.60}; "
                        f"build one with make_optimizer(name, lr=...), e.g. make_optimizer('consensus', lr=0.1)")
    display = name or getattr(optimizer, "name", type(optimizer).__name__)
    run = _GameRun(game, optimizer, _resolve_metric(game, metric)[:2], n_steps=n_steps, eval_every=eval_every,
                   record_trajectory=record_trajectory, resample=resample,
                   stop_below=check_number(stop_below, "stop_below", allow_none=True),
                   diverge_above=check_number(diverge_above, "diverge_above", low=0.0, low_open=True, allow_inf=True),
                   label=display)
    if resume_from is not None:
        run.load_checkpoint(resume_from)
        if run.iteration > n_steps:
            raise ValueError(f"n_steps={n_steps} is below the checkpoint's step {run.iteration} ({resume_from}); "
                             f"n_steps counts from step 0: pass n_steps >= {run.iteration}")
    else:
        run.start()
    run._loop(n_steps, progress=progress, checkpoint_path=checkpoint_path, checkpoint_every=checkpoint_every)
    taken = run.iteration
    return RunResult(display, seed, taken, run.metric_name, np.asarray(run.eval_steps),
                     np.asarray(run.values, dtype=float), run.history["field_norm"] if taken else np.zeros(0),
                     run._elapsed / max(taken, 1), run.status, np.asarray(run.traj) if record_trajectory else None)


class GameMixin:
    """What every run of ``self.game`` by ``self.game_optimizer`` shares: the step and the checkpoint parts."""

    def _play(self):
        """One optimiser step; a regulariser's weight schedule advances once per applied step (eq. (5.12))."""
        record = self.game_optimizer.step(self.game)
        if record.ok:
            for regularizer in getattr(self.game, "regularizers", ()):
                schedule = getattr(regularizer, "schedule", None)
                if isinstance(schedule, Schedule):
                    schedule.step()
        return record

    def _extra_state(self) -> dict:
        return {"game": self.game.state_dict(), "optimizer": self.game_optimizer.state_dict()}

    def _validate_extra_state(self, saved: dict) -> None:
        """Each part checks its own saved state (the game its values, the optimiser its keys and moments)."""
        try:
            self.game.check_state_dict(saved.get("game"))
        except ValueError as exc:
            raise CheckpointError(f"its game state does not fit this game ({exc}); build the game (a trainer: its "
                                  f"generator and discriminator) as the checkpoint's, or use an earlier copy") from exc
        self.game_optimizer.check_state_dict(saved.get("optimizer"), self.game.parameters)

    def _load_extra_state(self, saved: dict) -> None:
        self.game.load_state_dict(saved["game"])
        self.game_optimizer.load_state_dict(saved["optimizer"], self.game)


class _GameRun(GameMixin, Loop):
    """One optimiser on one object game on the library's one loop: a row per step (``field_norm``; ``seconds``
    of the steps alone), the metric when due; its checkpoint parts are the game, the optimiser and the curves."""

    kind = "game_run"
    _final_checkpoint = False      # written mid-run only: a game run's checkpoint is always resumable
    _part_names = ("game", "optimizer", "curves")

    def __init__(self, game, optimizer, metric, *, n_steps, eval_every, record_trajectory, resample, stop_below,
                 diverge_above, label):
        self._start_loop()
        self._label, self.n_steps = label, n_steps
        self.game, self.game_optimizer = game, optimizer
        (self.metric_name, self.metric_fn), self.eval_every = metric, eval_every
        self.record_trajectory, self.resample = record_trajectory, resample
        self.stop_below, self.diverge_above = stop_below, diverge_above
        self.eval_steps, self.values, self.traj = [], [], []

    def start(self) -> None:
        self.eval_steps, self.values = [0], [self.metric_fn(self.game)]
        if self.record_trajectory:
            self.traj.append(self.game.get_flat().cpu().numpy())

    def _meta(self) -> dict:
        return {"kind": self.kind, "game": type(self.game).__name__, "optimizer": type(self.game_optimizer).__name__}

    def _final_status(self, iterations: int) -> Status:
        return Status(StatusCode.SUCCESS, f"ran all {iterations} steps")

    def _step(self) -> dict:
        t = self.iteration + 1
        if self.resample and hasattr(self.game, "resample"):
            with self._not_timed():
                self.game.resample()
        record = self._play()
        if not record.ok:  # NON_FINITE (the step was not applied) or the step's own failure, e.g. its solve
            detail = f": {record.status.message}" if record.status.message else ""
            self.ending = Status(record.status.code, f"step {t}{detail}")
        else:
            with self._not_timed():
                self.ending = self._observe(t, record.field_norm)
        return {"field_norm": record.field_norm}

    def _observe(self, t: int, norm: float) -> Status | None:
        """After an applied step: the trajectory, the metric when due, and whether the run ends here."""
        if self.record_trajectory:
            self.traj.append(self.game.get_flat().cpu().numpy())
        if t % self.eval_every == 0 or t == self.n_steps:
            self.eval_steps.append(t)
            try:
                self.values.append(self.metric_fn(self.game))
            except NonFiniteError as exc:  # e.g. samples that overflowed to inf: a clean ending, not a crash
                self.values.append(math.nan)
                return Status(StatusCode.NON_FINITE, f"metric at step {t}: {exc}")
            value, name = self.values[-1], self.metric_name
            if not math.isfinite(value):
                return Status(StatusCode.NON_FINITE, f"metric {name!r} is {value} at step {t}")
            if self.stop_below is not None and value <= self.stop_below:
                return Status(StatusCode.SUCCESS, f"converged at step {t}: {name} {value:.6g} <= stop_below "
                                                  f"{self.stop_below:.6g}")
            if abs(value) > self.diverge_above:
                return Status(StatusCode.NUMERICAL_ERROR, f"diverged at step {t}: |{name}| {abs(value):.6g} > "
                                                          f"diverge_above {self.diverge_above:.6g}")
        if not math.isfinite(norm):
            return Status(StatusCode.NON_FINITE, f"||v|| is {norm} at step {t}")
        if norm > self.diverge_above:
            return Status(StatusCode.NUMERICAL_ERROR, f"diverged at step {t}: ||v|| {norm:.6g} > diverge_above "
                                                      f"{self.diverge_above:.6g}")
        return None

    # ------------------------------------------------------------------ checkpoint parts
    def _parts(self) -> dict:
        return {**self._extra_state(),
                "curves": {"eval_steps": list(self.eval_steps), "values": [float(v) for v in self.values],
                           "traj": [torch.as_tensor(x) for x in self.traj]}}

    def _check_saved_status(self, status: Status) -> None:
        if status.code is not StatusCode.RUNNING:
            raise CheckpointError(f"its status is {status.code.value!r}, but a game-run checkpoint is written "
                                  f"mid-run ('running'); the file is inconsistent, use an earlier copy")

    def _validate_parts(self, payload: dict) -> None:
        curves = payload["curves"]
        if not isinstance(curves, dict) or sorted(curves) != ["eval_steps", "traj", "values"]:
            raise CheckpointError("its curves are not {'eval_steps', 'values', 'traj'}; use an earlier copy")
        self._validate_extra_state(payload)

    def _apply_parts(self, payload: dict) -> None:
        self._load_extra_state(payload)
        curves = payload["curves"]
        self.eval_steps, self.values = list(curves["eval_steps"]), list(curves["values"])
        self.traj = [np.asarray(x) for x in curves["traj"]]

    def _upgrade(self, payload):
        """A checkpoint of run_optimizer's own layout (dualgan 0.1.0 before the one format) in today's format."""
        old = ("game", "optimizer", "t", "elapsed", "eval_steps", "values", "norms", "traj", "status")
        if not isinstance(payload, dict) or "format" in payload or "t" not in payload:
            return payload
        missing = [k for k in old if k not in payload]
        if missing:
            raise CheckpointError(f"it has the game-run layout of dualgan 0.1.0 (before game runs wrote the one "
                                  f"checkpoint format {CHECKPOINT_FORMAT!r}) but lacks {missing}; use an earlier copy")
        history = History(meta=self._meta())
        for k, norm in enumerate(payload["norms"]):
            history.append(iteration=k, field_norm=norm, seconds=math.nan)   # that layout kept no times per step
        curves = {k: payload[k] for k in ("eval_steps", "values", "traj")}
        return {"format": CHECKPOINT_FORMAT, "kind": self.kind, "settings": self._meta(), "iteration": payload["t"],
                "elapsed": payload["elapsed"], "history": history.to_dict(), "status": payload["status"],
                "game": payload["game"], "optimizer": payload["optimizer"], "curves": curves}


def compare_optimizers(make_game: Callable[[int], Game], optimizers: dict, seeds: Sequence[int] = (0, 1, 2),
                       n_steps: int = 1000, metric=None, eval_every: int = 10, stop_below: float | None = None,
                       diverge_above: float = 1e12, progress: bool = False) -> Comparison:
    """Run every optimiser on ``make_game(seed)`` for every seed (:func:`run_optimizer` each time).

    Parameters
    ----------
    make_game : callable
        ``seed -> Game``: builds a fresh game for each run.
    optimizers : dict
        Display name -> a zero-argument factory of a fresh :class:`GameOptimizer`, or ``(registered_name, kwargs)``.
    seeds : sequence of int, default (0, 1, 2)
        The seeds (>= 0); every optimiser runs once per seed.
    n_steps : int, default 1000
        Steps per run (>= 1).
    metric : tuple, optional
        As in :func:`run_optimizer`. Default None: :func:`default_metric`.
    eval_every : int, default 10
        Evaluate the metric every this many steps (>= 1).
    stop_below : float, optional
        As in :func:`run_optimizer`. Default None: never stop early.
    diverge_above : float, default 1e12
        As in :func:`run_optimizer`.
    progress : bool, default False
        Show a tqdm progress bar per run.

    Returns
    -------
    Comparison
        The rows (one per optimiser and seed) and the full runs.

    Raises
    ------
    ValueError
        If ``make_game`` is not callable, ``optimizers`` or ``seeds`` is empty, a seed is not a non-negative
        integer, ``n_steps`` or ``eval_every`` is not a positive integer, or an optimiser entry is invalid.
    TypeError
        If ``optimizers`` is not a dict.
    """
    if not callable(make_game):
        raise ValueError("make_game must be a callable seed -> Game")
    if not isinstance(optimizers, dict):
        raise TypeError(f"optimizers must be a dict {{display name: factory or (registered name, kwargs)}}, got "
                        f"{type(optimizers).__name__} {optimizers!r:.60}")
    if not optimizers:
        raise ValueError("optimizers is empty; give {display name: factory or (registered name, kwargs)}")
    seeds = check_seeds(seeds)
    n_steps = check_int(n_steps, "n_steps", low=1)
    eval_every = check_int(eval_every, "eval_every", low=1)
    rows, runs, higher, metric_name = [], [], False, None
    for display, spec in optimizers.items():
        for seed in seeds:
            game = make_game(seed)
            metric_name, fn, higher = _resolve_metric(game, metric)
            optimizer = _build(display, spec)
            run = run_optimizer(game, optimizer, n_steps, (metric_name, fn), eval_every, stop_below=stop_below,
                                diverge_above=diverge_above, progress=progress, name=display, seed=seed)
            runs.append(run)
            best = np.nanmax(run.metric) if higher else np.nanmin(run.metric)
            rows.append(ComparisonRow(display, seed, run.final_metric, float(best), run.final_field_norm,
                                      run.seconds_per_step, run.steps, run.status))
    return Comparison(metric_name, higher, tuple(rows), tuple(runs))


def check_seeds(seeds) -> tuple:
    """A non-empty sequence of non-negative integer seeds, as a tuple (a ValueError naming the bad entry)."""
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise ValueError(f"seeds must be a sequence of non-negative integers, got {seeds!r}")
    seeds = tuple(check_int(s, f"seeds[{i}]", low=0) for i, s in enumerate(seeds))
    if not seeds:
        raise ValueError("seeds is empty; give at least one seed")
    return seeds


def _resolve_metric(game, metric):
    if metric is None:
        return default_metric(game)
    if isinstance(metric, tuple) and len(metric) in (2, 3) and callable(metric[1]):
        return str(metric[0]), metric[1], len(metric) == 3 and bool(metric[2])
    raise ValueError("metric must be None or (name, callable(game) -> float[, higher_is_better])")


def _build(display, spec) -> GameOptimizer:
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], dict):
        return make_optimizer(spec[0], **spec[1])
    if callable(spec):
        opt = spec()
        if not isinstance(opt, GameOptimizer):
            raise ValueError(f"optimizer factory {display!r} must return a GameOptimizer, got {type(opt).__name__}")
        return opt
    raise ValueError(f"optimizers[{display!r}] must be a factory or (registered name, kwargs dict), got {spec!r:.60}")
