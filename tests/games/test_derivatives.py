"""v, J u, J^T u and the full Jacobian against closed forms and central finite differences (float64)."""
import numpy as np
import pytest
import torch

from dualgan.games import (BilinearGame, DiracGAN, Game, GANGame, Player, bilinear_jacobian, eigenvalues, jacobian,
                           leading_eigenvalues, mlp, random_matrix)
from dualgan.regularizers import R1
from dualgan.status import StatusCode


def _small_gan(loss="non_saturating", regularizers=(), seed=0):
    torch.manual_seed(seed)
    G = mlp(3, 2, hidden=5, depth=1, activation=torch.nn.Tanh).double()
    D = torch.nn.Sequential(mlp(2, 1, hidden=5, depth=1, activation=torch.nn.Tanh), torch.nn.Flatten(0)).double()
    return GANGame(G, D, loss, sample_real=lambda n, g: torch.randn(n, 2, generator=g, dtype=torch.float64) + 1.0,
                   sample_latent=lambda n, g: torch.randn(n, 3, generator=g, dtype=torch.float64), batch_size=7,
                   regularizers=regularizers, seed=seed)


def _fd_field(game, u, eps=1e-6):
    """Central difference (v(x + eps u) - v(x - eps u)) / (2 eps), flat."""
    x0 = game.get_flat()
    game.set_flat(x0 + eps * u)
    plus = game.flatten(game.vector_field())
    game.set_flat(x0 - eps * u)
    minus = game.flatten(game.vector_field())
    game.set_flat(x0)
    return (plus - minus) / (2 * eps)


def _fd_jacobian(game, eps=1e-6):
    n = game.num_parameters
    return torch.stack([_fd_field(game, torch.eye(n, dtype=torch.float64)[i], eps) for i in range(n)], dim=1)


GAMES = {
    "gan-ns": lambda: _small_gan("non_saturating"),
    "gan-minimax-r1": lambda: _small_gan("minimax", regularizers=(R1(gamma=3.0),)),
    "gan-wasserstein": lambda: _small_gan("wasserstein"),
    "dirac-r1": lambda: DiracGAN("non_saturating", theta0=0.7, psi0=-0.4, regularizers=(R1(gamma=2.0),)),
}


@pytest.mark.parametrize("name", sorted(GAMES))
def test_jvp_vjp_against_finite_differences_and_full_jacobian(name):
    game = GAMES[name]()
    game.resample()
    n = game.num_parameters
    gen = torch.Generator().manual_seed(1)
    u = torch.randn(n, generator=gen, dtype=torch.float64)
    w = torch.randn(n, generator=gen, dtype=torch.float64)
    ju = game.flatten(game.jvp(game.unflatten(u)))
    jtw = game.flatten(game.vjp(game.unflatten(w)))
    fd = _fd_field(game, u)
    assert torch.allclose(ju, fd, rtol=1e-6, atol=1e-7), (ju - fd).abs().max()
    J = jacobian(game)
    J_fd = _fd_jacobian(game)
    assert torch.allclose(J, J_fd, rtol=1e-6, atol=1e-7), (J - J_fd).abs().max()
    assert torch.allclose(ju, J @ u, rtol=1e-10, atol=1e-12)
    assert torch.allclose(jtw, J.T @ w, rtol=1e-10, atol=1e-12)
    j2, jt2 = game.jvp_and_vjp(game.unflatten(u))
    assert torch.allclose(game.flatten(j2), J @ u, rtol=1e-10, atol=1e-12)
    assert torch.allclose(game.flatten(jt2), J.T @ u, rtol=1e-10, atol=1e-12)
    op = game.jvp_operator()
    assert torch.allclose(game.flatten(op(game.unflatten(w))), J @ w, rtol=1e-10, atol=1e-12)


def test_field_is_each_players_own_gradient():
    game = _small_gan("non_saturating")
    game.resample()
    loss_g, loss_d = game.losses()
    g_params = list(game.generator.parameters())
    d_params = list(game.discriminator.parameters())
    expected = list(torch.autograd.grad(loss_g, g_params, retain_graph=True)) + list(torch.autograd.grad(loss_d, d_params))
    for a, b in zip(game.vector_field(), expected):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-14)
    # the non-saturating generator loss by hand: mean softplus(-D(G(z)))
    scores = game.discriminator(game.generator(game.z))
    assert float(loss_g.detach()) == pytest.approx(float(torch.nn.functional.softplus(-scores).mean().detach()), rel=1e-12)


def test_bilinear_jacobian_closed_form():
    A = random_matrix(4, 3, seed=2)
    game = BilinearGame(A, seed=3)
    J = jacobian(game).numpy()
    np.testing.assert_allclose(J, bilinear_jacobian(A), atol=1e-14)
    z = game.get_flat().numpy()
    np.testing.assert_allclose(game.flatten(game.vector_field()).numpy(), bilinear_jacobian(A) @ z, atol=1e-13)
    # spectrum: +- i sigma_k(A) plus one zero eigenvalue (4 + 3 = 7 dims, rank 6)
    ev = eigenvalues(game)
    sigma = np.linalg.svd(A, compute_uv=False)
    np.testing.assert_allclose(np.sort(np.abs(ev.imag))[::-1][:6], np.repeat(sigma, 2), atol=1e-12)
    assert np.max(np.abs(ev.real)) < 1e-12


