"""An object Game, written once, runs in the batched runner and the stability maps as it is.

Reference: the exact spectral radius of each optimiser's update map, its closed form written out here in
numpy from the game's Jacobian J = [[P, Q], [-Q^T, S]] (eqs. (3.3), (3.5)-(3.7) of the theory page).
"""
import numpy as np
import pytest
import torch

from dualgan.games import Game, NotBatchableError, Player, batched_run, stability_map

P = np.array([[0.3, 0.1], [0.1, 0.2]])
S = np.array([[0.25, 0.0], [0.0, 0.15]])
Q = np.array([[1.0, 0.4], [-0.3, 0.8]])
J_NUMPY = np.block([[P, Q], [-Q.T, S]])


class QuadraticGame(Game):
    """L_x = x^T P x / 2 + x^T Q y, L_y = y^T S y / 2 - x^T Q y: v = J z, equilibrium 0."""

    def __init__(self):
        self.x = torch.tensor([0.5, -1.0], dtype=torch.float64, requires_grad=True)
        self.y = torch.tensor([1.5, 0.25], dtype=torch.float64, requires_grad=True)
        self.equilibrium = torch.zeros(4, dtype=torch.float64)
        p, s, q = (torch.from_numpy(a) for a in (P, S, Q))
        super().__init__([Player("x", [self.x], lambda: 0.5 * self.x @ p @ self.x + self.x @ q @ self.y),
                          Player("y", [self.y], lambda: 0.5 * self.y @ s @ self.y - self.x @ q @ self.y)])


def _rho(M):
    return float(np.max(np.abs(np.linalg.eigvals(M))))


def _exact(name, h, c):
    eye, J = np.eye(4), J_NUMPY
    if name == "simultaneous":
        return _rho(eye - h * J)
    if name == "consensus":
        return _rho(eye - h * (J + c * J.T @ J))
    if name == "extragradient":
        return _rho(eye - h * J @ (eye - c * h * J))
    if name == "optimistic":
        return _rho(np.block([[eye - 2 * h * J, h * J], [eye, np.zeros((4, 4))]]))
    raise AssertionError(name)


def test_an_object_game_runs_in_stability_map_at_the_exact_spectral_radius():
    game = QuadraticGame()
    lrs, coefs = (0.3,), (0.5, 1.0)
    names = ("simultaneous", "consensus", "extragradient", "optimistic")
    m = stability_map(game, optimizers=names, lrs=lrs, coefficients=coefs, seeds=(0,), n_steps=100)
    assert m.status.success and m.exact_note == ""
    for o, name in enumerate(names):
        for i, h in enumerate(lrs):
            for j, c in enumerate(coefs):
                rho = _exact(name, h, c)
                assert m.exact_rate[o, i, j] == pytest.approx(rho, rel=1e-12, abs=1e-14), (name, h, c)
                assert rho < 0.99      # converging runs: the measured rate of every seed is the spectral radius
                np.testing.assert_allclose(m.measured_rate[o, i, j], rho, rtol=2e-2)


def test_an_object_game_runs_in_batched_run_as_its_per_run_step():
    game = QuadraticGame()
    z0 = torch.stack([game.get_flat(), -2 * game.get_flat()])
    run = batched_run(game, "consensus", z0, [0.1, 0.3], [1.0, 0.5], n_steps=200)
    for cell, (h, c) in enumerate(((0.1, 1.0), (0.3, 0.5))):
        np.testing.assert_allclose(run.measured_rate[cell], _exact("consensus", h, c), rtol=2e-2)
        # the exact iterate: (I - h (J + c J^T J))^200 z0 in numpy
        M = np.eye(4) - h * (J_NUMPY + c * J_NUMPY.T @ J_NUMPY)
        ref = np.linalg.matrix_power(M, 200) @ z0[cell].numpy()
        np.testing.assert_allclose(run.final_params[cell], ref, rtol=1e-9, atol=1e-15)
    assert torch.equal(game.get_flat(), torch.tensor([0.5, -1.0, 1.5, 0.25], dtype=torch.float64))  # put back


def test_an_object_game_without_an_equilibrium_is_refused_by_name():
    x = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    with pytest.raises(NotBatchableError, match="Game has no functional form: declare its equilibrium"):
        batched_run(Game([Player("x", [x], lambda: (x ** 2).sum())]), "simultaneous", torch.ones(1, 1), 0.1)


def test_an_optimistic_state_saved_per_tensor_by_an_earlier_version_loads_and_continues_the_run():
    """Earlier versions saved optimistic GD's previous field as one tensor per parameter; the run continues as
    if it had not stopped (reference: the same run without a stop)."""
    from dualgan.games import BilinearGame, make_optimizer, random_matrix

    A = random_matrix(3, 2, seed=2, singular_values=(0.5, 1.0))
    straight, opt = BilinearGame(A, seed=1), make_optimizer("optimistic", lr=0.2)
    for _ in range(3):
        opt.step(straight)
    state = opt.state_dict()
    old = dict(state, extra=straight.unflatten(state["extra"][0]))        # the per-tensor layout
    resumed, again = BilinearGame(A, seed=1), make_optimizer("optimistic", lr=0.2)
    resumed.set_flat(straight.get_flat())
    again.load_state_dict(old, resumed)
    for _ in range(4):
        opt.step(straight)
        again.step(resumed)
    assert torch.equal(resumed.get_flat(), straight.get_flat())
