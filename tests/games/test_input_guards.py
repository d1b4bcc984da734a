"""Bad input to dualgan.games gets a clear error naming the argument; what a run cannot do it says, never does else."""
import math

import numpy as np
import pytest
import torch

from dualgan.games import (BilinearGame, DiracGAN, FunctionalGame, Game, batched_run, bilinear_functional,
                           bilinear_jacobian, compare_optimizers, dirac_functional, eigenvalues, jacobian,
                           leading_eigenvalues, local_rate, local_update_map, make_optimizer, plot_vector_field,
                           random_matrix, run_optimizer, stability_map)

A3 = random_matrix(3, seed=0)
NORM = ("||z||", lambda g: float(g.get_flat().norm()))


def _game(seed=1):
    return BilinearGame(A3, seed=seed)


def test_an_optimizer_given_by_name_or_a_non_dict_of_optimizers_is_refused_naming_it_and_how_to_build_one():
    with pytest.raises(TypeError, match=r"optimizer must be a GameOptimizer, got str 'consensus'.*make_optimizer"):
        run_optimizer(_game(), "consensus", 2)
    with pytest.raises(TypeError, match=r"optimizers must be a dict .* got list \[1\]"):
        compare_optimizers(lambda s: _game(s), optimizers=[1], n_steps=2)


@pytest.mark.parametrize("analyse", [jacobian, eigenvalues, leading_eigenvalues,
                                     lambda g: plot_vector_field(g, "unused.png"),
                                     lambda g: run_optimizer(g, make_optimizer("simultaneous"), 1)])
def test_the_analysis_functions_refuse_a_non_game_by_name(analyse):
    with pytest.raises(TypeError, match=r"game must be a dualgan.games.Game .*got NoneType None"):
        analyse(None)


@pytest.mark.parametrize("fn", [local_update_map, local_rate])
def test_player_sizes_must_be_a_sequence_of_positive_ints(fn):
    J = bilinear_jacobian(A3)
    with pytest.raises(ValueError, match=r"player_sizes must be a non-empty sequence of positive integers.* got 6"):
        fn("alternating", J, 0.1, player_sizes=6)
    with pytest.raises(ValueError, match=r"player_sizes\[1\]"):
        fn("alternating", J, 0.1, player_sizes=(3, True))


@pytest.mark.parametrize("method", ["set_values", "jvp", "vjp"])
@pytest.mark.parametrize("bad", [[torch.zeros(2)], [torch.zeros(3), torch.zeros(3), torch.zeros(1)],
                                 [torch.zeros(3), torch.zeros(2)], torch.zeros(6)])
def test_a_vector_of_the_wrong_shapes_or_count_is_refused_naming_it_and_the_shapes(method, bad):
    game = _game()
    with pytest.raises(ValueError, match=r"must be 2 tensors shaped like the parameters \[\(3,\), \(3,\)\], got"):
        getattr(game, method)(bad)


@pytest.mark.parametrize("build", [lambda: BilinearGame(A3, dtype=torch.int64), lambda: DiracGAN(dtype=torch.int64),
                                   lambda: bilinear_functional(A3, dtype=torch.int64),
                                   lambda: dirac_functional(dtype=torch.int64)])
def test_an_integer_dtype_is_refused_naming_dtype(build):
    with pytest.raises(ValueError, match=r"dtype must be a floating torch dtype.*got torch.int64"):
        build()


@pytest.mark.parametrize("A", ["a", [[1.0, float("nan")]], [1.0, 2.0]])
def test_a_bad_coupling_matrix_is_a_value_error_naming_a(A):
    with pytest.raises(ValueError, match=r"\bA\b"):
        make_optimizer("simultaneous", lr=0.1).bilinear_update_map(A)
    with pytest.raises(ValueError, match=r"\bA\b"):
        bilinear_jacobian(A)


@pytest.mark.parametrize("kwargs", [{"momentum": math.nan}, {"dampening": math.inf}])
def test_non_finite_base_options_are_refused(kwargs):
    key = next(iter(kwargs))
    with pytest.raises(ValueError, match=rf"base_kwargs\['{key}'\] = .* is not finite"):
        make_optimizer("simultaneous", lr=0.1, base="sgd", base_kwargs=kwargs)
    with pytest.raises(ValueError, match="is not finite"):
        make_optimizer("simultaneous", lr=0.1, base="adam", base_kwargs={"betas": (0.5, math.nan)})


def test_alternating_order_refuses_a_string_and_bools_sga_align_must_be_a_bool():
    with pytest.raises(TypeError, match=r"order must be a sequence of player names or indices, got 'xy'"):
        make_optimizer("alternating", lr=0.1, order="xy")
    with pytest.raises(TypeError, match=r"order must hold player names \(str\) or indices \(int, not bool\)"):
        make_optimizer("alternating", lr=0.1, order=(True, False))
    with pytest.raises(ValueError, match=r"align must be True or False, got 'yes'"):
        make_optimizer("sga", lr=0.1, align="yes")


@pytest.mark.parametrize("seeds", ["ab", 3, [0, -1], [0.5]])
def test_batched_run_checks_its_seeds_even_where_the_game_ignores_them(seeds):
    game = bilinear_functional(A3)
    with pytest.raises(ValueError, match="seeds"):
        batched_run(game, "simultaneous", game.start(0)[None], 0.1, n_steps=2, seeds=seeds)


