"""Run a sweep: skip finished runs, execute the rest on a backend, append each record as it finishes.

The results of sweep ``S`` go to ``OUT/<S.name>-<S.spec_hash>.jsonl``
(:attr:`~dualgan.sweep.Sweep.results_name`): a sweep with other settings
writes another file, and the same sweep started again reads its file and runs
only the configurations whose run id is not there yet (those with status
``"error: ..."`` too when ``retry_errors``). The canonical spec is written
next to it as ``<S.name>-<S.spec_hash>.sweep.json``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .._io import atomic_write_text
from .backends import make_backend
from .spec import Sweep
from .store import ResultsStore, RunRecord

__all__ = ["run_sweep", "SweepResult", "SummaryRow", "summarize", "format_summary"]


@dataclass(frozen=True)
class SweepResult:
    """A finished (or resumed) sweep: every record in sweep order, and how many ran now or were already there."""

    sweep: Sweep
    path: Path
    records: tuple[RunRecord, ...]
    ran: int
    skipped: int

    @property
    def complete(self) -> bool:
        return len(self.records) == len(self.sweep.configs())

    def summary(self) -> tuple["SummaryRow", ...]:
        return summarize(self.records)


@dataclass(frozen=True)
class SummaryRow:
    """Runs of one job on one data set: counts, mean of every metric over the ``ok`` runs, mean wall time."""

    job: str
    dataset: str
    runs: int
    ok: int
    means: dict[str, float]
    mean_seconds: float


def run_sweep(sweep: Sweep, out_dir="sweeps", *, backend="local", workers: int = 1, address: str | None = None,
              progress: bool = False, retry_errors: bool = False) -> SweepResult:
    """Run every configuration of ``sweep`` not yet in its results file under ``out_dir``.

    ``backend``: ``"local"`` (``workers`` processes; 1 runs in this process),
    ``"ray"`` (``address`` of a cluster, or a Ray already initialised here),
    or any object with ``map_unordered(configs)``. Records are appended as runs
    finish, so killing the sweep loses at most the runs in flight.
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
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    store = ResultsStore(out_dir / sweep.results_name)
    _write_spec(out_dir / (store.path.stem + ".sweep.json"), sweep)
    configs = sweep.configs()
    done = store.latest()
    todo = [c for c in configs if c.run_id not in done or (retry_errors and done[c.run_id].errored)]
    bar = None
    if progress and todo:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc=f"sweep {sweep.name}", unit="run")
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
    """One :class:`SummaryRow` per (job, dataset), in order of first appearance."""
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
    """A plain-text table: one line per (job, dataset), the mean of every metric over ok runs."""
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
