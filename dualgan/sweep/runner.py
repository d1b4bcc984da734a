"""Run a sweep: skip finished runs, execute the rest on a backend, append each record as it finishes.

The results of sweep ``S`` go to ``OUT/<S.name>-<S.spec_hash>.jsonl``
(:attr:`~dualgan.sweep.Sweep.results_name`): a sweep with other settings
writes another file, and the same sweep started again reads its file and runs
only the configurations whose run id is not there yet (with ``retry_errors``,
also those whose record is :attr:`~dualgan.sweep.RunRecord.errored`: status
``ERROR`` or ``INTERRUPTED``). The canonical spec is written
next to it as ``<S.name>-<S.spec_hash>.sweep.json``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .._io import atomic_write_text, check_writable_folder
from .backends import make_backend
from .spec import Sweep
from .store import ResultsStore, RunRecord

__all__ = ["run_sweep", "SweepResult", "SummaryRow", "summarize", "format_summary"]


@dataclass(frozen=True)
class SweepResult:
    """A finished (or resumed) sweep: every record in sweep order, and how many ran now or were already there.

    Parameters
    ----------
    sweep : Sweep
        The sweep that ran.
    path : pathlib.Path
        Its results file, ``<out_dir>/<name>-<spec_hash>.jsonl``.
    records : tuple of RunRecord
        The latest record of every configuration in the results file, in the
        order of :meth:`Sweep.configs`; a configuration missing from the file
        (its run was lost) has no record.
    ran : int
        Number of runs executed by this call (non-negative).
    skipped : int
        Number of configurations already recorded and not run again
        (non-negative; with ``retry_errors``, errored runs are not skipped).
    """

    sweep: Sweep
    path: Path
    records: tuple[RunRecord, ...]
    ran: int
    skipped: int

    @property
    def complete(self) -> bool:
        """Every configuration of the sweep has a record (whatever its status)."""
        return len(self.records) == len(self.sweep.configs())

    def summary(self) -> tuple["SummaryRow", ...]:
        """The per-(job, data set) summary of :attr:`records`, as :func:`summarize` computes it.

        Returns
        -------
        tuple of SummaryRow
            One row per (job, data set), in order of first appearance.
        """
        return summarize(self.records)


@dataclass(frozen=True)
class SummaryRow:
    """Runs of one job on one data set: counts, mean of every metric over the ``ok`` runs, mean wall time.

    Parameters
    ----------
    job : str
        Name of the job (a key of :data:`~dualgan.sweep.JOBS`).
    dataset : str
        Name of the data set (a key of :data:`~dualgan.sweep.DATASETS`).
    runs : int
        Number of records of this job and data set.
    ok : int
        Number of them that ended with status ``SUCCESS``
        (:attr:`~dualgan.sweep.RunRecord.ok`), ``0 <= ok <= runs``.
    means : dict of str to float
        Mean of every metric over the ``ok`` runs, by metric name (the names
        any ``ok`` run reports); NaN when a run lacks the metric or reports
        NaN (a NaN is kept, not skipped), and every metric absent when no run
        is ``ok``.
    mean_seconds : float
        Mean wall time of a run, in seconds, over all runs with a finite wall
        time; NaN when there is none.
    """

    job: str
    dataset: str
    runs: int
    ok: int
    means: dict[str, float]
    mean_seconds: float


def run_sweep(sweep: Sweep, out_dir="sweeps", *, backend="local", workers: int = 1, address: str | None = None,
              progress: bool = False, retry_errors: bool = False) -> SweepResult:
    """Run every configuration of ``sweep`` not yet in its results file under ``out_dir``.

    Records are appended to ``<out_dir>/<name>-<spec_hash>.jsonl`` as runs
    finish, so killing the sweep loses at most the runs in flight, and calling
    it again resumes; the canonical spec is written next to it as
    ``<name>-<spec_hash>.sweep.json``. A run whose job raises or whose worker
    dies is recorded (status ``ERROR`` or ``INTERRUPTED``), not raised.

    Parameters
    ----------
    sweep : Sweep
        The sweep, from :func:`~dualgan.sweep.load_sweep` or
        :meth:`Sweep.from_dict`.
    out_dir : str or os.PathLike, default "sweeps"
        Directory of the results file (created with its parents if missing).
    backend : str or object, default "local"
        A name of :data:`~dualgan.sweep.BACKENDS` (``"local"``: a process pool
        of :class:`~dualgan.sweep.LocalBackend`; ``"ray"``:
        :class:`~dualgan.sweep.RayBackend`), built with ``workers`` and
        ``address`` by :func:`~dualgan.sweep.make_backend`; or any object with
        a method ``map_unordered(configs)`` yielding one
        :class:`~dualgan.sweep.RunRecord` per configuration.
    workers : int, default 1
        Worker processes of the local backend; 1 runs every job in this
        process. Passed to the backend only when not 1.
    address : str or None, default None
        Address of a Ray cluster (``"HOST:6379"``, or ``"auto"`` for the
        cluster this machine belongs to); None starts Ray on this machine or
        uses a Ray already initialised here. Passed to the backend only when
        given.
    progress : bool, default False
        Show a ``tqdm`` progress bar over the runs to do.
    retry_errors : bool, default False
        Also rerun the configurations whose latest record is
        :attr:`~dualgan.sweep.RunRecord.errored` (the job raised or its worker
        died); runs that ended with a failure status of their own (e.g.
        ``NON_FINITE``) are results and are not rerun.

    Returns
    -------
    SweepResult
        Every record of the sweep, in the order of :meth:`Sweep.configs`, and
        the numbers of runs executed now and skipped.

    Raises
    ------
    ValueError
        If ``sweep`` is not a :class:`~dualgan.sweep.Sweep`, ``backend`` is
        neither a backend name nor an object with ``map_unordered``, or the
        named backend refuses ``workers`` or ``address`` (e.g. ``address``
        with the local backend, or ``workers`` that is not a positive integer),
        or ``out_dir`` is a file, cannot be created or is not writable.
    ImportError
        With ``backend="ray"`` when Ray is not installed (the extra ``ray``).
    """
    if not isinstance(sweep, Sweep):
        raise ValueError(f"sweep must be a dualgan.sweep.Sweep (see load_sweep), got {type(sweep).__name__}")
    if isinstance(backend, str):
        options = {}  # only the options given: a backend refuses one it does not take, by name
        if workers != 1:
            options["workers"] = workers
        if address is not None:
            options["address"] = address
        backend = make_backend(backend, **options)
    elif not callable(getattr(backend, "map_unordered", None)):
        raise ValueError("backend must be 'local', 'ray' or an object with map_unordered(configs)")
    out_dir = check_writable_folder(out_dir, "out_dir")  # a file, an uncreatable or read-only folder: ValueError
    store = ResultsStore(out_dir / sweep.results_name)
    _write_spec(out_dir / (store.path.stem + ".sweep.json"), sweep)
    configs = sweep.configs()
    done = store.latest()
    todo = [c for c in configs if c.run_id not in done or (retry_errors and done[c.run_id].errored)]
    bar = None
    if progress and todo:
        from .._io import progress_bar

        bar = progress_bar(total=len(todo), desc=f"sweep {sweep.name}", unit="run")
    ran = 0
    try:
        for record in backend.map_unordered(todo):
            store.append(record)
            done[record.run_id] = record
            ran += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(f"{record.config.job}: {str(record.status)[:30]}")
    finally:
        if bar is not None:
            bar.close()
    records = tuple(done[c.run_id] for c in configs if c.run_id in done)
    return SweepResult(sweep, store.path, records, ran, len(configs) - len(todo))


def summarize(records: Sequence[RunRecord]) -> tuple[SummaryRow, ...]:
    """One :class:`SummaryRow` per (job, dataset), in order of first appearance.

    The mean of a metric is ``numpy.mean`` over the ``ok`` runs (status
    ``SUCCESS``), not ``nanmean``: a NaN metric, or a metric an ``ok`` run
    lacks, makes the mean NaN rather than vanishing.

    Parameters
    ----------
    records : sequence of RunRecord
        Records of any sweep(s), e.g. :attr:`SweepResult.records` or
        :meth:`ResultsStore.records() <dualgan.sweep.ResultsStore.records>`.

    Returns
    -------
    tuple of SummaryRow
        Empty when ``records`` is empty.
    """
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for r in records:
        groups.setdefault((r.config.job, r.config.dataset), []).append(r)
    rows = []
    for (job, dataset), rs in groups.items():
        ok = [r for r in rs if r.ok]
        names = sorted({k for r in ok for k in r.metrics})
        # np.mean, not nanmean: a NaN metric of an ok run shows in the mean instead of vanishing
        means = {n: float(np.mean([r.metrics.get(n, math.nan) for r in ok])) if ok else math.nan for n in names}
        secs = [r.seconds for r in rs if math.isfinite(r.seconds)]
        rows.append(SummaryRow(job, dataset, len(rs), len(ok), means, float(np.mean(secs)) if secs else math.nan))
    return tuple(rows)


def format_summary(rows: Sequence[SummaryRow]) -> str:
    """A plain-text table: one line per (job, dataset), the mean of every metric over ok runs.

    Parameters
    ----------
    rows : sequence of SummaryRow
        The rows, e.g. from :func:`summarize` or :meth:`SweepResult.summary`.

    Returns
    -------
    str
        A header, a rule, one line per row (columns ``job``, ``dataset``,
        ``runs``, ``ok``, every metric any row has, in name order, written
        with 4 significant digits, and ``seconds``) and a closing note; no
        trailing newline.
    """
    names = sorted({n for r in rows for n in r.means})
    header = ["job", "dataset", "runs", "ok"] + names + ["seconds"]
    body = [[r.job, r.dataset, str(r.runs), str(r.ok)] + [f"{r.means.get(n, math.nan):.4g}" for n in names]
            + [f"{r.mean_seconds:.2f}"] for r in rows]
    widths = [max(len(row[i]) for row in [header] + body) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) if i >= 2 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in [header] + body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("(metrics: means over the runs with status ok; seconds: mean wall time of a run)")
    return "\n".join(lines)


def _write_spec(path: Path, sweep: Sweep) -> None:
    text = json.dumps(sweep.to_json(), indent=2, sort_keys=True) + "\n"
    if path.exists() and path.read_text() == text:
        return
    atomic_write_text(path, text)  # a reader sees the old or the new file, never half of one
