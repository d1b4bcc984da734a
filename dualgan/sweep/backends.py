"""Where the runs of a sweep execute: a local process pool (default) or a Ray cluster.

A backend has one method, ``map_unordered(configs)``, yielding a
:class:`~dualgan.sweep.store.RunRecord` per configuration as each finishes; the
driver (:func:`dualgan.sweep.run_sweep`) writes the records, so the results
file is only ever written from one place per sweep.

Every run goes through :func:`execute_run`, which pins torch and the BLAS
libraries to one thread (several runs share the cores; and one thread makes a
run's numbers the same whichever backend ran it) and turns an exception into
a record with status ``ERROR`` (:class:`~dualgan.status.Status`) instead of losing the sweep.

Backends are registered in :data:`BACKENDS` (``@BACKENDS.register(name)``);
their keyword-only constructor parameters are their options, built by name
with :func:`make_backend`.

A worker process that dies (SIGKILL from the out-of-memory killer, a crash in
native code) breaks a ``ProcessPoolExecutor`` and fails every run in flight or
queued there. :class:`LocalBackend` survives it: each worker marks the runs
it starts, so after a break the runs that never started are queued again on a
fresh pool, a lone run that was in flight is recorded with status
``INTERRUPTED`` (:data:`WORKER_DIED`), and several runs in flight are rerun one at a
time, alone, so that only the one that kills its worker again is recorded as
an error. Every other run finishes.

No worker outlives its driver: each worker asks the kernel to SIGKILL it when
the driver dies (``prctl(PR_SET_PDEATHSIG)`` on Linux) and watches its
parent's pid from a thread (everywhere), so a driver killed by SIGKILL or
SIGTERM leaves no worker behind, and with the workers gone multiprocessing's
resource tracker (which exits when the last process holding its pipe does)
ends too. Workers ignore SIGINT: Ctrl-C reaches the driver, which terminates
them. A driver that stops reading records before the end (an exception,
Ctrl-C, a closed generator) terminates its workers instead of waiting for
their runs to finish.
"""
from __future__ import annotations

import concurrent.futures as cf
import math
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Iterable, Iterator

from .._numbers import check_int
from ..registry import Registry
from ..status import Status, StatusCode
from .spec import RunConfig
from .store import RunRecord

__all__ = ["execute_run", "LocalBackend", "RayBackend", "make_backend", "BACKENDS", "WORKER_DIED"]

#: the status of a run whose worker process died
WORKER_DIED = Status(StatusCode.INTERRUPTED,
                     "the worker process died while running this configuration (killed by a signal such as SIGKILL "
                     "from the out-of-memory killer, or a crash); the other runs continued. Lower its memory use or "
                     "rerun it with --retry-errors")

#: the sweep back ends by name (``@BACKENDS.register(name)``; options: the class's keyword-only parameters)
BACKENDS = Registry("sweep backend")
RAY_MISSING = ("the Ray backend needs the optional dependency ray: pip install 'dualgan[ray]' "
               "(or pip install ray)")


def execute_run(config: RunConfig) -> RunRecord:
    """Run one configuration under the library's thread policy (one torch/BLAS thread by default); never raises for a failing job.

    Parameters
    ----------
    config : RunConfig
        The configuration (job, data set, iterations, seed and the job's settings).

    Returns
    -------
    RunRecord
        Its metrics, wall time and status: the job's, or ``ERROR`` naming the
        exception and where it was raised.
    """
    from .._threads import thread_policy
    from .jobs import JOBS, JobResult

    t0 = time.perf_counter()
    try:
        import_job_modules()
        with thread_policy():  # torch and BLAS threads: the library's one policy (dualgan/_threads.py)
            result = JOBS.get(config.job)(dataset=config.dataset, iterations=config.iterations, seed=config.seed,
                                          **config.kwargs)
        if not isinstance(result, JobResult):  # a user's job returning its metrics alone raised AttributeError
            raise TypeError(f"job {config.job!r} returned a {type(result).__name__}; a job returns "
                            f"dualgan.sweep.JobResult(metrics={{name: number}}, status=...)")
        metrics, status = dict(result.metrics), result.status
    except Exception as exc:  # a failing run is a result, not the end of the sweep
        last = traceback.extract_tb(exc.__traceback__)[-1]
        metrics, status = {}, Status(StatusCode.ERROR,
                                     f"{type(exc).__name__}: {exc} ({last.filename}:{last.lineno})")
    return RunRecord(config.run_id, config, metrics, time.perf_counter() - t0, status)


JOB_MODULES_ENV = "DUALGAN_JOB_MODULES"


