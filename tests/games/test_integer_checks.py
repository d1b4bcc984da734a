"""Integer and real arguments of the games package follow the library's one rule (``dualgan._checks``):
``bool`` and floats are refused where an integer is meant, numpy integers are accepted and behave like the Python
integer of the same value; real arguments refuse ``bool`` and NaN. Each accepted case is checked against a closed
form or a direct draw, so the tests fail if a value is silently changed."""
import math

import numpy as np
import pytest
import torch

from dualgan.games import BilinearGame, DiracGAN, Game, Player, make_optimizer, random_matrix, run_optimizer
from dualgan.games.analysis import leading_eigenvalues, plot_vector_field
from dualgan.games import batched_run, bilinear_functional, dirac_functional, FunctionalGame
from dualgan.games.gan import mlp
from dualgan.games.harness import compare_optimizers
from dualgan.games.stability import stability_map

NORM = ("norm", lambda g: float(g.get_flat().norm()))


def _game(seed=1):
    return BilinearGame(random_matrix(3, seed=0, singular_values=(0.5, 1.5)), seed=seed)


# ------------------------------------------------------------------ run_optimizer
@pytest.mark.parametrize("value", [True, False, 3.0, "3", None])
def test_run_optimizer_refuses_non_integer_n_steps(value):
    with pytest.raises(ValueError, match="n_steps must be a positive integer"):
        run_optimizer(_game(), make_optimizer("simultaneous", lr=0.1), value, metric=NORM)


def test_run_optimizer_reported_bool_n_steps_is_refused_not_run():
    """The reported input: n_steps=True used to run one step with the message 'ran all True steps'."""
    game = _game()
    before = game.get_flat().clone()
    with pytest.raises(ValueError, match=r"n_steps .*got True \(bool\)"):
        run_optimizer(game, make_optimizer("simultaneous", lr=0.1), True, metric=NORM)
    assert torch.equal(game.get_flat(), before)  # no step was taken


def test_run_optimizer_numpy_integer_n_steps_runs_the_closed_form():
    """n_steps=np.int64(3) runs three simultaneous-GD steps: z_3 = (I - h J)^3 z_0 for the bilinear J."""
    h = 0.1
    A = random_matrix(3, seed=0, singular_values=(0.5, 1.5))
    game = BilinearGame(A, seed=1)
    z0 = game.get_flat().detach().numpy().copy()
    run = run_optimizer(game, make_optimizer("simultaneous", lr=h), np.int64(3), metric=NORM)
    J = np.block([[np.zeros((3, 3)), A], [-A.T, np.zeros((3, 3))]])
    expected = np.linalg.matrix_power(np.eye(6) - h * J, 3) @ z0
    np.testing.assert_allclose(game.get_flat().detach().numpy(), expected, rtol=1e-13, atol=1e-15)
    assert run.steps == 3 and run.status.success and run.status.message == "ran all 3 steps"
    assert type(run.seed) is int


@pytest.mark.parametrize("arg, value, match", [
    ("eval_every", True, "eval_every must be a positive integer"),
    ("eval_every", 2.0, "eval_every must be a positive integer"),
    ("eval_every", 0, "eval_every must be a positive integer"),
    ("checkpoint_every", True, "checkpoint_every must be a non-negative integer"),
    ("checkpoint_every", -1, "checkpoint_every must be a non-negative integer"),
    ("seed", True, "seed must be a non-negative integer"),
    ("seed", 1.5, "seed must be a non-negative integer"),
    ("stop_below", float("nan"), "stop_below must be"),
    ("stop_below", True, "stop_below must be"),
    ("diverge_above", float("nan"), "diverge_above must be"),
    ("diverge_above", 0.0, "diverge_above must be"),
    ("diverge_above", True, "diverge_above must be"),
])
def test_run_optimizer_refuses_bad_keyword_values(arg, value, match):
    with pytest.raises(ValueError, match=match):
        run_optimizer(_game(), make_optimizer("simultaneous", lr=0.1), 3, metric=NORM, **{arg: value})


def test_run_optimizer_numpy_eval_every_matches_python_int():
    a = run_optimizer(_game(), make_optimizer("simultaneous", lr=0.1), 6, metric=NORM, eval_every=np.int32(2))
    b = run_optimizer(_game(), make_optimizer("simultaneous", lr=0.1), 6, metric=NORM, eval_every=2)
    assert a.eval_steps.tolist() == [0, 2, 4, 6] and np.array_equal(a.metric, b.metric)


