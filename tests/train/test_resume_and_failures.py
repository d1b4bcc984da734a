"""Linear trainers: bit-for-bit resume of every stateful part, defensive checkpoint loading, clean
non-finite endings, no side effects on the user's modules, arguments checked where they enter."""
import math
import pickle
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from dualgan.constraints import AffineSubspace, AugmentedLagrangian, HyperplaneUnion, Penalty, Projection
from dualgan.data import ring
from dualgan.features import RBF
from dualgan.status import Status, StatusCode
from dualgan.train import DualLinearGAN, History, StandardLinearGAN, mlp_generator
from dualgan.train import CheckpointError, read_checkpoint, write_checkpoint

DATA = ring(5, radius=2.0, std=0.3)


def _feats(k=20, seed=0, sigma=0.3):
    return RBF(DATA.sample(k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64), sigma=sigma)


def _gen(seed=0, **kw):
    return mlp_generator(seed=seed, output_gain=3.0, dtype=torch.float64, **kw)


def _same_history(a: History, b: History):
    assert a.columns == b.columns and len(a) == len(b)
    for col in a.columns:
        if col != "seconds":
            np.testing.assert_array_equal(a[col], b[col], err_msg=col)


# ---------------------------------------------------------------------------------------------- 1. resume
def _handler(kind):
    sub = AffineSubspace([[1.0, 1.0]], [0.5])
    if kind == "al":
        return AugmentedLagrangian(sub, check_every=2)
    if kind == "al_union":
        return AugmentedLagrangian(HyperplaneUnion([[1.0, 0.0], [0.0, 1.0]], [0.5, -0.5]), check_every=3, growth=3.0)
    if kind == "penalty":
        return Penalty(sub, weight=0.5)
    if kind == "projection":
        return Projection(sub)
    return None


@pytest.mark.parametrize("trainer,mode,handler", [
    ("dual", "fixed", "al"),            # the issue's input (L-BFGS, the default fixed-batch optimiser)
    ("dual", "minibatch", "al"),
    ("dual", "fixed-adam", "al_union"),
    ("standard", "minibatch", "al"),
    ("standard", "fixed", "al_union"),
    ("dual", "minibatch", "penalty"),
    ("standard", "minibatch", "projection"),
])
def test_resume_restores_every_piece_of_state(tmp_path, trainer, mode, handler):
    def make():
        kw = dict(latent_dim=2, batch_size=16, seed=3, constraint=_handler(handler))
        m = "fixed" if mode.startswith("fixed") else "minibatch"
        if trainer == "dual":
            extra = {"fixed_optimizer": "adam"} if mode == "fixed-adam" else {}
            return DualLinearGAN(_gen(), _feats(), C=1e-3, mode=m, generator_lr=1e-2, **extra, **kw)
        return StandardLinearGAN(_gen(), _feats(), C=1e-3, mode=m, generator_lr=1e-2, **kw)

    ck, copy6 = tmp_path / "ck.pt", tmp_path / "ck6.pt"

    def keep_iteration_6(tr, it):
        if it == 7:  # the file still holds the checkpoint written at iteration 6
            shutil.copy(ck, copy6)

    straight = make()
    full = straight.fit(DATA, 12, checkpoint_path=ck, checkpoint_every=3, callbacks=[keep_iteration_6])
    assert straight.status.success
    resumed = make().load_checkpoint(copy6)
    assert resumed.iteration == 6 and len(resumed.history) == 6
    if handler.startswith("al"):
        # the handler's counters came back too (they were 0 and rho = 1 before this fix)
        assert resumed.constraint.n_updates == 6
    again = resumed.fit(DATA, 12)
    _same_history(again, full)
    for p, q in zip(straight.generator.parameters(), resumed.generator.parameters()):
        assert torch.equal(p, q)
    if handler.startswith("al"):
        assert torch.equal(straight.constraint.multipliers, resumed.constraint.multipliers)
        assert straight.constraint.rho == resumed.constraint.rho
        assert straight.constraint.n_updates == resumed.constraint.n_updates == 12
        assert bool((straight.constraint.multipliers != 0).any())  # the test exercises a moving multiplier


