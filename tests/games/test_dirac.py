"""Dirac-GAN (Mescheder et al. 2018): the behaviours of the paper's analysis, checked against closed forms."""
import numpy as np
import pytest

from dualgan.games import DiracGAN, make_optimizer, run_optimizer
from dualgan.regularizers import R1


def _norms(game, opt, steps):
    out = [game.distance_to_equilibrium()]
    for _ in range(steps):
        assert opt.step(game).ok
        out.append(game.distance_to_equilibrium())
    return np.array(out)


@pytest.mark.parametrize("loss", ["minimax", "non_saturating"])
def test_unregularised_simultaneous_gd_spirals_outward(loss):
    """Near (0, 0), J = [[0, -1/2], [1/2, 0]]: |1 - h mu| = sqrt(1 + h^2/4) > 1 per step."""
    h = 0.1
    game = DiracGAN(loss, theta0=0.05, psi0=0.0)
    norms = _norms(game, make_optimizer("simultaneous", lr=h), 150)
    assert np.all(np.diff(norms) > 0)  # strictly outward, every step
    rate = (norms[100] / norms[0]) ** (1 / 100)
    assert rate == pytest.approx(np.sqrt(1 + h * h / 4), rel=2e-4)  # linearised rate while still near 0
    # it also turns around the equilibrium (a spiral, not a ray): theta changes sign
    thetas = []
    game2 = DiracGAN(loss, theta0=0.05, psi0=0.0)
    opt = make_optimizer("simultaneous", lr=h)
    for _ in range(80):
        opt.step(game2)
        thetas.append(game2.theta)
    assert min(thetas) < 0 < max(thetas)


@pytest.mark.parametrize("loss", ["minimax", "non_saturating"])
def test_r1_converges_to_the_equilibrium(loss):
    game = DiracGAN(loss, theta0=1.0, psi0=1.0, regularizers=(R1(gamma=1.0),))
    norms = _norms(game, make_optimizer("simultaneous", lr=0.2), 400)
    assert norms[-1] < 1e-8


@pytest.mark.parametrize("loss", ["minimax", "non_saturating"])
def test_consensus_converges_to_the_equilibrium(loss):
    game = DiracGAN(loss, theta0=1.0, psi0=1.0)
    norms = _norms(game, make_optimizer("consensus", lr=0.2, gamma=2.0), 400)
    assert norms[-1] < 1e-8


def test_wgan_without_penalty_cycles():
    """WGAN: v = (-psi, theta) is a rotation (v . z = 0): the flow keeps |z|; alternating GD circles, never converges."""
    game = DiracGAN("wasserstein", theta0=1.0, psi0=0.5)
    z = game.get_flat().numpy()
    v = game.flatten(game.vector_field()).numpy()
    np.testing.assert_allclose(v, [-z[1], z[0]], rtol=1e-14)
    assert abs(v @ z) < 1e-15
    result = run_optimizer(game, make_optimizer("alternating", lr=0.1), 700, record_trajectory=True)
    traj = result.trajectory
    radii = np.linalg.norm(traj, axis=1)
    assert radii.max() <= 1.2 * radii[0] and radii.min() >= 0.8 * radii[0]  # bounded, no convergence
    angles = np.unwrap(np.arctan2(traj[:, 1], traj[:, 0]))
    assert abs(angles[-1] - angles[0]) > 2 * np.pi * 5  # it keeps circling (about 0.1 rad per step)
    # simultaneous GD on the same field spirals out at exactly sqrt(1 + h^2) per step (linear field)
    game_sim = DiracGAN("wasserstein", theta0=1.0, psi0=0.5)
    norms = _norms(game_sim, make_optimizer("simultaneous", lr=0.1), 50)
    np.testing.assert_allclose(norms[1:] / norms[:-1], np.sqrt(1 + 0.01), rtol=1e-12)
