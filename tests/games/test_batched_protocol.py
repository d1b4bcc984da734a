"""The batched step protocol: what a registration declares, and an optimiser or base added in one place.

A game optimiser registered with ``batchable=True`` and a ``coefficient`` is run by the batched runner and
mapped by the stability map with no other change; a base optimiser registered with its batched rule is a
base of the batched runner. References: the per-run harness on the object game, an existing optimiser
with a rescaled step size, and closed forms.
"""
import numpy as np
import pytest
import torch

from dualgan.games import (BASE_OPTIMIZERS, OPTIMIZERS, BilinearGame, GameOptimizer, NotBatchableError, batched_run,
                           bilinear_functional, local_rate, make_optimizer, random_matrix, run_optimizer,
                           stability_map)
from dualgan.status import StatusCode

A32 = random_matrix(3, 2, seed=1, singular_values=(0.5, 1.5))


def _close(a, b, tol=1e-12):
    """Equal to ``tol`` relative to max(1, |b|), entry by entry (the iterates grow: simultaneous GD diverges)."""
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b)))) <= tol


def test_every_registration_declares_batchable_and_a_coefficient_that_is_one_of_its_options():
    for name in OPTIMIZERS:
        entry = OPTIMIZERS.entry(name)
        assert set(entry.info) >= {"batchable", "coefficient"}, name
        assert entry.coefficient is None or entry.coefficient in OPTIMIZERS.options(name), name
        assert entry.batchable == (entry.obj._batched_step is not GameOptimizer._batched_step), name
    assert OPTIMIZERS.names(batchable=True) == OPTIMIZERS.names()       # every built-in optimiser batches
    assert {OPTIMIZERS.entry(n).coefficient for n in OPTIMIZERS} == {None, "gamma", "lam", "extrapolation"}


class _ScaledGD(GameOptimizer):
    """x <- x - h * beta * v: simultaneous GD with the step h * beta (a test optimiser with a coefficient)."""

    def __init__(self, *, lr=0.01, beta=1.0, base="sgd", base_kwargs=None):
        super().__init__(lr=lr, base=base, base_kwargs=base_kwargs)
        if not beta > 0:
            raise ValueError(f"beta must be > 0, got {beta!r}")
        self.beta = float(beta)

    def _batched_step(self, point, lr, coefficient, move, memory):   # its one rule: batched, object and linear
        return move(point.Z, coefficient * point.v, lr), memory, None


class _Unbatched(_ScaledGD):
    """The same optimiser registered without a batched step."""

    _batched_step = GameOptimizer._batched_step


@pytest.fixture
def dropped_in():
    OPTIMIZERS.register("scaled_gd", batchable=True, coefficient="beta")(_ScaledGD)
    OPTIMIZERS.register("unbatched_gd", batchable=False, coefficient="beta")(_Unbatched)
    try:
        yield
    finally:  # the registry is global: leave it as the package registers it
        OPTIMIZERS.unregister("scaled_gd")
        OPTIMIZERS.unregister("unbatched_gd")


def test_an_optimiser_added_by_registration_alone_runs_batched_and_in_the_stability_map(dropped_in):
    g = bilinear_functional(A32)
    z0 = torch.stack([g.start(s) for s in (0, 1, 2)])
    lrs, betas = np.array([0.05, 0.1, 0.2]), np.array([0.5, 2.0, 1.5])
    run = batched_run(g, "scaled_gd", z0, lrs, betas, 60, record_trajectory=True)
    # reference 1: simultaneous GD with step h * beta (the same iterates up to rounding of h * (beta v))
    ref = batched_run(g, "simultaneous", z0, lrs * betas, None, 60, record_trajectory=True)
    assert _close(run.trajectory, ref.trajectory) and not np.array_equal(run.trajectory[1:], run.trajectory[:-1])
    assert np.array_equal(run.coefficient, betas)
    # reference 2: the per-run harness stepping the object game with the optimiser's own step
    for i in range(3):
        res = run_optimizer(BilinearGame(A32, seed=i), make_optimizer("scaled_gd", lr=lrs[i], beta=betas[i]), 60,
                            record_trajectory=True)
        assert _close(run.trajectory[:, i], res.trajectory)
    with pytest.raises(ValueError, match="beta"):
        batched_run(g, "scaled_gd", z0, lrs, [1.0, -1.0, 1.0], 5)
    m = stability_map(g, optimizers=["simultaneous", "scaled_gd"], lrs=[0.05, 0.2], coefficients=[0.5, 2.0],
                      seeds=[0], n_steps=20)
    assert m.coefficient_names == (None, "beta")
    J = g.jacobian_at()
    for i, h in enumerate([0.05, 0.2]):
        for j, beta in enumerate([0.5, 2.0]):   # rho(I - h beta J) = sqrt(1 + (h beta s_max)^2)
            s_max = np.linalg.svd(A32, compute_uv=False).max()
            assert m.exact_rate[1, i, j] == pytest.approx(np.sqrt(1 + (h * beta * s_max) ** 2), rel=1e-12)
            assert m.exact_rate[1, i, j] == pytest.approx(local_rate("simultaneous", J, h * beta)[0, 0], rel=1e-12)


