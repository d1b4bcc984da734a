"""TrustRegionGAN: bit-for-bit resume (weights, optimisers, radius, inner warm start, RNG, handler),
clean non-finite endings with the history kept, checkpoints refused when inconsistent."""
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from dualgan.constraints import AffineSubspace, AugmentedLagrangian
from dualgan.data import ring
from dualgan.status import StatusCode
from dualgan.train import CheckpointError, read_checkpoint, write_checkpoint
from dualgan.trust_region import TrustRegionGAN

DATA = ring(8)


def _make(model="score", constraint=False, bad_gen=False):
    torch.manual_seed(0)
    gen = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2)).double()
    disc = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1)).double()
    handler = AugmentedLagrangian(AffineSubspace([[1.0, 1.0]], [0.5]), check_every=2) if constraint else None
    return TrustRegionGAN(gen, disc, latent_dim=4, batch_size=16, model=model, C=1e-2, radius=0.3, seed=1,
                          constraint=handler, generator_lr=1e-2)


@pytest.mark.parametrize("model,constraint", [("score", True), ("cost", False), ("adam", True)])
def test_resume_is_bit_identical(tmp_path, model, constraint):
    ck, mid = tmp_path / "ck.pt", tmp_path / "mid.pt"
    straight = _make(model, constraint)
    straight.fit(DATA, 4, checkpoint_path=ck)
    shutil.copy(ck, mid)
    full = straight.fit(DATA, 8, checkpoint_path=ck)
    assert straight.status.success and len(full) == 8
    resumed = _make(model, constraint).load_checkpoint(mid)
    assert len(resumed.history) == 4 and resumed.iteration == 4
    again = resumed.fit(DATA, 8)
    assert again.columns == full.columns
    for col in full.columns:
        if col != "seconds":
            np.testing.assert_array_equal(again[col], full[col], err_msg=col)
    for p, q in zip(list(straight.generator.parameters()) + list(straight.discriminator.parameters()),
                    list(resumed.generator.parameters()) + list(resumed.discriminator.parameters())):
        assert torch.equal(p, q)
    assert resumed.tr.radius == straight.tr.radius
    if constraint:
        assert torch.equal(resumed.constraint.multipliers, straight.constraint.multipliers)
        assert resumed.constraint.n_updates == straight.constraint.n_updates == 8


class _NaNGen(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 2).double()
        self.bad = False

    def forward(self, z):
        out = self.lin(z)
        return out * float("nan") if self.bad else out


def test_nan_generator_ends_with_status_and_keeps_history(tmp_path):
    gen = _NaNGen()
    torch.manual_seed(0)
    disc = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    tr = TrustRegionGAN(gen, disc, latent_dim=4, batch_size=8, C=1e-2, seed=0)
    tr.fit(DATA, 3, checkpoint_path=tmp_path / "ck.pt")
    assert tr.status.success
    gen.bad = True
    h = tr.fit(DATA, 5, checkpoint_path=tmp_path / "ck.pt")
    assert tr.status.code is StatusCode.NON_FINITE
    assert tr.status.message == "non-finite samples at iteration 3"
    assert len(h) == 3 and np.isfinite(h["objective"]).all()
    assert h.status == tr.status and h.status.code is StatusCode.NON_FINITE
    back = TrustRegionGAN(_NaNGen(), disc, latent_dim=4, batch_size=8, C=1e-2,
                          seed=0).load_checkpoint(tmp_path / "ck.pt")
    assert len(back.history) == 3 and back.status.code is StatusCode.NON_FINITE


def test_nan_discriminator_weights_end_cleanly():
    tr = _make("score")
    with torch.no_grad():
        tr.discriminator[0].weight.fill_(float("nan"))
    h = tr.fit(DATA, 3)
    assert tr.status.code is StatusCode.NON_FINITE and "iteration 0" in tr.status.message
    assert len(h) == 0