def test_augmented_lagrangian_state_round_trip_and_refusals():
    h = AugmentedLagrangian(AffineSubspace([[1.0, 1.0]], [0.5]), check_every=2)
    for _ in range(5):
        h.update(torch.randn(8, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(_)))
    state = h.state_dict()
    g = AugmentedLagrangian(AffineSubspace([[1.0, 1.0]], [0.5]), check_every=2)
    g.load_state_dict(state)
    assert torch.equal(g.multipliers, h.multipliers) and g.rho == h.rho and g.n_updates == 5
    assert torch.equal(g._window_c, h._window_c) and g._window_sum == h._window_sum
    other = AugmentedLagrangian(AffineSubspace([[1.0, 1.0]], [0.5]), check_every=3)
    with pytest.raises(ValueError, match="settings"):
        other.load_state_dict(state)
    assert other.n_updates == 0  # unchanged
    bad = dict(state, multipliers=torch.tensor([float("nan")], dtype=torch.float64))
    with pytest.raises(ValueError, match="finite"):
        g.load_state_dict(bad)
    with pytest.raises(ValueError, match="no training state"):
        Penalty(AffineSubspace([[1.0, 1.0]], [0.5])).load_state_dict(state)


# ---------------------------------------------------------------------------------------------- 2. checkpoints
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ck") / "ck.pt"
    gan = StandardLinearGAN(_gen(), _feats(), C=1e-3, latent_dim=2, batch_size=8, seed=0)
    gan.fit(DATA, 4, checkpoint_path=path)
    return path


def _fresh():
    return StandardLinearGAN(_gen(seed=5), _feats(), C=1e-3, latent_dim=2, batch_size=8, seed=0)


def _params(gan):
    return [p.detach().clone() for p in gan.generator.parameters()]


@pytest.mark.parametrize("damage,match", [
    ("truncate", "truncated or corrupt"),
    ("empty", "is empty"),
    ("random", "corrupt|not a checkpoint"),
    ("pickle_object", "arbitrary code|not a checkpoint"),
    ("missing", "does not exist"),
])
def test_damaged_checkpoint_files_are_refused_clearly(tmp_path, checkpoint, damage, match):
    path = tmp_path / "bad.pt"
    data = checkpoint.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "random":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif damage == "pickle_object":
        path.write_bytes(pickle.dumps({"format": slice(1, 2, 3)}))
    gan = _fresh()
    before = _params(gan)
    with pytest.raises(CheckpointError, match=match) as info:
        gan.load_checkpoint(path)
    assert "weights_only=False" not in str(info.value)
    assert all(torch.equal(p, q) for p, q in zip(before, gan.generator.parameters()))
    assert gan.iteration == 0


def _edited(tmp_path, checkpoint, edit):
    payload = read_checkpoint(checkpoint)
    edit(payload)
    path = tmp_path / "edited.pt"
    write_checkpoint(path, payload)
    return path


@pytest.mark.parametrize("edit,match", [
    (lambda p: p.pop("extra"), "missing"),
    (lambda p: p.update(iteration=999), "claims iteration 999 but holds 4 history rows"),
    (lambda p: p["generator"].pop(next(iter(p["generator"]))), "other parameters"),
    (lambda p: p["extra"].update(features="0" * 64), "another feature map"),
    (lambda p: p.update(constraint={"multipliers": 1}), "constraint handler"),
    (lambda p: p.update(rng=torch.zeros(3, dtype=torch.uint8)), "random generator"),
    (lambda p: p.update(kind="dual_linear"), "not of a StandardLinearGAN"),
])
def test_inconsistent_checkpoint_is_refused_before_anything_changes(tmp_path, checkpoint, edit, match):
    gan = _fresh()
    before = _params(gan)
    with pytest.raises(CheckpointError, match=match):
        gan.load_checkpoint(_edited(tmp_path, checkpoint, edit))
    assert all(torch.equal(p, q) for p, q in zip(before, gan.generator.parameters()))
    assert gan.iteration == 0 and len(gan.history) == 0 and gan.w is None


