"""Game optimisers behind one step protocol; one module per optimiser.

Every module of this package that defines a :class:`GameOptimizer` subclass
decorated with :func:`register` is imported here, so adding an optimiser is
adding one file. :func:`make_optimizer` builds one by name.
"""
from __future__ import annotations

import importlib
import pkgutil

from .base import BASE_OPTIMIZERS, OPTIMIZERS, GameOptimizer, StepRecord, make_base_optimizer, register

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name not in ("base",) and not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")

from .alternating import AlternatingGD  # noqa: E402
from .cgd import CompetitiveGD  # noqa: E402
from .consensus import ConsensusOptimization  # noqa: E402
from .extragradient import Extragradient  # noqa: E402
from .optimistic import OptimisticGD  # noqa: E402
from .sga import SymplecticGradientAdjustment  # noqa: E402
from .simultaneous import SimultaneousGD  # noqa: E402

__all__ = ["GameOptimizer", "StepRecord", "OPTIMIZERS", "BASE_OPTIMIZERS", "register", "make_base_optimizer",
           "make_optimizer", "available_optimizers", "SimultaneousGD", "AlternatingGD", "ConsensusOptimization",
           "Extragradient", "OptimisticGD", "SymplecticGradientAdjustment", "CompetitiveGD"]


def available_optimizers() -> list[str]:
    """Names accepted by :func:`make_optimizer`.

    Returns
    -------
    list of str
        The registered optimiser names, sorted.
    """
    return sorted(OPTIMIZERS)


def make_optimizer(name: str, **kwargs) -> GameOptimizer:
    """Build a registered optimiser, e.g. ``make_optimizer("consensus", lr=1e-4, gamma=10, base="rmsprop")``.

    Parameters
    ----------
    name : str
        A registered name (:func:`available_optimizers`).
    **kwargs
        Keyword arguments of the optimiser's constructor (``lr``, ``base``,
        ``base_kwargs`` and the method's own, e.g. ``gamma``).

    Returns
    -------
    GameOptimizer
        A new optimiser, not yet bound to a game.

    Raises
    ------
    ValueError
        If ``name`` is not registered or a keyword argument is out of range.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimiser {name!r}; choose one of {available_optimizers()}")
    return OPTIMIZERS[name](**kwargs)
