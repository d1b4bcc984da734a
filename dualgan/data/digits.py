r"""scikit-learn's bundled 8x8 handwritten digits as torch images (no downloads).

1797 grey-level images of the digits 0-9, 8 x 8 pixels, values 0..16 in the
original; here scaled to [0, 1] and shaped (N, 1, 8, 8) so that convolutional
generators, classifiers and the classifier score all see the same layout.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["DigitsSplit", "load_digits", "digits_split"]


@dataclass(frozen=True)
class DigitsSplit:
    """A fixed train / held-out split of the digits (images (N, 1, 8, 8) in [0, 1], labels (N,)).

    Attributes
    ----------
    train_images : torch.Tensor
        Training images, shape ``(N_train, 1, 8, 8)``, values in [0, 1].
    train_labels : torch.Tensor
        Their int64 labels in ``0..9``, shape ``(N_train,)``.
    test_images : torch.Tensor
        Held-out images, shape ``(N_test, 1, 8, 8)``.
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


def load_digits(dtype=torch.float32, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """All 1797 digits: ``(images (N, 1, 8, 8) in [0, 1], labels (N,) int64)``.

    Parameters
    ----------
    dtype : torch.dtype, default torch.float32
        dtype of the images.
    device : torch.device or str or None, default None
        Device of the tensors (``None``: the CPU).

    Returns
    -------
    tuple of torch.Tensor
        Images ``(1797, 1, 8, 8)`` in [0, 1] and int64 labels ``(1797,)``.
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    images = torch.as_tensor(bunch.images / 16.0, dtype=dtype, device=device)[:, None]
    labels = torch.as_tensor(bunch.target, dtype=torch.int64, device=device)
    return images, labels


def digits_split(test_fraction: float = 0.2, seed: int = 0, dtype=torch.float32, device=None) -> DigitsSplit:
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

    Returns
    -------
    DigitsSplit
        The two parts, each class in the same proportion.

    Raises
    ------
    ValueError
        If ``test_fraction`` is not in (0, 1).
    """
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction!r}")
    from sklearn.model_selection import train_test_split

    images, labels = load_digits(dtype=dtype)
    idx = np.arange(labels.shape[0])
    train_idx, test_idx = train_test_split(idx, test_size=float(test_fraction), random_state=int(seed),
                                           stratify=labels.numpy())
    tr, te = torch.as_tensor(train_idx), torch.as_tensor(test_idx)
    return DigitsSplit(images[tr].to(device), labels[tr].to(device), images[te].to(device), labels[te].to(device),
                       int(seed))
