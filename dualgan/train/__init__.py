"""Trainers of GANs (eqs. (1.1)-(1.15) of the theory page, docs/theory.md) on one protocol, and their records.

* :class:`Trainer`: the one trainer protocol (fit to a total iteration, one
  :class:`History`, callbacks, progress, checkpoint/resume, status); every
  trainer is registered in :data:`TRAINERS`;
* :class:`DualLinearGAN`: the exact (dual) discriminator, fixed-batch monotone ascent or minibatch training;
* :class:`KernelDualGAN`: the exact kernel discriminator (a certified dual on the Gram matrix), or its MMD counterpart;
* :class:`StandardLinearGAN`: the standard GAN baseline on the same discriminator and features;
* :class:`History`: per-iteration records shared by every trainer of the library.
"""
from .history import STANDARD_COLUMNS, Decrease, History
from .base import NOISES, SHARED_COLUMNS, TRAINERS, CheckpointError, Trainer, make_trainer, read_checkpoint, \
    write_checkpoint
from .generators import GENERATOR_SIZES, mlp, mlp_generator
from .linear import MODES, DualLinearGAN, RecordLambdas, StandardLinearGAN, feature_fingerprint
from .kernel import DUAL_WEIGHTS, KernelDualGAN
from .tensorboard import TensorBoardCallback, write_history

__all__ = ["Trainer", "TRAINERS", "make_trainer", "CheckpointError", "read_checkpoint", "write_checkpoint", "SHARED_COLUMNS", "NOISES",
           "History", "Decrease", "STANDARD_COLUMNS", "DualLinearGAN", "StandardLinearGAN", "RecordLambdas",
           "MODES", "feature_fingerprint", "mlp", "mlp_generator", "GENERATOR_SIZES", "TensorBoardCallback",
           "write_history", "KernelDualGAN", "DUAL_WEIGHTS"]
