"""Feature maps: values against brute-force references, gradients by finite differences, caching."""
import math
import os

import numpy as np
import pytest
import torch
from torch import nn

from dualgan.data.digits import digits_split
from dualgan.features import (RBF, ClassifierFeatures, DigitsCNN, RandomCNNFeatures, RandomFourierFeatures,
                              default_cache_dir, digits_classifier)


def test_rbf_matches_numpy(rng):
    anchors = rng.normal(size=(7, 2))
    x = rng.normal(size=(5, 2))
    sigma = 0.3
    ref = np.array([[math.exp(-np.sum((xi - c) ** 2) / (2 * sigma ** 2)) for c in anchors] for xi in x])
    out = RBF(anchors, sigma)(torch.as_tensor(x))
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-14, atol=0)


def test_rbf_gradient_by_finite_differences(rng):
    feat = RBF(torch.as_tensor(rng.normal(size=(6, 3))), 0.7)
    x = torch.tensor(rng.normal(size=(4, 3)), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(feat, (x,))


def test_rbf_anchors_are_a_buffer_not_a_parameter(rng):
    feat = RBF(rng.normal(size=(3, 2)), 0.2)
    assert list(feat.parameters()) == []
    assert "anchors" in dict(feat.named_buffers())
    assert feat(torch.zeros(2, 2, dtype=torch.float32)).dtype == torch.float32


@pytest.mark.parametrize("kwargs, match", [({"sigma": 0.0}, "sigma"), ({"sigma": float("nan")}, "sigma")])
def test_rbf_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RBF(np.zeros((3, 2)), **kwargs)
    with pytest.raises(ValueError, match="anchors"):
        RBF(np.zeros(3))
    with pytest.raises(ValueError, match="shape"):
        RBF(np.zeros((3, 2)))(torch.zeros(4, 3))


def test_random_fourier_features_approximate_gaussian_kernel(rng):
    sigma = 0.8
    feat = RandomFourierFeatures(2, n_features=40000, sigma=sigma, seed=1)
    x = torch.as_tensor(rng.normal(size=(6, 2)))
    phi = feat(x)
    approx = (phi @ phi.T).numpy()
    exact = np.exp(-((x[:, None] - x[None]) ** 2).sum(-1).numpy() / (2 * sigma ** 2))
    # Monte-Carlo error of a 40000-feature estimate: std <= sqrt(2/k) ~ 0.007
    np.testing.assert_allclose(approx, exact, atol=0.03)


def test_random_fourier_features_seeded_and_differentiable(rng):
    a, b = RandomFourierFeatures(3, 16, 1.0, seed=5), RandomFourierFeatures(3, 16, 1.0, seed=5)
    x = torch.tensor(rng.normal(size=(4, 3)), dtype=torch.float64, requires_grad=True)
    assert torch.equal(a(x), b(x))
    assert torch.autograd.gradcheck(a, (x,))


def test_random_cnn_features_are_concatenated_hidden_activations(rng):
    feat = RandomCNNFeatures(in_channels=1, channels=(4, 6), seed=3).double()
    x = torch.as_tensor(rng.uniform(size=(2, 1, 8, 8)))
    h1 = torch.relu(feat.convs[0](x))
    h2 = torch.relu(feat.convs[1](nn.functional.max_pool2d(h1, 2)))
    ref = torch.cat([h1.flatten(1), h2.flatten(1)], 1)
    torch.testing.assert_close(feat(x), ref, rtol=1e-14, atol=0)
    assert ref.shape[1] == 4 * 64 + 6 * 16
    assert all(not p.requires_grad for p in feat.parameters())
    again = RandomCNNFeatures(in_channels=1, channels=(4, 6), seed=3).double()
    assert torch.equal(again(x), feat(x))


def test_random_cnn_gradient_flows_to_input(rng):
    feat = RandomCNNFeatures(channels=(3,), seed=0).double()
    x = torch.tensor(rng.uniform(0.1, 0.9, size=(1, 1, 4, 4)), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: feat(t).sum(1), (x,))


def test_classifier_features_with_hooks_match_manual_forward(rng):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    feat = ClassifierFeatures(model, ["1", "3"])
    x = torch.tensor(rng.normal(size=(6, 3)), dtype=torch.float64, requires_grad=True)
    h1 = torch.tanh(model[0](x))
    h2 = torch.tanh(model[2](h1))
    torch.testing.assert_close(feat(x), torch.cat([h1, h2], 1), rtol=0, atol=0)
    assert torch.autograd.gradcheck(feat, (x,))
    assert all(not p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match="not sub-modules"):
        ClassifierFeatures(model, ["nope"])


def test_digits_classifier_accuracy_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DUALGAN_CACHE", str(tmp_path / "cache"))
    assert default_cache_dir() == tmp_path / "cache"
    model = digits_classifier(seed=0)
    files = list((tmp_path / "cache").glob("*.pt"))
    assert len(files) == 1
    # independent accuracy on the held-out split (not the stored attribute)
    split = digits_split(seed=0)
    with torch.no_grad():
        acc = float((model(split.test_images).argmax(1) == split.test_labels).double().mean())
    assert acc >= 0.95
    assert acc == pytest.approx(model.held_out_accuracy)
    mtime = os.path.getmtime(files[0])
    again = digits_classifier(seed=0)  # loaded from the cache, not retrained
    assert os.path.getmtime(files[0]) == mtime
    x = split.test_images[:16]
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
    feats = ClassifierFeatures(again, DigitsCNN.hidden_layers)(x)
    assert feats.shape == (16, 16 * 64 + 32 * 64 + 128)


@pytest.mark.parametrize("make, k, D", [(lambda: RBF(np.zeros((3, 2))), 3, 2),
                                        (lambda: RandomFourierFeatures(2, n_features=5), 5, 2)])
def test_row_feature_maps_share_out_features_and_the_named_shape_check(make, k, D):
    feat = make()
    assert feat.out_features == k and feat(torch.zeros(4, D, dtype=torch.float64)).shape == (4, k)
    for bad in (torch.zeros(4, D + 1), torch.zeros(4), torch.zeros(4, D, 1)):
        with pytest.raises(ValueError, match=rf"{type(feat).__name__} input must have shape \(batch, {D}\)"):
            feat(bad)


@pytest.mark.parametrize("make, shape", [(lambda: RBF(np.full((3, 2), 0.7)), (4, 2)),
                                         (lambda: RandomFourierFeatures(2, n_features=5), (4, 2)),
                                         (lambda: RandomCNNFeatures(), (2, 1, 8, 8))])
def test_an_integer_or_non_tensor_input_is_refused(make, shape):
    # the maps cast their float64 anchors and weights to the input's dtype: an int64 batch truncated them
    # (anchors 0.7 -> 0, random CNN weights -> 0) and gave wrong features without an error
    feat = make()
    for bad, got in ((torch.zeros(shape, dtype=torch.int64), "torch.int64"), (np.zeros(shape), "ndarray"),
                     (torch.zeros(shape).tolist(), "list")):
        with pytest.raises(ValueError, match=rf"{type(feat).__name__} input must be a floating-point torch tensor"
                                             rf".*got .*{got}.*torch.as_tensor"):
            feat(bad)
    assert feat(torch.zeros(shape, dtype=torch.float64)).dtype == torch.float64
