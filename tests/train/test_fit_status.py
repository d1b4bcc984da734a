"""Every way out of ``Trainer.fit`` leaves a final status, never RUNNING (issue 24, section 6)."""
import sys

import pytest
import torch

import dualgan.train.loop as loop
from dualgan.data import ring
from dualgan.features import RBF
from dualgan.status import StatusCode
from dualgan.train import StandardLinearGAN, mlp_generator

DATA = ring(5, radius=2.0, std=0.3)


def _fresh():
    feats = RBF(DATA.sample(10, generator=torch.Generator().manual_seed(0), dtype=torch.float64), sigma=0.3)
    return StandardLinearGAN(mlp_generator(seed=1, output_gain=3.0, dtype=torch.float64), feats, C=1e-3,
                             latent_dim=2, batch_size=8, seed=0)


def test_progress_without_stderr_trains_and_succeeds(monkeypatch):
    reference = _fresh()
    reference.fit(DATA, 3)
    gan = _fresh()
    monkeypatch.setattr(sys, "stderr", None)  # the input: pythonw, a daemon with stderr closed
    gan.fit(DATA, 3, progress=True)
    monkeypatch.undo()
    assert gan.status.code is StatusCode.SUCCESS and gan.iteration == 3
    for p, q in zip(gan.generator.parameters(), reference.generator.parameters()):
        assert torch.equal(p, q)  # the bar changes nothing of the training


def test_a_failing_progress_bar_ends_with_error_not_running(monkeypatch):
    def broken(*args, **kwargs):
        raise AttributeError("'NoneType' object has no attribute 'write'")

    monkeypatch.setattr(loop, "_progress_bar", broken)
    gan = _fresh()
    with pytest.raises(AttributeError):
        gan.fit(DATA, 3, progress=True)
    assert gan.status.code is StatusCode.ERROR and "AttributeError" in gan.status.message
    assert gan.history.status == gan.status


@pytest.mark.parametrize("exc,code", [(SystemExit(143), StatusCode.INTERRUPTED),
                                      (KeyboardInterrupt(), StatusCode.INTERRUPTED),
                                      (GeneratorExit(), StatusCode.INTERRUPTED),
                                      (RuntimeError("boom"), StatusCode.ERROR)])
def test_any_exception_from_a_callback_ends_with_a_final_status(exc, code):
    def callback(trainer, iteration):
        if iteration == 2:
            raise exc

    gan = _fresh()
    with pytest.raises(type(exc)):
        gan.fit(DATA, 5, callbacks=[callback])
    assert gan.status.code is code and gan.iteration == 2
    assert gan.history.status == gan.status


def test_a_final_checkpoint_that_cannot_be_written_is_an_error_status(tmp_path, monkeypatch):
    def full_disk(path, payload):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(loop, "write_checkpoint", full_disk)
    gan = _fresh()
    with pytest.raises(OSError, match="No space left"):
        gan.fit(DATA, 2, checkpoint_path=tmp_path / "ck.pt")
    assert gan.status.code is StatusCode.ERROR and "final checkpoint could not be written" in gan.status.message
    assert gan.iteration == 2 and gan.history.status == gan.status
