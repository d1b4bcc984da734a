"""Faults found reviewing the merged dual helpers (the bias-bordered step, the step bound, the best pair, max_iter)."""
import numpy as np
import pytest
import torch

from dualgan.duals import LinearDual, solve
from dualgan.duals._backend import NumpyOps, TorchOps
from dualgan.duals._linalg import equality_step, max_step
from dualgan.duals._primal import logistic_primal_newton
from dualgan.status import StatusCode


def test_max_iter_message_names_none_as_a_valid_choice():
    """Was: 'max_iter must be a positive integer, got 0' (the merged check dropped 'or None')."""
    p = LinearDual(np.ones((3, 2)), np.zeros((3, 2)), C=1.0)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match=r"max_iter \(None: the method's default\) must be a positive integer, "
                                             rf"got {bad!r}"):
            solve(p, max_iter=bad)
    assert solve(p, max_iter=np.int64(3)).iterations <= 3


@pytest.mark.parametrize("bias", [False, True])
def test_compiled_primal_newton_returns_the_first_pair_when_it_is_not_finite(bias):
    """Was: the compiled primal Newton method returned uninitialised multipliers (different on every call)
    when not even the first pair was finite; now the first pair, as the Python method returns it."""
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(9, 3)) * 1e200, rng.normal(size=(8, 3)) * 1e200
    runs = [solve(LinearDual(real, fake, C=1.0, bias=bias), options={"side": "primal"}, warn=False)
            for _ in range(3)]
    for res in runs:
        assert res.status.code is StatusCode.NON_FINITE
        # the cold start is w = 0 (b = 0): eq. (1.17) gives lam_i = a_i * sigmoid(0) = a_i / 2 (balanced:
        # the bias's rescaling moves it by rounding only)
        np.testing.assert_allclose(res.lam_real, np.full(9, 1 / 18), rtol=1e-15)
        np.testing.assert_allclose(res.lam_fake, np.full(8, 1 / 16), rtol=1e-15)
        np.testing.assert_array_equal(res.w, np.zeros(3))
        np.testing.assert_array_equal(res.lam_real, runs[0].lam_real)
        np.testing.assert_array_equal(res.lam_fake, runs[0].lam_fake)
    p = LinearDual(real, fake, C=1.0, bias=bias)
    G, y, a = (NumpyOps.to_backend(t) for t in (p.G, p.y, p.a))
    ref = logistic_primal_newton(NumpyOps, G, y, a, 1.0, bias, np.zeros(3), 0.0, 1e-10, np.inf, 20)
    assert ref.status.code is StatusCode.NON_FINITE
    # the same pair as the Python method's (the compiled bias rescaling rounds in its own order)
    np.testing.assert_allclose(np.concatenate([runs[0].lam_real, runs[0].lam_fake]), ref.lam, rtol=1e-15)


@pytest.mark.parametrize("ops, conv", [(NumpyOps, np.asarray), (TorchOps, torch.from_numpy)])
def test_equality_step_solves_the_bordered_system(ops, conv):
    """equality_step against a dense solve of [[H, e], [e^T, 0]] [x; nu] = [rhs; -e^T lam]."""
    rng = np.random.default_rng(1)
    n = 6
    A = rng.normal(size=(n, n))
    H = A @ A.T + n * np.eye(n)
    rhs, lam = rng.normal(size=n), rng.uniform(0.1, 1.0, n)
    e = np.where(np.arange(n) < 3, 1.0, -1.0)
    x, nu = equality_step(ops, lambda r: conv(np.linalg.solve(H, np.asarray(r))), conv(rhs), conv(e), conv(lam))
    K = np.block([[H, e[:, None]], [e[None, :], np.zeros((1, 1))]])
    ref = np.linalg.solve(K, np.concatenate([rhs, [-e @ lam]]))
    np.testing.assert_allclose(np.asarray(x), ref[:n], rtol=1e-12, atol=1e-12)
    assert nu == pytest.approx(ref[n], rel=1e-12, abs=1e-12)
    assert float(e @ (lam + np.asarray(x))) == pytest.approx(0.0, abs=1e-12)
    x0, nu0 = equality_step(ops, lambda r: conv(np.linalg.solve(H, np.asarray(r))), conv(rhs), None, conv(lam))
    np.testing.assert_allclose(np.asarray(x0), np.linalg.solve(H, rhs), rtol=1e-13)
    assert nu0 == 0.0


def test_max_step_is_the_tight_ratio_bound():
    """max_step (now also the hinge primal interior point's bound): the smallest ratio, feasible and tight."""
    rng = np.random.default_rng(3)
    for _ in range(50):
        pairs = [(rng.uniform(0.1, 2.0, 5), rng.normal(size=5)) for _ in range(3)]
        ratios = [v[d < 0] / -d[d < 0] for v, d in pairs]
        expected = min((float(r.min()) for r in ratios if r.size), default=np.inf)
        got = max_step(pairs)
        assert got == expected
        if np.isfinite(got):
            assert all((v + got * d >= -1e-12).all() for v, d in pairs)
            assert any((v + got * (1 + 1e-9) * d < 0).any() for v, d in pairs)
