"""J^T u and A^T u from per-player passes (zero-sum up to separable terms) against the transpose trick and the full J."""
import pytest
import torch

from dualgan.data import ring
from dualgan.games import (
    BilinearGame,
    DiracGAN,
    Game,
    GANGame,
    MixtureGAN,
    Player,
    jacobian,
    make_optimizer,
    mlp,
    random_matrix,
)
from dualgan.losses import GANLoss
from dualgan.regularizers import R1, R2, LocalGradientPenalty

RTOL = 1e-10


def _mixture(loss="minimax", regularizers=(), seed=0):
    game = MixtureGAN(ring(8), loss=loss, hidden=6, depth=2, latent_dim=3, batch_size=16, regularizers=regularizers,
                      seed=seed, dtype=torch.float64)
    game.resample()
    return game


def _tanh_gan(loss="minimax", seed=0):
    torch.manual_seed(seed)
    G = mlp(3, 2, hidden=5, depth=2, activation=torch.nn.Tanh).double()
    D = torch.nn.Sequential(mlp(2, 1, hidden=5, depth=2, activation=torch.nn.Tanh), torch.nn.Flatten(0)).double()
    game = GANGame(G, D, loss, sample_real=lambda n, g: torch.randn(n, 2, generator=g, dtype=torch.float64) + 1.0,
                   sample_latent=lambda n, g: torch.randn(n, 3, generator=g, dtype=torch.float64), batch_size=9,
                   seed=seed)
    game.resample()
    return game


def _tanh_gan_regularized(loss, regularizer, seed=4):
    torch.manual_seed(seed)
    G = mlp(3, 2, hidden=5, depth=2, activation=torch.nn.Tanh).double()
    D = torch.nn.Sequential(mlp(2, 1, hidden=5, depth=2, activation=torch.nn.Tanh), torch.nn.Flatten(0)).double()
    game = GANGame(G, D, loss, sample_real=lambda n, g: torch.randn(n, 2, generator=g, dtype=torch.float64) + 1.0,
                   sample_latent=lambda n, g: torch.randn(n, 3, generator=g, dtype=torch.float64), batch_size=9,
                   regularizers=(regularizer,), seed=seed)
    game.resample()
    return game


class _R1Subclass(R1):
    """Numerically R1, but a subclass: the zero-sum declaration must not trust it."""


ZERO_SUM = {
    "mixture-minimax": lambda: _mixture("minimax"),
    "mixture-wasserstein": lambda: _mixture("wasserstein", seed=1),
    "tanh-gan-minimax": lambda: _tanh_gan("minimax"),
    "tanh-gan-wasserstein": lambda: _tanh_gan("wasserstein", seed=2),
    "bilinear": lambda: BilinearGame(random_matrix(4, 3, seed=2), seed=3),
    "dirac-minimax": lambda: DiracGAN("minimax", theta0=0.7, psi0=-0.4),
    "dirac-wasserstein": lambda: DiracGAN("wasserstein", theta0=0.7, psi0=-0.4),
    # regularisers of the discriminator and the real data alone keep the sum separable
    "mixture-minimax-r1": lambda: _mixture("minimax", regularizers=(R1(gamma=2.0),)),
    "dirac-minimax-r1": lambda: DiracGAN("minimax", theta0=0.7, psi0=-0.4, regularizers=(R1(gamma=2.0),)),
    "tanh-gan-wasserstein-r1": lambda: _tanh_gan_regularized("wasserstein", R1(gamma=0.5)),
}

# Games not declared zero-sum (second entry: whether the mixed blocks are antisymmetric in fact). R2 penalises the
# discriminator's input gradient at the generated samples, so minimax + R2 is general-sum; a subclass of R1 is not
# trusted (it may use the generated samples), so it takes the general path although this one is antisymmetric.
GENERAL_SUM = {
    "mixture-non-saturating": (lambda: _mixture("non_saturating"), False),
    "tanh-gan-minimax-r2": (lambda: _tanh_gan_regularized("minimax", R2(gamma=2.0)), False),
    "mixture-minimax-r1-subclass": (lambda: _mixture("minimax", regularizers=(_R1Subclass(gamma=2.0),)), True),
    "tanh-gan-non-saturating": (lambda: _tanh_gan("non_saturating"), False),
    "tanh-gan-least-squares": (lambda: _tanh_gan("least_squares"), False),
    "dirac-non-saturating-r1": (lambda: DiracGAN("non_saturating", theta0=0.7, psi0=-0.4, regularizers=(R1(gamma=2.0),)),
                                False),
}


def _close(a, b, rtol=RTOL):
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    return float((a - b).norm()) <= rtol * max(float(b.norm()), 1e-300)


