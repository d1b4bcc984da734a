"""Shape, dtype and batch contracts, checked once with a message naming the shapes or dtypes and the fix.

One table over every registered trainer (dualgan.train.TRAINERS, the models of tests/test_trainers.py): a
generator that returns a tuple, one sample too few or detached samples, and data that return n - 1 rows are
refused with a clear error (all four trainers trained and reported SUCCESS, or failed with a raw torch error,
before); a two-output discriminator; float32/float64 mixes; the game optimisers' base_kwargs; a trust radius
outside its policy's range.
"""
import math

import numpy as np
import pytest
import torch
from torch import nn

from dualgan.data import ring
from dualgan.features import RBF
from dualgan.games import GameTrainer
from dualgan.games.optimizers import OPTIMIZERS
from dualgan.status import StatusCode
from dualgan.train import TRAINERS, DualLinearGAN, make_trainer
from dualgan.trust_region import StandardRadius, TrustRegionDiscriminator, TrustRegionGAN
from tests.test_trainers import MODELS

DATA = ring(4)


class _Wrapped(nn.Module):
    """A generator whose forward post-processes the samples of an MLP (the faults of the issue)."""

    def __init__(self, fault):
        super().__init__()
        torch.manual_seed(0)
        self.g = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2)).double()
        self.fault = fault

    def forward(self, z):
        x = self.g(z)
        if self.fault == "tuple":
            return x, z
        if self.fault == "short":
            return x[:-1]
        if self.fault == "detach":
            return x.detach()
        return x


def _make(name, generator=None, **overrides):
    models, own = MODELS[name]()
    if generator is not None:
        models = (generator,) + tuple(models[1:])
    kwargs = dict(latent_dim=2, batch_size=8, seed=3, **own)
    kwargs.update(overrides)
    return make_trainer(name, *models, **kwargs)


@pytest.mark.parametrize("name", TRAINERS.names())
@pytest.mark.parametrize("fault,error,match", [
    ("tuple", TypeError, r"must return a tensor of samples.*returned a tuple"),
    ("short", ValueError, r"one sample per noise row.*shape \(1, 2\) for noise of shape \(2, 2\)"),
    ("detach", ValueError, r"do not depend on its trainable parameters.*detach"),
])
def test_a_generator_that_breaks_the_contract_is_refused_at_construction(name, fault, error, match):
    with pytest.raises(error, match=match):
        _make(name, generator=_Wrapped(fault))
    assert _make(name, generator=_Wrapped("none")).fit(DATA, 1).status.code is StatusCode.SUCCESS


@pytest.mark.parametrize("name", TRAINERS.names())
@pytest.mark.parametrize("rows", [-1, +1])
def test_data_that_return_another_number_of_rows_are_refused_at_the_first_batch(name, rows):
    trainer = _make(name)

    def data(n, gen):
        return torch.randn(n + rows, 2, generator=gen, dtype=torch.float64)

    with pytest.raises(ValueError, match=rf"shape \({8 + rows}, 2\) for a batch of 8.*needs \(8, 2\)"):
        trainer.fit(data, 3)
    assert trainer.iteration == 0 and trainer.status.code is StatusCode.ERROR  # nothing trained, no SUCCESS


@pytest.mark.parametrize("name", TRAINERS.names())
def test_data_of_another_sample_shape_are_refused(name):
    trainer = _make(name)
    with pytest.raises(ValueError, match=r"shape \(8, 3\) for a batch of 8.*needs \(8, 2\)"):
        trainer.fit(lambda n, gen: torch.randn(n, 3, generator=gen, dtype=torch.float64), 2)
    with pytest.raises(TypeError, match="returned a list"):
        _make(name).fit(lambda n, gen: [0.0] * n, 2)


def test_integer_and_float32_data_are_cast_losslessly():
    table = torch.randint(-3, 4, (50, 2))
    a = _make("game").fit(table, 3)
    b = _make("game").fit(table.to(torch.float64), 3)
    np.testing.assert_array_equal(a.column("objective"), b.column("objective"))


