"""Data without downloads: Gaussian mixtures (eq. (6.1) of the theory page, docs/theory.md) and image sets (scikit-learn's digits at 8x8 or resampled to 28x28; IDX files such as MNIST's)."""
from .toy import GaussianMixture, ring, grid, ring_on_plane
from .digits import RESAMPLE_MODES, DigitsSplit, digits_split, load_digits
from .idx import load_idx_images, read_idx

__all__ = ["GaussianMixture", "ring", "grid", "ring_on_plane", "DigitsSplit", "digits_split", "load_digits",
           "RESAMPLE_MODES", "read_idx", "load_idx_images"]
