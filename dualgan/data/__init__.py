"""Data without downloads: Gaussian mixtures (eq. (6.1) of the theory page, docs/theory.md) and image sets."""
from .toy import GaussianMixture, ring, grid, ring_on_plane
from .digits import DigitsSplit, digits_split, load_digits
from .idx import load_idx_images, read_idx

__all__ = ["GaussianMixture", "ring", "grid", "ring_on_plane", "DigitsSplit", "digits_split", "load_digits",
           "read_idx", "load_idx_images"]
