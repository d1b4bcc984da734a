"""One checkpoint format for trainers and game runs (issue 25, "one loop"): the same header, then each part.

The references are written here: the header keys listed by hand, the earlier trainer format by rewriting the
``format`` field of a file, a straight run against an interrupted and resumed one.
"""
import numpy as np
import pytest
import torch

from dualgan.data import ring
from dualgan.features import RBF
from dualgan.games import BilinearGame, make_optimizer, random_matrix, run_optimizer
from dualgan.train import CheckpointError, StandardLinearGAN, mlp_generator, read_checkpoint, write_checkpoint

DATA = ring(5, radius=2.0, std=0.3)
FEATS = RBF(DATA.sample(20, generator=torch.Generator().manual_seed(0), dtype=torch.float64), sigma=0.3)
HEADER = {"format", "kind", "settings", "iteration", "elapsed", "history", "status"}


def _gan():
    return StandardLinearGAN(mlp_generator(seed=5, output_gain=3.0, dtype=torch.float64), FEATS, C=1e-3,
                             latent_dim=2, batch_size=8, seed=0)


def _game():
    return BilinearGame(random_matrix(3, seed=0, singular_values=(0.5, 1.5)), seed=1)


def test_trainers_and_game_runs_write_one_format_a_header_then_their_parts(tmp_path):
    _gan().fit(DATA, 2, checkpoint_path=tmp_path / "trainer.pt")
    run_optimizer(_game(), make_optimizer("simultaneous", lr=0.1), 4, checkpoint_path=tmp_path / "run.pt",
                  checkpoint_every=2)
    trainer, run = read_checkpoint(tmp_path / "trainer.pt"), read_checkpoint(tmp_path / "run.pt")
    assert trainer["format"] == run["format"] == "dualgan.Checkpoint/2"
    assert set(trainer) - HEADER == {"generator", "gen_optimizer", "rng", "extra", "constraint"}
    assert set(run) - HEADER == {"game", "optimizer", "curves"}
    assert (trainer["kind"], run["kind"]) == ("standard_linear", "game_run")
    assert run["iteration"] == 4 and len(run["history"]["columns"]["field_norm"]) == 4
    with pytest.raises(CheckpointError, match="checkpoint of a 'game_run' run, not of a StandardLinearGAN"):
        _gan().load_checkpoint(tmp_path / "run.pt")


def test_a_trainer_checkpoint_of_the_earlier_format_loads_and_continues_bit_for_bit(tmp_path):
    straight = _gan()
    straight.fit(DATA, 5)
    first = _gan()
    first.fit(DATA, 3, checkpoint_path=tmp_path / "ck.pt")
    payload = read_checkpoint(tmp_path / "ck.pt")
    payload["format"] = "dualgan.TrainerCheckpoint/1"     # what the trainers wrote before game runs shared it
    write_checkpoint(tmp_path / "old.pt", payload)
    resumed = _gan().load_checkpoint(tmp_path / "old.pt")
    resumed.fit(DATA, 5)
    assert resumed.status.success and resumed.iteration == 5
    for p, q in zip(resumed.generator.parameters(), straight.generator.parameters()):
        assert torch.equal(p, q)
    np.testing.assert_array_equal(resumed.history["objective"], straight.history["objective"])
    payload["format"] = "dualgan.TrainerCheckpoint/0"
    write_checkpoint(tmp_path / "other.pt", payload)
    with pytest.raises(CheckpointError, match="format 'dualgan.TrainerCheckpoint/0'.*another version of dualgan"):
        _gan().load_checkpoint(tmp_path / "other.pt")
