r"""The batched runner: one optimiser on a batch of cells (seeds x hyper-parameters) on the library's one loop.

A cell that stops being finite or passes ``diverge_above`` is frozen at its last finite iterate and
flagged (:attr:`BatchedRun.diverged`); no NaN is turned into a number. The update rules and their
papers: eqs. (3.3)-(3.10) and section 3 of the theory page.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .._checks import check_bool, check_finite_tensor, check_int, check_number
from .._threads import with_thread_policy
from ..status import Status, StatusCode
from ..train.loop import Loop
from .catalogue import as_functional
from .functional import BatchedPoint, FunctionalGame
from .harness import check_seeds
from .optimizers._base_optimizers import functional_base
from .optimizers._rowwise import rownorm as _rownorm
from .optimizers.base import OPTIMIZERS, GameOptimizer, NotBatchableError

__all__ = ["BatchedRun", "batched_run"]


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
        Each cell's coefficient (NaN where the method has none).
    final_params : ndarray of shape (B, n)
        The last iterate (the last finite one for a diverged cell).
    initial_distance : ndarray of shape (B,)
        :math:`\|z_0 - z^*\|_2` (NaN if the game has no equilibrium).
    final_distance : ndarray of shape (B,)
        :math:`\|z_T - z^*\|_2` at the last iterate (NaN if the game has no equilibrium).
    final_field_norm : ndarray of shape (B,)
        :math:`\|v\|_2` at the last iterate.
    measured_rate : ndarray of shape (B,)
        :math:`\exp` of the least-squares slope of :math:`\log\|z_t - z^*\|` over the last
        ``rate_window`` fraction of the run (steps with a distance above 1e-200); with fewer
        than two such steps there, the end-to-end rate :math:`(d_t / d_0)^{1/t}` to the last
        step t above 1e-200; NaN for diverged cells and cells that never left their start.
    diverged : ndarray of bool, shape (B,)
        The field, direction or iterate stopped being finite, or :math:`\|v\|` or the distance passed ``diverge_above``.
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


@with_thread_policy  # torch and BLAS threads: the library's one policy (dualgan/_threads.py)
def batched_run(game: FunctionalGame, optimizer: str, z0, lr, coefficient=None, n_steps: int = 1000, *,
                options: dict | None = None, base="sgd", base_kwargs: dict | None = None,
                diverge_above: float = 1e12, rate_window: float = 0.5, record_trajectory: bool = False,
                progress: bool = False, seeds=None) -> BatchedRun:
    r"""Run ``optimizer`` on every row of ``z0`` at once, each row with its own step size and coefficient.

    Every step is the optimiser's :meth:`~dualgan.games.GameOptimizer.batched_step` (its update rule,
    eqs. (3.3)-(3.10) of the theory page; competitive GD solves its system densely) with the same
    base optimiser, on all cells at once, on the library's one loop (:class:`~dualgan.train.loop.Loop`):
    one history row per step; the run ends early when every cell has diverged.

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
        Per cell, the optimiser's coefficient option (named at its registration: consensus'
        ``gamma``, SGA's ``lam``, extragradient's ``extrapolation``), checked by its constructor;
        ignored by optimisers without one. Default None: the option's default.
    n_steps : int, default 1000
        Steps per cell.
    options : dict, optional
        The optimiser's other options (``OPTIMIZERS.options(optimizer)``, e.g. SGA's ``{"align": False}``),
        the same for every cell; not ``lr``, ``base``, ``base_kwargs`` or the coefficient. Default None.
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
        Each cell's seed, for games that draw a batch every step (:attr:`FunctionalGame.sample_batch`,
        e.g. :func:`mixture_functional`; required there, ignored by the others): the cells of one seed
        share its stream (``torch.Generator().manual_seed(seed)``, one batch per step), as the per-run
        harness resamples the object game before every step.

    Returns
    -------
    BatchedRun

    Notes
    -----
    Denormals are flushed to zero during the loop (``torch.set_flush_denormal``; a converging cell
    would otherwise slow every step down past 1e-308); batches of up to a million numbers run on one
    torch thread (both restored afterwards). Only the field is evaluated, not the losses: a NaN loss
    with a finite gradient is not flagged.

    Raises
    ------
    NotBatchableError
        An optimiser not registered as batchable, a base that cannot be batched, a game the optimiser
        cannot run batched (competitive GD on a game that is not two-player or too large for a dense Jacobian).
    ValueError
        Bad shapes or values, unknown options or a coefficient the optimiser refuses (the message
        names the argument).
    """
    if not isinstance(game, FunctionalGame):
        game = as_functional(game)
    opt = _batched_optimizer(optimizer, options)
    fbase = functional_base(base, base_kwargs)
    n_steps, diverge_above, rate_window = _run_settings(n_steps, diverge_above, rate_window)
    record_trajectory, progress = check_bool(record_trajectory, "record_trajectory"), check_bool(progress, "progress")
    dt = game.dtype
    Z = torch.as_tensor(np.asarray(z0, dtype=np.float64) if not isinstance(z0, torch.Tensor) else z0).to(dt)
    if Z.ndim != 2 or Z.shape[1] != game.n or Z.shape[0] < 1:
        raise ValueError(f"z0 must have shape (B, {game.n}) (one initial point per cell), got {tuple(Z.shape)}")
    if Z.device.type != "cpu":
        raise ValueError(f"z0 is on {Z.device}; the batched runner runs on the CPU (its cost is per-step overhead, "
                         f"not arithmetic): pass z0.cpu()")
    Z = check_finite_tensor(Z, "z0").clone()
    B = Z.shape[0]
    h = _as_batch(lr, B, "lr", dt, positive=True)
    coef_name, default = _coefficient(optimizer)
    c = None
    if coef_name is not None:
        c = _as_batch(default if coefficient is None else coefficient, B, "coefficient", dt)
        _check_coefficients(optimizer, c.double().numpy(), options)
    samplers = seed_index = None
    cell_seeds = None if seeds is None else check_seeds(seeds)     # checked where they are ignored too
    if game.sample_batch is not None:
        if seeds is None:
            raise ValueError(f"game {game.name!r} draws a batch every step: pass seeds=(one seed per cell), the "
                             f"seed of each cell's batch stream")
        if len(cell_seeds) != B:
            raise ValueError(f"seeds must give one seed per cell ({B}), got {len(cell_seeds)}")
        unique = sorted(set(cell_seeds))
        samplers = [torch.Generator().manual_seed(u) for u in unique]
        seed_index = torch.tensor([unique.index(v) for v in cell_seeds], dtype=torch.long)
    run = _BatchedCells(game, opt, fbase, Z, h, c, samplers, seed_index, diverge_above=diverge_above,
                        rate_from=int(math.floor(n_steps * (1 - float(rate_window)))),
                        record_trajectory=record_trajectory, label=f"{optimizer} x {B} cells")
    torch.set_flush_denormal(True)
    try:
        run._loop(n_steps, progress=progress)
    finally:
        torch.set_flush_denormal(False)
    return run.result(optimizer)


# ================================================================================ checks shared with the maps
def _run_settings(n_steps, diverge_above, rate_window) -> tuple:
    """``n_steps``, ``diverge_above`` and ``rate_window`` checked, in that order."""
    return (check_int(n_steps, "n_steps", low=1),
            check_number(diverge_above, "diverge_above", low=0.0, low_open=True, allow_inf=True),
            check_number(rate_window, "rate_window", low=0.0, high=1.0, low_open=True))


def _real_values(values, name, positive=False) -> np.ndarray:
    """A finite number or a non-empty 1-D sequence of finite numbers (all > 0 if ``positive``), as float64."""
    raw = np.asarray(values)
    if raw.dtype.kind not in "iuf" or raw.ndim > 1 or raw.size == 0 or not np.all(np.isfinite(raw)):
        raise ValueError(f"{name} must be a finite number or a non-empty 1-D sequence of finite numbers, got "
                         f"{values!r:.60}")
    arr = np.atleast_1d(raw.astype(np.float64))
    if positive and np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0, got {arr.tolist()!r:.80}")
    return arr


def _as_batch(values, B, name, dtype, positive=False):
    """One value per cell (a number repeated, or ``B`` numbers: :func:`_real_values`) as a tensor of ``dtype``."""
    arr = _real_values(np.ravel(values), name, positive)     # any shape holding one value per cell
    if arr.size not in (1, B):
        raise ValueError(f"{name} must be a scalar or have one value per cell ({B}), got {arr.size} values")
    t = torch.as_tensor(arr, dtype=dtype).expand(B).clone()
    if not bool(torch.isfinite(t).all()) or (positive and not bool((t > 0).all())):   # rounded to the game's dtype
        raise ValueError(f"{name} must be finite in the game's dtype {dtype}{' and > 0' if positive else ''}, got "
                         f"{arr.tolist()!r:.80}")
    return t


def _batched_optimizer(name, options) -> GameOptimizer:
    """The optimiser ``name`` built with ``options`` (the per-cell ones excluded), if it can be batched."""
    batchable = OPTIMIZERS.names(batchable=True)
    if not isinstance(name, str) or name not in batchable:
        raise NotBatchableError(f"optimiser {name!r} cannot be batched; the batched runner knows {batchable} (use "
                                f"dualgan.games.run_optimizer for others)")
    return OPTIMIZERS.get(name)(**_shared_options(name, options, "per run or per cell here: pass lr=, base=, "
                                                                 "base_kwargs= and coefficient= instead of options"))


def _shared_options(name, options, instead: str) -> dict:
    """The optimiser's options shared by every cell, checked: not lr, base, base_kwargs or its coefficient."""
    options = OPTIMIZERS.check_options(name, options)
    coef_name = _coefficient(name)[0]
    per_cell = sorted(set(options) & {"lr", "base", "base_kwargs", coef_name})
    if per_cell:
        raise ValueError(f"options {per_cell} of {name!r} are {instead} ({name}'s coefficient: {coef_name})")
    return options


