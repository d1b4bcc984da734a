"""Where the runs of a sweep execute: a local process pool (default) or a Ray cluster.

A backend has one method, ``map_unordered(configs)``, yielding a
:class:`~dualgan.sweep.store.RunRecord` per configuration as each finishes; the
driver (:func:`dualgan.sweep.run_sweep`) writes the records, so the results
file is only ever written from one place per sweep.

Every run goes through :func:`execute_run`, which pins torch and the BLAS
libraries to one thread (several runs share the cores; and one thread makes a
run's numbers the same whichever backend ran it) and turns an exception into
a record with status ``"error: ..."`` instead of losing the sweep.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import time
import traceback
from typing import Iterable, Iterator

from .spec import RunConfig
from .store import RunRecord

__all__ = ["execute_run", "LocalBackend", "RayBackend", "make_backend", "BACKENDS"]

BACKENDS = ("local", "ray")
RAY_MISSING = ("the Ray backend needs the optional dependency ray: pip install 'dualgan[ray]' "
               "(or pip install ray)")


def execute_run(config: RunConfig) -> RunRecord:
    """Run one configuration with one torch/BLAS thread; never raises for a failing job."""
    import torch
    from threadpoolctl import threadpool_limits

    from .jobs import JOBS

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    try:
        with threadpool_limits(1):
            result = JOBS[config.job](dataset=config.dataset, iterations=config.iterations, seed=config.seed,
                                      **config.kwargs)
        metrics, status = {k: float(v) for k, v in result.metrics.items()}, str(result.status)
    except Exception as exc:  # a failing run is a result, not the end of the sweep
        last = traceback.extract_tb(exc.__traceback__)[-1]
        metrics, status = {}, f"error: {type(exc).__name__}: {exc} ({last.filename}:{last.lineno})"
    finally:
        torch.set_num_threads(previous)
    return RunRecord(config.run_id, config, metrics, time.perf_counter() - t0, status)


class LocalBackend:
    """A pool of ``workers`` processes (spawned, one torch thread each); ``workers=1`` runs in this process."""

    name = "local"

    def __init__(self, workers: int = 1):
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        self.workers = workers

    def map_unordered(self, configs: Iterable[RunConfig]) -> Iterator[RunRecord]:
        configs = list(configs)
        if self.workers == 1:
            for config in configs:
                yield execute_run(config)
            return
        # spawn, not fork: forking a process whose torch thread pools are running can deadlock
        ctx = multiprocessing.get_context("spawn")
        pool = cf.ProcessPoolExecutor(max_workers=min(self.workers, max(1, len(configs))), mp_context=ctx)
        try:
            futures = [pool.submit(execute_run, c) for c in configs]
            for future in cf.as_completed(futures):
                yield future.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


class RayBackend:
    """Ray tasks (one CPU each) on the cluster at ``address``, or a Ray already initialised in this process.

    ``address=None`` and no running Ray: a local Ray is started with
    ``ray.init(**init_kwargs)``. Workers on a cluster need ``dualgan`` importable
    (installed on every node, or shipped with Ray's ``runtime_env``).
    """

    name = "ray"

    def __init__(self, address: str | None = None, **init_kwargs):
        self.ray = _import_ray()
        self.address = address
        self.init_kwargs = init_kwargs

    def map_unordered(self, configs: Iterable[RunConfig]) -> Iterator[RunRecord]:
        ray = self.ray
        if not ray.is_initialized():
            ray.init(address=self.address, **self.init_kwargs)
        remote = ray.remote(num_cpus=1)(execute_run)
        pending = [remote.remote(c) for c in configs]
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    yield ray.get(ref)
        finally:
            for ref in pending:
                ray.cancel(ref)


def make_backend(name: str = "local", *, workers: int = 1, address: str | None = None):
    """``"local"`` (:class:`LocalBackend`) or ``"ray"`` (:class:`RayBackend`)."""
    if name == "local":
        if address is not None:
            raise ValueError("address is for the Ray backend; use --backend ray or drop --address")
        return LocalBackend(workers)
    if name == "ray":
        return RayBackend(address)
    raise ValueError(f"unknown backend {name!r}; choose one of {list(BACKENDS)}")


def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise ImportError(RAY_MISSING) from exc
    return ray
