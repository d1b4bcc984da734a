"""GameTrainer: one step is the optimiser's update rule on the hand-written GAN losses, resume is bit for bit
(game, optimiser memory, regulariser schedule, constraint handler), failures end with a status, bad arguments
are named."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dualgan.constraints import AffineSubspace, AugmentedLagrangian
from dualgan.data import ring
from dualgan.games.optimizers import OPTIMIZERS
from dualgan.games import GameTrainer
from dualgan.regularizers import R1, ExponentialAnnealing
from dualgan.status import StatusCode

DATA = ring(4)


def _nets(seed=0):
    torch.manual_seed(seed)
    g = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    d = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    return g, d


def test_one_simultaneous_step_is_gradient_descent_on_the_gan_losses():
    g, d = _nets()
    before = [p.detach().clone() for p in list(g.parameters()) + list(d.parameters())]
    trainer = GameTrainer(g, d, latent_dim=2, batch_size=16, optimizer="simultaneous",
                          optimizer_options={"lr": 0.05}, gan_loss="non_saturating", seed=4)
    h = trainer.fit(DATA, 1)
    x, z = trainer.game.x_real, trainer.game.z  # the batch of the step
    # the losses written out by hand, at the start point
    g0, d0 = _nets()
    fake = g0(z)
    s_real, s_fake = d0(x).reshape(-1), d0(fake).reshape(-1)
    loss_d = -(F.logsigmoid(s_real).mean() + F.logsigmoid(-s_fake).mean())
    loss_g = -F.logsigmoid(s_fake).mean()
    grad_g = torch.autograd.grad(loss_g, list(g0.parameters()), retain_graph=True)
    grad_d = torch.autograd.grad(loss_d, list(d0.parameters()))
    expected = [b - 0.05 * gr for b, gr in zip(before, list(grad_g) + list(grad_d))]
    for p, e in zip(list(g.parameters()) + list(d.parameters()), expected):
        torch.testing.assert_close(p.detach(), e, rtol=1e-12, atol=1e-14)
    assert h["objective"][0] == pytest.approx(float(loss_d.detach()), rel=1e-12)
    assert h["generator_loss"][0] == pytest.approx(float(loss_g.detach()), rel=1e-12)
    v = torch.cat([t.reshape(-1) for t in list(grad_g) + list(grad_d)])
    assert h["field_norm"][0] == pytest.approx(float(v.norm()), rel=1e-12)


def _make(name, base, constraint=True):
    g, d = _nets(1)
    handler = AugmentedLagrangian(AffineSubspace([[1.0, 1.0]], [0.5]), check_every=2) if constraint else None
    return GameTrainer(g, d, latent_dim=2, batch_size=8, optimizer=name, optimizer_options={"lr": 1e-2, "base": base},
                       regularizers=(R1(ExponentialAnnealing(1.0, 20)),), constraint=handler, seed=3)


@pytest.mark.parametrize("name,base", [("optimistic", "adam"), ("consensus", "rmsprop"), ("extragradient", "sgd")])
def test_resume_is_bit_identical(tmp_path, name, base):
    straight = _make(name, base)
    full = straight.fit(DATA, 8)
    first = _make(name, base)
    first.fit(DATA, 5, checkpoint_path=tmp_path / "ck.pt")
    resumed = _make(name, base).load_checkpoint(tmp_path / "ck.pt")
    assert resumed.iteration == 5
    again = resumed.fit(DATA, 8)
    assert again.columns == full.columns and "constraint_penalty_weight" in full.columns
    for col in full.columns:
        if col != "seconds":
            np.testing.assert_array_equal(again[col], full[col], err_msg=col)
    assert torch.equal(resumed.game.get_flat(), straight.game.get_flat())
    assert torch.equal(resumed.constraint.multipliers, straight.constraint.multipliers)


def test_instance_optimizer_and_checkpoint_before_the_first_step(tmp_path):
    g, d = _nets()
    opt = OPTIMIZERS.get("optimistic")(lr=1e-2)
    trainer = GameTrainer(g, d, latent_dim=2, batch_size=8, optimizer=opt)
    trainer.save_checkpoint(tmp_path / "ck0.pt")  # an optimiser that never stepped saves its empty state
    fresh = GameTrainer(*_nets(), latent_dim=2, batch_size=8, optimizer=OPTIMIZERS.get("optimistic")(lr=1e-2))
    assert fresh.load_checkpoint(tmp_path / "ck0.pt").iteration == 0
    trainer.fit(DATA, 2)
    assert trainer.status.success and opt.iteration == 2


def test_optimistic_checkpoint_at_iteration_zero_resumes_bit_identically(tmp_path):
    """Saved before any step (optimistic memory empty, no base state yet) and loaded into a trainer built from
    other initial weights: the run continues exactly as one that never stopped."""
    straight = _make("optimistic", "adam")
    full = straight.fit(DATA, 6)
    _make("optimistic", "adam").save_checkpoint(tmp_path / "ck0.pt")
    g, d = _nets(2)
    handler = AugmentedLagrangian(AffineSubspace([[1.0, 1.0]], [0.5]), check_every=2)
    other = GameTrainer(g, d, latent_dim=2, batch_size=8, optimizer="optimistic",
                        optimizer_options={"lr": 1e-2, "base": "adam"},
                        regularizers=(R1(ExponentialAnnealing(1.0, 20)),), constraint=handler, seed=3)
    assert not torch.equal(other.game.get_flat(), _make("optimistic", "adam").game.get_flat())
    resumed = other.load_checkpoint(tmp_path / "ck0.pt")
    assert resumed.iteration == 0 and resumed.game_optimizer.iteration == 0
    again = resumed.fit(DATA, 6)
    assert again.columns == full.columns
    for col in full.columns:
        if col != "seconds":
            np.testing.assert_array_equal(again[col], full[col], err_msg=col)
    assert torch.equal(resumed.game.get_flat(), straight.game.get_flat())
    # loaded into a trainer whose optimiser has stepped (Adam moments and optimistic memory of 6 steps):
    # the base optimiser is rebuilt fresh, so the run again repeats the straight one bit for bit
    end = straight.game.get_flat().clone()
    assert straight.game_optimizer._optimizer.state            # Adam has moments to forget
    rewound = straight.load_checkpoint(tmp_path / "ck0.pt")
    assert rewound.iteration == 0 and rewound.game_optimizer.iteration == 0
    assert not rewound.game_optimizer._optimizer.state
    twice = rewound.fit(DATA, 6)
    for col in full.columns:
        if col != "seconds":
            np.testing.assert_array_equal(twice[col], full[col], err_msg=col)
    assert torch.equal(rewound.game.get_flat(), end)


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_state_round_trips_before_the_first_step(name):
    opt = OPTIMIZERS.get(name)()
    state = opt.state_dict()
    assert state["iteration"] == 0 and state["base"] is None and state["extra"] is None
    trainer = GameTrainer(*_nets(), latent_dim=2, batch_size=8, optimizer=name)
    trainer.game_optimizer.load_state_dict(state, trainer.game)
    assert trainer.game_optimizer.state_dict()["extra"] is None and trainer.fit(DATA, 2) and trainer.status.success

class _NaNAfter(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2).double()
        self.bad = False

    def forward(self, z):
        out = self.lin(z)
        return out * float("nan") if self.bad else out


def test_non_finite_field_ends_with_status_and_keeps_the_last_finite_state():
    gen = _NaNAfter()
    trainer = GameTrainer(gen, _nets()[1], latent_dim=2, batch_size=8)

    def arm(tr, iteration):
        if iteration == 3:
            gen.bad = True

    h = trainer.fit(DATA, 6, callbacks=[arm])
    assert trainer.status.code is StatusCode.NON_FINITE and trainer.status.message.endswith("iteration 3")
    assert len(h) == 3 and all(bool(torch.isfinite(p).all()) for p in trainer.game.parameters)


def test_bad_arguments_are_named():
    g, d = _nets()
    with pytest.raises(ValueError, match="unknown game optimiser 'adamw'"):
        GameTrainer(g, d, latent_dim=2, optimizer="adamw")
    with pytest.raises(ValueError, match="takes no option"):
        GameTrainer(g, d, latent_dim=2, optimizer="simultaneous", optimizer_options={"gamma": 1.0})
    with pytest.raises(ValueError, match="optimizer_options"):
        GameTrainer(g, d, latent_dim=2, optimizer=OPTIMIZERS.get("simultaneous")(), optimizer_options={"lr": 1.0})
    with pytest.raises(TypeError, match="optimizer must be"):
        GameTrainer(g, d, latent_dim=2, optimizer=3)
    with pytest.raises(TypeError, match="discriminator"):
        GameTrainer(g, "mlp", latent_dim=2)
    with pytest.raises(ValueError, match="latent_dim"):
        GameTrainer(g, d, latent_dim=0)


# ------------------------------------------------------------------ random regularisers, settings, vocabulary
from dualgan.regularizers import CoupledGradientPenalty, LocalGradientPenalty  # noqa: E402
from dualgan.train import CheckpointError, make_trainer  # noqa: E402


def _penalised(penalty, seed=3, **options):
    g, d = _nets(1)
    options.setdefault("optimizer_options", {"lr": 1e-2})
    return GameTrainer(g, d, latent_dim=2, batch_size=8, optimizer="simultaneous", gan_loss="wasserstein",
                       regularizers=(penalty,), seed=seed, **options)


@pytest.mark.parametrize("make_penalty", [lambda: CoupledGradientPenalty(10.0), lambda: LocalGradientPenalty(10.0)],
                         ids=["wgan_gp", "dragan"])
def test_random_penalties_resume_bit_identically_whatever_the_global_random_state(tmp_path, make_penalty):
    # generator=None: before, the penalty drew from torch's global generator, which no checkpoint holds,
    # so a resumed run (other global state) took other interpolation points / perturbations
    penalty = make_penalty()
    torch.manual_seed(0)
    straight = _penalised(penalty)
    full = straight.fit(DATA, 6)
    assert penalty.generator is None  # the user's object is unchanged; the trainer seeded a copy
    torch.manual_seed(1)
    first = _penalised(make_penalty())
    first.fit(DATA, 3, checkpoint_path=tmp_path / "ck.pt")
    torch.manual_seed(2)
    resumed = _penalised(make_penalty()).load_checkpoint(tmp_path / "ck.pt")
    torch.manual_seed(3)
    again = resumed.fit(DATA, 6)
    for col in full.columns:
        if col != "seconds":
            np.testing.assert_array_equal(again[col], full[col], err_msg=col)
    assert torch.equal(resumed.game.get_flat(), straight.game.get_flat())
    # the draws depend on the trainer's seed: another seed, another run
    other = _penalised(make_penalty(), seed=4).fit(DATA, 2)
    assert not np.array_equal(other["objective"], full["objective"][:2])


def test_every_setting_that_steers_the_run_is_checked_on_load(tmp_path):
    g, d = _nets()
    trainer = GameTrainer(g, d, latent_dim=2, batch_size=8, optimizer=OPTIMIZERS.get("consensus")(gamma=5.0))
    trainer.fit(DATA, 1, checkpoint_path=tmp_path / "ck.pt")
    # the same settings by name: accepted (an instance is recorded by its registered name and all its options)
    same = GameTrainer(*_nets(), latent_dim=2, batch_size=8, optimizer="consensus", optimizer_options={"gamma": 5.0})
    assert same.load_checkpoint(tmp_path / "ck.pt").iteration == 1
    # another gamma: refused (before, only the class name was recorded and a gamma=1 trainer loaded it)
    with pytest.raises(CheckpointError, match="optimizer_options"):
        GameTrainer(*_nets(), latent_dim=2, batch_size=8, optimizer="consensus").load_checkpoint(tmp_path / "ck.pt")
    # a regulariser's settings
    _penalised(CoupledGradientPenalty(10.0)).save_checkpoint(tmp_path / "gp.pt")
    with pytest.raises(CheckpointError, match="regularizers"):
        _penalised(CoupledGradientPenalty(5.0)).load_checkpoint(tmp_path / "gp.pt")
    with pytest.raises(CheckpointError, match="regularizers"):
        _penalised(CoupledGradientPenalty(10.0, one_sided=True)).load_checkpoint(tmp_path / "gp.pt")


@pytest.mark.parametrize("key,value", [("generator_lr", 1e-3), ("discriminator_lr", 1e-3), ("beta1", 0.9),
                                       ("generator_optimizer", torch.optim.SGD)])
def test_shared_keywords_without_meaning_in_a_game_say_where_the_setting_lives(key, value):
    # one game optimiser steps both players with one step size: the error names optimizer_options
    with pytest.raises(ValueError, match=f"GameTrainer takes no {key}: .*optimizer_options"):
        GameTrainer(*_nets(), latent_dim=2, **{key: value})
    with pytest.raises(ValueError, match=f"GameTrainer takes no {key}"):
        make_trainer("game", *_nets(), latent_dim=2, **{key: value})


def test_the_gan_loss_is_named_gan_loss():
    trainer = GameTrainer(*_nets(), latent_dim=2, gan_loss="hinge")
    assert trainer.game.loss.name == "hinge" and trainer.history.meta["gan_loss"] == "hinge"
    with pytest.raises(TypeError):
        GameTrainer(*_nets(), latent_dim=2, loss="hinge")
