"""run_optimizer's status is a dualgan.status.Status: SUCCESS (all steps or converged), NUMERICAL_ERROR (diverged, at
the step predicted in closed form), NON_FINITE (a NaN field or metric, never turned into a number); run checkpoints
carry the status as [code, message] and refuse a bad one."""
import math

import numpy as np
import pytest
import torch

from dualgan.games import BilinearGame, Game, Player, make_optimizer, random_matrix, run_optimizer
from dualgan.status import Status, StatusCode
from dualgan.train.base import CheckpointError, read_checkpoint, write_checkpoint

NORM = ("norm", lambda g: float(g.get_flat().norm()))


def test_all_steps_is_success():
    game = BilinearGame(random_matrix(3, seed=0, singular_values=(0.5, 1.5)), seed=1)
    run = run_optimizer(game, make_optimizer("consensus", lr=0.3, gamma=1.0), 20, metric=NORM)
    assert isinstance(run.status, Status) and run.status.code is StatusCode.SUCCESS and run.steps == 20
    assert "20" in run.status.message


def test_divergence_is_a_numerical_error_at_the_predicted_step():
    """Closed form: with A = s Q (Q orthogonal) simultaneous GD multiplies ||z|| by sqrt(1 + h^2 s^2) per step."""
    h, s, limit = 0.5, 1.0, 1e3
    game = BilinearGame(random_matrix(3, seed=2, singular_values=(s, s)), seed=3)
    z0 = float(game.get_flat().norm())
    rate = math.sqrt(1 + h * h * s * s)
    expected = next(t for t in range(1, 1000) if z0 * rate ** t > limit)
    assert abs(z0 * rate ** expected / limit - 1) > 1e-6  # not on the boundary
    run = run_optimizer(game, make_optimizer("simultaneous", lr=h), 500, metric=NORM, diverge_above=limit)
    assert run.status.code is StatusCode.NUMERICAL_ERROR and not run.status.success
    assert "diverged" in run.status.message and run.steps == expected
    np.testing.assert_allclose(run.metric, z0 * rate ** run.eval_steps, rtol=1e-12)


def test_converged_is_success_before_the_last_step():
    game = BilinearGame(random_matrix(3, seed=0, singular_values=(0.5, 1.5)), seed=1)
    run = run_optimizer(game, make_optimizer("consensus", lr=0.3, gamma=1.0), 1000, metric=NORM, stop_below=1e-6)
    assert run.status.success and run.steps < 1000 and "converged" in run.status.message
    assert run.final_metric <= 1e-6 < run.metric[-2]


def _sqrt_game():
    # L(x) = x^2 + sqrt(x - 0.75): from x = 1, simGD with h = 0.25 goes to 1 - 0.25 (2 + 1) = 0.25, where
    # the square root of -0.5 is NaN
    x = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    return Game([Player("x", [x], lambda: (x ** 2).sum() + torch.sqrt(x - 0.75).sum())]), x


def test_non_finite_field_stops_the_run_and_keeps_the_last_finite_point():
    game, x = _sqrt_game()
    run = run_optimizer(game, make_optimizer("simultaneous", lr=0.25), 10, metric=NORM)
    assert run.status.code is StatusCode.NON_FINITE and run.steps == 2
    assert float(x.detach()) == 0.25 and math.isnan(run.field_norms[-1]) and run.field_norms[0] == pytest.approx(3.0)


def test_non_finite_metric_is_non_finite_and_stays_nan():
    game = BilinearGame(random_matrix(3, seed=0, singular_values=(0.5, 1.5)), seed=1)
    calls = []

    def metric(g):
        calls.append(1)
        return float("nan") if len(calls) == 4 else 1.0  # steps 0, 1, 2, then NaN at step 3

    run = run_optimizer(game, make_optimizer("consensus", lr=0.3, gamma=1.0), 10, metric=("m", metric))
    assert run.status.code is StatusCode.NON_FINITE and run.steps == 3 and math.isnan(run.final_metric)


def test_run_checkpoint_carries_a_running_status_and_refuses_a_bad_one(tmp_path):
    def fresh():
        return BilinearGame(random_matrix(3, seed=0, singular_values=(0.5, 1.5)), seed=1)

    ck = tmp_path / "ck.pt"
    run_optimizer(fresh(), make_optimizer("simultaneous", lr=0.1), 4, metric=NORM, checkpoint_path=ck,
                  checkpoint_every=2)
    saved = read_checkpoint(ck)
    assert saved["status"][0] == StatusCode.RUNNING.value and isinstance(saved["status"][1], str)
    resumed = run_optimizer(fresh(), make_optimizer("simultaneous", lr=0.1), 6, metric=NORM, resume_from=ck)
    assert resumed.status.success and resumed.steps == 6
    for bad, match in ((["success", "done"], "mid-run"), (["nope", ""], "status code"), ("running", "code, message"),
                       (None, "missing")):
        payload = dict(saved)
        if bad is None:
            del payload["status"]
        else:
            payload["status"] = bad
        path = tmp_path / "bad.pt"
        write_checkpoint(path, payload)
        with pytest.raises(CheckpointError, match=match):
            run_optimizer(fresh(), make_optimizer("simultaneous", lr=0.1), 6, metric=NORM, resume_from=path)
