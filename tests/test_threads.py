"""Torch threads of the training loops: one by default, DUALGAN_NUM_THREADS and the user's own choice win,
the previous count is restored; ``python -m dualgan`` is the command line."""
import subprocess
import sys

import pytest
import torch
from torch import nn

import dualgan._threads as threads
from dualgan.data import ring
from dualgan.features import RBF
from dualgan.games import BilinearGame, make_optimizer, random_matrix
from dualgan.games.harness import run_optimizer
from dualgan.train import DualLinearGAN, mlp_generator
from dualgan.trust_region import TrustRegionGAN

DATA = ring(5, radius=2.0, std=0.1)


@pytest.fixture
def baseline(monkeypatch):
    """A process whose torch count at dualgan's import was 3 (whatever this machine has)."""
    for var in (threads.ENV_VAR, "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    monkeypatch.setattr(threads, "_AT_IMPORT", 3)
    yield 3
    torch.set_num_threads(before)


def _seen_by_trainers():
    """The torch thread count inside each trainer's fit and the harness, seen from its callback or metric."""
    seen = {}
    gen = mlp_generator(seed=0, dtype=torch.float64)
    feats = RBF(DATA.sample(10, generator=torch.Generator().manual_seed(1), dtype=torch.float64), sigma=0.5)
    DualLinearGAN(gen, feats, latent_dim=2, batch_size=10).fit(
        DATA, 1, callbacks=[lambda tr, it: seen.setdefault("dual", torch.get_num_threads())])
    torch.manual_seed(0)
    g = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    d = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    TrustRegionGAN(g, d, latent_dim=2, batch_size=8).fit(
        DATA, 1, callbacks=[lambda tr, it: seen.setdefault("trust_region", torch.get_num_threads())])
    run_optimizer(BilinearGame(random_matrix(2, seed=0)), make_optimizer("simultaneous", lr=0.01), 2,
                  metric=("threads", lambda game: seen.setdefault("harness", torch.get_num_threads()) * 0.0))
    return seen


def test_default_is_one_thread_and_the_count_is_restored(baseline):
    assert _seen_by_trainers() == {"dual": 1, "trust_region": 1, "harness": 1}
    assert torch.get_num_threads() == baseline


def test_environment_variable_sets_the_count(baseline, monkeypatch):
    monkeypatch.setenv(threads.ENV_VAR, "2")
    assert _seen_by_trainers() == {"dual": 2, "trust_region": 2, "harness": 2}
    monkeypatch.setenv(threads.ENV_VAR, "0")  # 0: leave torch alone
    assert set(_seen_by_trainers().values()) == {baseline}


@pytest.mark.parametrize("choice", ["omp", "torch"])
def test_the_users_own_choice_is_left_alone(baseline, monkeypatch, choice):
    if choice == "omp":
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        expected = baseline
    else:
        torch.set_num_threads(2)  # after dualgan's import
        expected = 2
    assert threads.resolve_threads() is None
    assert set(_seen_by_trainers().values()) == {expected}
    assert torch.get_num_threads() == expected


@pytest.mark.parametrize("value", ["-1", "two", "1.5"])
def test_bad_environment_value_names_the_variable(baseline, monkeypatch, value):
    monkeypatch.setenv(threads.ENV_VAR, value)
    with pytest.raises(ValueError, match=threads.ENV_VAR):
        threads.resolve_threads()


def test_cli_applies_the_default(baseline, monkeypatch, capsys):
    from dualgan.cli import main

    seen = []
    monkeypatch.setattr("dualgan.cli.warmup.warm_up", lambda: seen.append(torch.get_num_threads()) or [])
    assert main(["warmup", "--quiet"]) == 0
    assert seen == [1] and torch.get_num_threads() == baseline
    monkeypatch.setenv(threads.ENV_VAR, "x")
    assert main(["warmup"]) == 2 and threads.ENV_VAR in capsys.readouterr().err


def test_python_dash_m_dualgan_help():
    out = subprocess.run([sys.executable, "-m", "dualgan", "--help"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: dualgan") and "warmup" in out.stdout and "solve-dual" in out.stdout
