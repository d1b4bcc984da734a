r"""Sweep specifications: a grid and/or random search over the settings of a job.

A sweep file (JSON, or TOML via the standard library's ``tomllib``) reads::

    name = "ring-table1"                  # names the results file
    jobs = ["dual_gan", "standard_gan"]   # functions of dualgan.sweep.jobs
    dataset = "ring5"                     # or a list: a grid axis
    iterations = 200                      # or an axis of [grid] / [random]
    seeds = [0, 1]                        # every setting runs once per seed (or: a [random] seed axis,
                                          # one seed per draw, e.g. seed = {int = [0, 1000000]})
    samples = 20                          # random draws (needs a [random] table)
    sample_seed = 0                       # seeds the draws

    [params]                              # fixed keyword arguments of every job
    batch_size = 64
    [grid]                                # the cartesian product of these lists
    C = [1e-4, 1e-3]
    [random]                              # one value per draw from each
    beta1 = {uniform = [0.1, 0.9]}
    lr = {log_uniform = [4.5e-5, 1.0]}
    size = {choice = ["small", "large"]}
    iterations = {int = [400, 2000]}      # inclusive bounds

    [job.standard_gan.random]             # axes of one job only
    disc_lr = {log_uniform = [2.5e-3, 1.0]}

The runs are ``jobs x datasets x grid points x random draws x seeds``. Draw
``i`` uses ``numpy.random.default_rng([sample_seed, i])`` for the shared axes
(so every job sees the same shared setting, a paired comparison) and
``default_rng([sample_seed, i, crc32(job)])`` for a job's own axes.

Every run is a :class:`RunConfig`; its :attr:`RunConfig.run_id` hashes the
canonical JSON of the configuration, so the same configuration has the same id
on every machine and in every sweep, which is what makes resuming safe.
"""
from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import math
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .._numbers import check_int

__all__ = ["RunConfig", "Sweep", "Distribution", "load_sweep", "RESERVED", "DISTRIBUTIONS"]

RESERVED = ("dataset", "iterations", "seed")
#: the most runs one sweep may expand to (a typo such as samples = 10**9 must fail at load time)
MAX_RUNS = 100_000
DISTRIBUTIONS = ("uniform", "log_uniform", "int", "choice")
_TOP_LEVEL = {"name", "jobs", "job", "dataset", "iterations", "seeds", "samples", "sample_seed", "params", "grid",
              "random", "description"}
_JOB_TABLE = {"params", "grid", "random"}