def import_job_modules() -> None:
    """Import the modules named in ``$DUALGAN_JOB_MODULES`` (comma-separated), which register extra jobs.

    Worker processes are spawned fresh: a job registered with ``@job`` in the
    user's own module exists there only if that module is imported again,
    which this does (the environment is inherited by every worker).
    """
    import importlib

    for name in filter(None, (m.strip() for m in os.environ.get(JOB_MODULES_ENV, "").split(","))):
        importlib.import_module(name)


@BACKENDS.register("local")
class LocalBackend:
    """A pool of ``workers`` processes (spawned, one torch thread each); ``workers=1`` runs in this process.

    Parameters
    ----------
    workers : int, default 1
        Worker processes (>= 1).

    Raises
    ------
    ValueError
        If ``workers`` is not a positive integer.
    """

    name = "local"

    def __init__(self, *, workers: int = 1):
        self.workers = check_int(workers, "workers", low=1)

    def map_unordered(self, configs: Iterable[RunConfig]) -> Iterator[RunRecord]:
        """Run every configuration; yield each record as its run finishes.

        Parameters
        ----------
        configs : iterable of RunConfig
            The configurations to run.

        Yields
        ------
        RunRecord
            One per configuration, in completion order.
        """
        configs = list(configs)
        if self.workers == 1:
            for config in configs:
                yield execute_run(config)
            return
        # spawn, not fork: forking a process whose torch thread pools are running can deadlock
        ctx = multiprocessing.get_context("spawn")
        markers = Path(tempfile.mkdtemp(prefix="dualgan-sweep-"))
        try:
            queue, alone = configs, []
            while queue or alone:
                if alone:  # a suspect of a broken pool, rerun by itself
                    batch, workers = [alone.pop(0)], 1
                else:
                    batch, queue, workers = queue, [], min(self.workers, len(queue))
                for c in batch:
                    (markers / c.run_id).unlink(missing_ok=True)
                lost = yield from _run_pool(batch, workers, ctx, markers)
                if not lost:
                    continue
                started = [c for c in lost if (markers / c.run_id).exists()]
                queue = [c for c in lost if c not in started] + queue
                if len(batch) == 1 or len(started) == 1:
                    for c in started:
                        yield _worker_died(c)
                else:
                    alone.extend(started)
        finally:
            shutil.rmtree(markers, ignore_errors=True)


def _worker_died(config: RunConfig) -> RunRecord:
    """The record of a run whose worker process died: no metrics, no wall time, :data:`WORKER_DIED` (any backend)."""
    return RunRecord(config.run_id, config, {}, math.nan, WORKER_DIED)


def _execute_marked(config: RunConfig, markers: str) -> RunRecord:
    """:func:`execute_run` after leaving a marker that this run started (read by the driver after a crash)."""
    with open(os.path.join(markers, config.run_id), "w") as fh:
        fh.write(str(os.getpid()))
    return execute_run(config)


def _run_pool(batch, workers, ctx, markers):
    """Yield the records of ``batch`` from one pool; return the configurations lost to a broken pool."""
    pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                  initargs=(os.getpid(),))
    lost, finished = [], False
    try:
        futures = {pool.submit(_execute_marked, c, str(markers)): c for c in batch}
        for future in cf.as_completed(futures):
            try:
                record = future.result()
            except BrokenProcessPool:
                lost.append(futures[future])
                continue
            yield record
        finished = True
    finally:
        if not finished:  # the driver is leaving (exception, Ctrl-C, SIGTERM, closed generator): stop the runs
            _terminate_workers(pool)
        pool.shutdown(wait=finished, cancel_futures=True)
    return lost


#: how often (seconds) a worker checks that its driver is still alive, where the kernel cannot tell it
PARENT_POLL_SECONDS = 0.5


