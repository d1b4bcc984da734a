"""Classifier score against scipy's KL divergence and closed forms."""
import math

import numpy as np
import pytest
import torch
from scipy.stats import entropy
from torch import nn

from dualgan.metrics import classifier_score


class _FixedLogits(nn.Module):
    """Returns stored logits row by row (the 'images' are row indices)."""

    def __init__(self, logits):
        super().__init__()
        self.register_buffer("logits", torch.as_tensor(logits))

    def forward(self, idx):
        return self.logits[idx[:, 0].long()]


def test_matches_scipy_kl(rng):
    logits = rng.normal(0, 2, size=(50, 7))
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    py = p.mean(0)
    ref = math.exp(np.mean([entropy(pi, py) for pi in p]))
    out = classifier_score(torch.arange(50.0)[:, None], _FixedLogits(logits), batch_size=16)
    assert out.score == pytest.approx(ref, rel=1e-12)
    assert out.n_classes == 7 and out.n_samples == 50 and out.std == 0.0


def test_closed_forms():
    confident = np.full((30, 3), -200.0)
    confident[np.arange(30), np.arange(30) % 3] = 200.0
    assert classifier_score(torch.arange(30.0)[:, None], _FixedLogits(confident)).score == pytest.approx(3.0, rel=1e-12)
    same = np.tile([1.0, 2.0, 3.0], (10, 1))
    assert classifier_score(torch.arange(10.0)[:, None], _FixedLogits(same)).score == pytest.approx(1.0, abs=1e-12)


def test_splits_mean_and_std(rng):
    logits = rng.normal(size=(40, 4))
    full = classifier_score(torch.arange(40.0)[:, None], _FixedLogits(logits), splits=4)
    parts = [classifier_score(torch.arange(10.0 * k, 10.0 * k + 10)[:, None], _FixedLogits(logits)).score
             for k in range(4)]
    assert full.score == pytest.approx(np.mean(parts), rel=1e-12)
    assert full.std == pytest.approx(np.std(parts), rel=1e-12)


def test_default_digits_classifier_scores_real_digits_high(tmp_path, monkeypatch):
    monkeypatch.setenv("DUALGAN_CACHE", str(tmp_path))
    from dualgan.data import digits_split

    split = digits_split(seed=0)
    real = classifier_score(split.test_images).score
    one_digit = classifier_score(split.test_images[split.test_labels == 3]).score
    assert 8.0 < real <= 10.0  # ten balanced classes, >= 95% accuracy
    assert 1.0 <= one_digit < 1.5


def test_bad_input():
    with pytest.raises(ValueError, match="images"):
        classifier_score(torch.tensor([[float("nan")]]), _FixedLogits(np.zeros((1, 2))))
    with pytest.raises(ValueError, match="splits"):
        classifier_score(torch.zeros(3, 1), _FixedLogits(np.zeros((3, 2))), splits=0)
