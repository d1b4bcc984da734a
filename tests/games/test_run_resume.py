"""Game runs resume bit for bit: parameters, base-optimiser state, optimistic memory, batch sampler,
regulariser schedules and constraint handler are all checkpointed."""
import shutil

import numpy as np
import pytest
import torch

from dualgan.constraints import AffineSubspace, AugmentedLagrangian
from dualgan.data import ring
from dualgan.games import DiracGAN, MixtureGAN, run_optimizer
from dualgan.games.optimizers import make_optimizer
from dualgan.regularizers import R1, ExponentialAnnealing


def _mixture():
    handler = AugmentedLagrangian(AffineSubspace([[1.0, 1.0]], [0.5]), check_every=2)
    return MixtureGAN(ring(4), hidden=8, depth=1, latent_dim=2, batch_size=8, seed=3, dtype=torch.float64,
                      regularizers=(R1(ExponentialAnnealing(1.0, 20)),), constraint=handler)


@pytest.mark.parametrize("name,base", [("optimistic", "adam"), ("consensus", "rmsprop"), ("simultaneous", "sgd")])
def test_game_run_resumes_bit_for_bit(tmp_path, name, base):
    def opt():
        return make_optimizer(name, lr=1e-2, base=base)

    ck, mid = tmp_path / "ck.pt", tmp_path / "mid.pt"
    straight_game = _mixture()
    straight = run_optimizer(straight_game, opt(), 10, eval_every=2, checkpoint_path=ck, checkpoint_every=1,
                             metric=("disc", lambda g: float(g.losses()[1])))
    # the checkpoint of step 10 is the last; make one of step 6 with a second, interrupted run
    first_game = _mixture()
    run_optimizer(first_game, opt(), 6, eval_every=2, checkpoint_path=mid, checkpoint_every=6,
                  metric=("disc", lambda g: float(g.losses()[1])))
    game = _mixture()
    resumed = run_optimizer(game, opt(), 10, eval_every=2, resume_from=mid,
                            metric=("disc", lambda g: float(g.losses()[1])))
    assert torch.equal(game.get_flat(), straight_game.get_flat())
    np.testing.assert_array_equal(resumed.field_norms, straight.field_norms)
    np.testing.assert_array_equal(resumed.metric, straight.metric)
    np.testing.assert_array_equal(resumed.eval_steps, straight.eval_steps)
    assert torch.equal(game.constraint.multipliers, straight_game.constraint.multipliers)
    assert shutil.os.path.exists(ck)


def test_dirac_gan_resume():
    g1, g2 = DiracGAN(theta0=0.7), DiracGAN(theta0=0.7)
    o1, o2 = make_optimizer("optimistic", lr=0.1), make_optimizer("optimistic", lr=0.1)
    for _ in range(3):
        o1.step(g1)
    g2.load_state_dict(g1.state_dict())
    o2.load_state_dict(o1.state_dict(), g2)
    for _ in range(4):
        o1.step(g1)
        o2.step(g2)
    assert torch.equal(g1.get_flat(), g2.get_flat()) and o1.iteration == o2.iteration == 7


def _old_layout(payload):
    """The layout run_optimizer wrote before game runs shared the trainers' checkpoint format (dualgan 0.1.0)."""
    curves = payload["curves"]
    return {"game": payload["game"], "optimizer": payload["optimizer"], "t": payload["iteration"],
            "elapsed": payload["elapsed"], "eval_steps": curves["eval_steps"], "values": curves["values"],
            "norms": [float(v) for v in payload["history"]["columns"]["field_norm"]], "traj": curves["traj"],
            "status": payload["status"]}


def test_a_game_run_checkpoint_of_the_earlier_layout_resumes_or_is_refused_naming_its_version(tmp_path):
    from dualgan.games import BilinearGame, random_matrix
    from dualgan.train.base import CheckpointError, read_checkpoint, write_checkpoint

    def fresh():
        return BilinearGame(random_matrix(3, seed=0, singular_values=(0.5, 1.5)), seed=1)

    def opt():
        return make_optimizer("optimistic", lr=0.1, base="adam")

    straight_game = fresh()
    straight = run_optimizer(straight_game, opt(), 8, eval_every=2, record_trajectory=True)
    ck = tmp_path / "ck.pt"
    run_optimizer(fresh(), opt(), 4, eval_every=2, record_trajectory=True, checkpoint_path=ck, checkpoint_every=4)
    old = _old_layout(read_checkpoint(ck))
    assert set(old) == {"game", "optimizer", "t", "elapsed", "eval_steps", "values", "norms", "traj", "status"}
    write_checkpoint(tmp_path / "old.pt", old)
    game = fresh()
    resumed = run_optimizer(game, opt(), 8, eval_every=2, record_trajectory=True, resume_from=tmp_path / "old.pt")
    assert resumed.status.success and resumed.steps == 8
    assert torch.equal(game.get_flat(), straight_game.get_flat())
    np.testing.assert_array_equal(resumed.field_norms, straight.field_norms)
    np.testing.assert_array_equal(resumed.metric, straight.metric)
    np.testing.assert_array_equal(resumed.trajectory, straight.trajectory)
    del old["norms"]
    write_checkpoint(tmp_path / "broken.pt", old)
    with pytest.raises(CheckpointError, match=r"layout of dualgan 0\.1\.0 .* lacks \['norms'\]"):
        run_optimizer(fresh(), opt(), 8, resume_from=tmp_path / "broken.pt")
