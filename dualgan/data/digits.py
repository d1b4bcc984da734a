r"""scikit-learn's bundled 8x8 handwritten digits as torch images (no downloads), at 8x8 or resampled (e.g. 28x28).

1797 grey-level images of the digits 0-9, 8 x 8 pixels, values 0..16 in the
original; here scaled to [0, 1] and shaped (N, 1, 8, 8) so that convolutional
generators, classifiers and the classifier score all see the same layout.

``image_size=28`` gives MNIST-sized images for the image-scale experiments
(:mod:`dualgan.models`), without downloads. The resampling is bilinear
(``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``)
after scaling to [0, 1]: every output pixel is a convex combination of the
four nearest input pixel centres (source coordinate
:math:`(i + 1/2)\,8/S - 1/2`, clamped to the image, for output row or column
:math:`i` of :math:`S`), so values stay in [0, 1] (a sigmoid generator can
match them; bicubic overshoots outside the range) and pixels are treated as
areas (``align_corners=False``: the image is not shifted or stretched by half a
pixel). ``resample="nearest"`` repeats pixels instead (output pixel :math:`i` takes
input pixel :math:`\lfloor (i + 1/2)\,8/S \rfloor`, torch's
``"nearest-exact"``; blocky, still in [0, 1]). The result is smoother than MNIST (the information is that of 8x8
images); users with MNIST's own files read them with
:func:`dualgan.data.load_idx_images`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["DigitsSplit", "load_digits", "digits_split", "RESAMPLE_MODES"]

RESAMPLE_MODES = ("bilinear", "nearest")
"""How :func:`load_digits` resamples the 8x8 digits to ``image_size`` (bilinear: the default)."""


@dataclass(frozen=True)
class DigitsSplit:
    """A fixed train / held-out split of the digits (images (N, 1, S, S) in [0, 1], labels (N,)).

    Attributes
    ----------
    train_images : torch.Tensor
        Training images, shape ``(N_train, 1, S, S)`` (S = 8, or the requested ``image_size``), values in [0, 1].
    train_labels : torch.Tensor
        Their int64 labels in ``0..9``, shape ``(N_train,)``.
    test_images : torch.Tensor
        Held-out images, shape ``(N_test, 1, S, S)``.
    test_labels : torch.Tensor
        Their int64 labels, shape ``(N_test,)``.
    seed : int
        Seed of the split.
    """

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    seed: int


def load_digits(dtype=torch.float32, device=None, image_size: int = 8,
                resample: str = "bilinear") -> tuple[torch.Tensor, torch.Tensor]:
    """All 1797 digits: ``(images (N, 1, S, S) in [0, 1], labels (N,) int64)``, S = ``image_size``.

    Parameters
    ----------
    dtype : torch.dtype, default torch.float32
        dtype of the images (the resampling is done in float64, then cast).
    device : torch.device or str or None, default None
        Device of the tensors (``None``: the CPU).
    image_size : int, default 8
        Side S of the returned images, >= 1; 8 returns the original pixels
        (scaled), 28 gives MNIST-sized images.
    resample : str, default "bilinear"
        How the 8x8 images are resampled when ``image_size != 8``, one of
        :data:`RESAMPLE_MODES`: ``"bilinear"`` (``align_corners=False``, see
        the module docstring for why) or ``"nearest"``.

    Returns
    -------
    tuple of torch.Tensor
        Images ``(1797, 1, S, S)`` in [0, 1] and int64 labels ``(1797,)``.

    Raises
    ------
    ValueError
        If ``image_size`` is not a positive integer, ``resample`` is unknown or
        ``dtype`` is not a floating dtype.
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    from .._checks import check_choice, check_float_dtype, check_int

    image_size = check_int(image_size, "image_size", low=1)
    dtype = check_float_dtype(dtype)
    resample = check_choice(resample, "resample", RESAMPLE_MODES)
    bunch = _sk_load_digits()
    images = torch.as_tensor(bunch.images / 16.0, dtype=torch.float64)[:, None]
    if image_size != images.shape[-1]:
        if resample == "bilinear":
            images = torch.nn.functional.interpolate(images, size=(image_size, image_size), mode="bilinear",
                                                     align_corners=False)
        else:  # pixel centres, as bilinear; torch's "nearest" would use floor(i * 8 / S)
            images = torch.nn.functional.interpolate(images, size=(image_size, image_size), mode="nearest-exact")
    images = images.to(dtype=dtype, device=device)
    labels = torch.as_tensor(bunch.target, dtype=torch.int64, device=device)
    return images, labels


def digits_split(test_fraction: float = 0.2, seed: int = 0, dtype=torch.float32, device=None,
                 image_size: int = 8, resample: str = "bilinear") -> DigitsSplit:
    """Stratified train / held-out split, reproducible for a given ``seed``.

    Parameters
    ----------
    test_fraction : float, default 0.2
        Share of the held-out part, strictly between 0 and 1.
    seed : int, default 0
        Seed of the stratified split.
    dtype : torch.dtype, default torch.float32
        dtype of the images.
    device : torch.device or str or None, default None
        Device of the tensors (``None``: the CPU).
    image_size : int, default 8
        Side of the images (see :func:`load_digits`; 28 for MNIST-sized images).
    resample : str, default "bilinear"
        Resampling to ``image_size``, one of :data:`RESAMPLE_MODES` (see :func:`load_digits`).

    Returns
    -------
    DigitsSplit
        The two parts, each class in the same proportion.

    Raises
    ------
    ValueError
        If ``test_fraction`` is not a number in (0, 1), ``seed`` is not a
        non-negative integer, ``image_size`` is not a positive integer or
        ``resample`` is unknown.
    """
    from sklearn.model_selection import train_test_split

    from .._checks import check_int, check_number

    test_fraction = check_number(test_fraction, "test_fraction (share of the held-out part)", low=0.0, high=1.0,
                                 low_open=True, high_open=True)
    seed = check_int(seed, "seed", low=0)

    images, labels = load_digits(dtype=dtype, image_size=image_size, resample=resample)
    idx = np.arange(labels.shape[0])
    train_idx, test_idx = train_test_split(idx, test_size=test_fraction, random_state=seed,
                                           stratify=labels.numpy())
    tr, te = torch.as_tensor(train_idx), torch.as_tensor(test_idx)
    return DigitsSplit(images[tr].to(device), labels[tr].to(device), images[te].to(device), labels[te].to(device),
                       seed)