@pytest.mark.parametrize("loss, c", [("minimax", 0.5), ("non_saturating", 0.5), ("wasserstein", 1.0)])
def test_dirac_jacobian_at_equilibrium(loss, c):
    """J(0, 0) = [[0, -c], [c, 0]] (c = f'(0) = 1/2 logistic, 1 WGAN); R1 adds gamma at (psi, psi)."""
    game = DiracGAN(loss, theta0=0.0, psi0=0.0)
    np.testing.assert_allclose(jacobian(game).numpy(), [[0.0, -c], [c, 0.0]], atol=1e-15)
    gamma = 0.8
    game_r1 = DiracGAN(loss, theta0=0.0, psi0=0.0, regularizers=(R1(gamma=gamma),))
    J = jacobian(game_r1).numpy()
    np.testing.assert_allclose(J, [[0.0, -c], [c, gamma]], atol=1e-15)
    ev = eigenvalues(game_r1)
    closed = np.roots([1.0, -gamma, c * c])  # det(mu I - J) = mu^2 - gamma mu + c^2
    np.testing.assert_allclose(np.sort_complex(ev), np.sort_complex(closed), atol=1e-12)
    assert np.all(ev.real > 0)  # attracting for small steps


def test_dirac_field_closed_form_away_from_equilibrium():
    theta, psi = 0.9, -1.3
    s = theta * psi
    sig = 1 / (1 + np.exp(-s))
    for loss, expected in [("minimax", (-sig * psi, sig * theta)),
                           ("non_saturating", (-(1 - sig) * psi, sig * theta)),
                           ("wasserstein", (-psi, theta))]:
        game = DiracGAN(loss, theta0=theta, psi0=psi)
        np.testing.assert_allclose(game.flatten(game.vector_field()).numpy(), expected, rtol=1e-13)


def test_leading_eigenvalues_by_arnoldi_match_dense_spectrum():
    torch.manual_seed(4)
    G = mlp(4, 3, hidden=8, depth=1, activation=torch.nn.Tanh).double()
    D = torch.nn.Sequential(mlp(3, 1, hidden=8, depth=1, activation=torch.nn.Tanh), torch.nn.Flatten(0)).double()
    game = GANGame(G, D, "non_saturating", sample_real=lambda n, g: torch.randn(n, 3, generator=g, dtype=torch.float64),
                   sample_latent=lambda n, g: torch.randn(n, 4, generator=g, dtype=torch.float64), batch_size=16,
                   regularizers=(R1(gamma=1.0),))
    game.resample()
    dense = eigenvalues(game)
    report = leading_eigenvalues(game, k=4, which="LM", tol=1e-12)
    assert report.status.code is StatusCode.SUCCESS and report.products > 0
    np.testing.assert_allclose(np.abs(report.eigenvalues), np.abs(dense[:4]), rtol=1e-8)
    for mu in report.eigenvalues:
        assert np.min(np.abs(dense - mu)) < 1e-8 * max(1.0, abs(mu))
    # one restart is too few: ARPACK's no-convergence becomes MAX_ITER with scipy's message and
    # the values that did converge (fewer than k), each an eigenvalue of the dense spectrum
    short = leading_eigenvalues(game, k=4, which="LM", tol=1e-14, maxiter=1)
    assert short.status.code is StatusCode.MAX_ITER and not short.status.success
    assert "No convergence" in short.status.message
    assert len(short.eigenvalues) < 4
    for mu in short.eigenvalues:
        assert np.min(np.abs(dense - mu)) < 1e-8 * max(1.0, abs(mu))


def test_generic_game_with_player_losses():
    x = torch.tensor([0.3, -0.2], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
    game = Game([Player("x", x, lambda: (x ** 2).sum() * y.sum() + x.sum()), Player("y", [y], lambda: (x.sum() * y ** 3).sum())])
    J = jacobian(game).numpy()
    J_fd = _fd_jacobian(game).numpy()
    np.testing.assert_allclose(J, J_fd, rtol=1e-6, atol=1e-8)
    # closed form: v = (2 x y + 1, 3 (x1 + x2) y^2)
    xs, yv = x.detach().numpy(), float(y.detach())
    expected = np.array([[2 * yv, 0, 2 * xs[0]], [0, 2 * yv, 2 * xs[1]], [3 * yv ** 2, 3 * yv ** 2, 6 * xs.sum() * yv]])
    np.testing.assert_allclose(J, expected, rtol=1e-13)


def test_bad_game_input():
    x = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="leaf tensor"):
        Player("x", [x * 2])
    with pytest.raises(ValueError, match="unique"):
        Game([Player("a", [x], lambda: x.sum()), Player("a", [torch.zeros(1, requires_grad=True)], lambda: x.sum())])
    with pytest.raises(ValueError, match="two players"):
        Game([Player("a", [x], lambda: x.sum()), Player("b", [x], lambda: x.sum())])
    game = Game([Player("a", [x])])
    with pytest.raises(ValueError, match="no loss"):
        game.vector_field()
    with pytest.raises(ValueError, match="flat vector"):
        game.set_flat(torch.zeros(3))
    with pytest.raises(ValueError, match="k must be"):
        leading_eigenvalues(BilinearGame(np.eye(2)), k=3)
