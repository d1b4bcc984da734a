r"""Certified dual solvers for linear discriminators (eqs. (1.1)-(1.12) of the theory page, docs/theory.md).

>>> from dualgan.duals import LinearDual, solve
>>> # prob = LinearDual(phi_real, phi_fake, C=1e-4); res = solve(prob); res.gap <= 1e-10

Every solver returns the same :class:`DualResult`. Methods: ``"newton"``
(default, ours), ``"lbfgsb"`` (scipy), ``"ipopt"`` (cyipopt, optional extra),
``"casadi"`` (casadi's Ipopt).
"""
from .problem import LOSSES, LinearDual
from .result import DualResult, DualSolverWarning
from .registry import available_methods, register_solver, solve
from .objective import dual_objective
from .newton import NewtonState, maximize_entropy_dual
from .interior_point import box_qp_interior_point
from . import lbfgsb as _lbfgsb  # noqa: F401  (registers "lbfgsb")
from . import ipopt as _ipopt  # noqa: F401  (registers "ipopt")
from . import casadi_ipopt as _casadi  # noqa: F401  (registers "casadi")

__all__ = ["LinearDual", "DualResult", "DualSolverWarning", "solve", "available_methods", "register_solver",
           "dual_objective", "maximize_entropy_dual", "box_qp_interior_point", "NewtonState", "LOSSES",
           "DualLogisticRegression"]


def __getattr__(name):
    # the scikit-learn estimator (duals/estimator.py) is imported on first use: importing
    # scikit-learn's linear models would add about a second to every `import dualgan.duals`
    if name == "DualLogisticRegression":
        from .estimator import DualLogisticRegression
        return DualLogisticRegression
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
