"""Exact linearised update maps and stability maps: against closed forms, finite differences and measured rates."""
import numpy as np
import pytest
import torch

from dualgan.games import (OPTIMIZERS, FunctionalGame, Game, NotBatchableError, Player, StabilityMap,
                           bilinear_functional, dirac_functional, local_rate, local_update_map, make_optimizer,
                           random_matrix, stability_map)
from dualgan.regularizers import R1
from dualgan.status import StatusCode

A3 = random_matrix(3, seed=0, singular_values=(0.5, 1.5))
BATCHABLE = OPTIMIZERS.names(batchable=True)


def _with_coefficient(method, coef, **kw):
    """Keyword arguments of make_optimizer: ``kw`` and the method's coefficient option set to ``coef``."""
    if OPTIMIZERS.entry(method).coefficient:
        kw[OPTIMIZERS.entry(method).coefficient] = coef
    return kw


@pytest.mark.parametrize("method", OPTIMIZERS.names())
def test_cross_implementation_exact_maps_on_the_bilinear_game_equal_bilinear_update_map(method):
    """Cross-implementation check: the batched local map against each optimiser's bilinear_update_map on x^T A y
    (non-square A); the maps themselves are checked against closed forms written out in tests/games/test_bilinear.py."""
    A = random_matrix(3, 2, seed=4, singular_values=(0.3, 1.2))
    J = bilinear_functional(A).jacobian_at()
    for lr, coef in ((0.1, 0.5), (0.7, 2.0)):
        M = local_update_map(method, J, lr, coef, (3, 2))[0, 0].numpy()
        ref = make_optimizer(method, **_with_coefficient(method, coef, lr=lr)).bilinear_update_map(A)
        assert np.allclose(M, ref, rtol=1e-13, atol=1e-14)


def _general_sum_quadratic():
    """Two players (2 + 2 parameters), v = H z + cubic terms: J(0) = H, neither symmetric nor antisymmetric."""
    rng = np.random.default_rng(3)
    H = torch.tensor(rng.standard_normal((4, 4)), dtype=torch.float64) + 1.5 * torch.eye(4, dtype=torch.float64)

    def losses(z):
        x, y = z[:2], z[2:]
        l1 = 0.5 * x @ H[:2, :2] @ x + x @ H[:2, 2:] @ y + (x ** 4).sum() * 0.1
        l2 = 0.5 * y @ H[2:, 2:] @ y + y @ H[2:, :2] @ x + (y[0] * x[0]) ** 2
        return torch.stack([l1, l2])

    def make_game(z0):
        x = z0[:2].clone().requires_grad_(True)
        y = z0[2:].clone().requires_grad_(True)
        return Game([Player("x", [x], lambda: losses(torch.cat([x, y]))[0]),
                     Player("y", [y], lambda: losses(torch.cat([x, y]))[1])])

    return FunctionalGame(losses, (2, 2), name="general-sum quadratic", equilibrium=torch.zeros(4, dtype=torch.float64),
                          make_game=make_game)


GAMES = {"dirac_ns_r1": lambda: dirac_functional("non_saturating", [R1(0.7)]),
         "dirac_minimax_r1": lambda: dirac_functional("minimax", [R1(1.0)]),
         "general_sum": _general_sum_quadratic}


def _harness_step(game_f, method, z, lr, coef, previous=None):
    kw = _with_coefficient(method, coef, lr=lr)
    if method == "cgd":
        kw["tol"] = 1e-15
    opt = make_optimizer(method, **kw)
    if previous is not None:            # a first step from z_{t-1} stores its memory (optimistic: v(z_{t-1}))
        game = game_f.make_game(torch.as_tensor(previous))
        opt.step(game)
        game.set_flat(torch.as_tensor(z))
    else:
        game = game_f.make_game(torch.as_tensor(z))
    assert opt.step(game).ok
    return game.get_flat().numpy()