def test_run_optimizer_infinite_diverge_above_is_accepted():
    run = run_optimizer(_game(), make_optimizer("simultaneous", lr=0.1), 2, metric=NORM, diverge_above=math.inf)
    assert run.status.success and run.steps == 2


def test_compare_optimizers_checks_seeds_and_counts():
    opts = {"sim": ("simultaneous", {"lr": 0.1})}
    for seeds, match in [((True,), r"seeds\[0\]"), ((0, 1.5), r"seeds\[1\]"), ((-1,), r"seeds\[0\]")]:
        with pytest.raises(ValueError, match=match):
            compare_optimizers(_game, opts, seeds=seeds, n_steps=2, metric=NORM, eval_every=1)
    with pytest.raises(ValueError, match="n_steps"):
        compare_optimizers(_game, opts, seeds=(0,), n_steps=True, metric=NORM)
    with pytest.raises(ValueError, match="eval_every"):
        compare_optimizers(_game, opts, seeds=(0,), n_steps=2, metric=NORM, eval_every=True)
    table = compare_optimizers(_game, opts, seeds=np.arange(2), n_steps=2, metric=NORM, eval_every=1)
    assert [r.seed for r in table.rows] == [0, 1] and all(type(r.seed) is int for r in table.rows)


# ------------------------------------------------------------------ BilinearGame, random_matrix
def test_bilinear_game_refuses_bool_seed():
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer, got True"):
        BilinearGame(np.eye(2), seed=True)
    for bad in (1.0, -1, "0"):
        with pytest.raises(ValueError, match="seed"):
            BilinearGame(np.eye(2), seed=bad)


def test_bilinear_game_numpy_seed_draws_like_torch():
    """The default start is x0, y0 = torch.randn from torch.Generator().manual_seed(seed), in that order."""
    gen = torch.Generator().manual_seed(3)
    x0 = torch.randn(2, generator=gen, dtype=torch.float64)
    y0 = torch.randn(3, generator=gen, dtype=torch.float64)
    game = BilinearGame(np.ones((2, 3)), seed=np.int64(3))
    assert torch.equal(game.x.detach(), x0) and torch.equal(game.y.detach(), y0)


def test_random_matrix_integer_arguments():
    for kwargs, match in [({"n": True}, "n must be"), ({"n": 2.0}, "n must be"), ({"n": 2, "m": True}, "m must be"),
                          ({"n": 2, "seed": True}, "seed must be"), ({"n": 2, "seed": 0.5}, "seed must be")]:
        with pytest.raises(ValueError, match=match):
            random_matrix(**kwargs)
    expected = (1.0 / np.sqrt(3)) * np.random.default_rng(4).standard_normal((3, 2))
    np.testing.assert_array_equal(random_matrix(np.int64(3), np.int32(2), seed=np.uint8(4)), expected)


@pytest.mark.parametrize("sv, match", [((float("nan"), 1.0), r"singular_values\[0\]"),
                                       ((0.5, float("inf")), r"singular_values\[1\]"),
                                       ((True, 2.0), r"singular_values\[0\]"),
                                       ((2.0, 1.0), "lo <= hi"), ((1.0,), "pair")])
def test_random_matrix_refuses_bad_singular_values(sv, match):
    with pytest.raises(ValueError, match=match):
        random_matrix(3, singular_values=sv)


# ------------------------------------------------------------------ GAN games and networks
@pytest.mark.parametrize("kwargs, match", [({"in_dim": True}, "in_dim"), ({"hidden": 2.0}, "hidden"),
                                           ({"depth": True}, "depth"), ({"out_dim": 0}, "out_dim")])