@pytest.mark.parametrize("name", ["trust_region", "game"])
def test_a_two_output_discriminator_is_refused_at_construction(name):
    models, own = MODELS[name]()
    with pytest.raises(ValueError, match=r"one score per sample.*returned \(2, 2\) for 2 samples.*nn.Linear\(k, 1\)"):
        make_trainer(name, models[0], nn.Linear(2, 2).double(), latent_dim=2, batch_size=8, **own)


@pytest.mark.parametrize("name", ["trust_region", "game"])
def test_a_discriminator_of_another_dtype_is_refused_with_the_fix(name):
    models, own = MODELS[name]()
    with pytest.raises(TypeError, match=r"discriminator's parameters are torch.float32.*torch.float64.*\.to\("):
        make_trainer(name, models[0], models[1].float(), latent_dim=2, batch_size=8, **own)


def test_a_float32_feature_map_under_a_float64_generator_is_refused_with_the_exact_fix():
    features = nn.Sequential(nn.Linear(2, 6), nn.Tanh()).float()  # like digits_features(): float32 parameters
    gen = _Wrapped("none")
    with pytest.raises(TypeError, match=r"feature map's parameters are torch.float32.*torch.float64.*features\.to"):
        DualLinearGAN(gen, features, latent_dim=2, batch_size=8)
    features.to(torch.float64)  # the fix the message names (exact)
    assert DualLinearGAN(gen, features, latent_dim=2, batch_size=8, C=1e-2).fit(DATA, 2).status.success


def test_digits_features_under_a_float64_generator():
    from dualgan.features import digits_features

    try:
        feats = digits_features()
    except Exception as exc:  # pragma: no cover - the bundled classifier could not be built here
        pytest.skip(f"digits_features() is not available here ({exc})")

    class Images(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 64).double()

        def forward(self, z):
            return torch.sigmoid(self.lin(z)).reshape(-1, 1, 8, 8)

    with pytest.raises(TypeError, match=r"torch.float32 but the generator's samples are torch.float64"):
        DualLinearGAN(Images(), feats, latent_dim=4, batch_size=8)


# ---------------------------------------------------------------- trust-region discriminator dtypes
def _disc(dtype):
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).to(dtype)


def test_trust_region_discriminator_batch_dtype():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(8, 2, generator=g, dtype=torch.float64), torch.randn(8, 2, generator=g, dtype=torch.float64)
    tr = TrustRegionDiscriminator(_disc(torch.float32))
    with pytest.raises(TypeError, match=r"real has dtype torch.float64 but the discriminator's parameters are "
                                        r"torch.float32.*discriminator.to\(torch.float64\)"):
        tr.step(real, fake)
    with pytest.raises(TypeError, match="real has dtype torch.float64"):
        tr.cost(real, fake)
    # a float32 batch into a float64 model is widened exactly: the same step as the float64 batch
    r32, f32 = real.float(), fake.float()
    a = TrustRegionDiscriminator(_disc(torch.float64), C=1e-2).step(r32, f32)
    b = TrustRegionDiscriminator(_disc(torch.float64), C=1e-2).step(r32.double(), f32.double())
    assert torch.equal(a.step, b.step) and a.cost_after == b.cost_after


# ---------------------------------------------------------------- game optimisers' base_kwargs
@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_base_kwargs_are_validated_with_a_clear_error(name):
    with pytest.raises(ValueError, match=r"base_kwargs=\{'betas': \(2.0, 0.9\)\} are refused by base optimiser "
                                         r"'adam'.*0 <= beta1, beta2 < 1"):
        OPTIMIZERS.get(name)(base="adam", base_kwargs={"betas": (2.0, 0.9)})
    with pytest.raises(TypeError, match=r"base_kwargs must be a dict.*got list \[0.9\]"):
        OPTIMIZERS.get(name)(base="adam", base_kwargs=[0.9])
    with pytest.raises(ValueError, match=r"refused by base optimiser 'rmsprop'.*alpha >= 0"):
        OPTIMIZERS.get(name)(base="rmsprop", base_kwargs={"alpha": -0.5})
    assert OPTIMIZERS.get(name)(base="adam", base_kwargs={"betas": (0.5, 0.999)}).base_kwargs == {"betas": (0.5, 0.999)}


