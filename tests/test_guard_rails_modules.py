"""Modules whose output could change between two evaluations: the one policy (eqs. (7.1)-(7.2) of the theory page).

A module the library only evaluates (a linear discriminator's feature map, a metric's feature network) is
evaluated in eval mode with the user's train/eval state put back; a module it trains by comparing values (the
trust-region discriminator) is one fixed function within a step, its spectral-norm vectors advanced once per
step; what cannot be held fixed is refused; a run whose discriminator stopped being trained does not say SUCCESS.
Every value is checked against an independent recomputation written out here (numpy, scipy, eval-mode torch).
"""
import math

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from dualgan.data import ring
from dualgan.features import RBF
from dualgan.metrics import frechet_distance, kernel_mmd
from dualgan.regularizers import apply_spectral_norm
from dualgan.status import StatusCode
from dualgan.train import DualLinearGAN, StandardLinearGAN
from dualgan.trust_region import StandardRadius, TrustRegionDiscriminator, TrustRegionGAN

DATA = ring(5, std=0.1)


def _gen(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2)).double()


def _disc(seed=1, middle=None):
    torch.manual_seed(seed)
    layers = [nn.Linear(2, 8)] + ([middle] if middle is not None else []) + [nn.Tanh(), nn.Linear(8, 1)]
    return nn.Sequential(*layers).double()


def _anchors():
    return DATA.sample(12, generator=torch.Generator().manual_seed(5), dtype=torch.float64)


def _batch(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    real = torch.randn(n, 2, generator=g, dtype=torch.float64) + 1
    fake = torch.randn(n, 2, generator=g, dtype=torch.float64)
    return real, fake


def _cost_reference(D, real, fake, C):
    """f(w) of eq. (2.1) from an eval-mode forward of D (stored spectral-norm vectors), written out in numpy."""
    mode = D.training
    D.eval()
    with torch.no_grad():
        s = D(torch.cat([real, fake])).reshape(-1).numpy()
    D.train(mode)
    w = np.concatenate([p.detach().numpy().ravel() for p in D.parameters() if p.requires_grad])
    n, m = real.shape[0], fake.shape[0]
    y = np.r_[np.ones(n), -np.ones(m)]
    a = np.r_[np.full(n, 1 / n), np.full(m, 1 / m)]
    return 0.5 * C * w @ w + a @ np.logaddexp(0.0, -y * s)


# ---------------------------------------------------------------- feature maps of the linear trainers (eq. (7.1))
@pytest.mark.parametrize("cls", [DualLinearGAN, StandardLinearGAN])
def test_dropout_feature_map_in_training_mode_is_evaluated_as_the_eval_mode_function(cls):
    def run(training):
        feats = nn.Sequential(RBF(_anchors(), sigma=0.3), nn.Dropout(0.3))
        feats.train(training)
        extra = dict(fixed_optimizer="adam") if cls is DualLinearGAN else {}
        gan = cls(_gen(), feats, latent_dim=2, batch_size=16, mode="fixed", C=1e-2, seed=4, **extra)
        hist = gan.fit(DATA, 6)
        return gan, feats, hist

    gan, feats, hist = run(training=True)
    ref_gan, _, ref = run(training=False)  # the reference: the user put the map in eval mode themselves
    assert gan.status.code is StatusCode.SUCCESS
    assert feats.training and feats[1].training  # the user's mode is put back
    np.testing.assert_array_equal(hist.column("objective"), ref.column("objective"))
    if cls is DualLinearGAN:
        assert hist.is_monotone(tol=1e-9)  # the run fell 6 times in 30 iterations


@pytest.mark.parametrize("bn", ["1d", "2d"])
@pytest.mark.parametrize("cls", [DualLinearGAN, StandardLinearGAN])
def test_batchnorm_feature_map_statistics_do_not_move(cls, bn):
    if bn == "1d":
        feats = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8)).double()
    else:  # the BatchNorm2d: samples as (B, 8, 1, 1) maps
        feats = nn.Sequential(nn.Linear(2, 8), nn.Unflatten(1, (8, 1, 1)), nn.BatchNorm2d(8), nn.Flatten()).double()
    norm = feats[1] if bn == "1d" else feats[2]
    with torch.no_grad():  # running statistics that are not the defaults, so that eval mode visibly uses them
        norm.running_mean.copy_(torch.linspace(-1, 1, 8, dtype=torch.float64))
        norm.running_var.fill_(2.0)
    feats.train()
    before = {k: v.clone() for k, v in feats.state_dict().items()}
    gan = cls(_gen(), feats, latent_dim=2, batch_size=20, C=1e-2)
    gan.fit(DATA, 4)
    assert gan.status.code is StatusCode.SUCCESS
    after = feats.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # running_mean moved by 0.503 before the fix
    assert feats.training and norm.training