def test_inconsistent_checkpoints_are_refused(tmp_path):
    tr = _make()
    tr.fit(DATA, 2, checkpoint_path=tmp_path / "ck.pt")
    payload = read_checkpoint(tmp_path / "ck.pt")
    payload["iteration"] = 999
    write_checkpoint(tmp_path / "bad.pt", payload)
    fresh = _make()
    with pytest.raises(CheckpointError, match="claims iteration 999 but holds 2 history rows"):
        fresh.load_checkpoint(tmp_path / "bad.pt")
    assert len(fresh.history) == 0 and fresh.iteration == 0
    with pytest.raises(CheckpointError, match="settings"):
        _make("cost").load_checkpoint(tmp_path / "ck.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        fresh.load_checkpoint(tmp_path / "empty.pt")
    with pytest.raises(ValueError, match="does not exist; create it first"):
        fresh.fit(DATA, 2, checkpoint_path=tmp_path / "nope" / "ck.pt")
    assert len(fresh.history) == 0 and fresh.iteration == 0


@pytest.mark.parametrize("kw,match", [(dict(C=True), "C must be a real number"), (dict(C=float("nan")), "C must be"),
                                      (dict(generator_lr=0), "generator_lr"), (dict(latent_dim=2.0), "latent_dim"),
                                      (dict(seed=-3), "seed")])
def test_constructor_checks_numbers(kw, match):
    args = dict(latent_dim=4)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        TrustRegionGAN(nn.Linear(4, 2), nn.Linear(2, 1), **args)


# ------------------------------------------------------------------ settings checked on load and at construction
def _with(**kw):
    torch.manual_seed(0)
    gen = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2)).double()
    disc = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1)).double()
    kw = {"batch_size": 16, **kw}
    return TrustRegionGAN(gen, disc, latent_dim=4, C=1e-2, radius=0.3, seed=1, **kw)


@pytest.mark.parametrize("saved,loaded,key", [
    (dict(policy="standard"), dict(policy=__import__("dualgan.trust_region", fromlist=["StandardRadius"])
                                   .StandardRadius(grow=3.0)), "policy"),
    (dict(max_attempts=4), dict(max_attempts=2), "max_attempts"),
    (dict(memory_mb=512.0), dict(memory_mb=64.0), "memory_mb"),
    (dict(chunk_size=None), dict(chunk_size=8), "chunk_size"),
    (dict(inner_tol=None), dict(inner_tol=1e-10), "inner_tol"),
    (dict(solver_options=None), dict(solver_options={"max_outer": 30}), "solver_options"),
    (dict(linearization="auto"), dict(linearization="torch.func"), "linearization"),
    (dict(gan_loss="non_saturating"), dict(gan_loss="hinge"), "gan_loss"),
])
def test_every_trust_region_setting_is_checked_on_load(tmp_path, saved, loaded, key):
    _with(**saved).fit(DATA, 1, checkpoint_path=tmp_path / "ck.pt")
    with pytest.raises(CheckpointError, match=f"written with {key}="):
        _with(**loaded).load_checkpoint(tmp_path / "ck.pt")
    assert _with(**saved).load_checkpoint(tmp_path / "ck.pt").iteration == 1


def test_policy_by_name_and_the_same_policy_instance_are_one_setting(tmp_path):
    from dualgan.trust_region import StandardRadius

    _with(policy="standard").save_checkpoint(tmp_path / "ck.pt")
    assert _with(policy=StandardRadius()).load_checkpoint(tmp_path / "ck.pt").iteration == 0


@pytest.mark.parametrize("kw,match", [
    (dict(memory_mb=0), "memory_mb"), (dict(memory_mb=-5), "memory_mb"), (dict(memory_mb=float("nan")), "memory_mb"),
    (dict(chunk_size=-1), "chunk_size"), (dict(chunk_size=0), "chunk_size"), (dict(chunk_size=2.0), "chunk_size"),
    (dict(max_attempts=True), "max_attempts"), (dict(max_attempts=0), "max_attempts"),
    (dict(generator_steps=True), "generator_steps"), (dict(batch_size=np.bool_(True)), "batch_size"),
    (dict(solver="bfgs"), "unknown solver 'bfgs'"), (dict(solver_options={"tol": 1}), "takes no option"),
    (dict(model="trust"), "unknown model"), (dict(inner_tol=0.0), "inner_tol"),
])
def test_bad_values_are_refused_at_construction(kw, match):
    with pytest.raises(ValueError, match=match):
        _with(**kw)


