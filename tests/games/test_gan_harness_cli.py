"""GAN games with constraint handlers, the mixture GAN, the comparison harness, plots and the CLI."""
import os

import numpy as np
import pytest
import torch

from dualgan.cli import main as cli_main
from dualgan.constraints import AffineSubspace, NoConstraint, Penalty
from dualgan.data import ring
from dualgan.games import (BilinearGame, DiracGAN, GANGame, MixtureGAN, compare_optimizers, make_optimizer, mlp,
                           plot_vector_field, random_matrix, run_optimizer)


class _CountingHandler(NoConstraint):
    """A handler following the interface that records how it is used."""

    def __init__(self, weight):
        self.weight, self.wrapped, self.updates = weight, 0, []

    def wrap_generator(self, generator):
        self.wrapped += 1
        return generator

    def penalty(self, samples):
        return self.weight * (samples.sum(dim=1) - 1.0).pow(2).mean()

    def update(self, samples):
        self.updates.append(samples.detach().clone())


def _gan(constraint=None, seed=0):
    torch.manual_seed(seed)
    G = mlp(2, 3, hidden=6, depth=1).double()
    D = torch.nn.Sequential(mlp(3, 1, hidden=6, depth=1), torch.nn.Flatten(0)).double()
    return GANGame(G, D, "non_saturating", sample_real=lambda n, g: torch.randn(n, 3, generator=g, dtype=torch.float64),
                   sample_latent=lambda n, g: torch.randn(n, 2, generator=g, dtype=torch.float64), batch_size=8,
                   constraint=constraint, seed=seed)


def test_constraint_handler_is_wrapped_once_penalised_and_updated_after_each_step():
    handler = _CountingHandler(weight=3.0)
    game = _gan(handler)
    plain = _gan(None)
    assert handler.wrapped == 1
    game.resample()
    plain.resample()
    loss_g, _ = game.losses()
    loss_g0, _ = plain.losses()
    x_fake = plain.generator(plain.z)
    expected = loss_g0 + 3.0 * (x_fake.sum(dim=1) - 1.0).pow(2).mean()
    assert float(loss_g.detach()) == pytest.approx(float(expected.detach()), rel=1e-12)
    opt = make_optimizer("consensus", lr=0.01, gamma=1.0)
    for _ in range(3):
        game.resample()
        opt.step(game)
    assert len(handler.updates) == 3
    with torch.no_grad():
        np.testing.assert_allclose(handler.updates[-1].numpy(), game.generator(game.z).numpy(), rtol=1e-12)


def test_library_penalty_handler_reduces_violation():
    subspace = AffineSubspace([[1.0, 1.0, 1.0]], [1.0])
    game = _gan(Penalty(subspace, weight=10.0))
    start = subspace.violation(game.sample(256)).mean_distance
    result = run_optimizer(game, make_optimizer("consensus", lr=0.02, gamma=0.5, base="adam"), 150, eval_every=50,
                           metric=("violation", lambda g: subspace.violation(g.sample(256)).mean_distance))
    assert result.status.success and result.steps == 150
    assert result.final_metric < 0.5 * start


def test_gan_game_rejects_bad_input():
    G, D = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    real = lambda n, g: torch.randn(n, 2, generator=g)  # noqa: E731
    with pytest.raises(ValueError, match="nn.Modules"):
        GANGame("G", D, sample_real=real, sample_latent=real)
    with pytest.raises(ValueError, match="batch_size"):
        GANGame(G, D, sample_real=real, sample_latent=real, batch_size=0)
    with pytest.raises(TypeError, match="ConstraintHandler"):
        GANGame(G, D, sample_real=real, sample_latent=real, constraint=object())
    with pytest.raises(ValueError, match="unknown GAN loss"):
        GANGame(G, D, "nope", sample_real=real, sample_latent=real)
    with pytest.raises(ValueError, match="GaussianMixture"):
        MixtureGAN("ring")


def test_mixture_gan_is_reproducible_and_reports_coverage():
    a = MixtureGAN(ring(8), hidden=16, depth=2, batch_size=32, seed=3)
    b = MixtureGAN(ring(8), hidden=16, depth=2, batch_size=32, seed=3)
    assert torch.equal(a.get_flat(), b.get_flat())
    for game in (a, b):
        opt = make_optimizer("consensus", lr=1e-3, gamma=10.0, base="rmsprop")
        for _ in range(3):
            game.resample()
            assert opt.step(game).ok
    assert torch.equal(a.get_flat(), b.get_flat())
    report = a.coverage(500)
    assert 0 <= report.modes_covered <= 8 and report.n_modes == 8


def test_compare_optimizers_table_and_plot(tmp_path):
    A = random_matrix(4, seed=0, singular_values=(0.5, 1.5))
    comparison = compare_optimizers(lambda seed: BilinearGame(A, seed=seed),
                                    {"simGD": ("simultaneous", {"lr": 0.1}),
                                     "consensus": lambda: make_optimizer("consensus", lr=0.3, gamma=1.0)},
                                    seeds=[0, 1], n_steps=300, eval_every=10, stop_below=1e-6)
    assert [(r.optimizer, r.seed) for r in comparison.rows] == [("simGD", 0), ("simGD", 1), ("consensus", 0),
                                                                 ("consensus", 1)]
    for row, run in zip(comparison.rows, comparison.runs):
        assert row.final_metric == run.final_metric == pytest.approx(float(np.sum(np.abs(run.metric[-1:]))))
    assert all(r.final_metric > r.best_metric for r in comparison.rows[:2])  # simGD moves away
    # consensus stops early (stop_below) with SUCCESS; simGD runs every step
    assert all(r.final_metric <= 1e-6 and r.status.success and r.steps < 300 for r in comparison.rows[2:])
    assert all(r.status.success and r.steps == 300 for r in comparison.rows[:2])
    text = comparison.format()
    assert "consensus" in text and "distance to equilibrium" in text
    path = comparison.plot(tmp_path / "curves.png")
    assert os.path.getsize(path) > 1000


def test_vector_field_plot_restores_parameters(tmp_path):
    game = DiracGAN(theta0=0.3, psi0=0.2)
    before = game.get_flat()
    run = run_optimizer(DiracGAN(theta0=1.0, psi0=1.0), make_optimizer("consensus", lr=0.1), 50,
                        record_trajectory=True)
    path = plot_vector_field(game, tmp_path / "field.png", {"consensus": run.trajectory}, labels=("theta", "psi"),
                             grid=9)
    assert os.path.getsize(path) > 1000
    assert torch.equal(game.get_flat(), before)
    with pytest.raises(ValueError, match="coords"):
        plot_vector_field(game, tmp_path / "x.png", coords=(0, 0))


def test_cli_compare_optimizers(tmp_path, capsys):
    out = tmp_path / "cmp.png"
    code = cli_main(["compare-optimizers", "--game", "bilinear", "--size", "4", "--optimizers",
                     "simultaneous,consensus,cgd", "--seeds", "0", "--steps", "60", "--out", str(out)])
    assert code == 0 and os.path.getsize(out) > 1000
    text = capsys.readouterr().out
    assert "consensus" in text and "cgd" in text and "ms/step" in text
