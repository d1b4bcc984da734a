"""DualLinearGAN's ascents (dualgan.train.ascent): one certified evaluation, three small strategies.

The certified value is checked against the primal (1.1) minimised by scipy (tests/_references.py, no
dualgan solver involved) and its gradient against central differences of that value (eq. (1.14)).
"""
import math

import numpy as np
import pytest
import torch

from dualgan.data import ring
from dualgan.features import RBF
from dualgan.train import DualLinearGAN, mlp_generator
from dualgan.train.ascent import (AscentFailure, BacktrackingAscent, LBFGSAscent, MinibatchAscent,
                                  certified_value)
from tests._references import logistic_primal

DATA = ring(5, radius=2.0, std=0.3)
C = 1e-2


def _gan(**kw):
    feats = RBF(DATA.sample(20, generator=torch.Generator().manual_seed(0), dtype=torch.float64), sigma=0.5)
    kw = {"mode": "fixed", "tol": 1e-12, "batch_size": 16, **kw}
    return DualLinearGAN(mlp_generator(seed=1, output_gain=3.0, dtype=torch.float64), feats, C=C, latent_dim=2, **kw)


def _inputs(gan):
    real = DATA.sample(16, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    noise = torch.randn(16, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    with torch.no_grad():
        return noise, gan.features(real)


def _g(gan, noise, phi_real):
    """g(theta) at the generator's current parameters: scipy's primal minimum (strong duality, eq. (1.4))."""
    with torch.no_grad():
        phi_fake = gan.features(gan.generator(noise))
    return logistic_primal(phi_real.numpy(), phi_fake.numpy(), C)[0]


def test_certified_value_is_g_and_its_gradient_is_danskins():
    gan = _gan()
    noise, phi_real = _inputs(gan)
    point = certified_value(gan, noise, phi_real, None)
    assert point.result.success and point.result.gap <= 1e-12
    assert point.objective == pytest.approx(_g(gan, noise, phi_real), abs=1e-10)
    # .grad holds the gradient of -g (no constraint): compare along a random direction with central
    # differences of the independent g, Richardson-extrapolated
    params = gan._params
    direction = [torch.randn(p.shape, generator=torch.Generator().manual_seed(4), dtype=p.dtype) for p in params]
    analytic = -sum(float((p.grad * d).sum()) for p, d in zip(params, direction))
    assert point.grad_norm == pytest.approx(math.sqrt(sum(float((p.grad ** 2).sum()) for p in params)), rel=1e-12)

    def g_at(eps):
        with torch.no_grad():
            for p, d in zip(params, direction):
                p.add_(eps * d)
        value = _g(gan, noise, phi_real)
        with torch.no_grad():
            for p, d in zip(params, direction):
                p.sub_(eps * d)
        return value

    h = 1e-4
    d1, d2 = (g_at(h) - g_at(-h)) / (2 * h), (g_at(h / 2) - g_at(-h / 2)) / h
    assert analytic == pytest.approx((4 * d2 - d1) / 3, rel=1e-6)


def test_a_value_only_evaluation_leaves_the_gradient_alone():
    gan = _gan()
    noise, phi_real = _inputs(gan)
    start = certified_value(gan, noise, phi_real, None)
    before = [p.grad.clone() for p in gan._params]
    with torch.no_grad():
        again = certified_value(gan, noise, phi_real, start.result, gradient=False)
    assert math.isnan(again.grad_norm)
    assert again.objective == pytest.approx(start.objective, abs=1e-10)
    assert all(torch.equal(p.grad, b) for p, b in zip(gan._params, before))


def test_failures_name_what_failed_and_leave_no_gradient():
    gan = _gan()
    noise, phi_real = _inputs(gan)
    certified_value(gan, noise, phi_real, None)
    with torch.no_grad():
        gan._params[0][0, 0] = float("nan")
    with pytest.raises(AscentFailure) as info:
        certified_value(gan, noise, phi_real, None)
    assert info.value.what == "samples" and not info.value.solver_failed
    assert all(p.grad is None for p in gan._params)
    # a gap tolerance float64 cannot reach: the solve reports failure, which is not a non-finite value
    strict = _gan(tol=1e-300)
    with pytest.raises(AscentFailure) as info:
        certified_value(strict, noise, phi_real, None)
    assert info.value.solver_failed and not info.value.result.success
    strict.fit(DATA, 1)
    assert strict.status.code.value == "numerical_error" and "dual solver" in strict.status.message


@pytest.mark.parametrize("mode,fixed_optimizer,strategy,optimizer", [
    ("minibatch", "lbfgs", MinibatchAscent, torch.optim.Adam),
    ("fixed", "adam", BacktrackingAscent, torch.optim.Adam),
    ("fixed", "lbfgs", LBFGSAscent, torch.optim.LBFGS),
])
def test_mode_and_fixed_optimizer_choose_the_strategy(mode, fixed_optimizer, strategy, optimizer):
    gan = _gan(mode=mode, fixed_optimizer=fixed_optimizer, generator_lr=1e-3)
    assert type(gan._ascent) is strategy and type(gan.gen_optimizer) is optimizer
    hist = gan.fit(DATA, 3)
    assert gan.status.success
    assert ("accepted" in hist) == (mode == "fixed")
    # only L-BFGS keeps the certified objective between steps (it is what its checkpoints hold as "current")
    expected = hist["generator_objective"][-1] if strategy is LBFGSAscent else None
    assert gan._ascent.current == expected


def test_backtracking_keeps_the_generator_when_no_trial_raises_the_value():
    # SGD with a huge step throws the samples far away; with no shrink allowed the step is rejected
    gan = _gan(fixed_optimizer="adam", max_backtracks=0, generator_optimizer=lambda p: torch.optim.SGD(p, lr=1e6))
    before = [p.detach().clone() for p in gan._params]
    hist = gan.fit(DATA, 1)
    assert gan.status.success
    assert hist["accepted"][0] == 0.0 and hist["step_size"][0] == 0.0 and hist["trials"][0] == 1.0
    assert all(torch.equal(p, b) for p, b in zip(gan._params, before))
    batch = gan.fixed_batch
    with torch.no_grad():
        phi_real = gan.features(batch.real)
    assert hist["objective"][0] == pytest.approx(_g(gan, batch.noise, phi_real), abs=1e-10)


def test_backtracking_accepts_a_shrunk_step_that_raises_the_value():
    gan = _gan(fixed_optimizer="adam", max_backtracks=40, shrink=0.5,
               generator_optimizer=lambda p: torch.optim.SGD(p, lr=10.0))
    batch_value = []
    hist = gan.fit(DATA, 3, callbacks=[lambda tr, it: batch_value.append(
        _g(tr, tr.fixed_batch.noise, tr.features(tr.fixed_batch.real).detach()))])
    assert gan.status.success and np.all(hist["accepted"] == 1.0)
    assert np.all(hist["step_size"] <= 1.0) and np.all(hist["step_size"] > 0)
    assert hist.is_monotone(tol=1e-10)
    # the recorded objective is g at the accepted parameters (scipy's primal)
    np.testing.assert_allclose(hist["objective"], batch_value, rtol=0, atol=1e-10)


def test_mlp_generator_arguments_use_the_library_checks():
    # a bool is not a standard deviation (True was taken as 1.0); a numpy real is one
    with pytest.raises(ValueError, match=r"output_std must be a real number > 0, got True"):
        mlp_generator(output_std=True)
    with pytest.raises(ValueError, match=r"output_std must be finite and > 0, got inf"):
        mlp_generator(output_std=float("inf"))
    with pytest.raises(ValueError, match=r"unknown size 'huge'; choose one of \['large', 'small'\]"):
        mlp_generator(size="huge")
    a, b = mlp_generator(output_std=np.float64(1.0)), mlp_generator(output_std=1.0)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    # calibrated: 4096 standard normal inputs under the seed give outputs of standard deviation 1 (numpy's std)
    z = torch.randn(4096, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert np.std(b(z).numpy(), axis=0, ddof=1).mean() == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("current", ["abc", float("nan"), float("inf"), True])
def test_a_checkpoint_whose_certified_objective_is_not_a_number_is_refused(tmp_path, current):
    # "abc" loaded and the next L-BFGS step raised TypeError; NaN loaded and rejected every later step
    from dualgan.train import CheckpointError, read_checkpoint, write_checkpoint

    gan = _gan()
    gan.fit(DATA, 2)
    saved = gan.save_checkpoint(tmp_path / "ok.pt")
    payload = read_checkpoint(saved)
    assert payload["extra"]["current"] == gan.history["generator_objective"][-1]
    payload["extra"]["current"] = current
    write_checkpoint(tmp_path / "edited.pt", payload)
    fresh = _gan()
    with pytest.raises(CheckpointError, match="certified objective 'current'"):
        fresh.load_checkpoint(tmp_path / "edited.pt")
    assert fresh.iteration == 0 and fresh._ascent.current is None
    assert fresh.load_checkpoint(saved)._ascent.current == gan._ascent.current