def test_fixed_mode_refuses_a_generator_that_is_not_a_fixed_function():
    cases = ((nn.Dropout(0.2), "active dropout"), (nn.BatchNorm1d(8), "BatchNorm in training mode"),
             (None, "spectral normalisation in training mode"))
    for layer, what in cases:
        if layer is None:
            g = apply_spectral_norm(nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2)).double())
        else:
            g = nn.Sequential(nn.Linear(2, 8), layer, nn.Linear(8, 2)).double()
        gan = DualLinearGAN(g, RBF(_anchors(), sigma=0.3), latent_dim=2, batch_size=10, mode="fixed")
        with pytest.raises(ValueError, match=f"{what}.*generator.eval\\(\\).*minibatch"):
            gan.fit(DATA, 2)
        g.eval()  # the documented fix
        assert gan.fit(DATA, 2).status.code is StatusCode.SUCCESS


# ---------------------------------------------------------------- metrics (eq. (7.1))
def _fid_reference(fx, fy):
    mu = fx.mean(0) - fy.mean(0)
    cx, cy = np.cov(fx, rowvar=False), np.cov(fy, rowvar=False)
    root = scipy.linalg.sqrtm(cx @ cy)
    return float(mu @ mu + np.trace(cx + cy - 2 * np.real(root)))


def test_frechet_distance_with_a_training_mode_network_is_the_eval_mode_value():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 3)), rng.normal(size=(300, 3)) * 1.3 + 0.2
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh()).double()
    with torch.no_grad():
        net[1].running_mean.copy_(torch.tensor([0.3, -0.2, 0.1, 0.0], dtype=torch.float64))
        net[1].running_var.copy_(torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float64))
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    # the reference: eval-mode features (running statistics), numpy covariance, scipy sqrtm
    W, b = net[0].weight.detach().numpy(), net[0].bias.detach().numpy()
    rm, rv = before["1.running_mean"].numpy(), before["1.running_var"].numpy()
    gamma, beta = net[1].weight.detach().numpy(), net[1].bias.detach().numpy()

    def feats(s):
        return np.tanh((s @ W.T + b - rm) / np.sqrt(rv + net[1].eps) * gamma + beta)

    ref = _fid_reference(feats(x), feats(y))
    big = frechet_distance(x, y, features=net, batch_size=1024).distance
    small = frechet_distance(x, y, features=net, batch_size=16).distance
    assert big == pytest.approx(ref, rel=1e-9) and small == pytest.approx(ref, rel=1e-9)
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before) and net.training and net[1].training
    mmd = kernel_mmd(x, y, features=net, kernel="linear", unbiased=False, batch_size=7).mmd2
    fx, fy = feats(x), feats(y)
    assert mmd == pytest.approx(float(((fx.mean(0) - fy.mean(0)) ** 2).sum()), rel=1e-9)


# ---------------------------------------------------------------- trust-region discriminator (eq. (7.2))
def _power_iteration(W, u):
    v = W.T @ u
    v /= np.linalg.norm(v)
    u = W @ v
    return u / np.linalg.norm(u)


