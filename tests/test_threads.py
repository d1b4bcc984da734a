"""The one thread policy (dualgan/_threads.py) at every entry point: set, honoured, restored.

Each entry point runs a tiny problem with a spy inside it (a callback, a
metric, a monkeypatched inner function) that reads torch's count and, through
threadpoolctl's ``threadpool_info()``, the BLAS libraries' counts. The process
starts every test with 3 threads in both pools, recorded as the counts "at
import", so that 1 (the default), 2 (a user's choice) and 3 (left alone) are
told apart whatever this machine has.
"""
import subprocess
import sys

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits
from torch import nn

import dualgan._threads as threads
from dualgan.data import ring
from dualgan.features import RBF

DATA = ring(5, radius=2.0, std=0.1)
START = 3  # both pools' count at "import" in these tests


def _blas_counts() -> tuple:
    """The counts of the BLAS libraries the policy manages, as threadpoolctl's threadpool_info() reports them."""
    paths = {lib.filepath for lib, _ in threads._blas_libraries()}
    return tuple(sorted({info["num_threads"] for info in threadpool_info()
                         if info["user_api"] == "blas" and info["filepath"] in paths}))


def _counts() -> tuple:
    return torch.get_num_threads(), _blas_counts()


@pytest.fixture
def start(monkeypatch):
    """Both pools at 3 threads, recorded as the counts at dualgan's import; no thread variable set."""
    for var in {threads.ENV_VAR, *threads.TORCH_VARS, *threads.BLAS_VARS}:
        monkeypatch.delenv(var, raising=False)
    libs = [lib for lib, _ in threads._blas_libraries()]
    if not libs:
        pytest.skip("no BLAS library visible to threadpoolctl in this process")
    torch_before, blas_before = torch.get_num_threads(), [lib.get_num_threads() for lib in libs]
    torch.set_num_threads(START)
    for lib in libs:
        lib.set_num_threads(START)
    monkeypatch.setattr(threads, "_AT_IMPORT", START)
    monkeypatch.setattr(threads, "_BLAS_AT_IMPORT", tuple((lib, START) for lib in libs))
    assert _counts() == (START, (START,))
    yield
    torch.set_num_threads(torch_before)
    for lib, n in zip(libs, blas_before):
        lib.set_num_threads(n)


# ---------------------------------------------------------------------------------------- entry points
# each runs its entry point with ``spy()`` called inside it (spy may raise)

def _solve(spy, monkeypatch):
    from dualgan.duals import LinearDual, solve

    original = LinearDual.certificate
    monkeypatch.setattr(LinearDual, "certificate", lambda self, *a, **k: (spy(), original(self, *a, **k))[1])
    rng = np.random.default_rng(0)
    solve(LinearDual(rng.normal(1, 1, (12, 3)), rng.normal(0, 1, (10, 3)), C=0.1))


def _estimator(spy, monkeypatch):
    import dualgan.duals._estimator as est
    from dualgan.duals import DualLogisticRegression

    original = est.LinearDual  # built before the solve: the estimator's own policy, not solve's
    monkeypatch.setattr(est, "LinearDual", lambda *a, **k: (spy(), original(*a, **k))[1])
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(1, 1, (15, 3)), rng.normal(-1, 1, (15, 3))])
    DualLogisticRegression().fit(X, np.r_[np.ones(15), np.zeros(15)])


def _tiny_nets():
    torch.manual_seed(0)
    g = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    d = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    return g, d


def _linear_trainer(cls):
    def run(spy, monkeypatch):
        from dualgan.train import mlp_generator

        feats = RBF(DATA.sample(10, generator=torch.Generator().manual_seed(1), dtype=torch.float64), sigma=0.5)
        cls()(mlp_generator(seed=0, dtype=torch.float64), feats, latent_dim=2, batch_size=10).fit(
            DATA, 1, callbacks=[lambda tr, it: spy()])
    return run


def _dual_linear():
    from dualgan.train import DualLinearGAN
    return DualLinearGAN


def _standard_linear():
    from dualgan.train import StandardLinearGAN
    return StandardLinearGAN


def _trust_region(spy, monkeypatch):
    from dualgan.trust_region import TrustRegionGAN

    TrustRegionGAN(*_tiny_nets(), latent_dim=2, batch_size=8).fit(DATA, 1, callbacks=[lambda tr, it: spy()])


def _game_trainer(spy, monkeypatch):
    from dualgan.games import GameTrainer

    GameTrainer(*_tiny_nets(), latent_dim=2, batch_size=8).fit(DATA, 1, callbacks=[lambda tr, it: spy()])


