"""The Ray backend gives the same records as the local backend (Ray started locally with two CPUs)."""
import importlib.util
import sys

import pytest

from dualgan.sweep import Sweep, make_backend, run_sweep

HAS_RAY = importlib.util.find_spec("ray") is not None

SPEC = {"name": "ray-vs-local", "jobs": ["standard_gan", "dual_gan"], "dataset": "ring5", "iterations": 4,
        "seeds": [0, 1], "params": {"batch_size": 16, "eval_samples": 200}, "grid": {"lr": [1e-3, 1e-2]}}


def test_missing_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    with pytest.raises(ImportError, match=r"pip install 'dualgan\[ray\]'"):
        make_backend("ray")


@pytest.mark.skipif(not HAS_RAY, reason="ray is not installed (optional extra: pip install 'dualgan[ray]'); "
                                        "the Ray backend is not exercised")
@pytest.mark.slow
def test_ray_backend_matches_local_backend(tmp_path):
    import ray

    sweep = Sweep.from_dict(SPEC)
    local = run_sweep(sweep, tmp_path / "local")
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = run_sweep(sweep, tmp_path / "ray", backend="ray")
    finally:
        if started_here:
            ray.shutdown()
    assert remote.ran == len(sweep.configs()) == 8 and remote.complete
    assert [r.run_id for r in remote.records] == [r.run_id for r in local.records]
    assert {r.run_id: (r.status, r.metrics) for r in remote.records} == \
           {r.run_id: (r.status, r.metrics) for r in local.records}
    assert all(r.ok for r in local.records)
