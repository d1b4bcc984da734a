r"""Certified dual solvers for linear discriminators (eqs. (1.1)-(1.12) of the theory page, docs/theory.md).

Every solver returns the same :class:`DualResult`. The solvers are the entries
of :data:`SOLVERS` (one module of this package each, found by discovery):
``"newton"`` (default, ours), ``"lbfgsb"`` (scipy), ``"ipopt"`` (cyipopt,
optional extra), ``"casadi"`` (casadi's Ipopt); ``SOLVERS.options(name)`` lists
a method's own options, passed as ``solve(..., options={...})``.

Examples
--------
>>> import torch
>>> from dualgan.duals import LinearDual, solve
>>> phi_real, phi_fake = torch.rand(20, 3, dtype=torch.float64), torch.rand(20, 3, dtype=torch.float64) + 0.5
>>> res = solve(LinearDual(phi_real, phi_fake, C=1e-2))
>>> res.success and res.gap <= 1e-10
True
"""
from .problem import DISCRIMINATOR_LOSSES, LinearDual
from .result import DualResult, DualSolverWarning, NewtonState, problem_result
from .registry import SOLVERS, solve
from .objective import dual_objective
from .newton import maximize_entropy_dual
from .interior_point import box_qp_interior_point
from .kernel import KernelDual, kernel_dual_objective

__all__ = ["LinearDual", "DualResult", "DualSolverWarning", "solve", "SOLVERS",
           "dual_objective", "maximize_entropy_dual", "box_qp_interior_point", "NewtonState", "problem_result",
           "DISCRIMINATOR_LOSSES", "DualLogisticRegression", "KernelDual", "kernel_dual_objective"]


def __getattr__(name):
    # the scikit-learn estimator (duals/_estimator.py) is imported on first use: importing
    # scikit-learn's linear models would add about a second to every `import dualgan.duals`
    if name == "DualLogisticRegression":
        from ._estimator import DualLogisticRegression
        return DualLogisticRegression
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
