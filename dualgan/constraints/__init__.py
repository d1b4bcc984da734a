r"""Known linear constraints on the data (eqs. (4.1)-(4.9) of the theory page, docs/theory.md).

Constraint sets: :class:`AffineSubspace` ``A x = b`` and
:class:`HyperplaneUnion` (``a_k^T x = b_k`` for some k). Handlers, all with the
one interface of :mod:`dualgan.constraints.base` (``wrap_generator``,
``penalty``, ``update``, ``state``) that every trainer and game optimiser
takes as ``constraint=``:

* :class:`Projection`: exact, a differentiable last layer of the generator;
* :class:`Penalty`: squared residual (subspace) or product / min / smooth-min
  forms (union), with a weight;
* :class:`AugmentedLagrangian`: method of multipliers, multipliers and penalty
  parameter reported in the state.

Discriminator side: :class:`ResidualFeatures` appends the residual to any
feature map.


Examples
--------
>>> import torch
>>> from dualgan.constraints import AffineSubspace, Projection
>>> S = AffineSubspace([[1.0, 1.0, 1.0, 0.0, 0.0]], [1.0])
>>> G = Projection(S).wrap_generator(torch.nn.Linear(3, 5))
>>> S.violation(G(torch.randn(8, 3))).max_distance < 1e-6
True
"""
from .base import ConstraintHandler, ConstraintState, HandlerBase, NoConstraint
from .sets import AffineSubspace, HyperplaneUnion, Violation
from .projection import Projection, ProjectedGenerator
from .penalty import Penalty, penalty_value
from .lagrangian import AugmentedLagrangian, active_residual
from .features import ResidualFeatures

__all__ = ["ConstraintHandler", "ConstraintState", "HandlerBase", "NoConstraint", "AffineSubspace", "HyperplaneUnion", "Violation",
           "Projection", "ProjectedGenerator", "Penalty", "penalty_value", "AugmentedLagrangian", "active_residual",
           "ResidualFeatures"]