def test_game_trainer_base_kwargs_errors_name_the_argument():
    g, d = _Wrapped("none"), _disc(torch.float64)
    with pytest.raises(ValueError, match="base_kwargs"):
        GameTrainer(g, d, latent_dim=2, optimizer_options={"base": "adam", "base_kwargs": {"betas": (2.0, 0.9)}})
    with pytest.raises(TypeError, match="base_kwargs must be a dict"):
        GameTrainer(g, d, latent_dim=2, optimizer_options={"base": "adam", "base_kwargs": [0.9]})


# ---------------------------------------------------------------- extreme but finite radius
def test_a_radius_outside_the_policy_range_is_refused_and_an_overflow_is_a_status():
    with pytest.raises(ValueError, match=r"radius=1e-300 is below the radius policy's floor min_radius=1e-10"):
        TrustRegionGAN(_Wrapped("none"), _disc(torch.float64), latent_dim=2, radius=1e-300)
    with pytest.raises(ValueError, match=r"radius=1e-12 is below .* min_radius=1e-11"):
        TrustRegionDiscriminator(_disc(torch.float64), radius=1e-12, policy=StandardRadius(min_radius=1e-11))
    # the fixed policy has no floor: the score sub-problem at 1e-300 overflows, which ends the run with a status
    gan = TrustRegionGAN(_Wrapped("none"), _disc(torch.float64), latent_dim=2, batch_size=8, radius=1e-300,
                         policy="fixed")
    gan.fit(DATA, 2)
    assert gan.status.code is StatusCode.NUMERICAL_ERROR and "radius 1e-300" in gan.status.message
    assert gan.iteration == 0
    # cost linearisation has no sub-problem: steps of norm 1e-300 are taken and accepted by the fixed policy
    cost = TrustRegionGAN(_Wrapped("none"), _disc(torch.float64), latent_dim=2, batch_size=8, radius=1e-300,
                          policy="fixed", model="cost")
    hist = cost.fit(DATA, 2)
    assert cost.status.code is StatusCode.SUCCESS
    assert all(math.isclose(s, 1e-300, rel_tol=1e-12) for s in hist.column("step_norm"))


class _Cast(nn.Module):
    def __init__(self):
        super().__init__()
        self.g = nn.Linear(2, 2).double()

    def forward(self, z):
        return self.g(z).float()


@pytest.mark.parametrize("name", TRAINERS.names())
def test_a_generator_whose_samples_are_not_in_its_dtype_is_refused(name):
    with pytest.raises(TypeError, match=r"samples of dtype torch.float32 but its parameters are torch.float64"):
        _make(name, generator=_Cast())


@pytest.mark.parametrize("name", TRAINERS.names())
def test_sampling_in_the_middle_of_a_run_changes_nothing_of_the_run(name):
    class BNGen(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.net = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 2)).double()

        def forward(self, z):
            return self.net(z)

    def run(sample_between):
        trainer = _make(name, generator=BNGen())
        trainer.fit(DATA, 2)
        if sample_between:
            before = {k: v.clone() for k, v in trainer.generator.state_dict().items()}
            trainer.sample(50)
            after = trainer.generator.state_dict()
            assert all(torch.equal(before[k], after[k]) for k in before)  # running statistics did not move
        trainer.fit(DATA, 4)
        return trainer.history.column("objective"), [t.clone() for t in trainer.generator.state_dict().values()]

    (h1, p1), (h2, p2) = run(False), run(True)
    np.testing.assert_array_equal(h1, h2)
    assert all(torch.equal(a, b) for a, b in zip(p1, p2))
