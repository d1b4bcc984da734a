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
from dualgan.train import CheckpointError
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
    assert h.meta["status"] == str(tr.status)
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
    payload = torch.load(tmp_path / "ck.pt", weights_only=True)
    payload["iteration"] = 999
    torch.save(payload, tmp_path / "bad.pt")
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
