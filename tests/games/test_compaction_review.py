"""Faults found by differential review of the compacted dualgan.games, each pinned against an independent reference."""
import numpy as np
import pytest
import torch

from dualgan.data import ring
from dualgan.games import FunctionalGame, Player, batched_run, make_optimizer, mixture_functional
from dualgan.losses import get_loss
from dualgan.regularizers import R1, JSRegularizer


def _written_out(game, loss, gamma_r1, gamma_js):
    """The mixture GAN's losses with R1 and Roth's regulariser written out term by term (eqs. (5.10)-(5.12)).

    The JS term reads the real and the generated batch apart, as eq. (5.12) writes it: the scores of each after
    their input gradients, the real expectation first.
    """
    probe = game.make_game(game.start(0))
    gen_mod, disc_mod = probe.generator, probe.discriminator
    names = [[n for n, _ in m.named_parameters()] for m in (gen_mod, disc_mod)]
    n_g = len(names[0])

    def losses(z, x_real, latent):
        values = probe.unflatten(z)
        x_fake = torch.func.functional_call(gen_mod, dict(zip(names[0], values[:n_g])), (latent,))
        disc = dict(zip(names[1], values[n_g:]))

        def score(x):
            return torch.func.functional_call(disc_mod, disc, (x,))

        score_real, score_fake = score(x_real), score(x_fake)
        loss_d = loss.discriminator_loss(score_real, score_fake)
        input_grad = torch.func.grad(lambda x: score(x).sum())
        loss_d = loss_d + 0.5 * gamma_r1 * input_grad(x_real).flatten(1).pow(2).sum(dim=1).mean()
        grad_real, grad_fake = input_grad(x_real), input_grad(x_fake)
        term_real = torch.sigmoid(-score(x_real).reshape(-1)).pow(2) * grad_real.flatten(1).pow(2).sum(dim=1)
        term_fake = torch.sigmoid(score(x_fake).reshape(-1)).pow(2) * grad_fake.flatten(1).pow(2).sum(dim=1)
        loss_d = loss_d + 0.5 * gamma_js * (term_real.mean() + term_fake.mean())
        return torch.stack([loss.generator_loss(score_fake).reshape(()), loss_d.reshape(())])

    return FunctionalGame(losses, game.player_sizes, player_names=game.player_names, zero_sum=game.zero_sum,
                          n_tensors=game.n_tensors, initial_point=game.start, dtype=game.dtype,
                          sample_batch=game.sample_batch)


@pytest.mark.parametrize("loss_name", ["minimax", "non_saturating"])
@pytest.mark.parametrize("optimizer,base", [("consensus", "rmsprop"), ("cgd", "rmsprop"), ("sga", "adam")])
def test_mixture_js_penalty_is_the_written_out_formula_bit_for_bit(optimizer, base, loss_name):
    """R1 + JSRegularizer on the batched mixture GAN: the compaction stacked the JS term's real and fake halves
    (one torch.cat), which changed the order autograd sums J's terms in; under RMSProp the last bits of J^T v grew
    into different iterates after four steps (minimax loss). The reference is the penalty written out as eq. (5.12) reads."""
    loss = get_loss(loss_name)
    game = mixture_functional(ring(4), loss=loss, hidden=4, depth=1, latent_dim=2, batch_size=8,
                              regularizers=[R1(0.5), JSRegularizer(0.2)])
    reference = _written_out(game, loss, 0.5, 0.2)
    z0 = torch.stack([game.start(s) for s in range(3)])
    runs = [batched_run(g, optimizer, z0, [0.05, 0.1, 0.02], [0.5, 1.0, 2.0], 8, base=base, seeds=[0, 1, 2],
                        record_trajectory=True) for g in (game, reference)]
    np.testing.assert_array_equal(runs[0].trajectory, runs[1].trajectory)


def test_a_str_as_a_players_parameters_is_named_not_a_recursion_error():
    """A str iterates into one-character strs forever: it reached Python's recursion limit (old and new code alike)."""
    for params in ("theta", ["theta"]):
        with pytest.raises(ValueError, match="parameters of player 'x' must be a tensor, an nn.Module or a list of "
                                             "them, got str"):
            Player("x", params, lambda: torch.zeros(()))


def test_alternating_order_that_is_not_a_sequence_is_named():
    """order=3 reached list(3)'s bare "'int' object is not iterable" (old and new code alike); still a TypeError."""
    with pytest.raises(TypeError, match="order must be a sequence of player names or indices, got 3"):
        make_optimizer("alternating", order=3)


@pytest.mark.parametrize("base, kwargs, unused", [
    ("adam", {}, {"vmax"}), ("adam", {"amsgrad": True}, set()),
    ("sgd", {}, {"buf"}), ("sgd", {"momentum": 0.5}, set()),
    ("rmsprop", {}, {"gavg", "buf"}), ("rmsprop", {"centered": True, "momentum": 0.3}, set())])
def test_a_pure_base_allocates_only_the_state_its_options_read(base, kwargs, unused):
    from dualgan.games.optimizers._base_optimizers import BASE_OPTIMIZERS, functional_base

    state = functional_base(base, kwargs).init(torch.zeros(4, 3))
    names = set(BASE_OPTIMIZERS.entry(base).torch_state.values())
    assert set(state) == (names - unused) | {"count"}


def test_figures_to_files_leave_the_users_backend_and_pyplot_alone(tmp_path):
    """A plot written to a file switched the session's backend to Agg (a notebook lost its inline figures) and
    went through pyplot's registry; now the backend a user chose stays and pyplot holds no new figure."""
    import matplotlib
    import matplotlib.pyplot as plt

    from dualgan.games import BilinearGame, compare_optimizers, plot_vector_field, random_matrix

    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        figures = plt.get_fignums()
        cmp = compare_optimizers(lambda s: BilinearGame(random_matrix(1, 1, seed=0), seed=s),
                                 {"sim": ("simultaneous", {"lr": 0.1})}, seeds=(0,), n_steps=5)
        cmp.plot(tmp_path / "cmp.png")
        plot_vector_field(BilinearGame(random_matrix(1, 1, seed=0)), tmp_path / "vf.png")
        assert matplotlib.get_backend() == "svg" and plt.get_fignums() == figures
        assert (tmp_path / "cmp.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        matplotlib.use(before)
