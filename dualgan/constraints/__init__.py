"""Known linear constraints on the data (SPEC.md section 4).

The handler interface every trainer and game optimiser calls lives in
:mod:`dualgan.constraints.base`.
"""
from .base import ConstraintHandler, ConstraintState, NoConstraint

__all__ = ["ConstraintHandler", "ConstraintState", "NoConstraint"]
