"""The step protocol: base torch optimisers fed the adjusted field, status on failure, input validation."""
import pkgutil

import numpy as np
import pytest
import torch

import dualgan.games.optimizers as optimizers_package
from dualgan.games import (OPTIMIZERS, BilinearGame, DiracGAN, Game, GameOptimizer, Player, StepRecord,
                           bilinear_jacobian, make_optimizer, random_matrix)
from dualgan.games.optimizers import BASE_OPTIMIZERS
from dualgan.status import Status, StatusCode

A = random_matrix(5, seed=1, singular_values=(0.5, 1.5))


def test_registry_holds_one_optimiser_per_module_file():
    """Reference: the package's module files as the file system lists them (base.py holds the protocol)."""
    files = {m.name for m in pkgutil.iter_modules(optimizers_package.__path__) if not m.name.startswith("_")}
    modules = [OPTIMIZERS.get(name).__module__.rsplit(".", 1)[1] for name in OPTIMIZERS]
    assert sorted(modules) == sorted(files - {"base"})  # one registered class per file, every file registers
    assert all(issubclass(OPTIMIZERS.get(name), GameOptimizer) for name in OPTIMIZERS)
    assert BASE_OPTIMIZERS.names() == ["sgd", "adam", "rmsprop"]


def test_make_optimizer_checks_options_by_name():
    with pytest.raises(ValueError, match=r"'consensus' takes no option\(s\) \['lam'\].*'gamma'"):
        make_optimizer("consensus", lam=1.0)
    for name in OPTIMIZERS:  # every option listed is accepted with its default
        defaults = {k: v for k, v in OPTIMIZERS.options(name).items()}
        assert isinstance(make_optimizer(name, **defaults), OPTIMIZERS.get(name))
    with pytest.raises(ValueError, match="base_kwargs"):
        make_optimizer("simultaneous", base="adam", base_kwargs={"alpha": 0.9})  # RMSProp's, not Adam's


@pytest.mark.parametrize("base, torch_cls, kwargs", [("adam", torch.optim.Adam, {"betas": (0.5, 0.9)}),
                                                      ("rmsprop", torch.optim.RMSprop, {"alpha": 0.9})])
def test_consensus_feeds_v_plus_gamma_jtv_to_the_base_optimiser(base, torch_cls, kwargs):
    """Reference: the torch optimiser stepped on the closed-form v + gamma J^T v = (J + gamma J^T J) z."""
    lr, gamma = 0.05, 2.0
    game = BilinearGame(A, seed=4)
    z = torch.tensor(game.get_flat().numpy(), requires_grad=True)
    ref = torch_cls([z], lr=lr, **kwargs)
    J = torch.tensor(bilinear_jacobian(A))
    opt = make_optimizer("consensus", lr=lr, gamma=gamma, base=base, base_kwargs=kwargs)
    for _ in range(20):
        rec = opt.step(game)
        with torch.no_grad():
            z.grad = (J + gamma * J.T @ J) @ z
        ref.step()
        assert rec.ok and rec.coefficient == gamma
    assert torch.allclose(game.get_flat(), z.detach(), rtol=1e-12, atol=1e-14)


def test_optimistic_with_adam_uses_twice_current_minus_past_field():
    lr = 0.03
    game = BilinearGame(A, seed=6)
    z = torch.tensor(game.get_flat().numpy(), requires_grad=True)
    ref = torch.optim.Adam([z], lr=lr)
    J = torch.tensor(bilinear_jacobian(A))
    opt = make_optimizer("optimistic", lr=lr, base="adam")
    previous = None
    for _ in range(10):
        opt.step(game)
        with torch.no_grad():
            current = J @ z
            z.grad = current if previous is None else 2 * current - previous
            previous = current.clone()
        ref.step()
    assert torch.allclose(game.get_flat(), z.detach(), rtol=1e-12, atol=1e-14)


def test_sga_sign_alignment_against_numpy_on_a_general_sum_game():
    """Non-zero-sum quadratic game, v = H z with a non-symmetric, non-antisymmetric H (closed-form J = H)."""
    rng = np.random.default_rng(0)
    H = rng.standard_normal((4, 4))
    x = torch.tensor(rng.standard_normal(2), requires_grad=True)
    y = torch.tensor(rng.standard_normal(2), requires_grad=True)
    Ht = torch.tensor(H)
    # losses whose own-gradients are rows of H z: L_x = x.(H_xx x)/2-ish built so that d/dx L_x = H[:2] z
    Hs = (H + H.T) / 2
    Lx = lambda: 0.5 * x @ torch.tensor(Hs[:2, :2]) @ x + x @ Ht[:2, 2:] @ y          # noqa: E731
    Ly = lambda: 0.5 * y @ torch.tensor(Hs[2:, 2:]) @ y + y @ Ht[2:, :2] @ x          # noqa: E731
    game = Game([Player("x", [x], Lx), Player("y", [y], Ly)])
    J = H.copy()
    J[:2, :2], J[2:, 2:] = Hs[:2, :2], Hs[2:, 2:]
    for lam in (0.5, -0.5):
        z0 = game.get_flat().numpy()
        v = J @ z0
        jtv, jv = J.T @ v, J @ v
        atv = (jtv - jv) / 2
        n = 2  # parameter tensors
        expected_lam = abs(lam) * np.sign((v @ jtv) * (atv @ jtv) / n + 0.1)
        rec = make_optimizer("sga", lr=0.01, lam=lam).step(game)
        assert rec.coefficient == expected_lam
        np.testing.assert_allclose(game.get_flat().numpy(), z0 - 0.01 * (v + expected_lam * atv), rtol=1e-12)
        # without alignment the coefficient is used as given
        z1 = game.get_flat().numpy()
        v1 = J @ z1
        rec = make_optimizer("sga", lr=0.01, lam=lam, align=False).step(game)
        assert rec.coefficient == lam
        np.testing.assert_allclose(game.get_flat().numpy(), z1 - 0.01 * (v1 + lam * (J.T @ v1 - J @ v1) / 2),
                                   rtol=1e-12)


