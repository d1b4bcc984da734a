"""Grid and random searches over trainer configurations, on a local process pool or a Ray cluster.

* :func:`load_sweep` reads a sweep file (JSON or TOML) into a :class:`Sweep`,
  whose :meth:`Sweep.configs` are :class:`RunConfig` records with stable ids;
* :func:`run_sweep` runs the configurations not yet in the sweep's results
  file (``<name>-<hash>.jsonl``, one :class:`RunRecord` per line, appended as
  runs finish) and returns a :class:`SweepResult`;
* jobs live in :data:`JOBS` (``dual_gan``, ``standard_gan``,
  ``trust_region_gan``; adding one is ``@JOBS.register(name)`` on a function)
  and data sets in :data:`DATASETS`; every record's status is a
  :class:`~dualgan.status.Status`;
* backends: :data:`BACKENDS`, :class:`LocalBackend` (default) and
  :class:`RayBackend` (optional extra ``ray``), built by :func:`make_backend`.

The command line is ``dualgan sweep CONFIG`` (docs/sweeps.md).
"""
from .backends import BACKENDS, LocalBackend, RayBackend, execute_run, make_backend
from .jobs import DATASETS, JOBS, JobResult
from .runner import SummaryRow, SweepResult, format_summary, run_sweep, summarize
from .spec import Distribution, RunConfig, Sweep, load_sweep
from .store import ResultsStore, RunRecord

__all__ = ["RunConfig", "Sweep", "Distribution", "load_sweep", "RunRecord", "ResultsStore", "run_sweep",
           "SweepResult", "SummaryRow", "summarize", "format_summary", "JOBS", "DATASETS", "JobResult",
           "execute_run", "LocalBackend", "RayBackend", "make_backend", "BACKENDS"]