@dataclass(frozen=True)
class RunConfig:
    """One run of a sweep: which job, on which data set, for how long, under which seed, with which settings.

    ``params`` holds the job's keyword arguments as sorted ``(name, value)``
    pairs (values are JSON scalars), so the record is hashable and its
    canonical JSON, and hence :attr:`run_id`, does not depend on the order the
    settings were written in. :meth:`Sweep.configs` builds these records with
    checked values; the constructor itself checks only ``params``.

    Parameters
    ----------
    job : str
        Name of the job, a key of :data:`~dualgan.sweep.JOBS` (``"dual_gan"``,
        ``"standard_gan"``, ``"trust_region_gan"`` or one registered by the user).
    dataset : str
        Name of the data set, a key of :data:`~dualgan.sweep.DATASETS`
        (``"ring5"``, ``"ring8"``, ``"grid25"``).
    iterations : int
        Total training iterations of the run (generator updates), positive.
    seed : int
        Non-negative seed of the run: generator initialisation, anchors, data
        and noise; two jobs under the same seed share all of them.
    params : tuple of (str, scalar) pairs or mapping of str to scalar, default ()
        The job's own keyword arguments. Values must be JSON scalars (``str``,
        ``bool``, ``int``, finite ``float`` or ``None``; NumPy scalars are
        converted); they are stored as a tuple of pairs sorted by name.

    Raises
    ------
    ValueError
        If a value of ``params`` is not a JSON scalar or is a non-finite float
        (the message names the setting).
    """

    job: str
    dataset: str
    iterations: int
    seed: int
    params: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "params", tuple(sorted((str(k), _scalar(v, k)) for k, v in dict(self.params).items())))

    @property
    def kwargs(self) -> dict[str, Any]:
        """The job's keyword arguments (``params`` as a dict)."""
        return dict(self.params)

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain JSON data (the inverse of :meth:`from_dict`).

        Returns
        -------
        dict
            ``{"job": str, "dataset": str, "iterations": int, "seed": int,
            "params": dict of str to scalar}``.
        """
        return {"job": self.job, "dataset": self.dataset, "iterations": self.iterations, "seed": self.seed,
                "params": self.kwargs}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "RunConfig":
        """Build a configuration from the data :meth:`to_dict` writes (e.g. the ``config`` of a results line).

        Parameters
        ----------
        d : mapping of str to object
            With keys ``job``, ``dataset``, ``iterations``, ``seed`` and
            optionally ``params`` (a mapping of setting name to JSON scalar;
            default: no settings). ``iterations`` and ``seed`` must be
            integers (a float such as 2.5 is refused, not truncated).

        Returns
        -------
        RunConfig

        Raises
        ------
        KeyError
            If one of ``job``, ``dataset``, ``iterations``, ``seed`` is missing.
        ValueError
            If ``iterations`` or ``seed`` is not an integer, or a value of
            ``params`` is not a finite JSON scalar.
        """
        return cls(job=d["job"], dataset=d["dataset"],
                   iterations=check_int(d["iterations"], "a run configuration's iterations"),
                   seed=check_int(d["seed"], "a run configuration's seed"),
                   params=tuple(dict(d.get("params", {})).items()))

    def canonical_json(self) -> str:
        """The canonical JSON text of :meth:`to_dict`, what :attr:`run_id` hashes.

        Returns
        -------
        str
            Sorted keys, no spaces, floats written by ``repr`` (an exact round trip).
        """
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    @property
    def run_id(self) -> str:
        """First 16 hex digits of the SHA-256 of :meth:`canonical_json`."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Distribution:
    """A random axis of a sweep: the distribution one value per draw comes from.

    Build one with :meth:`parse`, which checks the arguments; the constructor
    does not. A sweep file writes an axis as a one-entry table, e.g.
    ``lr = {log_uniform = [4.5e-5, 1.0]}``.

    Parameters
    ----------
    kind : str
        One of ``DISTRIBUTIONS``: ``"uniform"`` (uniform on ``[low, high]``),
        ``"log_uniform"`` (``exp`` of a uniform draw on ``[log low, log high]``,
        ``0 < low``), ``"int"`` (uniform over the integers ``low..high``,
        both bounds included) or ``"choice"`` (one of the listed values, each
        with the same probability).
    args : tuple
        ``(low, high)`` for ``uniform``, ``log_uniform`` (numbers) and ``int``
        (integers), with ``low <= high``; the values (JSON scalars) for ``choice``.
    """

    kind: str
    args: tuple

    @classmethod
    def parse(cls, spec: Any, name: str) -> "Distribution":
        """Parse and check one ``[random]`` entry of a sweep file.

        Parameters
        ----------
        spec : mapping of str to list
            A one-entry table ``{kind: args}``, e.g. ``{"uniform": [0.1, 0.9]}``;
            see the class for the kinds and their arguments.
        name : str
            The axis (setting) name, used in error messages.

        Returns
        -------
        Distribution

        Raises
        ------
        ValueError
            If ``spec`` is not a one-entry table, names an unknown kind, has an
            empty or non-list argument, a bounded kind does not get two numbers
            ``low <= high`` (integers for ``int``, positive for
            ``log_uniform``), or a value is not a finite JSON scalar; the
            message names the axis.
        """
        if not isinstance(spec, Mapping) or len(spec) != 1:
            raise ValueError(f"random axis {name!r} must be a one-entry table such as {{uniform = [0.1, 0.9]}}; "
                             f"kinds: {', '.join(DISTRIBUTIONS)}; got {spec!r}")
        ((kind, args),) = spec.items()
        if kind not in DISTRIBUTIONS:
            raise ValueError(f"random axis {name!r}: unknown distribution {kind!r}; choose one of "
                             f"{', '.join(DISTRIBUTIONS)}")
        if not isinstance(args, (list, tuple)) or not args:
            raise ValueError(f"random axis {name!r}: {kind} takes a non-empty list, got {args!r}")
        args = tuple(_scalar(a, name) for a in args)
        if kind == "choice":
            return cls(kind, args)
        if len(args) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
            raise ValueError(f"random axis {name!r}: {kind} takes two numbers [low, high], got {list(args)!r}")
        low, high = args
        if not low <= high:
            raise ValueError(f"random axis {name!r}: {kind} needs low <= high, got [{low}, {high}]")
        if kind == "log_uniform" and low <= 0:
            raise ValueError(f"random axis {name!r}: log_uniform needs positive bounds, got [{low}, {high}]")
        if kind == "int" and not all(isinstance(a, int) for a in args):
            raise ValueError(f"random axis {name!r}: int takes integer bounds, got [{low}, {high}]")
        return cls(kind, args)

    def draw(self, rng: np.random.Generator) -> Any:
        """One value of the axis.

        Parameters
        ----------
        rng : numpy.random.Generator
            The generator to draw from (a sweep uses
            ``numpy.random.default_rng([sample_seed, i])`` for draw ``i`` of
            the shared axes, with ``crc32(job)`` appended for a job's own axes).

        Returns
        -------
        float, int or scalar
            A ``float`` for ``uniform`` and ``log_uniform``, an ``int`` in
            ``[low, high]`` for ``int``, one of the listed values for ``choice``.
        """
        if self.kind == "choice":
            return self.args[int(rng.integers(len(self.args)))]
        low, high = self.args
        if self.kind == "uniform":
            return float(rng.uniform(low, high))
        if self.kind == "log_uniform":
            return float(math.exp(rng.uniform(math.log(low), math.log(high))))
        return int(rng.integers(low, high + 1))

    def to_json(self) -> dict:
        """The axis as the sweep file writes it.

        Returns
        -------
        dict
            ``{kind: list(args)}``, which :meth:`parse` reads back.
        """
        return {self.kind: list(self.args)}


