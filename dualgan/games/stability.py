r"""Stability maps: where each game optimiser converges over its step size and its own coefficient.

:func:`stability_map` runs every optimiser on a grid of step sizes x coefficients x seeds (one
:func:`~dualgan.games.batched_run` per optimiser) and puts beside the measured rates the *exact
local rate* (:func:`local_rate`): the spectral radius of the update map linearised at the
equilibrium (:func:`local_update_map`; eq. (3.11) of the theory page is simultaneous GD's case),
each optimiser's own update applied to :math:`v = J (z - z^*)`. The closed-form maps (the games
guide's table "Exact local rates") are the tests' references. SGA with sign alignment uses
:math:`\lambda = +|\lambda_0|`: the product in the sign of eq. (3.9) is :math:`O(\|z - z^*\|^4)`, so
with :math:`\epsilon > 0` the sign is + near :math:`z^*` (with :math:`\epsilon = 0` :func:`local_update_map` raises).

References: Mescheder, Nowozin, Geiger, "The Numerics of GANs", NeurIPS 2017 (the spectral analysis
of update maps); the optimisers' papers are those of section 3 of the theory page.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from .._checks import check_bool, check_int
from .._threads import with_thread_policy
from ..status import Status, StatusCode
from .batched import (_batched_optimizer, _check_coefficients, _coefficient, _real_values, _refused_coefficients,
                      _run_settings, _shared_options, batched_run)
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

    Per step size :math:`h` and coefficient :math:`c`, the map of
    :meth:`GameOptimizer.local_update_map <dualgan.games.GameOptimizer.local_update_map>`
    of ``make_optimizer(method, lr=h, <coefficient>=c, **options)``.

    Parameters
    ----------
    method : str
        A name of :data:`~dualgan.games.OPTIMIZERS` whose optimiser writes its linearised map
        (every built-in one).
    jacobian : array-like of shape (n, n)
        The game Jacobian :math:`J` at the equilibrium, finite (:meth:`FunctionalGame.jacobian_at`).
    lr : float or 1-D array of shape (L,)
        Step sizes :math:`h > 0`.
    coefficient : float or 1-D array of shape (C,), optional
        Values of the method's coefficient option (named at its registration: consensus'
        :math:`\gamma`, SGA's :math:`\lambda_0`, extragradient's :math:`c`), checked by its
        constructor; ignored by methods without one. Default None: the option's default.
    player_sizes : tuple of int, optional
        Parameters per player (alternating GD and CGD need them; CGD needs two players).
    options : dict, optional
        The method's other options, e.g. SGA's ``{"align": False}`` or ``{"eps": 0.05}`` (sign
        alignment, the default, needs ``eps > 0``: see the module docstring). Default None: the defaults.
    player_names : sequence of str, optional
        The players' names (an alternating ``order`` given by names). Default None.

    Returns
    -------
    torch.Tensor of shape (L, C, m, m), float64
        :math:`M` per (step size, coefficient); ``m = n``, or ``2n`` for optimistic GD (state
        :math:`(z_t, z_{t-1})`). ``L``, ``C`` are 1 for scalars.

    Raises
    ------
    ValueError
        Unknown method or options, bad shapes, non-positive step sizes, a coefficient the method
        refuses, missing or bad player sizes, a linearisation that does not determine the step
        (SGA, sign alignment, ``eps = 0``).
    """
    if not isinstance(method, str) or method not in OPTIMIZERS:
        raise ValueError(f"unknown method {method!r}; choose one of {OPTIMIZERS.names()}")
    # the optimiser's map checks that J is a finite square matrix
    J = np.asarray(jacobian.detach().cpu() if isinstance(jacobian, torch.Tensor) else jacobian, dtype=np.float64)
    hs = _real_values(lr, "lr", positive=True)
    coef_name, default = _coefficient(method)
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

    Below 1 the equilibrium attracts the iteration (the distance shrinks by this factor per step
    asymptotically), above 1 it repels (eq. (3.11) of the theory page for simultaneous GD).
    Eigenvalues by LAPACK (``torch.linalg.eigvals``).

    Parameters
    ----------
    method : str
        A name of :data:`~dualgan.games.OPTIMIZERS` (as :func:`local_update_map`).
    jacobian : array-like of shape (n, n)
        The game Jacobian at the equilibrium.
    lr : float or 1-D array of shape (L,)
        Step sizes > 0.
    coefficient : float or 1-D array of shape (C,), optional
        The method's coefficient. Default None: the option's default.
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
        Each optimiser's coefficient option (``"gamma"``, ``"lam"``, ``"extrapolation"``), None if it has none.
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
        :math:`\|z_T - z^*\|_2` (NaN without an equilibrium; the last finite iterate for diverged cells).
    final_field_norm : ndarray of shape (O, L, C, S)
        :math:`\|v(z_T)\|_2`.
    measured_rate : ndarray of shape (O, L, C, S)
        Per-step rate of :math:`\|z_t - z^*\|` (:attr:`~dualgan.games.BatchedRun.measured_rate`); NaN if diverged.
    exact_rate : ndarray of shape (O, L, C)
        :func:`local_rate` at the equilibrium (NaN without one or with a base other than plain SGD: ``exact_note``).
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
        SUCCESS when every cell an optimiser can take ran (diverged cells are results; skipped ones are named).
    skipped : ndarray of bool, shape (O, C)
        Coefficients an optimiser refuses (extragradient's extrapolation 0 on a grid with consensus'
        :math:`\gamma = 0`): not run, NaN results, neither ``converged`` nor ``diverged``. Default: none.
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
        with np.errstate(all="ignore"):
            med = np.median(self.measured_rate, axis=3)
        return np.where(self.diverged.any(axis=3), np.nan, med)

    def format(self) -> str:
        """A table per optimiser: converged and diverged fractions, best cell, agreement with the exact rate."""
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
            coef = self.coefficient_names[o] or "-"   # "-": registered without a coefficient
            if not taken.any():
                lines.append(f"{name:14s} {coef:>13s} skipped: {self.skip_reasons[o]}")
                continue
            conv, exact = self.converged[o].all(axis=2)[:, taken], self.exact_rate[o][:, taken]
            exact_ok, off_boundary = exact < 1 - BOUNDARY_TOL, np.abs(exact - 1) > BOUNDARY_TOL
            has_exact = np.isfinite(exact).all()
            agree = (f"{np.mean((conv == exact_ok)[off_boundary]):6.1%}" if has_exact and off_boundary.any()
                     else "   n/a")
            finite = np.where(np.isfinite(med[o]), med[o], np.inf)
            if np.isfinite(finite).any():
                i, j = np.unravel_index(np.argmin(finite), finite.shape)
                best = f"{finite[i, j]:9.4f} {self.lrs[i]:8.3g} {self.coefficients[j]:7.3g}"
            else:
                best = f"{'-':>9s} {'-':>8s} {'-':>7s}"
            lines.append(f"{name:14s} {coef:>13s} {np.mean(conv):9.1%} "
                         f"{np.mean(self.diverged[o][:, taken]):8.1%} "
                         f"{np.mean(exact_ok) if has_exact else float('nan'):7.1%} "
                         f"{agree} {best} {self.seconds[o]:8.2f}")
        lines += [f"skipped (NaN in the arrays, left out of the fractions): {r}" for r in self.skip_reasons if r]
        if self.exact_note:
            lines.append(f"exact rate: {self.exact_note}")
        lines.append(f"converged: every seed converged (rate < 1, closer than at the start); exact<1: exact rate "
                     f"below 1 - {BOUNDARY_TOL:g}; agree: fraction of the (lr, coef) cells off the boundary "
                     f"(|exact - 1| > {BOUNDARY_TOL:g}) where converged equals exact<1")
        return "\n".join(lines)

    def plot(self, path) -> str:
        """PNG: per optimiser, the median measured rate (top; black: a seed diverged) over the exact rate (bottom).

        Axes: coefficient (x), log10 step size (y); the figure of the games guide, "Stability maps".

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
        from matplotlib.colors import TwoSlopeNorm

        from .._io import new_figure, save_figure

        O = len(self.optimizers)
        fig, axes = new_figure(2, O, figsize=(2.3 * O + 1.4, 5.0), squeeze=False, constrained_layout=True)
        med = self.median_rate()
        vals = np.concatenate([med[np.isfinite(med)], self.exact_rate[np.isfinite(self.exact_rate)]])
        lo = float(min(np.min(vals), 0.99)) if vals.size else 0.5
        hi = min(float(max(np.max(vals), 1.01)) if vals.size else 1.5, 2.0)
        norm = TwoSlopeNorm(vcenter=1.0, vmin=max(lo, 0.0), vmax=hi)
        cmap = matplotlib.colormaps["RdBu_r"].copy()
        cmap.set_bad("black")
        ylog = np.log10(self.lrs)
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
                    below = (np.nan_to_num(data, nan=2.0) < 1).astype(float)
                    edge = np.where(np.abs(data - 1) <= BOUNDARY_TOL, 0.5, below)
                if grid_2d and (edge > 0.5).any() and (edge < 0.5).any():
                    ax.contour(self.coefficients, ylog, edge, levels=[0.5], colors="k", linewidths=0.8)
                ax.set_title(f"{name}: {title}", fontsize=8)
                if o == 0:
                    ax.set_ylabel("log10 lr", fontsize=8)
                if k == 1:
                    ax.set_xlabel(str(self.coefficient_names[o] or "(no coefficient)"), fontsize=8)
                ax.tick_params(labelsize=7)
        fig.colorbar(im, ax=axes, shrink=0.8, label="rate per step (1 = boundary)")   # O >= 1: subplots refuses 0
        fig.suptitle(f"{self.game}: base {self.base}, {self.n_steps} steps, {len(self.seeds)} seeds "
                     f"(top: median measured rate, black = diverged; bottom: exact spectral radius)", fontsize=9)
        save_figure(fig, path, dpi=100)  # atomic: temporary file, then rename
        return str(path)



@with_thread_policy  # torch and BLAS threads: the library's one policy (dualgan/_threads.py)
def stability_map(game, optimizers=None, lrs=(0.1,), coefficients=(1.0,), seeds=(0,),
                  n_steps: int = 1000, *, options: dict | None = None, base="sgd", base_kwargs: dict | None = None,
                  diverge_above: float = 1e12, rate_window: float = 0.5,
                  progress: bool = False, workers: int = 1) -> StabilityMap:
    r"""Run every optimiser on a grid of step sizes x coefficients x seeds, batched, with the exact local rates.

    Parameters
    ----------
    game : FunctionalGame or dualgan.games.Game
        The game; object games go through :func:`~dualgan.games.as_functional` (what it refuses raises
        :class:`NotBatchableError`). A game that draws a batch every step
        (:func:`~dualgan.games.mixture_functional`) gives all the cells of a seed that seed's stream.
    optimizers : sequence of str, optional
        Names of ``OPTIMIZERS.names(batchable=True)``. Default None: all of them.
    lrs : 1-D sequence of float, default (0.1,)
        Step sizes :math:`h > 0` (the first grid axis).
    coefficients : 1-D sequence of float, default (1.0,)
        The second grid axis: each optimiser's coefficient option (as :func:`local_update_map`);
        optimisers without one repeat the same setting along it. A value an optimiser refuses
        skips its cells (NaN results, :attr:`StabilityMap.skipped`, :attr:`StabilityMap.skip_reasons`).
    seeds : sequence of int, default (0,)
        Initial points :meth:`FunctionalGame.start` of each seed.
    n_steps : int, default 1000
        Steps per run.
    options : dict, optional
        Per optimiser name, its other options for the runs and the exact maps, e.g.
        ``{"sga": {"align": False}}``. Default None: the defaults.
    base : str, default "sgd"
        Base optimiser (``"sgd"``, ``"adam"``, ``"rmsprop"``); exact rates for plain SGD only
        (NaN otherwise, with ``exact_note``).
    base_kwargs : dict, optional
        Keyword arguments of the base optimiser (:func:`~dualgan.games.functional_base`).
    diverge_above : float, default 1e12
        Cells whose :math:`\|v\|` or distance pass this are flagged as diverged and frozen.
    rate_window : float, default 0.5
        Fraction of the run (its end) over which the rate is measured.
    progress : bool, default False
        tqdm bar over optimisers.
    workers : int, default 1
        Processes that run the optimisers in parallel (forked, one torch thread each; each
        optimiser's cells stay one batch); 1 runs them here. Fork is unavailable on Windows: use 1.

    Returns
    -------
    StabilityMap

    Raises
    ------
    NotBatchableError
        An optimiser, base optimiser or game that cannot be batched (named in the message).
    ValueError
        Bad grids or seeds, ``n_steps`` or ``workers`` not a positive integer (``bool`` and floats
        refused), ``diverge_above`` not > 0, ``rate_window`` not in (0, 1] (the message names the argument).
    """
    t_start = time.perf_counter()
    workers, progress = check_int(workers, "workers (processes)", low=1), check_bool(progress, "progress")
    n_steps, diverge_above, rate_window = _run_settings(n_steps, diverge_above, rate_window)
    fgame = as_functional(game)
    if optimizers is None or isinstance(optimizers, str):
        optimizers = OPTIMIZERS.names(batchable=True) if optimizers is None else [optimizers]
    optimizers = tuple(optimizers)
    if not optimizers:
        raise ValueError("optimizers is empty; give names from " + str(OPTIMIZERS.names(batchable=True)))
    options = {} if options is None else options
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise ValueError(f"options must map optimiser names to dicts of their options, got {options!r}")
    stray = sorted(set(options) - set(optimizers))
    if stray:
        raise ValueError(f"options name optimisers {stray} that are not in optimizers {list(optimizers)}")
    for name in optimizers:
        _batched_optimizer(name, options.get(name))      # batchable, options known: before any run
    fbase = functional_base(base, base_kwargs)
    lrs = _real_values(lrs, "lrs", positive=True)
    coefs = _real_values(coefficients, "coefficients")
    seeds = check_seeds(seeds)
    L, C, S = len(lrs), len(coefs), len(seeds)
    Z0 = torch.stack([fgame.start(s) for s in seeds]).repeat(L * C, 1)        # (L C S, n), cell order (L, C, S)
    seed_cells = np.tile(np.asarray(seeds), L * C)
    lr_cells = np.repeat(lrs, C * S)
    coef_cells = np.tile(np.repeat(coefs, S), L)
    shape = (len(optimizers), L, C, S)
    out = {k: np.full(shape, np.nan) for k in ("final_distance", "final_field_norm", "measured_rate")}
    out.update(diverged=np.zeros(shape, dtype=bool), converged=np.zeros(shape, dtype=bool))
    exact = np.full((len(optimizers), L, C), np.nan)
    seconds = np.zeros(len(optimizers))
    notes, J = [], None
    if fgame.equilibrium is None:
        notes.append(f"game {fgame.name!r} declares no equilibrium")
    elif fgame.no_local_analysis:
        notes.append(fgame.no_local_analysis)
    elif not fbase.is_plain_sgd:
        notes.append(f"the exact local maps are for plain SGD; base {fbase.name!r} with {base_kwargs or {}} "
                     f"has none here")
    else:
        J = fgame.jacobian_at()
        if not bool(torch.isfinite(J).all()):
            notes.append("the Jacobian at the equilibrium is not finite")
            J = None
    kwargs = dict(base=base, base_kwargs=base_kwargs, diverge_above=diverge_above, rate_window=rate_window)
    names = tuple(_coefficient(name)[0] for name in optimizers)
    # one coefficient grid for all optimisers: the values one of them refuses are skipped for it, not fatal
    skipped, reasons = np.zeros((len(optimizers), C), dtype=bool), []
    for o, (name, coef_name) in enumerate(zip(optimizers, names)):
        refused = _refused_coefficients(name, coefs, options.get(name)) if coef_name else {}
        skipped[o] = [c in refused for c in coefs]
        reasons.append(f"{name} refuses {coef_name} = {', '.join(f'{c:g}' for c in refused)}: "
                       f"{list(refused.values())[-1]}" if refused else "")
    taken = [np.tile(np.repeat(~skipped[o], S), L) for o in range(len(optimizers))]   # per cell, order (L, C, S)
    active = [o for o in range(len(optimizers)) if taken[o].any()]
    jobs = [(optimizers[o], Z0[taken[o]], lr_cells[taken[o]], coef_cells[taken[o]] if names[o] else None, n_steps,
             options.get(optimizers[o]), seed_cells[taken[o]]) for o in active]
    runs = _run_jobs(fgame, jobs, kwargs, workers, progress) if jobs else []
    for o, run in zip(active, runs):
        name, coef_name, cells = optimizers[o], names[o], taken[o]
        for key, target in out.items():       # skipped cells stay NaN, neither diverged nor converged
            target[o].reshape(-1)[cells] = getattr(run, key)
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
    return StabilityMap(fgame.name, optimizers, names, lrs, coefs, seeds, n_steps, fbase.name,
                        out["final_distance"], out["final_field_norm"], out["measured_rate"], exact, out["diverged"],
                        out["converged"], seconds, time.perf_counter() - t_start, "; ".join(notes),
                        Status(StatusCode.SUCCESS, message), skipped, tuple(reasons))


_FORK_STATE: dict = {}


def _fork_job(index, threads=1):
    """Job ``index`` of :func:`_run_jobs` (a forked worker runs on one torch thread)."""
    if threads is not None:
        torch.set_num_threads(threads)
    name, Z0, lr_cells, coefs, n_steps, options, seeds = _FORK_STATE["jobs"][index]
    return batched_run(_FORK_STATE["game"], name, Z0, lr_cells, coefs, n_steps, options=options, seeds=seeds,
                       **_FORK_STATE["kwargs"])


def _run_jobs(fgame, jobs, kwargs, workers, progress):
    """Each job is one optimiser's batched run; in this process or in ``workers`` forked processes."""
    import contextlib
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from .._io import progress_bar

    parallel = workers > 1 and len(jobs) > 1
    if parallel and "fork" not in mp.get_all_start_methods():
        raise ValueError("workers > 1 needs the 'fork' start method (not available on this platform); use workers=1")
    _FORK_STATE.update(game=fgame, jobs=jobs, kwargs=kwargs)
    try:
        with (ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=mp.get_context("fork"))
              if parallel else contextlib.nullcontext()) as pool:
            # the pool's map submits every job at once and yields the runs in order
            runs = pool.map(_fork_job, range(len(jobs))) if parallel else (_fork_job(i, None) for i in range(len(jobs)))
            return list(progress_bar(runs, total=len(jobs), desc="stability map") if progress else runs)
    finally:
        _FORK_STATE.clear()