def _init_worker(driver_pid: int) -> None:
    """In each worker: die with the driver (PR_SET_PDEATHSIG, a watchdog thread), leave Ctrl-C to the driver."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1: SIGKILL me when my parent dies
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the watchdog below still works
            pass
    if os.getppid() != driver_pid:  # the driver died before the request above took effect
        os._exit(1)

    def watchdog():
        while True:
            time.sleep(PARENT_POLL_SECONDS)
            if os.getppid() != driver_pid:  # re-parented: the driver is gone
                os._exit(1)

    threading.Thread(target=watchdog, name="dualgan-sweep-watchdog", daemon=True).start()


def _terminate_workers(pool) -> None:
    """SIGTERM every worker process of ``pool`` (SIGKILL after 5 s), so that no run continues without its driver."""
    procs = list((getattr(pool, "_processes", None) or {}).values())  # private, but the only handle on them
    for proc in procs:
        try:
            proc.terminate()
        except (OSError, ValueError, AttributeError):
            pass
    deadline = time.monotonic() + 5.0
    for proc in procs:
        try:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)
        except (OSError, ValueError, AttributeError, AssertionError):
            pass


@BACKENDS.register("ray")
class RayBackend:
    """Ray tasks (one CPU each) on the cluster at ``address``, or a Ray already initialised in this process.

    ``address=None`` and no running Ray: a local Ray is started with
    ``ray.init(**init_kwargs)``. Workers on a cluster need ``dualgan`` importable
    (installed on every node, or shipped with Ray's ``runtime_env``).

    Parameters
    ----------
    address : str, optional
        The cluster's address (``"HOST:6379"``, ``"auto"``). Default None: a
        running Ray, or a local one.
    init_kwargs : dict, optional
        Further keyword arguments of ``ray.init``. Default None: none.

    Raises
    ------
    ImportError
        If ray is not installed (``pip install 'dualgan[ray]'``).
    ConnectionError
        If ``address`` is ``HOST:PORT`` (or ``ray://HOST:PORT``) and nothing
        accepts a connection there within :data:`CONNECT_TIMEOUT_SECONDS`
        (``ray.init`` would otherwise wait for minutes without a word).
    ValueError
        If ``address`` is not a string.
    """

    name = "ray"

    def __init__(self, *, address: str | None = None, init_kwargs: dict | None = None):
        self.ray = _import_ray()
        if address is not None and not isinstance(address, str):
            raise ValueError(f"address must be a string 'HOST:PORT' (or 'auto'), got {address!r}")
        if address is not None:
            check_reachable(address)
        self.address = address
        self.init_kwargs = dict(init_kwargs or {})

    def map_unordered(self, configs: Iterable[RunConfig]) -> Iterator[RunRecord]:
        """Submit every configuration as a Ray task; yield each record as its task finishes.

        Parameters
        ----------
        configs : iterable of RunConfig
            The configurations to run.

        Yields
        ------
        RunRecord
            One per configuration, in completion order; a task whose worker
            or node died is recorded with :data:`WORKER_DIED`.
        """
        ray = self.ray
        if not ray.is_initialized():
            ray.init(address=self.address, **self.init_kwargs)
        remote = ray.remote(num_cpus=1)(execute_run)
        submitted = {remote.remote(c): c for c in configs}
        pending = list(submitted)
        # a task whose worker process died (SIGKILL, the out-of-memory killer, a crash; Ray first retries
        # it, max_retries=3 by default) or whose node died is recorded, not the end of the sweep
        died = (ray.exceptions.WorkerCrashedError, ray.exceptions.OutOfMemoryError, ray.exceptions.NodeDiedError)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    try:
                        record = ray.get(ref)
                    except died:
                        record = _worker_died(submitted[ref])
                    yield record
        finally:
            for ref in pending:
                ray.cancel(ref)


#: how long (seconds) a Ray address may take to accept a TCP connection before the sweep gives up
CONNECT_TIMEOUT_SECONDS = 5.0


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_SECONDS) -> None:
    """Raise ``ConnectionError`` at once when nothing listens at a ``HOST:PORT`` Ray address.

    ``"auto"``, ``"local"`` and addresses without a port are left to Ray.
    """
    rest = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return
    host = host.strip("[]")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except (OSError, OverflowError, ValueError) as exc:
        raise ConnectionError(f"cannot reach a Ray cluster at address {address!r} ({exc}); start one there with "
                              f"'ray start --head --port={port}', or pass the right --address (or none, to start "
                              f"Ray on this machine)") from None


def make_backend(name: str = "local", **options):
    """Build the backend registered as ``name`` in :data:`BACKENDS` with its keyword-only ``options``.

    Parameters
    ----------
    name : str, default "local"
        ``"local"`` (:class:`LocalBackend`), ``"ray"`` (:class:`RayBackend`) or another registered name.
    **options
        The backend's options (``workers`` for ``"local"``, ``address`` and
        ``init_kwargs`` for ``"ray"``); an option it does not take is refused.

    Returns
    -------
    object
        The backend, with ``map_unordered(configs)``.

    Raises
    ------
    ValueError
        If ``name`` is unknown or an option is not one the backend takes (the message lists its options).
    """
    return BACKENDS.get(name)(**BACKENDS.check_options(name, options))


def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise ImportError(RAY_MISSING) from exc
    return ray
