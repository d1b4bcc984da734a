"""The conditional models' integer arguments are read by the library's one integer check: True was a class count or
an embedding width of 1 (or reached torch.randint's raw 'invalid combination of arguments'), a numpy integer
(what a label array's max() gives) was refused."""
import numpy as np
import pytest
import torch
from torch import nn

from dualgan.conditional import LabelEmbedding, ProjectionDiscriminator, sample_labels


@pytest.mark.parametrize("build, match", [
    (lambda: sample_labels(True, 3), "n must be a positive integer, got True"),
    (lambda: sample_labels(3, True), "n_classes must be a positive integer, got True"),
    (lambda: sample_labels(3, 2.0), r"n_classes must be a positive integer, got 2\.0"),
    (lambda: LabelEmbedding(True), "n_classes must be a positive integer, got True"),
    (lambda: LabelEmbedding(3, dim=True), r"embedding dim \(None: one-hot\) must be a positive integer, got True"),
    (lambda: ProjectionDiscriminator(nn.Linear(2, 3), True, 3), r"feature_dim \(width of features\(x\)\) must be a "
                                                                  r"positive integer, got True"),
])
def test_a_bool_or_float_count_is_refused_naming_it(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_numpy_counts_are_counts():
    y = np.array([0, 2, 1])
    n_classes = y.max() + 1  # np.int64(3)
    g = torch.Generator().manual_seed(0)
    labels = sample_labels(np.int64(5), n_classes, generator=g)
    reference = torch.randint(3, (5,), generator=torch.Generator().manual_seed(0))
    assert torch.equal(labels, reference)
    emb = LabelEmbedding(n_classes, dim=np.int64(4))
    assert emb.dim == 4 and type(emb.n_classes) is int and emb.n_classes == 3
    assert ProjectionDiscriminator(nn.Linear(2, 3), np.int64(3), n_classes).n_classes == 3
