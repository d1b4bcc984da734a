"""The one interface of constraint handlers, as trainers and game optimisers see it.

A trainer holding a handler ``h`` does, for every generator update:

1. at construction: ``generator = h.wrap_generator(generator)`` (projection
   returns a wrapped module whose output lies on the constraint set; the other
   handlers return the generator unchanged);
2. in the generator's loss: ``loss = loss + h.penalty(samples)`` (a 0-d
   tensor; zero for projection and for no constraint);
3. after the generator step: ``h.update(samples)`` (the augmented Lagrangian
   updates its multipliers and penalty parameter here; others do nothing);
4. when recording history: ``h.state(samples)``, a :class:`ConstraintState`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import torch
from torch import nn

__all__ = ["ConstraintHandler", "ConstraintState", "NoConstraint"]


@dataclass(frozen=True)
class ConstraintState:
    """Violation of a batch and the handler's own variables (multipliers, penalty weight).

    ``mean_violation`` / ``max_violation``: Euclidean distance of the samples
    to the constraint set (to the nearest hyperplane for a union).
    ``multipliers``: the augmented Lagrangian's estimates (empty otherwise).
    ``penalty_weight``: the penalty's weight or the augmented Lagrangian's
    penalty parameter rho. ``mean_residual`` / ``max_residual``: the same
    violation in the user's units, ||A x - b|| (min_k |a_k^T x - b_k| for a
    union); NaN when a handler does not compute them. ``shares``: for a union,
    the fraction of samples whose nearest hyperplane is k.
    """

    mean_violation: float
    max_violation: float
    multipliers: tuple[float, ...] = field(default=())
    penalty_weight: float = 0.0
    mean_residual: float = float("nan")
    max_residual: float = float("nan")
    shares: tuple[float, ...] = field(default=())


@runtime_checkable
class ConstraintHandler(Protocol):
    """What a constraint handler offers to trainers and game optimisers."""

    def wrap_generator(self, generator: nn.Module) -> nn.Module: ...

    def penalty(self, samples: torch.Tensor) -> torch.Tensor: ...

    def update(self, samples: torch.Tensor) -> None: ...

    def state(self, samples: torch.Tensor) -> ConstraintState: ...


class NoConstraint:
    """The handler trainers use by default: changes nothing."""

    def wrap_generator(self, generator: nn.Module) -> nn.Module:
        return generator

    def penalty(self, samples: torch.Tensor) -> torch.Tensor:
        return samples.new_zeros(())

    def update(self, samples: torch.Tensor) -> None:
        return None

    def state(self, samples: torch.Tensor) -> ConstraintState:
        return ConstraintState(0.0, 0.0)
