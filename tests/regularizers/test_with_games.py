"""The regularisers inside the library's games (dualgan.games) with every game optimiser.

R1 on the Dirac-GAN: with R1 every optimiser converges to the equilibrium
(0, 0); without it, simultaneous GD spirals out (the plain-loop version with
its closed-form check is in test_dirac_r1.py). Every penalty also goes
through consensus optimisation, whose J^T v differentiates the penalty's own
input gradient once more, and is checked there against finite differences of
the vector field.
"""
import pytest
import torch
from torch import nn

games = pytest.importorskip("dualgan.games", reason="the games family provides GANGame/DiracGAN")

from dualgan.regularizers import CoupledGradientPenalty, JSRegularizer, LocalGradientPenalty, R1, R2  # noqa: E402


@pytest.mark.parametrize("optimizer", games.OPTIMIZERS.names())
def test_r1_dirac_gan_converges_with_every_game_optimizer(optimizer):
    game = games.DiracGAN("minimax", regularizers=(R1(1.0),))
    opt = games.make_optimizer(optimizer, lr=0.1)
    for _ in range(300):
        opt.step(game)
    assert game.distance_to_equilibrium() < 1e-3


def test_unregularised_simultaneous_gd_spirals_out():
    game = games.DiracGAN("minimax")
    start = game.distance_to_equilibrium()
    opt = games.make_optimizer("simultaneous", lr=0.1)
    for _ in range(300):
        opt.step(game)
    assert game.distance_to_equilibrium() > start


def _small_gan(penalty):
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    D = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    return games.GANGame(G, D, "non_saturating", batch_size=6, regularizers=(penalty,), seed=0,
                         sample_real=lambda n, g: torch.randn(n, 2, generator=g, dtype=torch.float64) + 1.0,
                         sample_latent=lambda n, g: torch.randn(n, 2, generator=g, dtype=torch.float64))


@pytest.mark.parametrize("make_penalty", [
    lambda: R1(2.0), lambda: R2(2.0), lambda: JSRegularizer(1.0),
    lambda: CoupledGradientPenalty(1.0, generator=torch.Generator().manual_seed(0)),
    lambda: LocalGradientPenalty(1.0, generator=torch.Generator().manual_seed(0)),
], ids=["R1", "R2", "JS", "WGAN-GP", "DRAGAN"])
def test_penalties_in_a_gan_game_jacobian_matches_finite_differences(make_penalty):
    game = _small_gan(make_penalty())
    game.resample()
    flat = game.get_flat().clone()
    u = torch.randn(flat.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)

    def field_at(point):
        game.set_flat(point)
        # sampled penalties redraw their points: reset their generators for a deterministic field
        for r in game.regularizers:
            if getattr(r, "generator", None) is not None:
                r.generator.manual_seed(0)
        return torch.cat([g.reshape(-1) for g in game.vector_field()]).detach()

    h = 1e-6
    fd = (field_at(flat + h * u) - field_at(flat - h * u)) / (2 * h)
    game.set_flat(flat)
    for r in game.regularizers:
        if getattr(r, "generator", None) is not None:
            r.generator.manual_seed(0)
    jvp = game.flatten(game.jvp(game.unflatten(u)))
    assert torch.allclose(jvp, fd, rtol=1e-5, atol=1e-7)
    opt = games.make_optimizer("consensus", lr=0.01)
    for _ in range(3):
        record = opt.step(game)
    assert torch.isfinite(game.get_flat()).all()
    del record


def test_a_gan_game_refuses_a_bad_penalty_state_before_anything_changes():
    # issue 25, each part owns its state: the game asks each penalty to check its part before it loads any
    # part (a bad generator state was refused only after the weights, sampler and batches had been loaded)
    saved_game = _small_gan(CoupledGradientPenalty(1.0, generator=torch.Generator().manual_seed(0)))
    saved_game.resample()
    saved_game.set_flat(saved_game.get_flat() + 0.5)
    state = saved_game.state_dict()
    state["extra"]["regularizers"][0]["generator"] = state["extra"]["regularizers"][0]["generator"][:-1]
    game = _small_gan(CoupledGradientPenalty(1.0, generator=torch.Generator().manual_seed(1)))
    before = (game.get_flat().clone(), game._sampler.get_state().clone(), game.regularizers[0].generator.get_state())
    with pytest.raises(ValueError, match="random generator state"):
        game.load_state_dict(state)
    assert torch.equal(game.get_flat(), before[0]) and game.x_real is None
    assert torch.equal(game._sampler.get_state(), before[1])
    assert torch.equal(game.regularizers[0].generator.get_state(), before[2])
