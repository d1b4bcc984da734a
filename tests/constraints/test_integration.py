"""Every handler with the library's trainers: a few iterations each.

Projected samples must satisfy the constraint to rounding; a penalty must
leave generated samples closer to the constraint than the same run without
it; the augmented Lagrangian's multipliers and rho must appear in the History.
"""
import numpy as np
import pytest
import torch
from torch import nn

from dualgan.constraints import AugmentedLagrangian, NoConstraint, Penalty, Projection, ResidualFeatures
from dualgan.constraints.examples import subspace_mixture, train_constrained
from dualgan.features import RBF
from dualgan.status import StatusCode
from dualgan.train import DualLinearGAN, mlp_generator
from dualgan.trust_region import TrustRegionGAN


@pytest.fixture(scope="module")
def data():
    return subspace_mixture(std=0.1)


def _dual_gan(data, handler, dtype=torch.float64, iterations=15):
    anchors = data.sample(60, torch.Generator().manual_seed(0), dtype=dtype)
    feats = ResidualFeatures(data.constraint, feature_map=RBF(anchors, sigma=0.5))
    gan = DualLinearGAN(mlp_generator(latent_dim=3, out_dim=5, output_gain=3.0, dtype=dtype), feats, C=1e-3,
                        latent_dim=3, batch_size=64, mode="minibatch", generator_lr=1e-2, constraint=handler, seed=0)
    hist = gan.fit(data, iterations=iterations)
    return gan, hist


def test_dual_gan_with_projection_keeps_samples_on_the_subspace(data):
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-6)):
        gan, hist = _dual_gan(data, Projection(data.constraint), dtype=dtype, iterations=5)
        assert gan.status.success
        x = gan.sample(500).double().numpy()
        A, b = data.constraint.A.numpy(), data.constraint.b.numpy()
        assert np.abs(x @ A.T - b).max() <= tol


def test_dual_gan_penalty_reduces_violation_and_al_is_recorded(data):
    gan0, _ = _dual_gan(data, None)
    gan1, _ = _dual_gan(data, Penalty(data.constraint, weight=10.0))
    v0 = data.constraint.violation(gan0.sample(500)).mean_distance
    v1 = data.constraint.violation(gan1.sample(500)).mean_distance
    assert v1 < 0.5 * v0
    al = AugmentedLagrangian(data.constraint, rho=5.0, check_every=5)
    gan2, hist = _dual_gan(data, al)
    assert gan2.status.success
    rows = hist.to_dict() if hasattr(hist, "to_dict") else None
    assert rows is not None
    text = repr(rows)
    assert "constraint_multiplier_0" in text and "constraint_multiplier_1" in text
    assert al.n_updates >= 15 and np.all(np.isfinite(al.multipliers.numpy()))


def _trust_region(data, handler, iterations=6):
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(3, 32), nn.ReLU(), nn.Linear(32, 5)).double()
    Dnet = nn.Sequential(nn.Linear(5, 32), nn.Tanh(), nn.Linear(32, 1)).double()
    tr = TrustRegionGAN(G, Dnet, latent_dim=3, batch_size=32, model="score", C=1e-3, radius=0.1,
                        generator_lr=1e-2, constraint=handler, seed=0)
    sampler = lambda n, generator: data.sample(n, generator, dtype=torch.float64)
    history = tr.fit(sampler, iterations=iterations)
    return tr, history


def test_trust_region_gan_with_projection_and_penalty(data):
    tr, _ = _trust_region(data, Projection(data.constraint))
    with torch.no_grad():
        assert data.constraint.violation(tr.sample(400)).max_distance <= 1e-12
    tr0, _ = _trust_region(data, None, iterations=20)
    tr1, _ = _trust_region(data, Penalty(data.constraint, weight=30.0), iterations=20)
    with torch.no_grad():
        v0 = data.constraint.violation(tr0.sample(400)).mean_distance
        v1 = data.constraint.violation(tr1.sample(400)).mean_distance
    assert v1 < 0.5 * v0