def test_extragradient_and_alternating_with_plain_sgd_match_the_rules():
    h = 0.2
    J = bilinear_jacobian(A)
    game = BilinearGame(A, seed=8)
    z0 = game.get_flat().numpy()
    make_optimizer("extragradient", lr=h).step(game)
    np.testing.assert_allclose(game.get_flat().numpy(), z0 - h * J @ (z0 - h * J @ z0), rtol=1e-12)
    game = BilinearGame(A, seed=8)
    make_optimizer("alternating", lr=h, order=["y", "x"]).step(game)  # y moves first, then x sees the new y
    x0, y0 = z0[:5], z0[5:]
    y1 = y0 + h * A.T @ x0
    x1 = x0 - h * A @ y1
    np.testing.assert_allclose(game.get_flat().numpy(), np.concatenate([x1, y1]), rtol=1e-12)


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_non_finite_field_is_reported_and_not_applied(name):
    x = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
    blow = {"on": False}

    def lx():
        return (x * y).sum() * (float("nan") if blow["on"] else 1.0)

    game = Game([Player("x", [x], lx), Player("y", [y], lambda: -(x * y).sum())], zero_sum=True)
    opt = make_optimizer(name, lr=0.1)
    assert opt.step(game).ok
    before = game.get_flat()
    blow["on"] = True
    rec = opt.step(game)
    assert isinstance(rec, StepRecord) and rec.status.code is StatusCode.NON_FINITE and not rec.ok
    assert isinstance(rec.status, Status) and not rec.status.success and np.isnan(rec.update_norm)
    assert torch.equal(game.get_flat(), before)


def test_bad_optimiser_input():
    with pytest.raises(ValueError, match="lr"):
        make_optimizer("consensus", lr=0.0)
    with pytest.raises(ValueError, match=r"unknown game optimiser 'newton'; choose one of \[.*'consensus'"):
        make_optimizer("newton")
    with pytest.raises(ValueError, match="base optimiser"):
        make_optimizer("simultaneous", base="lbfgs-ish")
    with pytest.raises(ValueError, match="gamma"):
        make_optimizer("consensus", gamma=-1.0)
    with pytest.raises(ValueError, match="game must be"):
        make_optimizer("simultaneous").step("not a game")
    three = Game([Player(n, [torch.zeros(1, requires_grad=True)], lambda: torch.zeros(())) for n in "abc"])
    with pytest.raises(ValueError, match="two players"):
        make_optimizer("cgd").step(three)
    opt = make_optimizer("simultaneous")
    opt.step(DiracGAN())
    with pytest.raises(ValueError, match="bound to another game"):
        opt.step(DiracGAN())
    with pytest.raises(ValueError, match="order"):
        make_optimizer("alternating", order=["generator"]).step(DiracGAN())


def test_float32_players_stay_float32():
    game = BilinearGame(A, seed=1, dtype=torch.float32)
    rec = make_optimizer("sga", lr=0.1).step(game)
    assert rec.ok and game.x.dtype == torch.float32 and game.x.grad is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; the CPU path is covered by every other test")
@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_optimisers_keep_a_cuda_game_on_its_device(name):
    game = BilinearGame(A, seed=1, device="cuda")
    cpu_game = BilinearGame(A, seed=1)
    for g in (game, cpu_game):
        opt = make_optimizer(name, lr=0.1)
        for _ in range(3):
            assert opt.step(g).ok
    assert game.x.device.type == "cuda"
    assert torch.allclose(game.get_flat().cpu(), cpu_game.get_flat(), rtol=1e-10, atol=1e-12)


def test_set_lr_changes_the_step_of_the_base_optimiser():
    game = BilinearGame(A, seed=3)
    opt = make_optimizer("simultaneous", lr=0.1)
    opt.step(game)
    opt.set_lr(0.02)
    z = game.get_flat().numpy()
    opt.step(game)
    np.testing.assert_allclose(game.get_flat().numpy(), z - 0.02 * bilinear_jacobian(A) @ z, rtol=1e-12)
    with pytest.raises(ValueError, match="lr"):
        opt.set_lr(-1.0)
