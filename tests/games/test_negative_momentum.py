"""Negative momentum, the optimiser added as one file: its maps and steps against its closed form in numpy.

Reference (Gidel et al., AISTATS 2019): z_{t+1} = z_t - h J z_t + beta (z_t - z_{t-1}) on the bilinear game,
the map [[(1 + beta) I - h J, -beta I], [I, 0]] on (z_t, z_{t-1}); the first step has no momentum term.
"""
import numpy as np
import pytest
import torch

from dualgan.games import OPTIMIZERS, BilinearGame, local_rate, make_optimizer, random_matrix

A = random_matrix(3, 2, seed=4, singular_values=(0.4, 1.1))


def _closed_form(h, beta):
    n, m = A.shape
    J = np.block([[np.zeros((n, n)), A], [-A.T, np.zeros((m, m))]])
    eye = np.eye(n + m)
    return np.block([[(1 + beta) * eye - h * J, -beta * eye], [eye, np.zeros_like(eye)]]), J


@pytest.mark.parametrize("h, beta", [(0.3, -0.5), (0.1, -0.2), (0.5, 0.3)])
def test_negative_momentum_map_and_steps_equal_the_closed_form(h, beta):
    assert OPTIMIZERS.entry("negative_momentum").batchable
    M_ref, J = _closed_form(h, beta)
    opt = make_optimizer("negative_momentum", lr=h, momentum=beta)
    np.testing.assert_allclose(opt.bilinear_update_map(A), M_ref, rtol=0, atol=1e-14)
    assert local_rate("negative_momentum", J, h, options={"momentum": beta})[0, 0] == pytest.approx(
        np.max(np.abs(np.linalg.eigvals(M_ref))), rel=1e-12)
    game = BilinearGame(A, seed=5)
    z = [game.get_flat().numpy().copy()]
    for _ in range(6):
        assert opt.step(game).ok
        z.append(game.get_flat().numpy().copy())
    ref = [z[0], z[0] - h * J @ z[0]]                     # the first step: no previous iterate
    for _ in range(5):
        ref.append(ref[-1] - h * J @ ref[-1] + beta * (ref[-1] - ref[-2]))
    np.testing.assert_allclose(np.array(z), np.array(ref), rtol=1e-12, atol=1e-14)


def test_negative_momentum_refuses_a_momentum_outside_the_open_unit_interval():
    with pytest.raises(ValueError, match="momentum"):
        make_optimizer("negative_momentum", momentum=-1.0)
    with pytest.raises(ValueError, match="momentum"):
        make_optimizer("negative_momentum", momentum=float("nan"))


def test_negative_momentum_non_finite_step_is_not_applied():
    game = BilinearGame(A, seed=5)
    with torch.no_grad():
        game.x[0] = float("inf")
    before = game.get_flat().clone()
    record = make_optimizer("negative_momentum", lr=0.1).step(game)
    assert not record.ok and record.status.code.name == "NON_FINITE"
    assert torch.equal(game.get_flat(), before)          # parameters unchanged