def _references(game, u):
    """(J^T u, A^T u) from the dense Jacobian and from the transpose trick (jvp_and_vjp)."""
    J = jacobian(game)
    dense = (J.T @ u, (J.T @ u - J @ u) / 2)
    ju, jtu = game.jvp_and_vjp(game.unflatten(u))
    ju, jtu = game.flatten(ju), game.flatten(jtu)
    return J, dense, (jtu, (jtu - ju) / 2)


def _directions(game):
    gen = torch.Generator().manual_seed(7)
    random = torch.randn(game.num_parameters, generator=gen, dtype=torch.float64)
    return {"random": random, "field": game.flatten(game.vector_field()).detach()}


@pytest.mark.parametrize("name", sorted(ZERO_SUM))
def test_fast_path_matches_transpose_trick_and_full_jacobian(name):
    game = ZERO_SUM[name]()
    assert game.zero_sum and game.has_antisymmetric_interactions
    nx = sum(p.numel() for p in game.players[0].parameters)
    for label, u in _directions(game).items():
        J, (jt_dense, at_dense), (jt_trick, at_trick) = _references(game, u)
        # the declaration itself: the mixed blocks are antisymmetric, R = -Q^T
        assert _close(J[nx:, :nx], -J[:nx, nx:].T, 1e-12), label
        jt_fast, at_fast = game.vjp_and_antisymmetric_vjp(game.unflatten(u))
        jt_fast, at_fast = game.flatten(jt_fast), game.flatten(at_fast)
        at_only = game.flatten(game.antisymmetric_vjp(game.unflatten(u)))
        assert float(at_dense.norm()) > 0, label
        for got in (at_fast, at_only):
            assert _close(got, at_dense), (name, label, float((got - at_dense).norm()))
            assert _close(got, at_trick), (name, label, float((got - at_trick).norm()))
        assert _close(jt_fast, jt_dense), (name, label)
        assert _close(jt_fast, jt_trick), (name, label)
        # A^T u = (R^T u_y, Q^T u_x) block by block
        Q, R = J[:nx, nx:], J[nx:, :nx]
        assert _close(at_fast[:nx], R.T @ u[nx:]) and _close(at_fast[nx:], Q.T @ u[:nx]), (name, label)


@pytest.mark.parametrize("name", sorted(ZERO_SUM))
def test_fast_path_does_not_use_the_third_order_pass(name, monkeypatch):
    game = ZERO_SUM[name]()

    def forbidden(*args, **kwargs):
        raise AssertionError("the transpose trick must not run for a zero-sum two-player game")

    monkeypatch.setattr(game, "jvp_and_vjp", forbidden)
    u = game.vector_field()
    game.vjp_and_antisymmetric_vjp([t.detach() for t in u])
    game.antisymmetric_vjp([t.detach() for t in u])
    make_optimizer("sga", lr=1e-3).step(game)
    make_optimizer("sga", lr=1e-3, align=False).step(game)


@pytest.mark.parametrize("name", sorted(GENERAL_SUM))
def test_general_sum_games_keep_the_general_path(name, monkeypatch):
    factory, antisymmetric = GENERAL_SUM[name]
    game = factory()
    assert not game.zero_sum and not game.has_antisymmetric_interactions
    u = _directions(game)["random"]
    J, (jt_dense, at_dense), _ = _references(game, u)
    nx = sum(p.numel() for p in game.players[0].parameters)
    assert _close(J[nx:, :nx], -J[:nx, nx:].T, 1e-12) == antisymmetric
    if not antisymmetric:  # the per-player shortcut would be wrong here ...
        cross = game.flatten(game._cross_sum(game.player_vjps(game.unflatten(u))))
        assert not _close(cross, at_dense, 1e-6)

    def forbidden(*args, **kwargs):
        raise AssertionError("a general-sum game must not take the per-player shortcut")

    monkeypatch.setattr(game, "player_vjps", forbidden)
    # ... and the general path gives the exact values
    jt, at = game.vjp_and_antisymmetric_vjp(game.unflatten(u))
    assert _close(game.flatten(jt), jt_dense) and _close(game.flatten(at), at_dense)
    assert _close(game.flatten(game.antisymmetric_vjp(game.unflatten(u))), at_dense)
    assert make_optimizer("sga", lr=1e-3).step(game).ok


