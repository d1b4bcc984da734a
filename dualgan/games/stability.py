r"""Stability maps: where each game optimiser converges over its step size and its own coefficient.

:func:`stability_map` runs every optimiser on a grid of step sizes
:math:`h` and coefficients (consensus' :math:`\gamma`, SGA's :math:`\lambda`,
extragradient's extrapolation :math:`c`) over several seeds, all cells of one
optimiser in one batched loop (:func:`dualgan.games.batched_run`), and puts
beside the measured behaviour the *exact local rate*: the spectral radius of
the optimiser's update map linearised at the equilibrium (:func:`local_update_map`,
:func:`local_rate`), which is each optimiser's own batched update applied to
the linear field :math:`v = J (z - z^*)` (:meth:`~dualgan.games.GameOptimizer.local_update_map`;
the coefficient is declared at its registration). The maps in closed form
(the table of the games guide, "Exact local rates", eqs. (3.3)-(3.11) of
the theory page) are the tests' references. SGA with sign alignment
uses :math:`\lambda = +|\lambda_0|`: the alignment product is
:math:`O(\|z - z^*\|^4)`, so for :math:`\epsilon > 0` its sign is :math:`+`
near :math:`z^*` (with :math:`\epsilon = 0` it is undetermined and
:func:`local_update_map` raises).

References: Mescheder, Nowozin, Geiger, "The Numerics of GANs", NeurIPS 2017
(consensus, the spectral analysis of update maps); Mescheder, Geiger,
Nowozin, "Which Training Methods for GANs do actually Converge?", ICML 2018
(Dirac-GAN, R1); Balduzzi et al., "The Mechanics of n-Player Differentiable
Games", ICML 2018 (SGA); Schaefer & Anandkumar, "Competitive Gradient
Descent", NeurIPS 2019; Korpelevich, "The extragradient method for finding
saddle points and other problems", Ekonomika i Matematicheskie Metody, 1976;
Daskalakis et al., "Training GANs with Optimism", ICLR 2018.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from .._checks import check_int, check_number
from .._threads import with_thread_policy
from ..status import Status, StatusCode
from .batched import (_batched_optimizer, _check_coefficients, _coefficient_default, _coefficient_name,
                      _real_values, _shared_options, batched_run)
from .catalogue import as_functional
from .harness import check_seeds
from .optimizers._base_optimizers import functional_base
from .optimizers import OPTIMIZERS

__all__ = ["local_update_map", "local_rate", "StabilityMap", "stability_map"]

#: exact rates within this of 1 are on the stability boundary (rounding of an exactly unimodular spectrum)
BOUNDARY_TOL = 1e-9


def local_update_map(method: str, jacobian, lr, coefficient=None, player_sizes=None, *, options: dict | None = None,
                     player_names=None) -> torch.Tensor:
    r"""The update map of ``method`` (plain SGD base) linearised at an equilibrium with Jacobian ``jacobian``.

    For every step size and coefficient, the map of
    :meth:`GameOptimizer.local_update_map <dualgan.games.GameOptimizer.local_update_map>`
    of ``make_optimizer(method, lr=h, <coefficient>=c, **options)`` (the table of
    this module; eqs. (3.3)-(3.10) of the theory page).

    Parameters
    ----------
    method : str
        A name of :data:`~dualgan.games.OPTIMIZERS` whose optimiser writes its linearised map
        (every built-in one: ``simultaneous``, ``alternating``, ``extragradient``,
        ``optimistic``, ``consensus``, ``sga``, ``cgd``).
    jacobian : array-like of shape (n, n)
        The game Jacobian :math:`J = \partial v / \partial z` at the equilibrium
        (float64; :meth:`FunctionalGame.jacobian_at`).
    lr : float or 1-D array of shape (L,)
        Step sizes :math:`h > 0`.
    coefficient : float or 1-D array of shape (C,), optional
        Values of the method's coefficient option (the one named at its
        registration: consensus' :math:`\gamma`, SGA's :math:`\lambda_0`,
        extragradient's extrapolation :math:`c`), checked by its constructor;
        ignored by methods without one. Default None: the option's default.
    player_sizes : tuple of int, optional
        Parameters per player (alternating GD and CGD need them; CGD needs two players).
    options : dict, optional
        The method's other options, e.g. SGA's ``{"align": False}`` or
        ``{"eps": 0.05}`` (with sign alignment, the default, the map uses
        :math:`\lambda = |\lambda_0|` and needs ``eps > 0``, see the module
        docstring). Default None: the defaults.
    player_names : sequence of str, optional
        The players' names (an alternating ``order`` given by names). Default None.

    Returns
    -------
    torch.Tensor of shape (L, C, m, m), float64
        :math:`M` per (step size, coefficient); ``m = n``, or ``2n`` for
        optimistic GD (state :math:`(z_t, z_{t-1})`). ``L``, ``C`` are 1 for scalars.

    Raises
    ------
    ValueError
        Unknown method or options, bad shapes, non-positive step sizes, a
        coefficient the method refuses, missing or bad player sizes, a
        linearisation that does not determine the step (SGA, sign alignment, ``eps = 0``).
    """
    if not isinstance(method, str) or method not in OPTIMIZERS:
        raise ValueError(f"unknown method {method!r}; choose one of {OPTIMIZERS.names()}")
    J = np.asarray(jacobian.detach().cpu() if isinstance(jacobian, torch.Tensor) else jacobian, dtype=np.float64)
    if J.ndim != 2 or J.shape[0] != J.shape[1] or not np.all(np.isfinite(J)):
        raise ValueError(f"jacobian must be a finite square matrix, got shape {tuple(J.shape)}")
    hs = _real_values(lr, "lr")
    if np.any(hs <= 0):
        raise ValueError("lr must be > 0")
    coef_name, default = _coefficient_name(method), _coefficient_default(method)
    cs = _real_values((1.0 if default is None else default) if coefficient is None else coefficient, "coefficient")
    options = _shared_options(method, options, "given by lr and coefficient here (the map is for the plain SGD base)")
    if coef_name is not None:
        _check_coefficients(method, cs, options)
    build = OPTIMIZERS.get(method)

    def update_map(h, c):
        coefficient = {} if coef_name is None else {coef_name: float(c)}
        return build(lr=float(h), **options, **coefficient).local_update_map(J, player_sizes, player_names)

    rows = [[update_map(h, cs[0])] * len(cs) if coef_name is None else [update_map(h, c) for c in cs] for h in hs]
    return torch.from_numpy(np.array(rows, dtype=np.float64))


def local_rate(method: str, jacobian, lr, coefficient=None, player_sizes=None, *, options: dict | None = None,
               player_names=None) -> np.ndarray:
    r"""The exact local linear rate: the spectral radius of :func:`local_update_map`, shape ``(L, C)``.

    Below 1: the equilibrium attracts the iteration, the distance shrinks by
    this factor per step asymptotically; above 1: it repels (Mescheder,
    Nowozin, Geiger, NeurIPS 2017, Proposition 3). Eigenvalues by LAPACK
    (``torch.linalg.eigvals``).

    Parameters
    ----------
    method : str
        As :func:`local_update_map`.
    jacobian : array-like of shape (n, n)
        The game Jacobian at the equilibrium.
    lr : float or 1-D array of shape (L,)
        Step sizes > 0.
    coefficient : float or 1-D array of shape (C,), optional
        The method's coefficient (default 1).
    player_sizes : tuple of int, optional
        Parameters per player (alternating GD, CGD).
    options : dict, optional
        The method's other options (as :func:`local_update_map`). Default None: the defaults.
    player_names : sequence of str, optional
        The players' names (as :func:`local_update_map`). Default None.

    Returns
    -------
    numpy.ndarray of shape (L, C)
        The spectral radius per step size and coefficient.

    Raises
    ------
    ValueError
        As :func:`local_update_map`.
    """
    M = local_update_map(method, jacobian, lr, coefficient, player_sizes, options=options, player_names=player_names)
    return torch.linalg.eigvals(M).abs().amax(dim=-1).numpy()


# ============================================================================================ the map
@dataclass(frozen=True)
class StabilityMap:
    r"""A stability map: every optimiser over a grid of step sizes x coefficients x seeds.

    Attributes
    ----------
    game : str
        The game's name.
    optimizers : tuple of str
        Optimisers, in the order of the first axis of every array.
    coefficient_names : tuple
        Each optimiser's coefficient (``"gamma"``, ``"lam"``, ``"extrapolation"``)
        or None when it has none (its maps are constant along the coefficient axis).
    lrs : ndarray of shape (L,)
        Step sizes (the base optimiser's learning rate).
    coefficients : ndarray of shape (C,)
        Coefficient values (the same axis for every optimiser).
    seeds : tuple of int
        The seeds (initial points), last axis of the per-run arrays.
    n_steps : int
        Steps per run.
    base : str
        Base optimiser.
    final_distance : ndarray of shape (O, L, C, S)
        :math:`\|z_T - z^*\|_2` (NaN if the game has no equilibrium; the last
        finite iterate for diverged cells).
    final_field_norm : ndarray of shape (O, L, C, S)
        :math:`\|v(z_T)\|_2`.
    measured_rate : ndarray of shape (O, L, C, S)
        Least-squares per-step rate of :math:`\|z_t - z^*\|` over the second
        half of the run (:class:`~dualgan.games.BatchedRun`); NaN for diverged cells.
    exact_rate : ndarray of shape (O, L, C)
        Spectral radius of the linearised update map at the equilibrium
        (NaN when not available: no equilibrium, a base other than plain SGD;
        see ``exact_note``).
    diverged : ndarray of bool, shape (O, L, C, S)
        Flagged cells: non-finite, or :math:`\|v\|` or the distance above ``diverge_above``.
    converged : ndarray of bool, shape (O, L, C, S)
        Not diverged, measured rate below 1 and closer to :math:`z^*` than at the start.
    seconds : ndarray of shape (O,)
        Wall time of each optimiser's batched loop.
    total_seconds : float
        Wall time of the whole map (runs and exact analysis).
    exact_note : str
        Why ``exact_rate`` is NaN, if it is.
    status : Status
        SUCCESS when every cell that an optimiser can take ran (diverged cells
        are results, not failures; skipped cells are named in the message).
    skipped : ndarray of bool, shape (O, C)
        Coefficients an optimiser refuses (e.g. extragradient's extrapolation
        0, which consensus' :math:`\gamma = 0` shares on one grid): those cells
        are not run; their distances, field norms and rates are NaN and they
        are neither ``converged`` nor ``diverged``. Default: none skipped.
    skip_reasons : tuple of str
        Per optimiser, why cells were skipped ("" when none were).
    """

    game: str
    optimizers: tuple
    coefficient_names: tuple
    lrs: np.ndarray
    coefficients: np.ndarray
    seeds: tuple
    n_steps: int
    base: str
    final_distance: np.ndarray
    final_field_norm: np.ndarray
    measured_rate: np.ndarray
    exact_rate: np.ndarray
    diverged: np.ndarray
    converged: np.ndarray
    seconds: np.ndarray
    total_seconds: float
    exact_note: str
    status: Status
    skipped: np.ndarray | None = None
    skip_reasons: tuple = ()

    def __post_init__(self):
        if self.skipped is None:
            object.__setattr__(self, "skipped", np.zeros((len(self.optimizers), len(self.coefficients)), dtype=bool))
        if not self.skip_reasons:
            object.__setattr__(self, "skip_reasons", ("",) * len(self.optimizers))

    @property
    def cells(self) -> int:
        """Number of runs: optimisers x step sizes x coefficients x seeds."""
        return int(np.prod(self.final_distance.shape))

    def median_rate(self) -> np.ndarray:
        """Median measured rate over seeds, shape (O, L, C) (NaN where any seed diverged)."""
        rate = np.where(self.diverged, np.nan, self.measured_rate)
        with np.errstate(all="ignore"):
            med = np.median(rate, axis=3)
        return np.where(self.diverged.any(axis=3), np.nan, med)

    def format(self) -> str:
        """A table: per optimiser, the fraction of cells that converge / diverge, best cell, agreement with the exact rate."""
        n_skipped = int(self.skipped.sum()) * len(self.lrs) * len(self.seeds)
        lines = [f"stability map: {self.game}; base {self.base}; {len(self.lrs)} step sizes x {len(self.coefficients)} "
                 f"coefficients x {len(self.seeds)} seeds x {self.n_steps} steps; {self.cells - n_skipped} runs"
                 f"{f' ({n_skipped} cells skipped)' if n_skipped else ''} in {self.total_seconds:.1f} s"]
        head = (f"{'optimizer':14s} {'coef':>13s} {'converged':>9s} {'diverged':>8s} {'exact<1':>7s} "
                f"{'agree':>6s} {'best rate':>9s} {'at lr':>8s} {'coef':>7s} {'seconds':>8s}")
        lines += [head, "-" * len(head)]
        med = self.median_rate()
        for o, name in enumerate(self.optimizers):
            taken = ~self.skipped[o]                  # the coefficients this optimiser accepts
            if not taken.any():
                lines.append(f"{name:14s} {str(self.coefficient_names[o]):>13s} skipped: {self.skip_reasons[o]}")
                continue
            conv = self.converged[o].all(axis=2)[:, taken]
            exact_ok = self.exact_rate[o][:, taken] < 1 - BOUNDARY_TOL
            off_boundary = np.abs(self.exact_rate[o][:, taken] - 1) > BOUNDARY_TOL
            has_exact = np.isfinite(self.exact_rate[o][:, taken]).all()
            agree = (f"{np.mean((conv == exact_ok)[off_boundary]):6.1%}" if has_exact and off_boundary.any()
                     else "   n/a")
            finite = np.where(np.isfinite(med[o]), med[o], np.inf)
            if np.isfinite(finite).any():
                i, j = np.unravel_index(np.argmin(finite), finite.shape)
                best = f"{finite[i, j]:9.4f} {self.lrs[i]:8.3g} {self.coefficients[j]:7.3g}"
            else:
                best = f"{'-':>9s} {'-':>8s} {'-':>7s}"
            lines.append(f"{name:14s} {str(self.coefficient_names[o]):>13s} {np.mean(conv):9.1%} "
                         f"{np.mean(self.diverged[o][:, taken]):8.1%} "
                         f"{np.mean(exact_ok) if has_exact else float('nan'):7.1%} "
                         f"{agree} {best} {self.seconds[o]:8.2f}")
        for reason in self.skip_reasons:
            if reason:
                lines.append(f"skipped (NaN in the arrays, left out of the fractions): {reason}")
        if self.exact_note:
            lines.append(f"exact rate: {self.exact_note}")
        lines.append(f"converged: every seed converged (rate < 1, closer than at the start); exact<1: exact rate "
                     f"below 1 - {BOUNDARY_TOL:g}; agree: fraction of the (lr, coef) cells off the boundary "
                     f"(|exact - 1| > {BOUNDARY_TOL:g}) where converged equals exact<1")
        return "\n".join(lines)

    def plot(self, path) -> str:
        """PNG: one column per optimiser, median measured rate (top; black: a seed diverged) over exact radius (bottom).

        Axes: coefficient (x) and log10 step size (y); colour: rate per step,
        white at 1, blue below (converging), red above. Black lines: the edge
        of the cells where every seed converged (top) and the edge of the
        cells with exact rate below 1 (bottom).

        Parameters
        ----------
        path : str or os.PathLike
            Where to write the PNG.

        Returns
        -------
        str
            ``path``.
        """
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.colors import TwoSlopeNorm

        O = len(self.optimizers)
        fig, axes = plt.subplots(2, O, figsize=(2.3 * O + 1.4, 5.0), squeeze=False, constrained_layout=True)
        med = self.median_rate()
        vals = np.concatenate([med[np.isfinite(med)], self.exact_rate[np.isfinite(self.exact_rate)]])
        lo = float(min(np.min(vals), 0.99)) if vals.size else 0.5
        hi = min(float(max(np.max(vals), 1.01)) if vals.size else 1.5, 2.0)
        norm = TwoSlopeNorm(vcenter=1.0, vmin=max(lo, 0.0), vmax=hi)
        cmap = plt.get_cmap("RdBu_r").copy()
        cmap.set_bad("black")
        ylog = np.log10(self.lrs)
        im = None
        grid_2d = len(self.lrs) > 1 and len(self.coefficients) > 1
        for o, name in enumerate(self.optimizers):
            for k, (data, title) in enumerate(((med[o], "measured"), (self.exact_rate[o], "exact rho"))):
                ax = axes[k, o]
                shown = np.clip(data, norm.vmin, norm.vmax)
                ax.set_facecolor("0.85")
                im = ax.pcolormesh(self.coefficients, ylog, np.ma.masked_invalid(shown), cmap=cmap, norm=norm,
                                   shading="nearest")
                if k == 0:       # where every seed converged
                    edge = self.converged[o].all(axis=2).astype(float)
                else:            # rho = 1; a unimodular spectrum (|rho - 1| <= BOUNDARY_TOL) is the boundary itself
                    edge = np.where(np.abs(data - 1) <= BOUNDARY_TOL, 1.0, np.nan_to_num(data, nan=2.0) < 1)
                    edge = np.where(np.abs(data - 1) <= BOUNDARY_TOL, 0.5, edge.astype(float))
                if grid_2d and (edge > 0.5).any() and (edge < 0.5).any():
                    ax.contour(self.coefficients, ylog, edge, levels=[0.5], colors="k", linewidths=0.8)
                ax.set_title(f"{name}: {title}", fontsize=8)
                if o == 0:
                    ax.set_ylabel("log10 lr", fontsize=8)
                if k == 1:
                    ax.set_xlabel(str(self.coefficient_names[o] or "(no coefficient)"), fontsize=8)
                ax.tick_params(labelsize=7)
        if im is not None:
            fig.colorbar(im, ax=axes, shrink=0.8, label="rate per step (1 = boundary)")
        fig.suptitle(f"{self.game}: base {self.base}, {self.n_steps} steps, {len(self.seeds)} seeds "
                     f"(top: median measured rate, black = diverged; bottom: exact spectral radius)", fontsize=9)
        from .._io import save_figure

        save_figure(fig, path, dpi=100)  # atomic: temporary file, then rename
        plt.close(fig)
        return str(path)


_FORK_STATE: dict = {}


def _fork_job(index, threads=1):
    """Job ``index`` of :func:`_run_jobs` (a forked worker runs on one torch thread)."""
    if threads is not None:
        torch.set_num_threads(threads)
    st = _FORK_STATE
    name, Z0, lr_cells, coefs, n_steps, options, seeds = st["jobs"][index]
    return batched_run(st["game"], name, Z0, lr_cells, coefs, n_steps, options=options, seeds=seeds, **st["kwargs"])


def _run_jobs(fgame, jobs, kwargs, workers, progress):
    """Each job is one optimiser's batched run; in this process or in ``workers`` forked processes."""
    import contextlib
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from .._io import progress_bar

    parallel = workers > 1 and len(jobs) > 1
    if parallel and "fork" not in mp.get_all_start_methods():
        raise ValueError("workers > 1 needs the 'fork' start method (not available on this platform); use workers=1")
    bar = progress_bar(total=len(jobs), desc="stability map") if progress else None
    _FORK_STATE.update(game=fgame, jobs=jobs, kwargs=kwargs)
    try:
        with (ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=mp.get_context("fork"))
              if parallel else contextlib.nullcontext()) as pool:
            pending = [pool.submit(_fork_job, i) for i in range(len(jobs))] if parallel else range(len(jobs))
            runs = []
            for item in pending:
                runs.append(item.result() if parallel else _fork_job(item, threads=None))
                if bar is not None:
                    bar.update()
            return runs
    finally:
        _FORK_STATE.clear()
        if bar is not None:
            bar.close()


@with_thread_policy  # torch and BLAS threads: the library's one policy (dualgan/_threads.py)
def stability_map(game, optimizers=None, lrs=(0.1,), coefficients=(1.0,), seeds=(0,),
                  n_steps: int = 1000, *, options: dict | None = None, base="sgd", base_kwargs: dict | None = None,
                  diverge_above: float = 1e12, rate_window: float = 0.5,
                  progress: bool = False, workers: int = 1) -> StabilityMap:
    r"""Run every optimiser on a grid of step sizes x coefficients x seeds, batched, with the exact local rates.

    Parameters
    ----------
    game : FunctionalGame or dualgan.games.Game
        The game; object games are converted by :func:`~dualgan.games.as_functional`
        (BilinearGame, DiracGAN), anything else raises a :class:`NotBatchableError`.
        A game that draws a batch every step (:func:`~dualgan.games.mixture_functional`)
        uses each seed's batch stream for all the cells of that seed.
    optimizers : sequence of str, optional
        Names of ``OPTIMIZERS.names(batchable=True)``. Default None: all of them.
    lrs : 1-D sequence of float, default (0.1,)
        Step sizes :math:`h > 0` (the first grid axis).
    coefficients : 1-D sequence of float, default (1.0,)
        The second grid axis: each optimiser's coefficient option (named at its
        registration: consensus' :math:`\gamma` (>= 0), SGA's :math:`\lambda`,
        extragradient's extrapolation (> 0)); unused by optimisers without a coefficient
        (their cells are still run: the axis then repeats the same setting).
        A value an optimiser refuses (extragradient's extrapolation 0 on a
        grid that starts at consensus' :math:`\gamma = 0`) skips that
        optimiser's cells: NaN results, marked in :attr:`StabilityMap.skipped`
        with the reason in :attr:`StabilityMap.skip_reasons`.
    seeds : sequence of int, default (0,)
        Initial points :meth:`FunctionalGame.start` of each seed.
    n_steps : int, default 1000
        Steps per run.
    base : str, default "sgd"
        Base optimiser (``"sgd"``, ``"adam"``, ``"rmsprop"``); the exact rate
        is computed for plain SGD only (NaN otherwise, with ``exact_note``).
    base_kwargs : dict, optional
        Keyword arguments of the base optimiser (:func:`~dualgan.games.functional_base`).
    options : dict, optional
        Per optimiser name, its other options for the runs and the exact maps,
        e.g. ``{"sga": {"align": False}}``. Default None: the defaults.
    diverge_above : float, default 1e12
        Cells whose :math:`\|v\|` or distance pass this are flagged as diverged and frozen.
    rate_window : float, default 0.5
        Fraction of the run (its end) over which the rate is measured.
    progress : bool, default False
        tqdm bar over optimisers.
    workers : int, default 1
        Processes that run the optimisers in parallel (forked from this one,
        one torch thread each; every optimiser's cells stay one batch). 1 runs
        them here, one after another. Fork is unavailable on Windows: use 1 there.

    Returns
    -------
    StabilityMap

    Raises
    ------
    NotBatchableError
        An optimiser, base optimiser or game that cannot be batched (named in the message).
    ValueError
        Bad grids or seeds, ``n_steps`` or ``workers`` not a positive
        integer, ``diverge_above`` not > 0 or ``rate_window`` not in (0, 1]
        (``bool`` and floats are refused as integers; the message names the
        argument).
    """
    t_start = time.perf_counter()
    workers = check_int(workers, "workers (processes)", low=1)
    n_steps = check_int(n_steps, "n_steps", low=1)
    diverge_above = check_number(diverge_above, "diverge_above", low=0.0, low_open=True, allow_inf=True)
    rate_window = check_number(rate_window, "rate_window", low=0.0, high=1.0, low_open=True)
    fgame = as_functional(game)
    if optimizers is None:
        optimizers = OPTIMIZERS.names(batchable=True)
    elif isinstance(optimizers, str):
        optimizers = [optimizers]
    optimizers = tuple(optimizers)
    if not optimizers:
        raise ValueError("optimizers is empty; give names from " + str(OPTIMIZERS.names(batchable=True)))
    if options is None:
        options = {}
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise ValueError(f"options must map optimiser names to dicts of their options, got {options!r}")
    stray = sorted(set(options) - set(optimizers))
    if stray:
        raise ValueError(f"options name optimisers {stray} that are not in optimizers {list(optimizers)}")
    for name in optimizers:
        _batched_optimizer(name, options.get(name))      # batchable, options known: before any run
    fbase = functional_base(base, base_kwargs)
    lrs = _real_values(lrs, "lrs")
    if np.any(lrs <= 0):
        raise ValueError("lrs must be > 0")
    coefs = _real_values(coefficients, "coefficients")
    seeds = check_seeds(seeds)
    L, C, S = len(lrs), len(coefs), len(seeds)
    starts = torch.stack([fgame.start(s) for s in seeds])                     # (S, n)
    Z0 = starts.repeat(L * C, 1)                                              # cell order (L, C, S)
    seed_cells = np.tile(np.asarray(seeds), L * C)
    lr_cells = np.repeat(lrs, C * S)
    coef_cells = np.tile(np.repeat(coefs, S), L)
    shape = (len(optimizers), L, C, S)
    out = {k: np.full(shape, np.nan) for k in ("final_distance", "final_field_norm", "measured_rate")}
    out.update(diverged=np.zeros(shape, dtype=bool), converged=np.zeros(shape, dtype=bool))
    exact = np.full((len(optimizers), L, C), np.nan)
    seconds = np.zeros(len(optimizers))
    notes = []
    J = None
    if fgame.equilibrium is None:
        notes.append(f"game {fgame.name!r} declares no equilibrium")
    elif fgame.no_local_analysis:
        notes.append(fgame.no_local_analysis)
    elif not fbase.is_plain_sgd:
        notes.append(f"the exact local maps are for plain SGD; base {fbase.name!r} with {base_kwargs or {}} has none here")
    else:
        J = fgame.jacobian_at()
        if not bool(torch.isfinite(J).all()):
            notes.append("the Jacobian at the equilibrium is not finite")
            J = None
    kwargs = dict(base=base, base_kwargs=base_kwargs, diverge_above=diverge_above, rate_window=rate_window)
    names = tuple(_coefficient_name(name) for name in optimizers)
    # one coefficient grid for all optimisers: the values one of them refuses are skipped for it, not fatal
    skipped, reasons = np.zeros((len(optimizers), C), dtype=bool), []
    for o, (name, coef_name) in enumerate(zip(optimizers, names)):
        refused, why = [], ""
        for j, c in enumerate(coefs if coef_name else ()):
            try:
                _check_coefficients(name, [c], options.get(name))
            except ValueError as exc:
                skipped[o, j], why = True, str(exc.__cause__ or exc)
                refused.append(f"{c:g}")
        reasons.append(f"{name} refuses {coef_name} = {', '.join(refused)}: {why}" if refused else "")
    taken = [np.tile(np.repeat(~skipped[o], S), L) for o in range(len(optimizers))]   # per cell, order (L, C, S)
    active = [o for o in range(len(optimizers)) if taken[o].any()]
    jobs = [(optimizers[o], Z0[taken[o]], lr_cells[taken[o]], coef_cells[taken[o]] if names[o] else None, n_steps,
             options.get(optimizers[o]), seed_cells[taken[o]]) for o in active]
    runs = _run_jobs(fgame, jobs, kwargs, workers, progress) if jobs else []
    for o, run in zip(active, runs):
        name, coef_name, cells = optimizers[o], names[o], taken[o]
        for key, target in out.items():       # skipped cells: NaN, neither diverged nor converged
            full = np.full(L * C * S, np.nan if target.dtype.kind == "f" else False, dtype=target.dtype)
            full[cells] = np.asarray(getattr(run, key))
            target[o] = full.reshape(L, C, S)
        seconds[o] = run.seconds
        if J is not None:
            try:
                exact[o][:, ~skipped[o]] = local_rate(name, J, lrs, coefs[~skipped[o]] if coef_name else None,
                                                      fgame.player_sizes, options=options.get(name),
                                                      player_names=fgame.player_names).reshape(L, -1)
            except (ValueError, NotImplementedError) as exc:   # e.g. SGA's sign undetermined with eps = 0
                notes.append(f"{name}: no exact rate ({exc})")
    ran = int(sum(int(t.sum()) for t in taken))
    message = f"{ran} runs, {int(out['diverged'].sum())} diverged"
    if skipped.any():
        message += f"; {int(np.prod(shape)) - ran} cells skipped ({'; '.join(r for r in reasons if r)})"
    status = Status(StatusCode.SUCCESS, message)
    return StabilityMap(fgame.name, optimizers, names, lrs, coefs, seeds, n_steps, fbase.name,
                        out["final_distance"], out["final_field_norm"], out["measured_rate"], exact, out["diverged"],
                        out["converged"], seconds, time.perf_counter() - t_start, "; ".join(notes), status,
                        skipped, tuple(reasons))
