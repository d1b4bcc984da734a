"""The torch back end (what runs on CUDA) agrees with the numpy/LAPACK back end (CPU)."""
import numpy as np
import pytest
import torch

import dualgan.duals._linalg as linalg_mod
import dualgan.duals.newton as newton_mod
import dualgan.duals.result as result_mod
from dualgan.duals import LinearDual, solve
from dualgan.duals._backend import NumpyOps, TorchOps
from dualgan.status import StatusCode


@pytest.mark.parametrize("loss, bias, shape", [
    ("logistic", False, (40, 30, 5)), ("logistic", True, (20, 25, 60)),
    ("hinge", False, (40, 30, 5)), ("hinge", True, (20, 25, 60)),
])
def test_torch_backend_matches_numpy_backend(monkeypatch, loss, bias, shape):
    n, m, d = shape
    rng = np.random.default_rng(5)
    prob = LinearDual(torch.tensor(rng.normal(0.4, 1, (n, d))), torch.tensor(rng.normal(0, 1, (m, d))),
                      C=0.05, loss=loss, bias=bias)
    ref = solve(prob, tol=1e-12)
    for module in (newton_mod, linalg_mod, result_mod):
        monkeypatch.setattr(module, "ops_for", lambda device: TorchOps)
    res = solve(prob, tol=1e-12)
    assert ref.success and res.success
    torch.testing.assert_close(res.w, ref.w, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("ops", [NumpyOps, TorchOps])
def test_cholesky_reports_indefinite(ops):
    M = np.array([[1.0, 2.0], [2.0, 1.0]])
    M = M if ops is NumpyOps else torch.tensor(M)
    assert ops.cholesky(ops.copy(M)) is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_tensors_stay_on_device():
    rng = np.random.default_rng(0)
    real = torch.tensor(rng.normal(0.4, 1, (50, 8)), device="cuda")
    fake = torch.tensor(rng.normal(0, 1, (40, 8)), device="cuda")
    res = solve(LinearDual(real, fake, C=0.1))
    assert res.success and res.w.device.type == "cuda"
    ref = solve(LinearDual(real.cpu().numpy(), fake.cpu().numpy(), C=0.1))
    np.testing.assert_allclose(res.w.cpu().numpy(), ref.w, rtol=1e-8)


@pytest.mark.parametrize("C", [1e-1, 1e-3, 1e-4])
def test_unreachable_tolerance_ends_quickly(C):
    """A gap tolerance below float64 rounding ends (success at a gap below it, or 'stalled')
    well before max_iter, never with a false claim."""
    rng = np.random.default_rng(0)
    prob = LinearDual(rng.normal(0.3, 1, (40, 6)), rng.normal(0, 1, (30, 6)), C=C)
    res = solve(prob, tol=1e-30, max_iter=500, warn=False)
    assert res.iterations < 60
    assert res.status.code is StatusCode.STALLED or (res.success and res.gap <= 1e-30)
    assert res.gap < 1e-12


def test_the_cpu_back_end_runs_under_the_library_thread_policy(monkeypatch):
    """The CPU back end's thread limit is the library's one policy (dualgan/_threads.py): one BLAS thread
    for every size where nobody chose a count, restored after; an enclosing threadpool_limits wins
    (tests/test_threads.py checks the policy at every entry point)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    import dualgan._threads as threads
    from dualgan.duals._backend import NumpyOps

    for var in {threads.ENV_VAR, *threads.TORCH_VARS, *threads.BLAS_VARS}:
        monkeypatch.delenv(var, raising=False)
    paths = {lib.filepath for lib, _ in threads._blas_libraries()}

    def blas_threads():
        return [lib["num_threads"] for lib in threadpool_info() if lib["filepath"] in paths]

    monkeypatch.setattr(threads, "_BLAS_AT_IMPORT", tuple((lib, 2) for lib, _ in threads._blas_libraries()))
    with threadpool_limits(2, user_api="blas"):  # the counts "at import" above: nobody's choice
        before = blas_threads()
        assert before and all(n == 2 for n in before)
        for flops in (1e6, 1e12):
            with NumpyOps.thread_limit(flops):
                assert all(n == 1 for n in blas_threads())
            assert blas_threads() == before
    with threadpool_limits(3, user_api="blas"):  # a user's own limit: kept
        with NumpyOps.thread_limit(1e6):
            assert all(n == 3 for n in blas_threads())