@pytest.mark.parametrize("game_name", list(GAMES))
@pytest.mark.parametrize("method", OPTIMIZERS.names())
def test_exact_maps_equal_finite_differences_of_one_step_of_the_library_optimiser(game_name, method):
    """Reference: central differences (step 1e-6) of one step of the optimiser object at the equilibrium."""
    g = GAMES[game_name]()
    n, lr, coef, e = g.n, 0.3, 0.6, 1e-6
    z_star = g.equilibrium.numpy()
    M = local_update_map(method, g.jacobian_at(), lr, coef, g.player_sizes)[0, 0].numpy()
    if M.shape[0] == 2 * n:   # one past iterate (optimistic GD, negative momentum): state (z_t, z_{t-1}); shift [I, 0]
        cols = []
        for j in range(2 * n):
            d = np.zeros(2 * n)
            d[j] = e
            plus = _harness_step(g, method, z_star + d[:n], lr, coef, previous=z_star + d[n:])
            minus = _harness_step(g, method, z_star - d[:n], lr, coef, previous=z_star - d[n:])
            cols.append((plus - minus) / (2 * e))
        fd_top = np.stack(cols, axis=1)
        assert np.allclose(M[:n], fd_top, atol=1e-8)
        assert np.array_equal(M[n:], np.hstack([np.eye(n), np.zeros((n, n))]))
        return
    fd = np.stack([(_harness_step(g, method, z_star + e * np.eye(n)[j], lr, coef)
                    - _harness_step(g, method, z_star - e * np.eye(n)[j], lr, coef)) / (2 * e) for j in range(n)], 1)
    assert np.allclose(M, fd, atol=1e-8), np.abs(M - fd).max()


def test_exact_maps_batch_over_step_sizes_and_coefficients_and_check_arguments():
    J = bilinear_functional(A3).jacobian_at()
    lrs, coefs = [0.1, 0.2, 0.4], [0.5, 1.0]
    M = local_update_map("consensus", J, lrs, coefs)
    assert M.shape == (3, 2, 6, 6)
    for i, h in enumerate(lrs):
        for j, c in enumerate(coefs):
            assert torch.allclose(M[i, j], local_update_map("consensus", J, h, c)[0, 0])
    rho = local_rate("optimistic", J, lrs)
    assert rho.shape == (3, 1)
    with pytest.raises(ValueError, match="player_sizes"):
        local_update_map("alternating", J, 0.1)
    with pytest.raises(ValueError, match="lr must be > 0"):
        local_update_map("simultaneous", J, [0.1, -0.1])
    with pytest.raises(ValueError, match="eps > 0"):
        local_update_map("sga", J, 0.1, options={"eps": 0.0})
    with pytest.raises(ValueError, match="gamma"):
        local_update_map("consensus", J, 0.1, [1.0, -1.0])
    with pytest.raises(ValueError, match="takes no option"):
        local_update_map("consensus", J, 0.1, options={"lam": 1.0})
    with pytest.raises(ValueError, match="unknown method"):
        local_update_map("newton", J, 0.1)
    with pytest.raises(ValueError, match="square"):
        local_update_map("simultaneous", np.ones((2, 3)), 0.1)


def test_on_the_bilinear_game_measured_rates_of_converging_cells_match_the_exact_spectral_radius():
    """Every converging cell's least-squares rate of ||z_t|| equals rho(M) to 1e-3; every cell with rho <= 0.99 converges."""
    m = stability_map(bilinear_functional(A3), lrs=np.geomspace(0.05, 1.5, 6), coefficients=[0.5, 1.0, 2.0],
                      seeds=[0, 1], n_steps=500)
    total = 0
    for o, name in enumerate(m.optimizers):
        conv = m.converged[o]
        exact = np.broadcast_to(m.exact_rate[o][..., None], conv.shape)
        assert np.all(np.abs(m.measured_rate[o][conv] - exact[conv]) <= 1e-3), name
        assert conv[exact <= 0.99].all(), name
        total += conv.sum()
    assert total > 100            # not vacuous: most optimisers converge on part of the grid
    assert not m.converged[m.optimizers.index("simultaneous")].any()     # rho(I - hJ) > 1 for every h


def _near_boundary(stable):
    """Cells within one grid step (lr or coefficient) of a cell on the other side of rho = 1."""
    near = np.zeros_like(stable)
    L, C = stable.shape
    for i in range(L):
        for j in range(C):
            for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                a, b = i + di, j + dj
                if 0 <= a < L and 0 <= b < C and stable[a, b] != stable[i, j]:
                    near[i, j] = True
    return near


