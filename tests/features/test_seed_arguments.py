"""Every builder that takes ``seed`` (the MLP generator, the random features, the digits classifier) checks it with
the library's one integer check and builds under the library's one seeded block: a seed of 1.5 was read as 1 and
True as 1, a string raised int()'s message naming no argument, and a numpy integer was refused by some of them."""
import numpy as np
import pytest
import torch

from dualgan.features import RandomCNNFeatures, RandomFourierFeatures, digits_classifier
from dualgan.train import mlp_generator

BUILDERS = [
    ("mlp_generator", lambda **kw: mlp_generator(**kw)),
    ("RandomFourierFeatures", lambda **kw: RandomFourierFeatures(2, 8, **kw)),
    ("RandomCNNFeatures", lambda **kw: RandomCNNFeatures(1, (4,), **kw)),
]


@pytest.mark.parametrize("name, build", BUILDERS)
@pytest.mark.parametrize("seed", [1.5, True, "a", -1])
def test_a_seed_that_is_not_a_non_negative_integer_is_refused(name, build, seed):
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer, got " + repr(seed).replace(".", r"\.")):
        build(seed=seed)


def test_digits_classifier_refuses_a_bool_seed_before_anything_is_trained(tmp_path):
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got True"):
        digits_classifier(seed=True, cache_dir=tmp_path)
    with pytest.raises(ValueError, match="epochs must be a positive integer, got 2.0"):
        digits_classifier(seed=0, epochs=2.0, cache_dir=tmp_path)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("name, build", BUILDERS)
def test_a_numpy_seed_is_the_same_seed_and_the_callers_stream_is_untouched(name, build):
    before = torch.random.get_rng_state()
    a, b = build(seed=np.int64(3)), build(seed=3)
    assert torch.equal(torch.random.get_rng_state(), before)  # built under the seed, the state put back
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka


def test_the_seeded_weights_are_those_of_torchs_generator_under_that_seed():
    # reference: the same draws made directly from a torch.Generator seeded with 3
    gen = torch.Generator().manual_seed(3)
    weight = torch.randn(8, 2, generator=gen, dtype=torch.float64) / 1.0
    phase = 2 * torch.pi * torch.rand(8, generator=gen, dtype=torch.float64)
    rff = RandomFourierFeatures(2, 8, sigma=1.0, seed=np.int64(3))
    assert torch.equal(rff.weight, weight) and torch.allclose(rff.phase, phase, rtol=0, atol=1e-15)
    torch.manual_seed(3)
    conv = torch.nn.Conv2d(1, 4, 3, padding=1)
    cnn = RandomCNNFeatures(1, (np.int64(4),), seed=3)
    assert torch.equal(cnn.convs[0].weight, conv.weight) and torch.equal(cnn.convs[0].bias, conv.bias)


def test_integer_sizes_are_checked_by_the_one_integer_check():
    with pytest.raises(ValueError, match="in_features must be a positive integer, got True"):
        RandomFourierFeatures(True)  # was a 1-feature map
    with pytest.raises(ValueError, match=r"channels must be a non-empty tuple of positive integers, got \(4, True\)"):
        RandomCNNFeatures(1, (4, True))
    assert RandomFourierFeatures(np.int64(2), np.int64(8)).weight.shape == (8, 2)


def test_random_cnn_features_name_the_channel_count_they_take():
    # was torch's 'weight of size [4, 1, 3, 3], expected input[2, 3, 8, 8] to have 1 channels'
    cnn = RandomCNNFeatures(1, (4,), seed=0)
    with pytest.raises(ValueError, match=r"images of shape \(batch, channels=1, height, width\) \(in_channels of "
                                         r"RandomCNNFeatures\), got \(2, 3, 8, 8\)"):
        cnn(torch.rand(2, 3, 8, 8))
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    ref = torch.relu(torch.nn.functional.conv2d(x, cnn.convs[0].weight.double(), cnn.convs[0].bias.double(), padding=1))
    assert torch.allclose(cnn(x), ref.flatten(1), rtol=0, atol=1e-15)