def test_plain_loop_penalty_and_al_reduce_violation():
    data = subspace_mixture()
    kw = dict(steps=150, batch_size=64, hidden=32, r1=0.1, n_eval=500, record_every=50)
    none = train_constrained(data, None, **kw)
    pen = train_constrained(data, Penalty(data.constraint, weight=10.0), **kw)
    al = train_constrained(data, AugmentedLagrangian(data.constraint, rho=10.0, check_every=10), **kw)
    assert pen.violation.mean_distance < 0.3 * none.violation.mean_distance
    assert al.violation.mean_distance < 0.3 * none.violation.mean_distance
    assert [s.penalty_weight for s in al.history][-1] >= 10.0 and len(al.history[-1].multipliers) == 2
    for run in (none, pen, al):
        assert run.status.code is StatusCode.SUCCESS and run.steps == 150


class _NaNPenaltyAt(NoConstraint):
    """No constraint, but the penalty is NaN from generator step ``at`` on."""

    def __init__(self, at):
        self.at, self.calls = at, 0

    def penalty(self, samples):
        self.calls += 1
        return samples.sum() * (float("nan") if self.calls >= self.at else 0.0)


class _NaNForBatchesOf(NoConstraint):
    """No constraint, but the generator outputs NaN for batches of ``n`` (the held-out samples only)."""

    def __init__(self, n):
        self.n = n

    def wrap_generator(self, generator):
        n = self.n

        class Wrapped(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = generator

            def forward(self, z):
                x = self.inner(z)
                return x * float("nan") if z.shape[0] == n else x
        return Wrapped()


def test_plain_loop_status_names_a_non_finite_loss_and_non_finite_samples():
    data = subspace_mixture()
    kw = dict(steps=20, batch_size=16, hidden=8, n_eval=50, record_every=5)
    run = train_constrained(data, _NaNPenaltyAt(7), **kw)
    # the loss at step 7 is NaN: training stops there and says so; the samples are still finite
    assert run.status.code is StatusCode.NON_FINITE and not run.status.success
    assert run.steps == 7 and "step 7" in run.status.message and "samples" not in run.status.message
    assert torch.isfinite(run.samples).all()
    bad = train_constrained(data, _NaNForBatchesOf(50), **kw)   # batches of 16 train, 50 are held out
    assert bad.steps == 20 and bad.status.code is StatusCode.NON_FINITE
    assert "non-finite held-out samples (50 of 50)" in bad.status.message
    assert np.isnan(bad.violation.mean_distance)      # never turned into a number


# ------------------------------------------------------------------ game optimisers
def _game(data, handler, seed=0):
    from dualgan.games import GANGame
    torch.manual_seed(seed)
    G = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 5)).double()
    Dnet = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1), nn.Flatten(0)).double()
    return GANGame(G, Dnet, "non_saturating", batch_size=32, constraint=handler, seed=seed,
                   sample_real=lambda n, gen: data.sample(n, gen, dtype=torch.float64),
                   sample_latent=lambda n, gen: torch.randn(n, 3, generator=gen, dtype=torch.float64))


@pytest.mark.parametrize("name", ["simultaneous", "alternating", "consensus", "extragradient", "optimistic", "sga",
                                  "cgd"])
def test_every_game_optimiser_with_projection(data, name):
    from dualgan.games import make_optimizer
    game = _game(data, Projection(data.constraint))
    opt = make_optimizer(name, lr=0.01)
    for _ in range(3):
        game.resample()
        opt.step(game)
    x = game.sample(300).numpy()
    A, b = data.constraint.A.numpy(), data.constraint.b.numpy()
    assert np.abs(x @ A.T - b).max() <= 1e-12


@pytest.mark.parametrize("name", ["simultaneous", "consensus"])
def test_game_optimiser_penalty_and_al_reduce_violation(data, name):
    from dualgan.games import make_optimizer

    def run(handler):
        game = _game(data, handler)
        opt = make_optimizer(name, lr=0.05, base="adam")
        for _ in range(40):
            game.resample()
            opt.step(game)
        return data.constraint.violation(game.sample(400)).mean_distance

    v0 = run(None)
    assert run(Penalty(data.constraint, weight=10.0)) < 0.5 * v0
    al = AugmentedLagrangian(data.constraint, rho=10.0, check_every=10)
    assert run(al) < 0.5 * v0
    assert al.n_updates == 40 and np.all(al.multipliers.numpy() != 0)
