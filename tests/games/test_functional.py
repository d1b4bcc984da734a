"""Functional games and batched runs: closed forms against torch.func and autograd, batched runs against the harness."""
import zlib

import numpy as np
import pytest
import torch

from dualgan.games import (BASE_OPTIMIZERS, OPTIMIZERS, DiracGAN, FunctionalGame, Game, MixtureGAN, NotBatchableError,
                           Player, as_functional, batched_run, bilinear_functional, dirac_functional, functional_base,
                           jacobian, make_optimizer, random_matrix, run_optimizer)
from dualgan.regularizers import (R1, R2, CoupledGradientPenalty, ExponentialAnnealing, JSRegularizer,
                                  LocalGradientPenalty)
from dualgan.status import StatusCode

A32 = random_matrix(3, 2, seed=1, singular_values=(0.5, 1.5))
LOSSES = ["minimax", "non_saturating", "wasserstein", "hinge", "least_squares"]
BATCHABLE = OPTIMIZERS.names(batchable=True)
REGS = [[], [R1(0.7)], [R2(0.4)], [CoupledGradientPenalty(2.0)], [CoupledGradientPenalty(1.5, one_sided=True)],
        [LocalGradientPenalty(0.5)], [R1(0.5), R2(0.3)]]


def _points(n=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return 2 * torch.rand(n, 2, generator=gen, dtype=torch.float64) - 1   # psi away from 0 almost surely


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("regs", REGS, ids=lambda r: "+".join(type(x).__name__ for x in r) or "none")
def test_dirac_closed_forms_match_torch_func_and_the_object_games_autograd(loss, regs):
    """Three independent computations of v and J: closed form, torch.func on the loss functions, DiracGAN's double backward."""
    g = dirac_functional(loss, regs)
    assert g.fast_field is not None and g.fast_jacobian is not None
    Z = _points()
    v_fast, J_fast = g.field(Z), g.jacobian(Z)
    assert torch.allclose(v_fast, g.reference_field(Z), rtol=1e-12, atol=1e-13)
    assert torch.allclose(J_fast, g.reference_jacobian(Z), rtol=1e-12, atol=1e-13)
    for z, v, J in zip(Z, v_fast, J_fast):
        game = DiracGAN(loss, float(z[0]), float(z[1]), regularizers=regs)
        assert torch.allclose(v, game.flatten(game.vector_field()), rtol=1e-12, atol=1e-13)
        assert torch.allclose(J, jacobian(game), rtol=1e-12, atol=1e-13)


def test_js_regulariser_and_custom_losses_take_the_torch_func_path():
    g = dirac_functional("non_saturating", [JSRegularizer(0.3)])
    assert g.fast_field is None
    Z = _points()
    for z, v in zip(Z, g.field(Z)):
        game = DiracGAN("non_saturating", float(z[0]), float(z[1]), regularizers=[JSRegularizer(0.3)])
        assert torch.allclose(v, game.flatten(game.vector_field()), rtol=1e-12, atol=1e-13)


def test_bilinear_closed_form_and_starts_match_the_object_game():
    from dualgan.games import BilinearGame

    g = bilinear_functional(A32)
    Z = torch.randn(4, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(g.field(Z), g.reference_field(Z), rtol=1e-13, atol=1e-14)
    assert torch.allclose(g.jacobian(Z), g.reference_jacobian(Z), rtol=1e-13, atol=1e-14)
    for seed in (0, 5):
        assert torch.equal(g.start(seed), BilinearGame(A32, seed=seed).get_flat())


def _harness_run(game_f, name, z0, lr, coef, steps, base="sgd", base_kwargs=None):
    kw = {"lr": lr, "base": base, "base_kwargs": base_kwargs}
    if OPTIMIZERS.entry(name).coefficient:
        kw[OPTIMIZERS.entry(name).coefficient] = coef
    if name == "cgd":
        kw["tol"] = 1e-15
    metric = ("norm", lambda game: float(game.get_flat().norm()))
    return run_optimizer(game_f.make_game(z0), make_optimizer(name, **kw), steps, metric=metric,
                         record_trajectory=True)


def _harness_trajectory(*args, **kwargs):
    return _harness_run(*args, **kwargs).trajectory


def _relative_error(batched, reference):
    T = min(len(batched), len(reference))
    scale = np.maximum(1.0, np.abs(reference[:T]))
    return float(np.max(np.abs(batched[:T] - reference[:T]) / scale)), T


GAMES = {
    "dirac_r1": lambda: dirac_functional("minimax", [R1(1.0)]),
    "dirac_ns_r2": lambda: dirac_functional("non_saturating", [R2(0.5)]),
    "dirac_wgan_clip": lambda: dirac_functional("wasserstein", clip=0.8),
    "bilinear": lambda: bilinear_functional(A32),
}


@pytest.mark.parametrize("game_name", list(GAMES))
@pytest.mark.parametrize("name", BATCHABLE)
def test_batched_runs_equal_the_per_run_harness_on_sampled_cells(game_name, name):
    """Reference: run_optimizer on the object game of each sampled cell (float64); 1e-12 relative to max(1, |z|).

    A cell that diverges (some large steps do) must be flagged by both; its exploding trajectory is compared
    while ||z|| <= 10 (beyond that the growth multiplies one-ulp differences of the two field computations).
    """
    g = GAMES[game_name]()
    rng = np.random.default_rng(zlib.crc32(f"{game_name}/{name}".encode()))
    lrs = rng.uniform(0.05, 0.6, 3)
    coefs = rng.uniform(0.3, 2.0, 3)
    seeds = [0, 1, 2]
    z0 = torch.stack([g.start(s) for s in seeds])
    steps = 50 if name == "cgd" else 100         # the harness's CGD solves with scipy every step: slow
    run = batched_run(g, name, z0, lrs, coefs, steps, record_trajectory=True)
    for i in range(3):
        ref = _harness_run(g, name, z0[i], float(lrs[i]), float(coefs[i]), steps)
        if run.diverged[i]:
            assert ref.status.code in (StatusCode.NUMERICAL_ERROR, StatusCode.NON_FINITE), ref.status
            T = int(np.argmax(np.linalg.norm(ref.trajectory, axis=1) > 10))
            err, _ = _relative_error(run.trajectory[:T, i], ref.trajectory[:T])
        else:
            assert ref.status.success and ref.steps == steps, ref.status
            err, T = _relative_error(run.trajectory[:, i], ref.trajectory)
            assert T == steps + 1
        assert err <= 1e-12, (i, err)


BASES = [("sgd", {"momentum": 0.6}), ("sgd", {"momentum": 0.5, "nesterov": True, "weight_decay": 0.01}),
         ("sgd", {"momentum": 0.4, "dampening": 0.2}), ("adam", {}), ("adam", {"betas": (0.5, 0.9), "amsgrad": True}),
         ("rmsprop", {}), ("rmsprop", {"alpha": 0.9, "centered": True, "momentum": 0.3})]


@pytest.mark.parametrize("base, base_kwargs", BASES, ids=lambda b: str(b))
@pytest.mark.parametrize("name", ["alternating", "extragradient", "optimistic", "sga"])
def test_functional_base_optimisers_equal_torch_optim_inside_the_harness(base, base_kwargs, name):
    """Reference: torch.optim's own SGD / Adam / RMSprop driven by the library's optimiser objects.

    RMSProp divides a vanishing gradient by its own running RMS (sign-like steps near the equilibrium), which
    amplifies the one-ulp differences between the closed-form field and autograd's: measured 1e-13 after 200
    steps and 1e-9 after 300 for centred RMSProp with momentum. Its runs are compared over 60 steps.
    """
    g = dirac_functional("minimax", [R1(1.0)])
    z0 = torch.stack([g.start(s) for s in (3, 4)])
    lrs, coefs, steps = [0.02, 0.1], [0.5, 1.5], (60 if base == "rmsprop" else 100)
    run = batched_run(g, name, z0, lrs, coefs, steps, base=base, base_kwargs=base_kwargs, record_trajectory=True)
    for i in range(2):
        # torch's class as a callable base: the harness then steps torch.optim itself, not the pure rule under test
        ref = _harness_trajectory(g, name, z0[i], lrs[i], coefs[i], steps, BASE_OPTIMIZERS.get(base), base_kwargs)
        err, T = _relative_error(run.trajectory[:, i], ref)
        assert T == steps + 1 and err <= 1e-12, err


def _quadratic_three_player_game():
    """General-sum three-player game with non-quadratic terms, as an object Game and as a FunctionalGame."""
    rng = np.random.default_rng(7)
    H = torch.tensor(rng.standard_normal((3, 4, 4)) * 0.5, dtype=torch.float64)
    sizes = (1, 2, 1)

    def losses(z):
        return torch.stack([0.5 * z @ H[i] @ z + 0.1 * torch.sin(z).sum() * z[i] + 0.3 * z[i] ** 2 for i in range(3)])

    def make_game(z0):
        params = [z0[0:1].clone().requires_grad_(True), z0[1:3].clone().requires_grad_(True),
                  z0[3:4].clone().requires_grad_(True)]

        def loss_of(i):
            return lambda: losses(torch.cat(params))[i]

        return Game([Player(f"p{i}", [params[i]], loss_of(i)) for i in range(3)])

    return FunctionalGame(losses, sizes, name="three players", make_game=make_game, n_tensors=3)


@pytest.mark.parametrize("name", ["simultaneous", "alternating", "consensus", "extragradient", "optimistic", "sga"])
def test_a_game_given_by_its_losses_runs_batched_through_torch_func(name):
    g = _quadratic_three_player_game()
    assert g.fast_field is None
    z0 = torch.stack([g.start(s) for s in (0, 1)]) * 0.5
    lrs, coefs, steps = [0.05, 0.1], [0.3, 0.8], 25
    run = batched_run(g, name, z0, lrs, coefs, steps, record_trajectory=True)
    assert np.isnan(run.final_distance).all() and np.isnan(run.measured_rate).all()   # no equilibrium declared
    for i in range(2):
        ref = _harness_trajectory(g, name, z0[i], lrs[i], coefs[i], steps)
        err, T = _relative_error(run.trajectory[:, i], ref)
        assert T == steps + 1 and err <= 1e-12, err


def test_divergent_cells_are_flagged_frozen_finite_and_their_rates_nan():
    g = bilinear_functional(A32)
    z0 = g.start(0).expand(3, 5)
    run = batched_run(g, "simultaneous", z0, [0.01, 1.0, 3.0], None, 400, diverge_above=1e6)
    # I - hJ has spectral radius sqrt(1 + h^2 s_max^2) > 1 for every h: large steps pass 1e6 within 400 steps
    assert list(run.diverged) == [False, True, True]
    assert run.diverged_at[0] == -1 and 0 < run.diverged_at[2] < run.diverged_at[1] <= 400
    assert np.isfinite(run.final_params).all()
    assert np.isnan(run.measured_rate[1:]).all() and np.isfinite(run.measured_rate[0])
    assert not run.converged.any()


def test_a_nan_loss_is_flagged_as_diverged_never_turned_into_a_number():
    def losses(z):   # the field turns NaN once x passes 2 (x moves away from 0: v_x = -2x)
        bad = torch.where(z[0] > 2.0, torch.tensor(float("nan"), dtype=z.dtype), torch.zeros((), dtype=z.dtype))
        return torch.stack([-(z[0] ** 2) + bad * z[0], z[1] ** 2])

    g = FunctionalGame(losses, (1, 1), equilibrium=torch.zeros(2, dtype=torch.float64))
    run = batched_run(g, "simultaneous", torch.tensor([[1.0, 1.0], [0.0, 1.0]]), 0.1, None, 50)
    assert list(run.diverged) == [True, False]
    assert run.final_params[0, 0] == pytest.approx(1.2 ** 4) and np.isfinite(run.final_params).all()  # x <- 1.2 x
    assert np.isnan(run.measured_rate[0]) and np.isnan(run.final_field_norm[0])


def test_what_cannot_be_batched_raises_an_error_naming_it():
    g = dirac_functional("minimax", [R1(1.0)])
    z0 = g.start(0).reshape(1, 2)
    with pytest.raises(NotBatchableError, match="my_opt_factory"):
        def my_opt_factory(params, lr):
            return torch.optim.SGD(params, lr=lr)
        batched_run(g, "simultaneous", z0, 0.1, base=my_opt_factory)
    with pytest.raises(NotBatchableError, match="lbfgs"):
        functional_base("lbfgs")
    with pytest.raises(NotBatchableError, match="foreach"):
        functional_base("adam", {"foreach": True})
    with pytest.raises(NotBatchableError, match="'newton'"):
        batched_run(g, "newton", z0, 0.1)
    with pytest.raises(NotBatchableError, match="MixtureGAN"):
        from dualgan.data import ring
        as_functional(MixtureGAN(ring(4), hidden=4, depth=1, batch_size=8))
    with pytest.raises(NotBatchableError, match="Game"):
        x = torch.tensor([1.0], requires_grad=True)
        as_functional(Game([Player("x", [x], lambda: (x ** 2).sum())]))
    with pytest.raises(NotBatchableError, match="ExponentialAnnealing"):
        dirac_functional("minimax", [R1(ExponentialAnnealing(1.0, 100))])
    with pytest.raises(NotBatchableError, match="two players"):
        batched_run(_quadratic_three_player_game(), "cgd", torch.zeros(1, 4), 0.1)
    # the per-run harness still serves what the batched runner refuses
    game = DiracGAN("minimax", 1.0, 1.0, regularizers=[R1(ExponentialAnnealing(1.0, 100))])
    assert run_optimizer(game, make_optimizer("simultaneous", lr=0.1), 5).status.success


def test_bad_arguments_name_the_argument():
    g = bilinear_functional(A32)
    with pytest.raises(ValueError, match="z0 must have shape"):
        batched_run(g, "simultaneous", torch.zeros(2, 4), 0.1)
    with pytest.raises(ValueError, match="lr must be > 0"):
        batched_run(g, "simultaneous", torch.zeros(2, 5), [0.1, 0.0])
    with pytest.raises(ValueError, match="one value per cell"):
        batched_run(g, "simultaneous", torch.zeros(2, 5), [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="n_steps"):
        batched_run(g, "simultaneous", torch.zeros(2, 5), 0.1, n_steps=0)
    with pytest.raises(ValueError, match="coefficient.*gamma"):
        batched_run(g, "consensus", torch.zeros(2, 5), 0.1, -1.0)
    with pytest.raises(ValueError, match="extrapolation"):
        batched_run(g, "extragradient", torch.zeros(2, 5), 0.1, [1.0, 0.0])
    with pytest.raises(ValueError, match="takes no option"):
        batched_run(g, "sga", torch.zeros(2, 5), 0.1, options={"gamma": 1.0})
    with pytest.raises(ValueError, match="per run or per cell"):
        batched_run(g, "sga", torch.zeros(2, 5), 0.1, options={"lam": 2.0})
    with pytest.raises(ValueError, match="player_sizes"):
        FunctionalGame(lambda z: z, (0, 2))
    with pytest.raises(ValueError, match="clip"):
        dirac_functional("wasserstein", clip=-1.0)


@pytest.mark.parametrize("name", BATCHABLE)
def test_a_small_mixture_gan_runs_batched_on_each_seeds_batch_stream_like_the_harness(name):
    """Reference: MixtureGAN(seed=s) under run_optimizer, which resamples its own seeded batch before every step."""
    from dualgan.data import ring
    from dualgan.games import mixture_functional

    g = mixture_functional(ring(4), hidden=4, depth=1, latent_dim=2, batch_size=8, regularizers=[R1(0.5)])
    assert g.n == 39 and g.equilibrium is None and g.zero_sum
    seeds = [0, 1, 1]
    z0 = torch.stack([g.start(s) for s in seeds])
    lrs, coefs, steps = [0.05, 0.1, 0.02], [0.5, 1.0, 2.0], (8 if name == "cgd" else 15)
    run = batched_run(g, name, z0, lrs, coefs, steps, seeds=seeds, record_trajectory=True)
    for i, s in enumerate(seeds):
        kw = {"lr": lrs[i], "tol": 1e-15} if name == "cgd" else {"lr": lrs[i]}
        if OPTIMIZERS.entry(name).coefficient:
            kw[OPTIMIZERS.entry(name).coefficient] = coefs[i]
        game = g.make_game(z0[i], seed=s)
        ref = run_optimizer(game, make_optimizer(name, **kw), steps, metric=("norm", lambda gm: 0.0),
                            record_trajectory=True)
        err, T = _relative_error(run.trajectory[:, i], ref.trajectory)
        assert T == steps + 1 and err <= 1e-12, err
    with pytest.raises(ValueError, match="seeds"):
        batched_run(g, name, z0, 0.1, None, 2)
    with pytest.raises(NotBatchableError, match="CoupledGradientPenalty"):
        mixture_functional(ring(4), hidden=4, depth=1, regularizers=[CoupledGradientPenalty(1.0)])
