"""Game optimisers behind one step protocol; one module per optimiser.

Each module of this package defines a :class:`GameOptimizer` subclass registered with
``@OPTIMIZERS.register(name, batchable=..., coefficient=...)``; :data:`OPTIMIZERS` imports every module of
the package the first time it is read, so adding an optimiser is adding one file.
:func:`make_optimizer` builds one by name, with its options checked by name.
"""
from __future__ import annotations

from .base import BASE_OPTIMIZERS, OPTIMIZERS, GameOptimizer, NotBatchableError, StepRecord, make_base_optimizer
from .alternating import AlternatingGD
from .cgd import CompetitiveGD
from .consensus import ConsensusOptimization
from .extragradient import Extragradient
from .optimistic import OptimisticGD
from .sga import SymplecticGradientAdjustment
from .simultaneous import SimultaneousGD

__all__ = ["GameOptimizer", "StepRecord", "OPTIMIZERS", "BASE_OPTIMIZERS", "make_base_optimizer",
           "make_optimizer", "NotBatchableError", "SimultaneousGD", "AlternatingGD", "ConsensusOptimization",
           "Extragradient", "OptimisticGD", "SymplecticGradientAdjustment", "CompetitiveGD"]


def make_optimizer(name: str, **options) -> GameOptimizer:
    """Build a registered optimiser, e.g. ``make_optimizer("consensus", lr=1e-4, gamma=10, base="rmsprop")``.

    Parameters
    ----------
    name : str
        A name of :data:`OPTIMIZERS`.
    **options
        The optimiser's options, the keyword-only parameters of its constructor
        (``OPTIMIZERS.options(name)``): ``lr``, ``base``, ``base_kwargs`` and its own, e.g. ``gamma``.

    Returns
    -------
    GameOptimizer
        A new optimiser, not yet bound to a game.

    Raises
    ------
    ValueError
        If ``name`` is not registered or an option is not one of the optimiser's (the message lists
        the valid ones), or an option is out of range.
    """
    return OPTIMIZERS.get(name)(**OPTIMIZERS.check_options(name, options))
