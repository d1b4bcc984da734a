"""Data without downloads: Gaussian mixtures (SPEC.md section 6) and image sets."""
from .toy import GaussianMixture, ring, grid, ring_on_plane

__all__ = ["GaussianMixture", "ring", "grid", "ring_on_plane"]