def test_numpy_integers_are_integers():
    gan = _with(max_attempts=np.int64(2), chunk_size=np.int32(8), generator_steps=np.int64(1),
                batch_size=np.int64(16))
    assert gan.tr.max_attempts == 2 and type(gan.tr.max_attempts) is int and gan.tr.chunk_size == 8
    assert gan.fit(DATA, 1) and gan.status.success


def test_solver_options_reach_the_inner_solver():
    # max_outer=1 leaves the secular iteration one Newton step: the inner solve differs from the default's
    a = _with(solver_options={"max_outer": 1}).fit(DATA, 2)
    b = _with().fit(DATA, 2)
    assert not np.array_equal(a["inner_iterations"], b["inner_iterations"]) or \
        not np.array_equal(a["inner_gap"], b["inner_gap"])


# ------------------------------------------------------------------ the step owns its state (issue 25)
def test_the_step_saves_and_checks_its_own_state():
    gan = _make("score")
    gan.fit(DATA, 3)
    state = gan.tr.state_dict()
    assert set(state) == {"radius", "warm"} and state["radius"] == gan.tr.radius
    lam, slack, mu = state["warm"]
    assert torch.equal(lam, gan.tr._warm[0]) and lam is not gan.tr._warm[0]  # a copy, not the live tensor
    other = _make("score").tr
    other.load_state_dict(state)
    assert other.radius == gan.tr.radius and torch.equal(other._warm[1], slack) and other._warm[2] == mu
    before = (other.radius, other._warm)
    for bad, match in [({"radius": 0.5}, "keys"), ({"radius": -1.0, "warm": None}, "radius"),
                       ({"radius": float("nan"), "warm": None}, "radius"),
                       ({"radius": 0.5, "warm": [lam, slack[:-1], mu]}, "warm start"),
                       ({"radius": 0.5, "warm": [lam, slack, float("inf")]}, "warm start")]:
        with pytest.raises(ValueError, match=match):
            other.load_state_dict(bad)
        assert (other.radius, other._warm) == before  # refused before anything changed


def test_a_state_the_next_step_would_refuse_is_refused_when_loaded():
    """A warm start with NaN multipliers or a negative radius multiplier mu loaded, and the next step raised
    ('lam0 contains NaN', 'mu0 must be >= 0'); a radius below the policy's floor (the constructor refuses it)
    loaded silently. Each is refused at load, naming the part, before anything changes."""
    gan = _make("score")
    gan.fit(DATA, 2)
    state = gan.tr.state_dict()
    lam, slack, mu = state["warm"]
    step = _make("score").tr
    before = (step.radius, step._warm)
    floor = step.policy.min_radius
    for bad, match in [({"radius": 0.5, "warm": [lam, slack, -1.0]}, r"warm start \(mu.*>= 0, got -1.0"),
                       ({"radius": 0.5, "warm": [lam * float("nan"), slack, mu]}, r"warm start \(lam\) contains NaN"),
                       ({"radius": 0.5, "warm": [lam, slack.to(torch.int64), mu]}, "floating-point"),
                       ({"radius": floor / 10, "warm": None}, r"below the radius policy's floor min_radius=1e-10")]:
        with pytest.raises(ValueError, match=match):
            step.load_state_dict(bad)
        assert (step.radius, step._warm) == before  # refused before anything changed
    # a numpy radius is a radius (it was refused as 'not a finite positive number'), read as the same float
    step.load_state_dict({"radius": np.float32(0.25), "warm": [lam, slack, np.float64(mu)]})
    assert step.radius == 0.25 and type(step.radius) is float and step._warm[2] == mu
    g = torch.Generator().manual_seed(0)
    assert step.step(DATA.sample(16, generator=g), 0.5 * DATA.sample(16, generator=g)).status.success


def test_a_checkpoint_with_a_bad_warm_start_is_refused_by_the_step(tmp_path):
    ck = tmp_path / "ck.pt"
    gan = _make("score")
    gan.fit(DATA, 2, checkpoint_path=ck)
    payload = read_checkpoint(ck)
    payload["extra"]["warm"] = [payload["extra"]["warm"][0], torch.zeros(3, dtype=torch.float64), 1.0]
    write_checkpoint(ck, payload)
    with pytest.raises(CheckpointError, match="warm start"):
        _make("score").load_checkpoint(ck)
