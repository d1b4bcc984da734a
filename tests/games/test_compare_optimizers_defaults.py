"""`dualgan compare-optimizers` on the GAN games defaults to the report's schedule (the setting that separates
consensus optimisation from simultaneous GD), the same for every optimiser."""
import pytest

import dualgan.games as games
from dualgan.cli import main
from dualgan.games import BilinearGame, random_matrix


class _Stop(Exception):
    pass


def _captured(monkeypatch, argv):
    seen = {}

    def fake(make_game, optimizers, **kwargs):
        seen.update(kwargs, optimizers=optimizers, make_game=make_game)
        raise _Stop

    monkeypatch.setattr(games, "compare_optimizers", fake)
    with pytest.raises(_Stop):
        main(argv)
    return seen


def test_ring_defaults_are_the_reports_schedule(monkeypatch, capsys, tmp_path):
    seen = _captured(monkeypatch, ["compare-optimizers", "--game", "ring", "--out", str(tmp_path / "c.png")])
    out = capsys.readouterr().out
    assert "lr 0.001 for 4000 steps, then 0.0001 for 2000" in out and "gamma 10.0" in out and "minutes" in out
    assert seen["n_steps"] == 6000 and seen["seeds"] == [0, 1, 2]
    assert sorted(seen["optimizers"]) == ["consensus", "simultaneous"]
    consensus = seen["optimizers"]["consensus"]()
    assert consensus.gamma == 10.0 and consensus.lr == 1e-3 and consensus.base == "rmsprop"


def test_the_step_size_drops_after_steps_for_every_optimiser(monkeypatch, tmp_path):
    seen = _captured(monkeypatch, ["compare-optimizers", "--game", "ring", "--steps", "2", "--final-steps", "3",
                                   "--lr", "0.05", "--final-lr", "0.01", "--out", str(tmp_path / "c.png")])
    assert seen["n_steps"] == 5
    for name in ("simultaneous", "consensus"):
        opt = seen["optimizers"][name]()
        game = BilinearGame(random_matrix(2, seed=0), seed=0)
        lrs = []
        for _ in range(5):
            opt.step(game)
            lrs.append(opt.lr)
        assert lrs == [0.05, 0.05, 0.01, 0.01, 0.01], (name, lrs)


def test_small_games_keep_one_step_size(monkeypatch, tmp_path):
    seen = _captured(monkeypatch, ["compare-optimizers", "--game", "bilinear", "--out", str(tmp_path / "c.png")])
    assert seen["n_steps"] == 1000
    name, options = seen["optimizers"]["consensus"]
    assert name == "consensus" and options["gamma"] == 1.0 and options["lr"] == 0.1
