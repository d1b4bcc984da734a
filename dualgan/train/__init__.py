"""Trainers of GANs with dualised linear discriminators (eqs. (1.1)-(1.15) of the theory page, docs/theory.md) and their records.

* :class:`DualLinearGAN`: the exact (dual) discriminator, fixed-batch monotone ascent or minibatch training;
* :class:`StandardLinearGAN`: the standard GAN baseline on the same discriminator and features;
* :class:`History`: per-iteration records shared by every trainer of the library.
"""
from .history import STANDARD_COLUMNS, Decrease, History
from .generators import GENERATOR_SIZES, mlp_generator
from .linear import MODES, DualLinearGAN, LinearGANTrainer, StandardLinearGAN
from .tensorboard import TensorBoardCallback, write_history

__all__ = ["History", "Decrease", "STANDARD_COLUMNS", "DualLinearGAN", "StandardLinearGAN", "LinearGANTrainer",
           "MODES", "mlp_generator", "GENERATOR_SIZES", "TensorBoardCallback", "write_history"]
