"""Trainers of GANs with dualised linear discriminators (SPEC.md section 1) and their records."""
from .history import STANDARD_COLUMNS, Decrease, History

__all__ = ["History", "Decrease", "STANDARD_COLUMNS"]