def test_three_player_zero_sum_game_takes_the_general_path():
    """sum_i L_i = 0 with three players does not make each pair's mixed blocks antisymmetric."""
    x = torch.tensor([0.3, -0.5], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0.8], dtype=torch.float64, requires_grad=True)
    z = torch.tensor([-0.6, 0.2], dtype=torch.float64, requires_grad=True)
    l1 = lambda: (x * z).sum() * y.sum() + (x ** 2).sum() * y.sum() ** 2
    l2 = lambda: (x.sum() * y * z.sum()).sum() ** 2
    game = Game([Player("x", [x], l1), Player("y", [y], l2), Player("z", [z], lambda: -(l1() + l2()))], zero_sum=True)
    assert not game.has_antisymmetric_interactions
    u = torch.tensor([0.4, -1.1, 0.7, 0.25, -0.9], dtype=torch.float64)
    J = jacobian(game)
    jt, at = game.vjp_and_antisymmetric_vjp(game.unflatten(u))
    assert _close(game.flatten(jt), J.T @ u)
    assert _close(game.flatten(at), (J.T @ u - J @ u) / 2)
    # the per-player parts still sum to J^T u for any game
    parts = game.player_vjps(game.unflatten(u))
    assert _close(sum(game.flatten(p) for p in parts), J.T @ u)


@pytest.mark.parametrize("name", ["mixture-minimax", "tanh-gan-wasserstein"])
def test_cross_only_passes_leave_the_own_block_at_zero(name):
    game = ZERO_SUM[name]()
    u = [t.detach() for t in game.vector_field()]
    full = game.player_vjps(u)
    cross = game.player_vjps(u, cross_only=True)
    for j, sl in enumerate(game.player_slices):
        for k in range(len(game.parameters)):
            if sl.start <= k < sl.stop:
                assert torch.count_nonzero(cross[j][k]) == 0
            else:
                assert torch.allclose(cross[j][k], full[j][k], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("align", [True, False])
def test_sga_steps_agree_with_the_general_path(align):
    """Several SGA steps on a float64 ring GAN: per-player passes vs. the transpose trick (zero_sum switched off)."""
    fast, slow = _mixture("minimax", seed=3), _mixture("minimax", seed=3)
    slow.zero_sum = False
    assert fast.has_antisymmetric_interactions and not slow.has_antisymmetric_interactions
    opts = [make_optimizer("sga", lr=0.05, lam=0.7, align=align) for _ in range(2)]
    for _ in range(5):
        records = [opt.step(game) for opt, game in zip(opts, (fast, slow))]
        assert all(r.ok for r in records)
        assert records[0].coefficient == records[1].coefficient
        assert records[0].update_norm == pytest.approx(records[1].update_norm, rel=1e-10)
    assert _close(fast.get_flat() - _mixture("minimax", seed=3).get_flat(),
                  slow.get_flat() - _mixture("minimax", seed=3).get_flat())


def test_zero_sum_declaration_of_gan_games():
    """zero_sum only where L_G + L_D provably depends on the discriminator alone (h is g)."""
    assert DiracGAN("minimax").zero_sum and DiracGAN("wasserstein").zero_sum
    for loss in ("non_saturating", "hinge", "least_squares"):
        assert not DiracGAN(loss).zero_sum
    assert DiracGAN("minimax", regularizers=(R1(gamma=1.0),)).zero_sum
    assert DiracGAN("minimax", regularizers=(LocalGradientPenalty(1.0, generator=torch.Generator()),)).zero_sum
    assert not DiracGAN("minimax", regularizers=(R2(gamma=1.0),)).zero_sum
    assert not DiracGAN("minimax", regularizers=(_R1Subclass(gamma=1.0),)).zero_sum
    assert not DiracGAN("non_saturating", regularizers=(R1(gamma=1.0),)).zero_sum
    logsig = torch.nn.functional.logsigmoid
    g = lambda s: logsig(-s)
    assert DiracGAN(GANLoss("custom", f=logsig, g=g, h=g)).zero_sum               # h is g: zero-sum up to E f
    assert not DiracGAN(GANLoss("minimax", f=logsig, g=g, h=lambda s: -logsig(s))).zero_sum  # a name is no proof

    class Overridden(DiracGAN):
        def losses(self):
            loss_g, loss_d = super().losses()
            return [loss_g + (self.generator.theta * self.discriminator.psi).sum(), loss_d]

    assert not Overridden("minimax").zero_sum


def test_float32_mixture_fast_path_stays_close_to_float64():
    game32 = MixtureGAN(ring(8), hidden=8, depth=2, latent_dim=4, batch_size=32, seed=5)
    game64 = MixtureGAN(ring(8), hidden=8, depth=2, latent_dim=4, batch_size=32, seed=5, dtype=torch.float64)
    for g in (game32, game64):
        g.resample()
    results = []
    for g in (game32, game64):
        u = [t.detach() for t in g.vector_field()]
        jt, at = g.vjp_and_antisymmetric_vjp(u)
        assert all(t.dtype == g.dtype for t in jt + at)
        results.append((g.flatten(jt).double(), g.flatten(at).double()))
    for got, ref in zip(results[0], results[1]):
        assert _close(got, ref, 1e-4)