def test_an_optimizer_state_is_refused_by_another_optimizer_or_base_naming_both():
    game = _game()
    writer = make_optimizer("optimistic", lr=0.1, base="adam")
    writer.step(game)
    state = writer.state_dict()
    assert state["written_by"] == {"optimizer": "OptimisticGD", "base": "adam"}
    with pytest.raises(ValueError, match=r"written by .*OptimisticGD.*adam.*ConsensusOptimization.*sgd"):
        make_optimizer("consensus", lr=0.1).load_state_dict(state, _game())
    reader = make_optimizer("optimistic", lr=0.1, base="adam")     # the same optimiser and base load it
    reader.load_state_dict(state, game)
    old = {k: v for k, v in state.items() if k != "written_by"}    # a state written before the record: accepted
    make_optimizer("optimistic", lr=0.1, base="adam").load_state_dict(old, _game())


def test_a_resumed_run_asked_for_fewer_steps_than_its_checkpoint_has_taken_is_refused(tmp_path):
    path = tmp_path / "run.pt"
    run_optimizer(_game(), make_optimizer("simultaneous", lr=0.1), 8, NORM, checkpoint_path=path, checkpoint_every=6)
    with pytest.raises(ValueError, match=r"n_steps=2 is below the checkpoint's step 6.*n_steps >= 6"):
        run_optimizer(_game(), make_optimizer("simultaneous", lr=0.1), 2, NORM, resume_from=path)
    resumed = run_optimizer(_game(), make_optimizer("simultaneous", lr=0.1), 8, NORM, resume_from=path)
    assert resumed.steps == 8


@pytest.mark.parametrize("A", [[[1.0, 2.0]], [[1.0], [-0.5], [2.0]], random_matrix(2, 4, seed=3)])
def test_a_rectangular_coupling_matrix_gives_the_dense_closed_form(A):
    A = np.asarray(A, dtype=np.float64)
    nx, ny = A.shape
    J = np.block([[np.zeros((nx, nx)), A], [-A.T, np.zeros((ny, ny))]])      # eq. (3.12)
    np.testing.assert_array_equal(bilinear_jacobian(A), J)
    game = BilinearGame(A, seed=2)
    np.testing.assert_allclose(jacobian(game).numpy(), J, atol=1e-14)
    functional = bilinear_functional(A)
    z = functional.start(2)
    np.testing.assert_allclose(functional.fast_field(z[None])[0].numpy(), J @ z.numpy(), atol=1e-14)
    np.testing.assert_allclose(functional.fast_jacobian(z[None])[0].numpy(), J, atol=1e-14)
    h = 0.1
    np.testing.assert_allclose(make_optimizer("simultaneous", lr=h).bilinear_update_map(A), np.eye(nx + ny) - h * J,
                               atol=1e-14)
    for name in ("simultaneous", "alternating", "consensus", "extragradient", "cgd"):  # one step from z: M z
        opt, game = make_optimizer(name, lr=h), BilinearGame(A, seed=2)
        z0 = game.get_flat().numpy()
        opt.step(game)
        np.testing.assert_allclose(game.get_flat().numpy(), opt.bilinear_update_map(A) @ z0, atol=1e-9, err_msg=name)


def test_the_stability_table_shows_no_coefficient_name_none():
    table = stability_map(dirac_functional(), ["negative_momentum", "consensus"], lrs=[0.1], coefficients=[0.1],
                          n_steps=3).format()
    assert "None" not in table
    row = next(line for line in table.splitlines() if line.startswith("negative_momentum"))
    assert row.split()[1] == "-"


@pytest.mark.parametrize("call", [
    lambda: run_optimizer(_game(), make_optimizer("simultaneous"), 1, NORM, resample="no"),
    lambda: run_optimizer(_game(), make_optimizer("simultaneous"), 1, NORM, record_trajectory="yes"),
    lambda: batched_run(bilinear_functional(A3), "simultaneous", torch.zeros(1, 6), 0.1, n_steps=2,
                        record_trajectory="no"),
    lambda: stability_map(bilinear_functional(A3), "simultaneous", n_steps=2, progress=1),
    lambda: Game(_game().players, zero_sum="yes"),
    lambda: FunctionalGame(lambda z: z, (1, 1), zero_sum="no")])
def test_a_flag_that_is_not_a_bool_is_refused_naming_it(call):
    with pytest.raises(ValueError, match=r"(resample|record_trajectory|progress|zero_sum) must be True or False"):
        call()


def test_player_names_given_as_one_string_and_a_spec_without_a_kwargs_dict_are_refused():
    with pytest.raises(ValueError, match=r"player_names must be 2 str, one per player, got 'xy'"):
        local_update_map("alternating", bilinear_jacobian(A3), 0.1, player_sizes=(3, 3), player_names="xy")
    with pytest.raises(ValueError, match=r"player_names must be 2 str, one per player, got 'xy'"):
        FunctionalGame(lambda z: z, (1, 1), player_names="xy")
    with pytest.raises(ValueError, match=r"optimizers\['a'\] must be a factory or \(registered name, kwargs dict\)"):
        compare_optimizers(_game, {"a": ("consensus", 3)}, n_steps=1, metric=NORM)