def test_spectral_norm_is_one_fixed_function_within_a_step_and_advances_between_steps():
    D = apply_spectral_norm(_disc())
    real, fake = _batch()
    tr = TrustRegionDiscriminator(D, model="cost", C=1e-2, radius=1e-4)  # the radius
    c1, c2 = tr.cost(real, fake), tr.cost(real, fake)
    assert c1 == c2  # 1.3398421370 then 1.3398559899 before the fix
    assert c1 == pytest.approx(_cost_reference(D, real, fake, 1e-2), rel=1e-12)
    layer = D[0].parametrizations.weight
    W0, u0 = layer.original.detach().numpy().copy(), layer[0]._u.detach().numpy().copy()
    rec = tr.step(real, fake)
    # advanced once, at the start of the step, from the weights of that start
    np.testing.assert_allclose(layer[0]._u.detach().numpy(), _power_iteration(W0, u0), rtol=1e-12, atol=1e-14)
    # for a tiny radius the linear model is exact to first order: rho ~ 1 (0.924 before the fix)
    assert rec.accepted and abs(rec.rho - 1.0) < 1e-3
    # the recorded cost after the step is the cost of the function the step was solved for
    assert rec.cost_after == tr.cost(real, fake)
    assert D.training and layer[0].training  # the user's modes put back


def test_spectral_norm_score_steps_agree_with_their_own_costs():
    D = apply_spectral_norm(_disc())
    real, fake = _batch()
    tr = TrustRegionDiscriminator(D, model="score", C=1e-2, radius=1e-3)
    for _ in range(3):
        rec = tr.step(real, fake)
        assert rec.accepted and abs(rec.rho - 1.0) < 1e-2
        # the cost after the step, of the function the step was solved for (the vectors of its start)
        assert rec.cost_after == tr.cost(real, fake)
        assert rec.cost_after == pytest.approx(_cost_reference(D, real, fake, 1e-2), rel=1e-12)


def test_batchnorm_in_training_mode_is_accepted_by_cost_linearisation_and_moves_once_per_step():
    D = _disc(middle=nn.BatchNorm1d(8))
    D.train()
    real, fake = _batch()
    x = torch.cat([real, fake])
    tr = TrustRegionDiscriminator(D, model="cost", C=1e-2, radius=1e-6)
    W, b = D[0].weight.detach().numpy().copy(), D[0].bias.detach().numpy().copy()
    rm0 = D[1].running_mean.clone().numpy()
    assert tr.cost(real, fake) == tr.cost(real, fake)
    assert np.array_equal(D[1].running_mean.numpy(), rm0)  # cost() is a pure evaluation
    rec = tr.step(real, fake)
    # one update with the statistics of the step's batch at the step's starting weights
    h = x.numpy() @ W.T + b
    np.testing.assert_allclose(D[1].running_mean.numpy(), 0.9 * rm0 + 0.1 * h.mean(0), rtol=1e-12, atol=1e-15)
    assert int(D[1].num_batches_tracked) == 1
    assert rec.accepted and abs(rec.rho - 1.0) < 1e-3
    with pytest.raises(ValueError, match="per-sample gradients"):  # score linearisation: still refused, and why
        TrustRegionDiscriminator(D, model="score").step(real, fake)


@pytest.mark.parametrize("model", ["score", "cost"])
def test_active_dropout_is_refused_with_the_reason(model):
    D = _disc(middle=nn.Dropout(0.3))
    D.train()
    real, fake = _batch()
    match = "dropout.*random" if model == "cost" else "dropout.*random|Dropout"
    with pytest.raises(ValueError, match=match):
        TrustRegionDiscriminator(D, model=model).step(real, fake)
    D.eval()
    assert TrustRegionDiscriminator(D, model=model, C=1e-2).step(real, fake).step_norm > 0


