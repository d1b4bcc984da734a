"""30 short runs per trainer with random hyper-parameters over several decades: every NaN or inf that
appears is reported in the run's status, none is hidden (no 'success' with non-finite numbers)."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from dualgan.data import ring
from dualgan.features import RBF
from dualgan.games import MixtureGAN, run_optimizer
from dualgan.games.optimizers import make_optimizer
from dualgan.status import StatusCode
from dualgan.train import DualLinearGAN, StandardLinearGAN, mlp_generator
from dualgan.trust_region import TrustRegionGAN

RUNS = 30
DATA = ring(5, radius=2.0, std=0.3)


def _log_uniform(rng, low, high):
    return float(10 ** rng.uniform(math.log10(low), math.log10(high)))


def _all_finite(module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in module.parameters())


def _check_linear(gan, hist):
    code = gan.status.code
    assert code in (StatusCode.SUCCESS, StatusCode.NON_FINITE, StatusCode.NUMERICAL_ERROR), gan.status
    # every recorded objective is finite, whatever the ending (a NaN row is never recorded as a result)
    assert np.isfinite(hist["objective"]).all() if len(hist) else True
    if code is StatusCode.SUCCESS:
        assert _all_finite(gan.generator), "success with non-finite generator weights"
        assert bool(torch.isfinite(gan.sample(32)).all()), "success with non-finite samples"
    else:
        assert gan.status.message and str(gan.status.message).endswith(f"iteration {gan.iteration}")
    assert hist.status == gan.status


@pytest.mark.parametrize("trainer", ["dual", "standard"])
def test_linear_trainers_report_every_non_finite_value(trainer):
    rng = np.random.default_rng(0 if trainer == "dual" else 1)
    codes = []
    for run in range(RUNS):
        sigma = _log_uniform(rng, 1e-3, 1e2)
        anchors = DATA.sample(10, generator=torch.Generator().manual_seed(run), dtype=torch.float64)
        # up to extremes where samples overflow to inf and features to NaN
        gen = mlp_generator(seed=run, output_gain=_log_uniform(rng, 1e-2, 1e300), dtype=torch.float64)
        common = dict(C=_log_uniform(rng, 1e-8, 1e4), latent_dim=2, batch_size=int(rng.integers(2, 12)),
                      generator_lr=_log_uniform(rng, 1e-6, 1e200), seed=run)
        if trainer == "dual":
            mode = ["fixed", "fixed-adam", "minibatch"][run % 3]
            extra = {"fixed_optimizer": "adam"} if mode == "fixed-adam" else {}
            gan = DualLinearGAN(gen, RBF(anchors, sigma=sigma), mode="minibatch" if mode == "minibatch" else "fixed",
                                **extra, **common)
        else:
            gan = StandardLinearGAN(gen, RBF(anchors, sigma=sigma), discriminator_lr=_log_uniform(rng, 1e-6, 1e200),
                                    mode=["fixed", "minibatch"][run % 2], **common)
        hist = gan.fit(DATA, 3)
        _check_linear(gan, hist)
        codes.append(gan.status.code)
    # the sweep covers ordinary settings and ones that blow up
    assert StatusCode.SUCCESS in codes and StatusCode.NON_FINITE in codes, codes


def test_trust_region_gan_reports_every_non_finite_value():
    rng = np.random.default_rng(2)
    codes = []
    for run in range(RUNS):
        torch.manual_seed(run)
        gain = _log_uniform(rng, 1e-2, 1e300)
        gen = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2)).double()
        with torch.no_grad():
            gen[2].weight.mul_(gain)
        disc = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
        tr = TrustRegionGAN(gen, disc, latent_dim=2, model=["score", "cost", "adam"][run % 3],
                            batch_size=int(rng.integers(2, 10)),
                            C=_log_uniform(rng, 1e-8, 1e4), radius=_log_uniform(rng, 1e-6, 1e4),
                            generator_lr=_log_uniform(rng, 1e-6, 1e200),
                            discriminator_lr=_log_uniform(rng, 1e-6, 1e200),
                            seed=run)
        h = tr.fit(DATA, 3)
        code = tr.status.code
        assert code in (StatusCode.SUCCESS, StatusCode.NON_FINITE), tr.status
        if len(h):
            assert np.isfinite(h["objective"]).all() and np.isfinite(h["generator_loss"]).all()
        if code is StatusCode.SUCCESS:
            assert _all_finite(gen) and _all_finite(disc) and len(h) == 3
            assert bool(torch.isfinite(tr.sample(16)).all())
        else:
            assert tr.status.message.endswith(f"iteration {len(h)}")
        codes.append(code)
    assert StatusCode.SUCCESS in codes and StatusCode.NON_FINITE in codes, codes


def test_game_runs_report_every_non_finite_value():
    rng = np.random.default_rng(3)
    names = ["simultaneous", "alternating", "consensus", "extragradient", "optimistic", "sga", "cgd"]
    statuses = []
    for run in range(RUNS):
        game = MixtureGAN(ring(4), hidden=8, depth=1, latent_dim=2, batch_size=8, seed=run, dtype=torch.float64)
        name = names[run % len(names)]
        kwargs = {"lr": _log_uniform(rng, 1e-6, 1e4), "base": ["sgd", "adam", "rmsprop"][run % 3]}
        if name == "consensus":
            kwargs["gamma"] = _log_uniform(rng, 1e-4, 1e4)
        res = run_optimizer(game, make_optimizer(name, **kwargs), 4, eval_every=1, diverge_above=float("inf"))
        finite_end = bool(torch.isfinite(game.get_flat()).all())
        if res.status.success:
            assert finite_end and np.isfinite(res.field_norms).all() and np.isfinite(res.metric).all(), res
        else:
            # a NaN or inf (NON_FINITE) or a step's own solve failing (NUMERICAL_ERROR); ||v|| never
            # exceeds diverge_above=inf
            assert res.status.code in (StatusCode.NON_FINITE, StatusCode.NUMERICAL_ERROR), res.status
        statuses.append(res.status.code)
    assert StatusCode.SUCCESS in statuses and StatusCode.NON_FINITE in statuses, statuses