@pytest.mark.parametrize("regs", [[R1(1.0)], []], ids=["r1", "plain"])
def test_on_the_dirac_gan_exact_radius_below_one_is_where_runs_converge_except_at_the_boundary(regs):
    """Runs start near the equilibrium (the exact radius is a local statement); rho within 1e-9 of 1 is boundary."""
    g = dirac_functional("minimax", regs, init_low=0.01, init_high=0.05)
    m = stability_map(g, lrs=np.geomspace(0.05, 5.0, 9), coefficients=[0.25, 1.0, 4.0], seeds=[0, 1], n_steps=600)
    checked = 0
    for o, name in enumerate(m.optimizers):
        stable = m.exact_rate[o] < 1
        on_boundary = np.abs(m.exact_rate[o] - 1) <= 1e-9
        excluded = _near_boundary(stable) | on_boundary
        conv = m.converged[o].all(axis=2)
        assert np.array_equal(conv[~excluded], stable[~excluded]), name
        checked += (~excluded).sum()
    assert checked >= 0.6 * m.exact_rate.size


def test_stability_map_record_table_and_figure(tmp_path):
    g = dirac_functional("minimax", [R1(1.0)])
    m = stability_map(g, optimizers=["simultaneous", "consensus"], lrs=[0.1, 0.5, 4.0], coefficients=[0.5, 1.0],
                      seeds=[0, 1, 2], n_steps=200)
    assert isinstance(m, StabilityMap) and m.status.code is StatusCode.SUCCESS
    assert m.final_distance.shape == (2, 3, 2, 3) and m.exact_rate.shape == (2, 3, 2)
    assert m.cells == 36 and m.coefficient_names == (None, "gamma") and m.total_seconds > 0
    # simultaneous GD does not use the coefficient: identical cells along that axis
    assert np.array_equal(m.final_distance[0, :, 0], m.final_distance[0, :, 1])
    assert m.diverged[:, 2].all() and np.isnan(m.measured_rate[:, 2]).all()       # lr 4 from (0.5..1.5)^2
    assert np.isnan(m.median_rate()[:, 2]).all()
    text = m.format()
    assert "simultaneous" in text and "consensus" in text and "36 runs" in text
    path = m.plot(tmp_path / "map.png")
    assert (tmp_path / "map.png").stat().st_size > 10_000 and path.endswith("map.png")


def test_stability_map_with_a_stateful_base_has_no_exact_rate_and_says_why():
    m = stability_map(bilinear_functional(A3), optimizers=["consensus"], lrs=[0.01], seeds=[0], n_steps=20,
                      base="adam")
    assert np.isnan(m.exact_rate).all() and "plain SGD" in m.exact_note
    assert np.isfinite(m.final_distance).all()


def test_stability_map_rejects_what_it_cannot_batch_by_name():
    from dualgan.data import ring
    from dualgan.games import MixtureGAN

    with pytest.raises(NotBatchableError, match="'newton'"):
        stability_map(dirac_functional(), optimizers=["consensus", "newton"])
    with pytest.raises(NotBatchableError, match="MixtureGAN"):
        stability_map(MixtureGAN(ring(4), hidden=4, depth=1, batch_size=8))
    with pytest.raises(ValueError, match="lrs"):
        stability_map(dirac_functional(), lrs=[0.1, float("nan")])
    with pytest.raises(ValueError, match="seeds"):
        stability_map(dirac_functional(), seeds=[])


def test_cli_writes_the_figure_and_the_table(tmp_path, capsys):
    from dualgan.cli import main

    out = tmp_path / "maps"
    assert main(["stability-map", "--game", "dirac-r1", "--optimizers", "simultaneous,sga", "--lr", "0.1:1:3",
                 "--gamma", "0.5:1:2", "--seeds", "2", "--steps", "50", "--out", str(out)]) == 0
    text = (out / "stability_map.txt").read_text()
    assert "sga" in text and "24 runs" in text
    assert (out / "stability_map.png").stat().st_size > 10_000
    assert "stability map: dirac minimax + R1" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--lr", "0:1:3"], "--lr must be a number or A:B:K"),
    (["--lr", "0.1:1:x"], "--lr must be a number or A:B:K"),
    (["--gamma", "2:1:3"], "--gamma must be a number or A:B:K"),
    (["--seeds", "0"], "--seeds must be a positive"),
    (["--steps", "0"], "--steps must be a positive"),
    (["--optimizers", "sga,newton"], "--optimizers: unknown"),
    (["--init", "1:0"], "--init must be A:B"),
])
def test_cli_rejects_bad_numbers_as_usage_errors(argv, message, capsys):
    from dualgan.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["stability-map", "--game", "dirac", *argv])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_stability_map_of_a_mixture_gan_reports_field_norms_and_no_exact_rate():
    from dualgan.data import ring
    from dualgan.games import mixture_functional

    g = mixture_functional(ring(4), hidden=4, depth=1, latent_dim=2, batch_size=8)
    m = stability_map(g, optimizers=["simultaneous", "consensus"], lrs=[0.01, 0.1], coefficients=[1.0], seeds=[0, 1],
                      n_steps=10)
    assert np.isnan(m.exact_rate).all() and "no equilibrium" in m.exact_note
    assert np.isnan(m.final_distance).all() and not m.converged.any()
    assert np.isfinite(m.final_field_norm).all() and not m.diverged.any()
    # the cells of one seed share its batch stream: seed 0 with lr 0.01 equals a one-cell run of seed 0
    from dualgan.games import batched_run

    one = batched_run(g, "simultaneous", g.start(0).reshape(1, -1), 0.01, None, 10, seeds=[0])
    assert np.allclose(one.final_field_norm[0], m.final_field_norm[0, 0, 0, 0], rtol=1e-13)