def test_checkpoint_of_other_anchors_or_architecture_is_refused(checkpoint):
    other_anchors = StandardLinearGAN(_gen(), _feats(seed=9), C=1e-3, latent_dim=2, batch_size=8, seed=0)
    with pytest.raises(CheckpointError, match="another feature map"):
        other_anchors.load_checkpoint(checkpoint)
    other_sigma = StandardLinearGAN(_gen(), _feats(sigma=0.31), C=1e-3, latent_dim=2, batch_size=8, seed=0)
    with pytest.raises(CheckpointError, match="another feature map"):
        other_sigma.load_checkpoint(checkpoint)
    wider = StandardLinearGAN(_gen(size="large"), _feats(), C=1e-3, latent_dim=2, batch_size=8, seed=0)
    with pytest.raises(CheckpointError, match="architecture|other parameters"):
        wider.load_checkpoint(checkpoint)
    ok = _fresh().load_checkpoint(checkpoint)  # the right settings load
    assert ok.iteration == 4


def test_checkpoint_path_is_checked_before_training(tmp_path):
    gan = _fresh()
    with pytest.raises(ValueError, match="does not exist; create it first"):
        gan.fit(DATA, 3, checkpoint_path=tmp_path / "missing" / "ck.pt")
    assert gan.iteration == 0 and len(gan.history) == 0
    with pytest.raises(ValueError, match="is a folder"):
        gan.fit(DATA, 3, checkpoint_path=tmp_path)


def test_history_load_refuses_damaged_files(tmp_path):
    h = History(meta={"a": 1})
    h.append(iteration=0, objective=1.0)
    for suffix in (".json", ".npz"):
        good = h.save(tmp_path / f"h{suffix}")
        bad = tmp_path / f"bad{suffix}"
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
        with pytest.raises(ValueError, match="cannot read History file"):
            History.load(bad)
        bad.write_bytes(b"")
        with pytest.raises(ValueError, match="cannot read History file"):
            History.load(bad)
        assert History.load(good) == h


# ---------------------------------------------------------------------------------------------- 3. non-finite
def test_lbfgs_nan_trial_point_is_a_rejected_trial():
    """The issue's input: a line-search trial produced NaN features and killed the run at iteration 0."""
    data = ring(5, radius=2.0, std=0.3)
    feats = RBF(data.sample(40, generator=torch.Generator().manual_seed(0)), sigma=0.15)
    gan = DualLinearGAN(mlp_generator(output_gain=3.0, dtype=torch.float64, seed=0), feats, C=0.079,
                        latent_dim=2, batch_size=30, mode="fixed", seed=0)
    hist = gan.fit(ring(5, radius=2.0, std=0.3), 15)
    assert gan.status.success, gan.status
    assert len(hist) == 15 and hist.is_monotone(1e-9)
    assert all(bool(torch.isfinite(p).all()) for p in gan.generator.parameters())
    assert np.isfinite(hist["objective"]).all()


class NaNAfter(nn.Module):
    """A generator whose output is NaN once ``bad`` is set (by a callback), or always with ``bad=True``."""

    def __init__(self, bad=False):
        super().__init__()
        self.net = _gen()
        self.bad = bad

    def forward(self, z):
        out = self.net(z)
        return out * float("nan") if self.bad else out


def _trainer(kind, gen):
    kw = dict(latent_dim=2, batch_size=12, seed=0)
    if kind == "dual-lbfgs":
        return DualLinearGAN(gen, _feats(), C=1e-3, mode="fixed", **kw)
    if kind == "dual-adam":
        return DualLinearGAN(gen, _feats(), C=1e-3, mode="fixed", fixed_optimizer="adam", **kw)
    if kind == "dual-minibatch":
        return DualLinearGAN(gen, _feats(), C=1e-3, mode="minibatch", **kw)
    return StandardLinearGAN(gen, _feats(), C=1e-3, mode="minibatch", **kw)