def test_batchnorm_training_discriminator_trains_with_model_cost_and_adam():
    for model in ("cost", "adam"):
        D = _disc(middle=nn.BatchNorm1d(8))
        D.train()
        gan = TrustRegionGAN(_gen(), D, latent_dim=2, batch_size=16, model=model, C=1e-2)
        gan.fit(DATA, 3)
        assert gan.status.code is StatusCode.SUCCESS, model
        # one update of the running statistics per iteration: the discriminator step's forward pass
        assert int(D[1].num_batches_tracked) == 3, model


class _AlwaysReject(StandardRadius):
    """A policy that rejects every step and shrinks by 10: the radius collapses to min_radius."""

    def update(self, rho, step_norm, radius):
        return self._shrink(radius, 0.1, False, "reject")


def test_a_collapsed_radius_with_every_step_rejected_is_not_success():
    gan = TrustRegionGAN(_gen(), _disc(), latent_dim=2, batch_size=16, model="score", C=1e-2, radius=0.05,
                         policy=_AlwaysReject(min_radius=1e-10))
    hist = gan.fit(DATA, 12)
    assert len(hist) == 12 and not np.any(hist.column("accepted"))
    assert gan.radius == 1e-10
    assert gan.status.code is StatusCode.STALLED and "collapsed" in gan.status.message
    assert hist.status.code is StatusCode.STALLED
    # a run whose steps are accepted still ends with SUCCESS
    ok = TrustRegionGAN(_gen(), _disc(), latent_dim=2, batch_size=16, model="score", C=1e-2, radius=0.05)
    ok.fit(DATA, 12)
    assert ok.status.code is StatusCode.SUCCESS and np.any(ok.history.column("accepted"))


def test_the_generator_step_sees_the_discriminator_as_a_fixed_function():
    D = apply_spectral_norm(_disc())
    gan = TrustRegionGAN(_gen(), D, latent_dim=2, batch_size=16, model="cost", C=1e-2, generator_steps=3)
    layer = D[0].parametrizations.weight
    W0, u0 = layer.original.detach().numpy().copy(), layer[0]._u.detach().numpy().copy()
    gan.fit(DATA, 1)
    # one power iteration per iteration (the discriminator step's), none for the three generator steps
    np.testing.assert_allclose(layer[0]._u.detach().numpy(), _power_iteration(W0, u0), rtol=1e-12, atol=1e-14)
    assert math.isfinite(gan.history.column("generator_loss")[0])


def test_cross_testing_and_classifier_score_measure_the_eval_mode_function():
    from dualgan.metrics import classifier_score, confusion_rates

    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.Dropout(0.5), nn.Tanh(), nn.Linear(16, 1)).double()
    with torch.no_grad():
        D[1].running_mean.normal_()
    D.train()
    before = {k: v.clone() for k, v in D.state_dict().items()}
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(200, 2, generator=g, dtype=torch.float64) + 1, torch.randn(150, 2, generator=g,
                                                                                         dtype=torch.float64)
    rates = confusion_rates(D, real, fake)
    # the reference: counts of positive eval-mode scores, the network evaluated by hand
    D.eval()
    with torch.no_grad():
        tp, fp = int((D(real).reshape(-1) > 0).sum()), int((D(fake).reshape(-1) > 0).sum())
    D.train()
    assert rates.true_positive_rate == tp / 200 and rates.false_positive_rate == fp / 150
    assert all(torch.equal(before[k], D.state_dict()[k]) for k in before) and D[2].training

    clf = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.Dropout(0.5)).double()
    clf.train()
    clf[0].eval()  # a mixed state, put back exactly
    images = torch.rand(40, 1, 8, 8, generator=g, dtype=torch.float64)
    score = classifier_score(images, clf).score
    with torch.no_grad():
        logits = clf[1](images.reshape(40, 64)).numpy()
    logp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    p, marginal = np.exp(logp), np.exp(logp).mean(0)
    assert score == pytest.approx(float(np.exp((p * (logp - np.log(marginal))).sum(1).mean())), rel=1e-10)
    assert clf.training and clf[2].training and not clf[0].training