def test_stability_map_in_two_forked_processes_equals_the_serial_map_bit_for_bit():
    g = dirac_functional("minimax", [R1(1.0)])
    args = (g, ["simultaneous", "sga", "cgd"], [0.05, 0.5, 2.0], [0.5, 2.0], [0, 1], 60)
    serial, forked = stability_map(*args, workers=1), stability_map(*args, workers=2)
    for field in ("final_distance", "final_field_norm", "measured_rate", "exact_rate"):
        assert np.array_equal(getattr(serial, field), getattr(forked, field), equal_nan=True), field
    assert np.array_equal(serial.diverged, forked.diverged)
    with pytest.raises(ValueError, match="workers"):
        stability_map(*args, workers=0)


def test_a_penalty_not_differentiable_at_the_equilibrium_gets_no_exact_rate_and_the_reason():
    from dualgan.regularizers import CoupledGradientPenalty

    m = stability_map(dirac_functional("wasserstein", [CoupledGradientPenalty(1.0)]), ["consensus"], [0.1], [1.0],
                      [0], 20)
    assert np.isnan(m.exact_rate).all() and "not differentiable at psi = 0" in m.exact_note
    assert np.isfinite(m.final_distance).all()


def test_a_shared_coefficient_grid_skips_the_cells_an_optimiser_refuses():
    """gamma = 0 is valid for consensus but extragradient refuses an extrapolation of 0: its cells are NaN and
    marked, the others run, and consensus at gamma = 0 is simultaneous GD (same final distances)."""
    game = bilinear_functional(A3)
    m = stability_map(game, ["consensus", "extragradient", "simultaneous"], lrs=[0.05, 0.2], coefficients=[0.0, 1.0],
                      seeds=[0, 1], n_steps=30)
    assert m.status.success and "skipped" in m.status.message
    np.testing.assert_array_equal(m.skipped, [[False, False], [True, False], [False, False]])
    assert "extragradient refuses extrapolation = 0" in m.skip_reasons[1] and m.skip_reasons[0] == ""
    assert np.isnan(m.final_distance[1, :, 0]).all() and np.isfinite(m.final_distance[1, :, 1]).all()
    assert not m.converged[1, :, 0].any() and not m.diverged[1, :, 0].any()
    assert np.isnan(m.exact_rate[1, :, 0]).all() and np.isfinite(m.exact_rate[1, :, 1]).all()
    np.testing.assert_allclose(m.final_distance[0, :, 0], m.final_distance[2, :, 0], rtol=1e-12)
    # the exact rates of the cells that ran: the closed form |1 - i h sigma| of simultaneous GD at gamma = 0
    sigma = np.linalg.svd(A3.numpy() if hasattr(A3, "numpy") else A3, compute_uv=False).max()
    np.testing.assert_allclose(m.exact_rate[0, :, 0], np.sqrt(1 + np.array([0.05, 0.2]) ** 2 * sigma ** 2), rtol=1e-10)
    text = m.format()
    assert "skipped" in text and "refuses extrapolation = 0" in text


def test_stability_map_command_with_a_grid_starting_at_zero(tmp_path, capsys):
    """The reported command: `dualgan stability-map --gamma 0:...` no longer aborts on extragradient."""
    from dualgan.cli import main

    code = main(["stability-map", "--game", "bilinear", "--optimizers", "consensus,extragradient", "--gamma", "0:1:2",
                 "--lr", "0.1", "--steps", "20", "--seeds", "1", "--out", str(tmp_path / "map")])
    out = capsys.readouterr().out
    assert code == 0 and "extragradient refuses extrapolation = 0" in out
    assert (tmp_path / "map" / "stability_map.png").exists()