def test_an_optimiser_registered_without_a_batched_step_is_refused_by_name(dropped_in):
    g = bilinear_functional(A32)
    assert "unbatched_gd" in OPTIMIZERS and "unbatched_gd" not in OPTIMIZERS.names(batchable=True)
    with pytest.raises(NotBatchableError, match="'unbatched_gd'"):
        batched_run(g, "unbatched_gd", g.start(0).reshape(1, -1), 0.1)
    with pytest.raises(NotBatchableError, match="'unbatched_gd'"):
        stability_map(g, optimizers=["unbatched_gd"])
    with pytest.raises(NotBatchableError, match="no batched step"):
        make_optimizer("unbatched_gd").batched_step(None, None, None, None, None)


class _HalfSGD(torch.optim.Optimizer):
    """p <- p - (lr / 2) grad: a torch optimiser that is not one of torch's."""

    def __init__(self, params, lr):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-group["lr"] / 2)


@pytest.fixture
def half_sgd():
    def rule(Z, G, lr, state, count, options):
        return Z - (lr / 2) * G, {}

    @BASE_OPTIMIZERS.register("half_sgd", batchable=True, defaults={}, batched_init=lambda Z, o: {},
                              batched_step=rule)
    def factory(params, lr, **kwargs):
        return _HalfSGD(params, lr, **kwargs)

    try:
        yield
    finally:
        BASE_OPTIMIZERS.unregister("half_sgd")


@pytest.mark.parametrize("name", ["alternating", "consensus", "extragradient"])
def test_a_base_optimiser_added_by_registration_alone_is_a_base_of_the_batched_runner(half_sgd, name):
    """Reference: the per-run harness with the torch optimiser of the same registration (a step of lr / 2)."""
    g = bilinear_functional(A32)
    z0 = torch.stack([g.start(s) for s in (0, 1)])
    run = batched_run(g, name, z0, [0.1, 0.3], [0.5, 1.5], 40, base="half_sgd", record_trajectory=True)
    for i in range(2):
        # the reference steps with the registration's torch optimiser itself (its factory as a callable base);
        # the name "half_sgd" would take its pure rule, the code under test
        kw = {"lr": [0.1, 0.3][i], "base": BASE_OPTIMIZERS.get("half_sgd")}
        if OPTIMIZERS.entry(name).coefficient:
            kw[OPTIMIZERS.entry(name).coefficient] = [0.5, 1.5][i]
        res = run_optimizer(BilinearGame(A32, seed=i), make_optimizer(name, **kw), 40, record_trajectory=True)
        assert _close(run.trajectory[:, i], res.trajectory)
    with pytest.raises(NotBatchableError, match="momentum"):
        batched_run(g, name, z0, 0.1, base="half_sgd", base_kwargs={"momentum": 0.9})


def test_competitive_gd_reports_a_failed_linear_solve_as_a_numerical_error_and_does_not_step():
    """CG capped at one iteration cannot solve (I + h^2 A A^T) u = b for a 5 x 5 A with spread singular values."""
    game = BilinearGame(random_matrix(5, seed=2, singular_values=(0.2, 3.0)), seed=0)
    before = game.get_flat()
    rec = make_optimizer("cgd", lr=0.5, tol=1e-14, maxiter=1).step(game)
    assert rec.status.code is StatusCode.NUMERICAL_ERROR and not rec.ok
    assert "scipy.sparse.linalg.cg" in rec.status.message and rec.inner_iterations >= 1
    assert torch.equal(game.get_flat(), before)
    ok = make_optimizer("cgd", lr=0.5).step(game)
    assert ok.status.code is StatusCode.SUCCESS and ok.ok and not torch.equal(game.get_flat(), before)
