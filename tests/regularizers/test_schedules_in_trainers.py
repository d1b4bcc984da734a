"""A regulariser's weight schedule advances once per GameTrainer iteration (eq. (5.12) of the theory page)."""
import math

import pytest
import torch
from torch import nn

from dualgan.data import ring
from dualgan.games import GameTrainer
from dualgan.regularizers import R1, ExponentialAnnealing

DATA = ring(4, std=0.1)


def _nets():
    torch.manual_seed(0)
    g = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    d = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    return g, d


class _Probe:
    """A regulariser that contributes 0 and records the weight its schedule gives at every call."""

    def __init__(self, schedule):
        self.schedule, self.seen = schedule, []

    def __call__(self, discriminator, x_real, x_fake):
        self.seen.append(self.schedule.current)
        return x_real.new_zeros(())

    def state_dict(self):
        return {"schedule": self.schedule.state_dict()}

    def load_state_dict(self, state):
        self.schedule.load_state_dict(state["schedule"])


def test_iteration_t_uses_the_annealed_weight_at_step_t():
    probe = _Probe(ExponentialAnnealing(2.0, total_steps=4, final_ratio=0.01))
    g, d = _nets()
    trainer = GameTrainer(g, d, latent_dim=2, batch_size=8, optimizer="simultaneous", regularizers=[probe])
    per_iteration = []
    trainer.fit(DATA, 6, callbacks=[lambda tr, it: per_iteration.append(probe.seen[:]) or probe.seen.clear()])
    assert trainer.status.success and probe.schedule.step_count == 6
    for t, weights in enumerate(per_iteration):
        expected = 2.0 * 0.01 ** (min(t, 4) / 4)           # gamma_0 r^(min(t, T)/T), written out
        assert weights and all(math.isclose(w, expected, rel_tol=1e-14) for w in weights), (t, weights)


def test_schedule_count_is_checkpointed_and_resumed(tmp_path):
    def make():
        g, d = _nets()
        return GameTrainer(g, d, latent_dim=2, batch_size=8, optimizer="consensus",
                           regularizers=(R1(ExponentialAnnealing(1.0, 10)),), seed=1)

    first = make()
    first.fit(DATA, 3, checkpoint_path=tmp_path / "ck.pt")
    assert first.game.regularizers[0].schedule.step_count == 3
    resumed = make().load_checkpoint(tmp_path / "ck.pt")
    assert resumed.game.regularizers[0].schedule.step_count == 3
    resumed.fit(DATA, 5)
    assert resumed.game.regularizers[0].schedule.step_count == 5
    assert resumed.game.regularizers[0].schedule.current == pytest.approx(0.01 ** 0.5, rel=1e-14)


def test_the_game_harness_advances_schedules_once_per_applied_step():
    from dualgan.games import DiracGAN, make_optimizer, run_optimizer

    game = DiracGAN("non_saturating", regularizers=[R1(ExponentialAnnealing(1.0, 8))])
    result = run_optimizer(game, make_optimizer("simultaneous", lr=0.1), n_steps=4)
    assert result.status.success
    assert game.regularizers[0].schedule.step_count == 4
    assert game.regularizers[0].schedule.current == pytest.approx(0.01 ** 0.5, rel=1e-14)


def test_a_penalty_checks_its_whole_state_before_anything_changes():
    """Issue 25: a regulariser owns its state; a bad generator state leaves the schedule's counter untouched too."""
    from dualgan.regularizers import CoupledGradientPenalty

    pen = CoupledGradientPenalty(generator=torch.Generator().manual_seed(3))
    pen.schedule.step(5)
    good = pen.state_dict()
    fresh = CoupledGradientPenalty(generator=torch.Generator().manual_seed(9))
    before = (fresh.schedule.step_count, fresh.generator.get_state().clone())
    for bad in ({"schedule": good["schedule"], "generator": good["generator"][:-1]},
                {"schedule": good["schedule"], "generator": good["generator"].double()},
                {"schedule": {"step_count": -1}, "generator": good["generator"]}):
        with pytest.raises(ValueError):
            fresh.load_state_dict(bad)
        assert fresh.schedule.step_count == before[0] and torch.equal(fresh.generator.get_state(), before[1])
    fresh.load_state_dict(good)
    assert fresh.schedule.step_count == 5
    x = torch.rand(4, 2, dtype=torch.float64)
    assert torch.equal(fresh.interpolates(x, -x), pen.interpolates(x, -x))  # the same draws from here on


def test_check_state_dict_checks_each_part_and_changes_nothing():
    """Issue 25: the penalty checks its generator, its schedule checks its counter; a check loads nothing."""
    from dualgan.regularizers import ConstantSchedule, LocalGradientPenalty

    sched = ExponentialAnnealing(2.0, total_steps=4)
    sched.check_state_dict({"step_count": 3})
    assert sched.step_count == 0
    for bad in ({"step_count": -1}, {"step_count": 1.5}, {"step": 1}, [3]):
        with pytest.raises(ValueError):
            sched.check_state_dict(bad)
    pen = LocalGradientPenalty(weight=ConstantSchedule(1.0), generator=torch.Generator().manual_seed(1))
    other = LocalGradientPenalty(generator=torch.Generator().manual_seed(2))
    other.schedule.step(2)
    before = pen.generator.get_state().clone()
    pen.check_state_dict(other.state_dict())
    assert pen.schedule.step_count == 0 and torch.equal(pen.generator.get_state(), before)
    with pytest.raises(ValueError, match="a Schedule state is"):
        pen.check_state_dict({"schedule": {"count": 2}, "generator": before})
    with pytest.raises(ValueError, match="differ in having a torch.Generator"):
        R1().check_state_dict(pen.state_dict())