def test_mlp_refuses_bad_sizes(kwargs, match):
    args = {"in_dim": 2, "out_dim": 1, "hidden": 4, "depth": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        mlp(**args)


def test_mlp_numpy_sizes_build_the_same_shapes():
    net = mlp(np.int64(2), np.int64(1), np.int64(4), np.int64(1))
    assert [tuple(p.shape) for p in net.parameters()] == [(4, 2), (4,), (1, 4), (1,)]


def test_mixture_gan_refuses_bool_sizes_and_seed():
    from dualgan.data import ring
    from dualgan.games import MixtureGAN

    for kwargs, match in [({"latent_dim": True}, "latent_dim"), ({"batch_size": True}, "batch_size"),
                          ({"seed": True}, "seed"), ({"seed": 0.5}, "seed")]:
        with pytest.raises(ValueError, match=match):
            MixtureGAN(ring(4), hidden=4, depth=1, **kwargs)
    game = MixtureGAN(ring(4), hidden=4, depth=1, latent_dim=2, batch_size=8, seed=np.int64(2))
    ref = MixtureGAN(ring(4), hidden=4, depth=1, latent_dim=2, batch_size=8, seed=2)
    assert torch.equal(game.get_flat(), ref.get_flat()) and type(game.seed) is int
    with pytest.raises(ValueError, match="n must be a positive integer"):
        game.sample(True)
    with pytest.raises(ValueError, match="seed"):
        game.sample(4, seed=1.0)


def test_player_part_index_is_an_integer():
    x = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    y = torch.ones(2, dtype=torch.float64, requires_grad=True)
    game = Game([Player("x", [x], lambda: x.sum()), Player("y", [y], lambda: y.sum())])
    vec = [torch.tensor([1.0]), torch.tensor([2.0, 3.0])]
    with pytest.raises(ValueError, match="index"):
        game.player_part(vec, True)
    with pytest.raises(ValueError, match="index"):
        game.player_part(vec, 2)
    assert game.player_part(vec, np.int64(1))[0] is vec[1]


# ------------------------------------------------------------------ analysis
def test_leading_eigenvalues_integer_arguments():
    game = BilinearGame(np.diag([1.0, 2.0, 3.0]), seed=0)      # n = 6; J has eigenvalues +-i, +-2i, +-3i
    with pytest.raises(ValueError, match="k must be"):
        leading_eigenvalues(game, k=True)
    with pytest.raises(ValueError, match="maxiter"):
        leading_eigenvalues(game, k=2, maxiter=10.0)
    with pytest.raises(ValueError, match="seed"):
        leading_eigenvalues(game, k=2, seed=True)
    with pytest.raises(ValueError, match="tol"):
        leading_eigenvalues(game, k=2, tol=float("nan"))
    report = leading_eigenvalues(game, k=np.int64(2), seed=np.int64(0))
    np.testing.assert_allclose(np.sort(report.eigenvalues.imag), [-3.0, 3.0], atol=1e-8)
    np.testing.assert_allclose(report.eigenvalues.real, 0.0, atol=1e-8)


def test_plot_vector_field_integer_arguments(tmp_path):
    game = DiracGAN()
    with pytest.raises(ValueError, match="grid"):
        plot_vector_field(game, tmp_path / "a.png", grid=True)
    with pytest.raises(ValueError, match="grid"):
        plot_vector_field(game, tmp_path / "a.png", grid=5.0)
    with pytest.raises(ValueError, match=r"coords\[0\]"):
        plot_vector_field(game, tmp_path / "a.png", coords=(0.0, 1))
    with pytest.raises(ValueError, match=r"coords\[1\]"):
        plot_vector_field(game, tmp_path / "a.png", coords=(0, True))
    assert plot_vector_field(game, tmp_path / "b.png", coords=(np.int64(0), np.int64(1)), grid=np.int64(3))


# ------------------------------------------------------------------ functional games, batched runs, stability maps
def test_functional_game_sizes_and_seed():
    losses = lambda z: torch.stack([z[0] * z[1], -z[0] * z[1]])
    with pytest.raises(ValueError, match=r"player_sizes\[0\]"):
        FunctionalGame(losses, (True, 1))
    with pytest.raises(ValueError, match=r"player_sizes\[1\]"):
        FunctionalGame(losses, (1, 1.0))
    with pytest.raises(ValueError, match="n_tensors"):
        FunctionalGame(losses, (1, 1), n_tensors=True)
    game = FunctionalGame(losses, (np.int64(1), np.int64(1)))
    assert game.player_sizes == (1, 1) and all(type(s) is int for s in game.player_sizes)
    with pytest.raises(ValueError, match="seed"):
        game.start(True)
    with pytest.raises(ValueError, match="seed"):
        game.start(2.7)
    expected = torch.randn(2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    assert torch.equal(game.start(np.int64(5)), expected)


def test_bilinear_functional_seed_scale_and_seed():
    A = np.eye(2)
    for bad in (True, float("nan"), 0.0, "1"):
        with pytest.raises(ValueError, match="seed_scale"):
            bilinear_functional(A, seed_scale=bad)
    f = bilinear_functional(A, seed_scale=2.0)
    np.testing.assert_array_equal(f.start(np.int64(3)).numpy(),
                                  2.0 * BilinearGame(A, seed=3).get_flat().detach().numpy())


@pytest.mark.parametrize("kwargs, match", [({"clip": True}, "clip"), ({"clip": float("nan")}, "clip"),
                                           ({"init_low": True}, "init_low"), ({"init_high": float("nan")}, "init_high"),
                                           ({"init_low": 2.0, "init_high": 1.0}, "init_low must be <= init_high")])
def test_dirac_functional_refuses_bad_reals(kwargs, match):
    with pytest.raises(ValueError, match=match):
        dirac_functional(**kwargs)


@pytest.mark.parametrize("kwargs, match", [({"n_steps": True}, "n_steps"), ({"n_steps": 5.0}, "n_steps"),
                                           ({"rate_window": True}, "rate_window"),
                                           ({"rate_window": float("nan")}, "rate_window"),
                                           ({"diverge_above": True}, "diverge_above"),
                                           ({"lr": True}, "lr"), ({"lr": [True, False]}, "lr")])
def test_batched_run_refuses_bool_and_nan(kwargs, match):
    game = bilinear_functional(np.eye(2))
    args = {"lr": 0.1, "n_steps": 5, **kwargs}
    with pytest.raises(ValueError, match=match):
        batched_run(game, "simultaneous", torch.zeros(2, 4, dtype=torch.float64) + 1.0, **args)


def test_batched_run_numpy_n_steps_is_the_closed_form():
    A = np.eye(2)
    game = bilinear_functional(A)
    z0 = torch.tensor([[1.0, -0.5, 0.25, 2.0]], dtype=torch.float64)
    run = batched_run(game, "simultaneous", z0, 0.1, n_steps=np.int64(4), record_trajectory=True)
    J = np.block([[np.zeros((2, 2)), A], [-A.T, np.zeros((2, 2))]])
    expected = np.linalg.matrix_power(np.eye(4) - 0.1 * J, 4) @ z0.numpy()[0]
    np.testing.assert_allclose(np.asarray(run.trajectory)[-1][0], expected, rtol=1e-13)


def test_stability_map_refuses_bool_counts_and_seeds():
    game = bilinear_functional(np.eye(2))
    for kwargs, match in [({"workers": True}, "workers"), ({"n_steps": True}, "n_steps"),
                          ({"seeds": (True,)}, r"seeds\[0\]"), ({"seeds": (0.5,)}, r"seeds\[0\]"),
                          ({"lrs": (True,)}, "lrs"), ({"diverge_above": float("nan")}, "diverge_above")]:
        with pytest.raises(ValueError, match=match):
            stability_map(game, "simultaneous", **{"n_steps": 3, **kwargs})
    out = stability_map(game, "simultaneous", seeds=np.arange(2), n_steps=np.int64(3))
    assert out.seeds == (0, 1) and type(out.n_steps) is int


def test_batched_step_sizes_that_overflow_the_games_dtype_are_refused():
    import numpy as np
    import torch

    from dualgan.games import batched_run, bilinear_functional, random_matrix

    game = bilinear_functional(random_matrix(2, seed=0), dtype=torch.float32)
    z0 = np.zeros((2, 4))
    assert float(torch.tensor(1e300, dtype=torch.float64).to(torch.float32)) == float("inf")  # the reference
    with pytest.raises(ValueError, match=r"lr must be finite in the game's dtype torch.float32"):
        batched_run(game, "simultaneous", z0, [0.1, 1e300], n_steps=2)
    with pytest.raises(ValueError, match=r"lr must be a scalar or have one value per cell \(2\), got 3 values"):
        batched_run(game, "simultaneous", z0, [0.1, 0.2, 0.3], n_steps=2)
    assert batched_run(game, "simultaneous", z0, 0.1, n_steps=2).lr.tolist() == pytest.approx([0.1, 0.1])