@pytest.mark.parametrize("kind", ["dual-lbfgs", "dual-adam", "dual-minibatch", "standard"])
def test_nan_generator_ends_the_run_cleanly(tmp_path, kind):
    gen = NaNAfter()
    gan = _trainer(kind, gen)

    def break_at_3(tr, it):
        if it == 3:
            gen.bad = True

    ck = tmp_path / "ck.pt"
    hist = gan.fit(DATA, 10, checkpoint_path=ck, checkpoint_every=1, callbacks=[break_at_3])
    assert gan.status.code is StatusCode.NON_FINITE
    assert gan.status.message == "non-finite samples at iteration 3"
    assert len(hist) == 3 and np.isfinite(hist["objective"]).all()
    assert hist.status == Status(StatusCode.NON_FINITE, "non-finite samples at iteration 3")
    assert hist.meta["status_code"] == "non_finite" and "status" not in hist.meta
    # the last checkpoint is kept and holds the finite state and the status
    resumed = _trainer(kind, NaNAfter()).load_checkpoint(ck)
    assert resumed.iteration == 3 and resumed.status.code is StatusCode.NON_FINITE
    assert all(bool(torch.isfinite(p).all()) for p in resumed.generator.parameters())


@pytest.mark.parametrize("kind", ["dual-lbfgs", "dual-minibatch", "standard"])
def test_generator_nan_from_the_start(kind):
    gan = _trainer(kind, NaNAfter(bad=True))
    hist = gan.fit(DATA, 5)
    assert gan.status.code is StatusCode.NON_FINITE and "iteration 0" in gan.status.message
    assert len(hist) == 0


def test_exception_in_callback_records_status_and_checkpoint(tmp_path):
    gan = _fresh()

    def boom(tr, it):
        if it == 2:
            raise RuntimeError("user callback failed")

    with pytest.raises(RuntimeError, match="user callback failed"):
        gan.fit(DATA, 5, checkpoint_path=tmp_path / "ck.pt", callbacks=[boom])
    assert gan.status.code is StatusCode.ERROR and "user callback failed" in gan.status.message
    assert _fresh().load_checkpoint(tmp_path / "ck.pt").iteration == 2


# ---------------------------------------------------------------------------------------------- 6. side effects
@pytest.mark.parametrize("cls", [DualLinearGAN, StandardLinearGAN])
def test_trainable_feature_map_gradients_are_left_alone(cls):
    feats = nn.Sequential(nn.Linear(2, 6), nn.Tanh()).double()
    gan = cls(_gen(), feats, C=1e-2, latent_dim=2, batch_size=12, mode="minibatch", seed=0)
    gan.fit(DATA, 5)
    assert all(p.grad is None for p in feats.parameters())


# ---------------------------------------------------------------------------------------------- 5. arguments
@pytest.mark.parametrize("kw,match", [
    (dict(solver="bogus"), "unknown solver 'bogus'"),
    (dict(C=True), "C must be a real number"),
    (dict(C=1 + 0j), "C must be a real number"),
    (dict(C=float("inf")), "C must be finite"),
    (dict(generator_lr=float("nan")), "lr must be finite"),
    (dict(beta1=1.0), "beta1"),
    (dict(batch_size=True), "batch_size must be a positive integer"),
    (dict(batch_size=np.int64(0)), "batch_size must be a positive integer"),
    (dict(seed=-1), "seed must be"),
    (dict(shrink=1.0), "shrink"),
    (dict(max_backtracks=2.0), "max_backtracks must be a non-negative integer"),
])
def test_dual_trainer_checks_arguments_at_construction(kw, match):
    args = dict(C=1e-3, latent_dim=2, batch_size=8)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        DualLinearGAN(_gen(), _feats(), **args)


@pytest.mark.parametrize("kw,match", [
    (dict(checkpoint_every=-1, checkpoint_path="x.pt"), "checkpoint_every must be a non-negative integer"),
    (dict(iterations=True), "iterations must be a non-negative integer"),
    (dict(iterations=3.0), "iterations must be a non-negative integer"),
])
def test_fit_checks_arguments(tmp_path, kw, match):
    args = dict(iterations=3)
    args.update(kw)
    gan = _fresh()
    with pytest.raises(ValueError, match=match):
        gan.fit(DATA, **args)
    assert gan.iteration == 0


