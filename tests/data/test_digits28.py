"""scikit-learn's digits resampled to 28x28, against scipy.ndimage.zoom and a hand-written bilinear formula."""
import numpy as np
import pytest
import torch

from dualgan.data import digits_split, load_digits

scipy_ndimage = pytest.importorskip("scipy.ndimage", reason="scipy gives the independent reference resampling")


def _bilinear_by_hand(img: np.ndarray, size: int) -> np.ndarray:
    """Pixel-centre bilinear resampling (source coordinate (i + 1/2) n / S - 1/2, clamped to the image)."""
    n = img.shape[0]
    src = np.clip((np.arange(size) + 0.5) * n / size - 0.5, 0.0, n - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    t = src - lo
    rows = img[lo] * (1 - t)[:, None] + img[hi] * t[:, None]
    return rows[:, lo] * (1 - t)[None, :] + rows[:, hi] * t[None, :]


def test_bilinear_28_matches_scipy_zoom_and_the_formula():
    from sklearn.datasets import load_digits as sk

    raw = sk().images / 16.0
    x, y = load_digits(dtype=torch.float64, image_size=28)
    assert x.shape == (1797, 1, 28, 28) and x.dtype == torch.float64
    np.testing.assert_array_equal(y.numpy(), sk().target)
    for k in (0, 1, 500, 1796):
        ref = scipy_ndimage.zoom(raw[k], 28 / 8, order=1, grid_mode=True, mode="nearest")
        np.testing.assert_allclose(x[k, 0].numpy(), ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(x[k, 0].numpy(), _bilinear_by_hand(raw[k], 28), rtol=0, atol=1e-12)
    # convex combinations of [0, 1] pixels stay in [0, 1]
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0


def test_nearest_picks_the_pixel_under_each_centre():
    from sklearn.datasets import load_digits as sk

    raw = sk().images / 16.0
    x, _ = load_digits(dtype=torch.float64, image_size=28, resample="nearest")
    idx = np.floor((np.arange(28) + 0.5) * 8 / 28).astype(int)
    np.testing.assert_array_equal(x[:, 0].numpy(), raw[:, idx][:, :, idx])


def test_float32_is_the_rounded_float64_and_8_is_unchanged():
    x64, _ = load_digits(dtype=torch.float64, image_size=28)
    x32, _ = load_digits(image_size=28)
    assert x32.dtype == torch.float32
    assert torch.equal(x32, x64.float())
    assert torch.equal(load_digits(dtype=torch.float64, image_size=8)[0], load_digits(dtype=torch.float64)[0])


def test_split_at_28_is_the_8x8_split_resampled():
    a, b = digits_split(seed=1, dtype=torch.float64), digits_split(seed=1, dtype=torch.float64, image_size=28)
    assert b.train_images.shape[1:] == (1, 28, 28) and b.test_images.shape[0] == a.test_images.shape[0]
    assert torch.equal(a.test_labels, b.test_labels)
    up = torch.nn.functional.interpolate(a.test_images, size=(28, 28), mode="bilinear", align_corners=False)
    torch.testing.assert_close(b.test_images, up, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kwargs, match", [({"image_size": 0}, "image_size must be a positive integer, got 0"),
                                           ({"image_size": 28.0}, "image_size must be a positive integer"),
                                           ({"resample": "bicubic"}, r"unknown resample 'bicubic'; choose one of")])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_digits(**kwargs)
    with pytest.raises(ValueError, match=match):
        digits_split(**kwargs)