class _SpyingDiscriminator(nn.Module):
    """A linear score whose forward calls the spy (it runs inside the linearisation and the step)."""

    def __init__(self, spy):
        super().__init__()
        torch.manual_seed(0)
        self.spy, self.linear = spy, nn.Linear(2, 1).double()

    def forward(self, x):
        self.spy()
        return self.linear(x).squeeze(-1)


def _trust_region_step(spy, monkeypatch):
    from dualgan.trust_region import TrustRegionDiscriminator

    x = DATA.sample(6, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    TrustRegionDiscriminator(_SpyingDiscriminator(spy), model="score").step(x[:3], x[3:])


def _score_linearization(spy, monkeypatch):
    from dualgan.trust_region.linearization import score_linearization

    score_linearization(_SpyingDiscriminator(spy), DATA.sample(4, generator=torch.Generator().manual_seed(3),
                                                               dtype=torch.float64))


def _harness(spy, monkeypatch):
    from dualgan.games import BilinearGame, make_optimizer, random_matrix
    from dualgan.games.harness import run_optimizer

    run_optimizer(BilinearGame(random_matrix(2, seed=0)), make_optimizer("simultaneous", lr=0.01), 2,
                  metric=("threads", lambda game: spy() or 0.0))


def _spying_game(spy):
    from dualgan.games import FunctionalGame

    def losses(z):
        spy()
        return torch.stack([z[0] * z[1], -z[0] * z[1]])
    return FunctionalGame(losses=losses, player_sizes=(1, 1), equilibrium=torch.zeros(2, dtype=torch.float64),
                          zero_sum=True)


def _batched_run(spy, monkeypatch):
    from dualgan.games import batched_run

    batched_run(_spying_game(spy), "simultaneous", torch.ones(2, 2, dtype=torch.float64), 0.1, n_steps=2)


def _stability_map(spy, monkeypatch):
    import dualgan.games.stability as st

    original = st._run_jobs  # the map's own policy, before the batched runs (which have theirs)
    monkeypatch.setattr(st, "_run_jobs", lambda *a, **k: (spy(), original(*a, **k))[1])
    st.stability_map(_spying_game(lambda: None), ["simultaneous"], lrs=(0.1,), n_steps=2)


def _cli(spy, monkeypatch):
    from dualgan.cli import main

    monkeypatch.setattr("dualgan.cli.warmup.warm_up", lambda: spy() or [])
    main(["warmup", "--quiet"])


def _sweep_worker(spy, monkeypatch):
    from dualgan.sweep import JOBS
    from dualgan.sweep.backends import execute_run
    from dualgan.sweep.spec import RunConfig

    class Result:
        metrics, status = {}, None

    def job(**kwargs):
        spy()
        from dualgan.status import Status, StatusCode
        Result.status = Status(StatusCode.SUCCESS, "spied")
        return Result

    monkeypatch.setattr(JOBS, "get", lambda name: job)
    record = execute_run(RunConfig("dual_gan", "ring5", 1, 0))
    if spy.raised:  # a worker records a failing job instead of raising: re-raise for the test
        assert "ERROR" in str(record.status.code).upper()
        raise spy.raised[-1]


ENTRY_POINTS = {
    "solve": _solve,
    "estimator_fit": _estimator,
    "dual_linear_fit": _linear_trainer(_dual_linear),
    "standard_linear_fit": _linear_trainer(_standard_linear),
    "trust_region_fit": _trust_region,
    "game_trainer_fit": _game_trainer,
    "trust_region_step": _trust_region_step,
    "score_linearization": _score_linearization,
    "harness_run_optimizer": _harness,
    "batched_run": _batched_run,
    "stability_map": _stability_map,
    "cli": _cli,
    "sweep_worker": _sweep_worker,
}


class Spy:
    """Records the counts at each call; raises ``exc`` when given (once recorded)."""

    def __init__(self, exc=None):
        self.seen, self.exc, self.raised = [], exc, []

    def __call__(self):
        self.seen.append(_counts())
        if self.exc is not None:
            self.raised.append(self.exc)
            raise self.exc


def _inside(name, monkeypatch) -> set:
    spy = Spy()
    ENTRY_POINTS[name](spy, monkeypatch)
    assert spy.seen, f"the spy of {name} was not called"
    return set(spy.seen)


# ---------------------------------------------------------------------------------------- the table
@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_default_is_one_thread_in_both_pools_and_the_counts_come_back(start, monkeypatch, name):
    assert _inside(name, monkeypatch) == {(1, (1,))}
    assert _counts() == (START, (START,))


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_the_environment_variable_sets_both_pools_and_0_leaves_them(start, monkeypatch, name):
    monkeypatch.setenv(threads.ENV_VAR, "2")
    assert _inside(name, monkeypatch) == {(2, (2,))}
    assert _counts() == (START, (START,))
    monkeypatch.setenv(threads.ENV_VAR, "0")
    assert _inside(name, monkeypatch) == {(START, (START,))}


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_the_users_own_setting_wins(start, monkeypatch, name):
    torch.set_num_threads(2)  # after dualgan's import: torch is the user's, BLAS still the policy's
    assert _inside(name, monkeypatch) == {(2, (1,))}
    assert _counts() == (2, (START,))
    torch.set_num_threads(START)
    with threadpool_limits(2, user_api="blas"):  # an enclosing limit: BLAS is the user's
        assert _inside(name, monkeypatch) == {(1, (2,))}
        assert _counts() == (START, (2,))
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # read by torch and every BLAS: both the user's
    assert _inside(name, monkeypatch) == {(START, (START,))}
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")  # BLAS only
    assert _inside(name, monkeypatch) == {(1, (START,))}


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_the_counts_come_back_after_an_exception(start, monkeypatch, name):
    spy = Spy(RuntimeError("raised inside the entry point"))
    with pytest.raises(RuntimeError, match="raised inside"):
        ENTRY_POINTS[name](spy, monkeypatch)
    assert spy.seen == [(1, (1,))]
    assert _counts() == (START, (START,))


def test_every_registered_trainer_fits_through_the_policy():
    """Trainer.fit carries the policy; a trainer that overrides fit must reach it through super().fit."""
    import inspect

    import dualgan.games  # noqa: F401  (registers the game trainer)
    import dualgan.trust_region  # noqa: F401
    from dualgan.train.base import TRAINERS, Trainer

    assert Trainer.fit.__wrapped__  # the decorator of dualgan/_threads.py
    for name in TRAINERS.names():
        cls = TRAINERS.get(name)
        for klass in cls.__mro__[: cls.__mro__.index(Trainer)]:
            if "fit" in vars(klass):
                assert "super().fit(" in inspect.getsource(vars(klass)["fit"]), (name, klass)


def test_nested_policies_change_nothing_and_the_outer_one_restores(start):
    with threads.thread_policy():
        assert _counts() == (1, (1,))
        torch.set_num_threads(2)  # inside: a solve's own policy must not undo what the block does
        with threads.thread_policy():
            assert _counts() == (2, (1,))
        assert _counts() == (2, (1,))
    assert _counts() == (START, (START,))


def test_policies_in_two_python_threads_leave_nothing_behind(start):
    """Entered in two threads at once, the first leaving first (the counts are process-wide): the counts
    come back and the policy still applies afterwards (a shared nesting count went negative and disabled it)."""
    import threading

    first_inside, second_inside, first_left, seen = threading.Event(), threading.Event(), threading.Event(), []

    def second():
        first_inside.wait(30)
        with threads.thread_policy():
            seen.append(_counts())  # the first thread's counts, which are nobody's defaults: kept
            second_inside.set()
            first_left.wait(30)

    t = threading.Thread(target=second)
    t.start()
    with threads.thread_policy():
        first_inside.set()
        second_inside.wait(30)
    first_left.set()
    t.join(30)
    assert seen == [(1, (1,))]
    assert _counts() == (START, (START,))
    with threads.thread_policy():  # still applied
        assert _counts() == (1, (1,))
    assert _counts() == (START, (START,))


@pytest.mark.parametrize("value", ["-1", "two", "1.5"])
def test_bad_environment_value_names_the_variable_and_changes_nothing(start, monkeypatch, value):
    monkeypatch.setenv(threads.ENV_VAR, value)
    with pytest.raises(ValueError, match=threads.ENV_VAR):
        threads.resolve_threads()
    with pytest.raises(ValueError, match=threads.ENV_VAR):
        with threads.thread_policy():
            pass
    assert _counts() == (START, (START,))


def test_resolve_threads_reads_the_rules(start, monkeypatch):
    assert threads.resolve_threads() == threads.ThreadCounts(1, 1)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    assert threads.resolve_threads() == threads.ThreadCounts(1, None)
    monkeypatch.setenv("MKL_NUM_THREADS", "4")
    assert threads.resolve_threads() == threads.ThreadCounts(None, None)
    monkeypatch.setenv(threads.ENV_VAR, "5")  # dualgan's own variable first
    assert threads.resolve_threads() == threads.ThreadCounts(5, 5)


def test_cli_reports_a_bad_variable_as_a_usage_error(start, monkeypatch, capsys):
    from dualgan.cli import main

    monkeypatch.setenv(threads.ENV_VAR, "x")
    assert main(["warmup"]) == 2 and threads.ENV_VAR in capsys.readouterr().err


def test_python_dash_m_dualgan_help():
    out = subprocess.run([sys.executable, "-m", "dualgan", "--help"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: dualgan") and "warmup" in out.stdout and "solve-dual" in out.stdout