@dataclass(frozen=True)
class _Axes:
    params: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, tuple] = field(default_factory=dict)
    random: dict[str, Distribution] = field(default_factory=dict)

    def names(self) -> set[str]:
        return set(self.params) | set(self.grid) | set(self.random)

    def to_json(self) -> dict:
        return {"params": dict(sorted(self.params.items())), "grid": {k: list(v) for k, v in sorted(self.grid.items())},
                "random": {k: d.to_json() for k, d in sorted(self.random.items())}}


class Sweep:
    """A parsed, validated sweep; :meth:`configs` expands it into :class:`RunConfig` records.

    Build one with :func:`load_sweep` (a file) or :meth:`Sweep.from_dict` (a
    mapping with the keys of a sweep file, docs/sweeps.md), which check it:
    every job's keyword arguments against the job's signature and every run's
    values, so a typo fails before any run starts. The constructor stores its
    arguments as they are, unchecked.

    The runs are ``jobs x datasets x random draws x grid points x seeds``: a
    grid search over the ``grid`` axes, a random search (one value per draw
    from each ``random`` axis, [1]_) over ``samples`` draws, or both.

    Parameters
    ----------
    name : str
        Names the results file ``<name>-<spec_hash>.jsonl``; letters, digits,
        ``_``, ``.``, ``-``.
    jobs : tuple of str
        Names of :data:`~dualgan.sweep.JOBS` to run, each on every setting.
    datasets : tuple of str
        Names of :data:`~dualgan.sweep.DATASETS`.
    iterations : int or None
        Iterations of every run, or None when ``iterations`` is a grid or
        random axis.
    seeds : tuple of int
        Every setting runs once per seed (non-negative, distinct); ignored when
        ``seed`` is a shared random axis (one seed per draw).
    samples : int
        Number of random draws (1 when there are no random axes).
    sample_seed : int
        Seeds the random draws: draw ``i`` of the shared axes uses
        ``numpy.random.default_rng([sample_seed, i])``, a job's own axes
        ``default_rng([sample_seed, i, crc32(job)])``.
    shared : axes record
        The ``params`` (fixed settings), ``grid`` (lists) and ``random``
        (:class:`Distribution`) axes of every job, as :meth:`from_dict` parses
        them from the ``[params]``, ``[grid]``, ``[random]`` tables.
    per_job : dict of str to axes record
        The same for one job's own ``[job.NAME.*]`` tables, by job name.
    description : str, default ""
        Free text; not part of :attr:`spec_hash`.

    References
    ----------
    .. [1] J. Bergstra, Y. Bengio, "Random Search for Hyper-Parameter
       Optimization", Journal of Machine Learning Research 13, 2012.
    """

    def __init__(self, name: str, jobs: tuple[str, ...], datasets: tuple[str, ...], iterations: int | None,
                 seeds: tuple[int, ...], samples: int, sample_seed: int, shared: _Axes, per_job: dict[str, _Axes],
                 description: str = ""):
        self.name = name
        self.jobs = jobs
        self.datasets = datasets
        self.iterations = iterations
        self.seeds = seeds
        self.samples = samples
        self.sample_seed = sample_seed
        self.shared = shared
        self.per_job = per_job
        self.description = description
        self.seeds_given = True

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> "Sweep":
        """Parse and check a sweep given as data (a parsed JSON or TOML sweep file).

        Parameters
        ----------
        spec : mapping of str to object
            The keys of a sweep file (docs/sweeps.md): ``name``, ``jobs``,
            ``dataset`` (a string or a list), ``iterations``, ``seeds``
            (default ``[0]``), ``samples`` (required with random axes, else
            not allowed), ``sample_seed`` (default 0), the tables ``params``,
            ``grid``, ``random``, per-job tables ``job.NAME.{params,grid,random}``,
            and ``description``.

        Returns
        -------
        Sweep

        Raises
        ------
        ValueError
            If ``spec`` is not a mapping or has an unknown key, a name is
            malformed, a job or data set is unknown, a count or seed is not a
            (positive / non-negative) integer, an axis is malformed or set
            twice, a job does not take one of the settings, ``iterations`` or
            ``seed`` is missing or given twice, a run's value fails the job's
            check (:func:`~dualgan.sweep.jobs.check_job_kwargs`), or the sweep
            expands to more than ``MAX_RUNS`` (100 000) runs. The message names
            the key and the fix.
        """
        from .jobs import JOBS, DATASETS

        if not isinstance(spec, Mapping):
            raise ValueError(f"a sweep spec must be a table/object, got {type(spec).__name__}")
        unknown = set(spec) - _TOP_LEVEL
        if unknown:
            raise ValueError(f"unknown sweep keys {sorted(unknown)}; allowed: {sorted(_TOP_LEVEL)}")
        name = spec.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name or ""):
            raise ValueError(f"name must be a non-empty string of letters, digits, '_', '.', '-' (it names the "
                             f"results file), got {name!r}")
        jobs = _str_list(spec.get("jobs"), "jobs")
        for job in jobs:
            if job not in JOBS:
                raise ValueError(f"unknown job {job!r}; available jobs: {', '.join(sorted(JOBS))} "
                                 f"(add one with @dualgan.sweep.JOBS.register(name))")
        datasets = _str_list(spec.get("dataset"), "dataset")
        for ds in datasets:
            if ds not in DATASETS:
                raise ValueError(f"unknown dataset {ds!r}; available: {', '.join(sorted(DATASETS))}")
        iterations = spec.get("iterations")
        if iterations is not None:
            iterations = _positive_int(iterations, "iterations")
        seeds_raw = spec.get("seeds", [0])
        if not isinstance(seeds_raw, list) or not seeds_raw:
            raise ValueError(f"seeds must be a non-empty list of non-negative integers, got {seeds_raw!r}")
        seeds = tuple(check_int(s, "seeds", low=0) for s in seeds_raw)
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds has duplicates: {seeds_raw!r}")
        sample_seed = check_int(spec.get("sample_seed", 0), "sample_seed", low=0)
        shared = _parse_axes(spec, "")
        job_tables = spec.get("job", {})
        if not isinstance(job_tables, Mapping):
            raise ValueError(f"job must be a table of per-job tables ([job.NAME.params] ...), got {job_tables!r}")
        per_job = {}
        for job, table in job_tables.items():
            if job not in jobs:
                raise ValueError(f"[job.{job}] configures a job that is not in jobs = {list(jobs)}")
            if not isinstance(table, Mapping) or set(table) - _JOB_TABLE:
                raise ValueError(f"[job.{job}] may hold only the tables {sorted(_JOB_TABLE)}, got {table!r}")
            per_job[job] = _parse_axes(table, f"job.{job}.")
        has_random = bool(shared.random) or any(a.random for a in per_job.values())
        if "samples" in spec:
            samples = _positive_int(spec["samples"], "samples")
            if not has_random:
                raise ValueError("samples is set but there is no [random] axis to draw; add one or drop samples")
        elif has_random:
            raise ValueError("random axes need samples = N (the number of random draws)")
        else:
            samples = 1
        sweep = cls(name, jobs, datasets, iterations, seeds, samples, sample_seed, shared, per_job,
                    str(spec.get("description", "")))
        sweep.seeds_given = "seeds" in spec
        sweep._validate(JOBS)
        return sweep

    def _validate(self, jobs_registry) -> None:
        for job in self.jobs:
            axes = self.shared.names() | self.per_job.get(job, _Axes()).names()
            overlap = self.shared.names() & self.per_job.get(job, _Axes()).names()
            if overlap:
                raise ValueError(f"{sorted(overlap)} set both for every job and in [job.{job}]; set each once")
            if "seed" in axes and "seed" not in self.shared.random:
                raise ValueError("seed can only be a shared [random] axis (one seed per draw, e.g. "
                                 "seed = {int = [0, 1000000]}); otherwise list the seeds in seeds = [...]")
            if "seed" in self.shared.random and self.seeds_given:
                raise ValueError("seed is a [random] axis and seeds = [...] is set too; keep one")
            if "dataset" in axes:
                raise ValueError("dataset cannot be an axis; give a list: dataset = [\"ring5\", \"ring8\"]")
            if self.iterations is None and "iterations" not in axes:
                raise ValueError(f"job {job!r} has no iterations: set iterations = N or make it an axis")
            if self.iterations is not None and "iterations" in axes:
                raise ValueError("iterations is set at the top level and as an axis; keep one")
            accepted = _job_parameters(jobs_registry.get(job))
            bad = sorted(axes - {"iterations", "seed"} - accepted)
            if bad:
                raise ValueError(f"job {job!r} takes no parameter(s) {bad}; it accepts {sorted(accepted)}")
        # bounded before expanding: the count is a product of the axes' lengths
        total = 0
        for job in self.jobs:
            own = self.per_job.get(job, _Axes())
            points = math.prod(len(v) for v in {**self.shared.grid, **own.grid}.values())
            seeds = 1 if "seed" in self.shared.random else len(self.seeds)
            total += len(self.datasets) * self.samples * points * seeds
        if total > MAX_RUNS:
            raise ValueError(f"the sweep expands to {total} runs, more than the limit {MAX_RUNS}; lower samples, "
                             f"the grid or the seeds (or split it into several sweeps)")
        # every run's values, checked now rather than failing each run at run time
        from .jobs import check_job_kwargs

        for cfg in self.configs():
            check_job_kwargs(cfg.job, cfg.kwargs)

    # ------------------------------------------------------------------ expansion
    def configs(self) -> list[RunConfig]:
        """Every run, in a fixed order: job, dataset, random draw, grid point, seed.

        A run drawn twice (e.g. a ``choice`` axis giving the same value in two
        draws) is listed once.

        Returns
        -------
        list of RunConfig
            The runs, without duplicate :attr:`RunConfig.run_id`.

        Raises
        ------
        ValueError
            If a run's ``iterations`` is not a positive integer (only for a
            sweep built with the constructor; :meth:`from_dict` checks it).
        """
        out: list[RunConfig] = []
        seen: set[str] = set()
        for job in self.jobs:
            own = self.per_job.get(job, _Axes())
            grid = {**self.shared.grid, **own.grid}
            names = sorted(grid)
            points = list(itertools.product(*(grid[n] for n in names))) if names else [()]
            for dataset in self.datasets:
                for i in range(self.samples):
                    drawn = _draw(self.shared.random, np.random.default_rng([self.sample_seed, i]))
                    drawn.update(_draw(own.random, np.random.default_rng(
                        [self.sample_seed, i, zlib.crc32(job.encode())])))
                    for point in points:
                        params = {**self.shared.params, **own.params, **drawn, **dict(zip(names, point))}
                        iterations = params.pop("iterations", self.iterations)
                        iterations = _positive_int(iterations, "iterations")
                        seeds = (params.pop("seed"),) if "seed" in params else self.seeds
                        for seed in seeds:
                            cfg = RunConfig(job, dataset, iterations, seed, tuple(params.items()))
                            if cfg.run_id not in seen:  # e.g. a choice axis drawing the same value twice
                                seen.add(cfg.run_id)
                                out.append(cfg)
        return out

    def to_json(self) -> dict:
        """The canonical form of the sweep, what :attr:`spec_hash` hashes (``description`` left out).

        Returns
        -------
        dict
            JSON data with the keys ``name``, ``jobs``, ``dataset``,
            ``iterations``, ``seeds``, ``samples``, ``sample_seed``,
            ``params``, ``grid``, ``random`` and ``job``, axes sorted by name;
            written next to the results as ``<name>-<spec_hash>.sweep.json``.
        """
        return {"name": self.name, "jobs": list(self.jobs), "dataset": list(self.datasets),
                "iterations": self.iterations, "seeds": list(self.seeds), "samples": self.samples,
                "sample_seed": self.sample_seed, **self.shared.to_json(),
                "job": {k: v.to_json() for k, v in sorted(self.per_job.items())}}

    @property
    def spec_hash(self) -> str:
        """First 10 hex digits of the SHA-256 of the canonical spec: two different sweeps never share a file."""
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    @property
    def results_name(self) -> str:
        """``NAME-HASH.jsonl``: the results file of this sweep in an output directory."""
        return f"{self.name}-{self.spec_hash}.jsonl"

    def __repr__(self) -> str:
        return (f"Sweep(name={self.name!r}, jobs={list(self.jobs)}, datasets={list(self.datasets)}, "
                f"samples={self.samples}, seeds={list(self.seeds)}, hash={self.spec_hash})")