def test_numpy_integers_are_accepted_where_python_ints_are():
    gan = StandardLinearGAN(_gen(), _feats(), C=np.float64(1e-3), latent_dim=np.int64(2), batch_size=np.int32(8))
    gan.fit(DATA, np.int64(2))
    assert gan.iteration == 2 and math.isfinite(gan.history.last("objective"))


def test_issue_input_augmented_lagrangian_resume_at_iteration_6(tmp_path):
    """The issue's input: DualLinearGAN defaults (minibatch, batch 200), AL with check_every=2, checkpoints
    every 3 iterations; a fresh trainer + handler resumed from the iteration-6 copy ends exactly where the
    uninterrupted run ends (multiplier, rho, counters, generator weights)."""
    data = ring(5, radius=2.0, std=0.3)
    anchors = data.sample(100, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def make():
        h = AugmentedLagrangian(AffineSubspace([[1.0, 1.0]], [0.5]), check_every=2)
        gen = mlp_generator(output_gain=3.0, dtype=torch.float64, seed=0)
        return DualLinearGAN(gen, RBF(anchors, sigma=0.2), C=1e-3, latent_dim=2, constraint=h)

    ck, at6 = tmp_path / "ck.pt", tmp_path / "ck6.pt"

    def keep(tr, it):
        if it == 7:
            shutil.copy(ck, at6)

    straight = make()
    straight.fit(data, 12, checkpoint_path=ck, checkpoint_every=3, callbacks=[keep])
    resumed = make().load_checkpoint(at6)
    assert resumed.constraint.n_updates == 6 and resumed.iteration == 6
    resumed.fit(data, 12)
    assert torch.equal(resumed.constraint.multipliers, straight.constraint.multipliers)
    assert float(straight.constraint.multipliers[0]) != 0.0
    assert resumed.constraint.rho == straight.constraint.rho and resumed.constraint.n_updates == 12
    for p, q in zip(straight.generator.parameters(), resumed.generator.parameters()):
        assert torch.equal(p, q)
    _same_history(resumed.history, straight.history)


def test_exception_inside_an_iteration_keeps_the_last_consistent_checkpoint(tmp_path):
    class Boom(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = _gen()
            self.calls, self.fail_at = 0, None

        def forward(self, z):
            self.calls += 1
            if self.fail_at is not None and self.calls >= self.fail_at:
                raise RuntimeError("generator crashed")
            return self.net(z)

    gen = Boom()
    gan = StandardLinearGAN(gen, _feats(), C=1e-3, latent_dim=2, batch_size=8, seed=0)

    def arm(tr, it):
        if it == 2:
            gen.fail_at = gen.calls + 2  # inside the next iteration, after the discriminator step

    ck = tmp_path / "ck.pt"
    with pytest.raises(RuntimeError, match="generator crashed"):
        gan.fit(DATA, 5, checkpoint_path=ck, checkpoint_every=1, callbacks=[arm])
    assert gan.status.code is StatusCode.ERROR
    back = StandardLinearGAN(Boom(), _feats(), C=1e-3, latent_dim=2, batch_size=8, seed=0).load_checkpoint(ck)
    assert back.iteration == 2 and back.status.code is StatusCode.RUNNING  # the periodic one, consistent


def test_handler_without_state_dict_fails_before_training(tmp_path):
    class Legacy:
        def wrap_generator(self, g):
            return g

        def penalty(self, s):
            return s.new_zeros(())

        def update(self, s):
            return None

        def state(self, s):
            from dualgan.constraints.base import ConstraintState
            return ConstraintState(0.0, 0.0)

    gan = StandardLinearGAN(_gen(), _feats(), C=1e-3, latent_dim=2, batch_size=8, constraint=Legacy())
    with pytest.raises(ValueError, match="has no state_dict"):
        gan.fit(DATA, 3, checkpoint_path=tmp_path / "ck.pt")
    assert gan.iteration == 0
    gan.fit(DATA, 2)  # without checkpoints it trains
    assert gan.status.success