def _coefficient(name) -> tuple:
    """The optimiser's coefficient option (named at its registration) and its default; (None, None) if none."""
    coef_name = OPTIMIZERS.entry(name).info.get("coefficient")
    return coef_name, (None if coef_name is None else float(OPTIMIZERS.options(name)[coef_name]))


def _refused_coefficients(name, values, options) -> dict:
    """The coefficient values the optimiser's constructor refuses (its own range check), with its ValueError."""
    coef_name, refused = _coefficient(name)[0], {}
    for value in values:
        try:
            OPTIMIZERS.get(name)(**dict(options or {}), **{coef_name: float(value)})
        except ValueError as exc:
            refused[float(value)] = exc
    return refused


def _check_coefficients(name, values, options) -> None:
    """Raise for the smallest coefficient value the optimiser refuses."""
    for value, exc in _refused_coefficients(name, np.unique(values), options).items():
        raise ValueError(f"coefficient ({name}'s {_coefficient(name)[0]}) {value!r} is refused: {exc}") from exc


# ============================================================================================ the loop
class _BatchedCells(Loop):
    """Every cell of a batched run on the library's one loop; the run ends early when no cell is active."""

    kind = "batched_run"

    def __init__(self, game, opt, fbase, Z, h, c, samplers, seed_index, *, diverge_above, rate_from,
                 record_trajectory, label):
        self._start_loop()
        self._label = label
        self.game, self.opt, self.fbase, self.Z, self.h, self.c = game, opt, fbase, Z, h, c
        self.samplers, self.seed_index = samplers, seed_index
        self.diverge_above, self.rate_from = diverge_above, rate_from
        self.memory, self.state = opt.batched_init(game, Z), fbase.init(Z)
        B = Z.shape[0]
        self.active = torch.ones(B, dtype=torch.bool)
        self.diverged_at = torch.full((B,), -1, dtype=torch.long)
        self.d0 = self.dist(Z)
        self.acc = {k: torch.zeros(B, dtype=torch.float64) for k in ("n", "t", "tt", "y", "ty")}
        # fallback: the end-to-end rate up to the last step above the floor
        self.last_d, self.last_t = self.d0.to(torch.float64).clone(), torch.zeros(B, dtype=torch.long)
        self.traj = [Z.clone()] if record_trajectory else None

    def dist(self, X):
        eq = self.game.equilibrium
        return _rownorm(X - eq) if eq is not None else torch.full((X.shape[0],), float("nan"), dtype=X.dtype)

    def _move(self, Zc, D, lr_cells, mask=None):
        Zn, self.state = self.fbase.step(Zc, D, lr_cells, self.state, mask)
        return Zn

    def _step(self) -> dict:
        t, game = self.iteration + 1, self.game
        data = _draw(game, self.samplers, self.seed_index) if self.samplers is not None else ()
        p = BatchedPoint(game, self.Z, data)
        vnorm = _rownorm(p.v)
        # a non-finite field or direction reaches Zn (checked below); a step that can fail otherwise says so
        Zn, self.memory, finite = self.opt.batched_step(p, self.h.unsqueeze(1),
                                                        None if self.c is None else self.c.unsqueeze(1),
                                                        self._move, self.memory)
        if game.project is not None:
            Zn = game.project(Zn)
        dn = self.dist(Zn)
        # a NaN or an infinity in v, in the direction or in the look-ahead reaches Zn (IEEE arithmetic:
        # the base steps and the clipping propagate it), so the field norm and the new iterate decide
        good = vnorm <= self.diverge_above
        good &= (dn <= self.diverge_above) if game.equilibrium is not None else torch.isfinite(Zn).all(dim=1)
        if finite is not None:
            good &= finite
        self.diverged_at = torch.where(self.active & ~good, t, self.diverged_at)
        self.active = self.active & good
        self.Z = torch.where(self.active.unsqueeze(1), Zn, self.Z)
        if game.equilibrium is not None:
            self._accumulate(t, dn)
        if self.traj is not None:
            self.traj.append(self.Z.clone())
        if not bool(self.active.any()):
            self.ending = Status(StatusCode.SUCCESS, f"every cell diverged by step {t}")
        return {"active_cells": float(self.active.sum())}

    def _accumulate(self, t, dn, floor=1e-200):
        """The least-squares sums of log distance against the step over the rate window, and the fallback."""
        ok_pt = self.active & (dn > floor)
        if t > self.rate_from:
            acc = self.acc
            y = torch.log(torch.where(ok_pt, dn, 1.0))
            w = ok_pt.to(torch.float64)
            tt = float(t - self.rate_from)
            acc["n"] += w
            acc["t"] += w * tt
            acc["tt"] += w * (tt * tt)
            wy = w * y
            acc["y"] += wy
            acc["ty"] += wy * tt
        self.last_d = torch.where(ok_pt, dn, self.last_d)
        self.last_t = torch.where(ok_pt, t, self.last_t)

    def result(self, optimizer: str) -> BatchedRun:
        game, Z, active, d0 = self.game, self.Z, self.active, self.d0
        # ||v|| at the last iterate, on one more batch of each seed's stream
        data = _draw(game, self.samplers, self.seed_index) if self.samplers is not None else ()
        final_v = game.field(Z, data).norm(dim=1)
        rate = _slope_rate(self.acc)
        with np.errstate(all="ignore"):
            rate_all = torch.where(self.last_t > 0,
                                   (self.last_d / d0.to(torch.float64)) ** (1.0 / self.last_t.clamp(min=1)),
                                   torch.full_like(rate, float("nan")))
        rate = torch.where(torch.isnan(rate), rate_all, rate)
        rate = torch.where(active, rate, torch.full_like(rate, float("nan")))
        coef_out = np.full(Z.shape[0], np.nan) if self.c is None else self.c.double().numpy()
        return BatchedRun(optimizer, self.fbase.name, self.h.double().numpy(), coef_out, Z.double().numpy(),
                          d0.double().numpy(), self.dist(Z).double().numpy(), final_v.double().numpy(), rate.numpy(),
                          (~active).numpy(), self.diverged_at.numpy(), self.iteration, self._elapsed,
                          torch.stack(self.traj).double().numpy() if self.traj is not None else None)


def _draw(game, samplers, seed_index):
    """One batch per seed stream, gathered to the cells: a tuple of (B, ...) tensors in the game's dtype."""
    per_seed = [tuple(torch.as_tensor(t).to(game.dtype) for t in game.sample_batch(gen)) for gen in samplers]
    return tuple(torch.stack([b[k] for b in per_seed])[seed_index] for k in range(len(per_seed[0])))


def _slope_rate(acc):
    """exp of the least-squares slope from the sums of :meth:`_BatchedCells._accumulate` (NaN: under two points)."""
    n = acc["n"]
    den = n * acc["tt"] - acc["t"] ** 2
    num = n * acc["ty"] - acc["t"] * acc["y"]
    ok = (n >= 2) & (den > 0)
    slope = torch.where(ok, num / torch.where(ok, den, 1.0), torch.full_like(n, float("nan")))
    return torch.exp(slope)