def load_sweep(path) -> Sweep:
    """Read and check a sweep from a ``.json`` or ``.toml`` file (the format: docs/sweeps.md).

    Parameters
    ----------
    path : str or os.PathLike
        The sweep file; its suffix (``.json`` or ``.toml``, any case) picks
        the parser.

    Returns
    -------
    Sweep
        As :meth:`Sweep.from_dict` builds it from the file's contents.

    Raises
    ------
    ValueError
        If the file does not exist, has another suffix, cannot be parsed
        (invalid JSON, TOML or UTF-8), or :meth:`Sweep.from_dict` rejects it
        (the message starts with the path).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"sweep file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix not in (".json", ".toml"):
        raise ValueError(f"sweep file {str(path)!r} must end in .json or .toml")
    try:
        text = path.read_text(encoding="utf-8")  # inside: invalid UTF-8 is a file that cannot be parsed
        if suffix == ".json":
            spec = json.loads(text)
        else:
            import tomllib

            spec = tomllib.loads(text)
    except ValueError as exc:  # json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError
        raise ValueError(f"cannot parse sweep file {str(path)!r}: {exc}") from exc
    try:
        return Sweep.from_dict(spec)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


# ---------------------------------------------------------------------- helpers
def _parse_axes(table: Mapping[str, Any], where: str) -> _Axes:
    params = table.get("params", {})
    grid = table.get("grid", {})
    random = table.get("random", {})
    for label, t in (("params", params), ("grid", grid), ("random", random)):
        if not isinstance(t, Mapping):
            raise ValueError(f"[{where}{label}] must be a table, got {t!r}")
    for name, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"grid axis {name!r} must be a non-empty list of values, got {values!r}")
        if len(set(map(repr, values))) != len(values):
            raise ValueError(f"grid axis {name!r} has duplicate values: {values!r}")
    both = (set(params) & set(grid)) | (set(params) & set(random)) | (set(grid) & set(random))
    if both:
        raise ValueError(f"{sorted(both)} appear in more than one of [{where}params], [{where}grid], "
                         f"[{where}random]; keep each in one")
    return _Axes({k: _scalar(v, k) for k, v in params.items()},
                 {k: tuple(_scalar(v, k) for v in vs) for k, vs in grid.items()},
                 {k: Distribution.parse(v, k) for k, v in random.items()})


def _draw(axes: dict[str, Distribution], rng: np.random.Generator) -> dict[str, Any]:
    return {name: axes[name].draw(rng) for name in sorted(axes)}


def _job_parameters(fn) -> set[str]:
    sig = inspect.signature(fn)
    return {p.name for p in sig.parameters.values() if p.kind == p.KEYWORD_ONLY and p.name not in RESERVED}


def _scalar(value: Any, name: str) -> Any:
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        value = value.item()
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{name!r}: values must be finite, got {value!r}")
        return value
    raise ValueError(f"{name!r}: values must be strings, numbers, booleans or null, got {value!r}")


def _str_list(value: Any, name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{name} must be a string or a non-empty list of strings, got {value!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"{name} has duplicates: {value!r}")
    return tuple(value)


def _positive_int(value: Any, name: str) -> int:
    """A count of a sweep file (iterations, samples): the library's integer check, capped at 10**9 (a typo)."""
    value = check_int(value, name, low=1)
    if value > 10 ** 9:
        raise ValueError(f"{name} must be a positive integer (at most 10**9), got {value!r}")
    return value
