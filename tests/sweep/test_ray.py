"""The Ray backend against a local Ray instance (two CPUs): the same records as the local backend, and a
worker killed mid-run is recorded (the sweep finishes and resumes). CI installs the ``ray`` extra
(Makefile), so there a missing ray fails these tests instead of skipping them."""
import importlib.util
import os
import sys
from pathlib import Path

import pytest

from dualgan.sweep import Sweep, make_backend, run_sweep
from dualgan.sweep.backends import JOB_MODULES_ENV, WORKER_DIED

import tests.sweep.killer_jobs  # noqa: F401  (registers test_kill_worker in the driver; workers: the fixture)

HAS_RAY = importlib.util.find_spec("ray") is not None
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
REPO = Path(__file__).resolve().parents[2]

SPEC = {"name": "ray-vs-local", "jobs": ["standard_gan", "dual_gan"], "dataset": "ring5", "iterations": 4,
        "seeds": [0, 1], "params": {"batch_size": 16, "eval_samples": 200}, "grid": {"generator_lr": [1e-3, 1e-2]}}
# tests/sweep/killer_jobs.py: the run whose seed is the victim SIGKILLs its own worker (as the OOM killer would)
KILLER = {"name": "ray-killer", "jobs": ["test_kill_worker"], "dataset": "ring5", "iterations": 1,
          "seeds": [0, 1, 2], "params": {"victim": 1}}


def test_missing_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    with pytest.raises(ImportError, match=r"pip install 'dualgan\[ray\]'"):
        make_backend("ray")


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for this module: two CPUs, workers that can import the test jobs."""
    if not HAS_RAY:
        if IN_CI:
            pytest.fail("ray is not installed in CI: the Makefile's install step installs the 'ray' extra")
        pytest.skip("ray is not installed (optional extra: pip install 'dualgan[ray]'); CI runs these tests")
    import ray

    if ray.is_initialized():
        ray.shutdown()
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {JOB_MODULES_ENV: "tests.sweep.killer_jobs", "PYTHONPATH": path}})
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_ray_backend_matches_local_backend(tmp_path, local_ray):
    sweep = Sweep.from_dict(SPEC)
    local = run_sweep(sweep, tmp_path / "local")
    remote = run_sweep(sweep, tmp_path / "ray", backend="ray")  # the Ray initialised by the fixture
    assert remote.ran == len(sweep.configs()) == 8 and remote.complete
    assert [r.run_id for r in remote.records] == [r.run_id for r in local.records]
    assert {r.run_id: (r.status, r.metrics) for r in remote.records} == \
           {r.run_id: (r.status, r.metrics) for r in local.records}
    assert all(r.ok for r in local.records)


@pytest.mark.slow
def test_ray_worker_death_is_recorded_and_the_sweep_resumes(tmp_path, local_ray):
    sweep = Sweep.from_dict(KILLER)
    result = run_sweep(sweep, tmp_path, backend="ray")
    by_seed = {r.config.seed: r for r in result.records}
    assert sorted(by_seed) == [0, 1, 2] and result.complete
    assert by_seed[1].status == WORKER_DIED and by_seed[1].errored  # after Ray's own retries
    assert all(by_seed[s].ok and by_seed[s].metrics == {"seed": float(s)} for s in (0, 2))
    again = run_sweep(sweep, tmp_path, backend="ray")  # the death is in the results file: nothing to redo
    assert again.ran == 0 and again.skipped == 3
