r"""Certified dual solvers for linear discriminators (eqs. (1.1)-(1.12) of the theory page, docs/theory.md).

Every solver returns the same :class:`DualResult`. The solvers are the entries
of :data:`SOLVERS` (one module of this package each, found by discovery):
``"newton"`` (default, ours), ``"lbfgsb"`` (scipy), ``"ipopt"`` (cyipopt,
optional extra), ``"casadi"`` (casadi's Ipopt); ``SOLVERS.options(name)`` lists
a method's own options, passed as ``solve(..., options={...})``.

Layout (the model for every family of certified solvers):

* ``problem.py``: the validated problem, :class:`LinearDual` (it owns its checks,
  its certificate of a pair and its initial point); ``kernel.py`` adds
  :class:`KernelDual`;
* ``result.py``: the one result record, :class:`DualResult`, and the certificate
  every solver ends with, :func:`problem_result` (its status decided from the
  returned pair, eqs. (1.16) and (1.18), whatever the method claims), with the
  state :class:`NewtonState` of the box-dual methods;
* one solver per file (``newton.py``, ``lbfgsb.py``, ``ipopt.py``,
  ``casadi_ipopt.py``; ``interior_point.py`` holds the hinge dual's box method),
  each a function of the one signature
  :class:`DualSolver` registered by the file that defines
  it; solver modules import ``problem``, ``result`` and ``registry``, and share
  method pieces one way only (``newton`` uses ``interior_point``'s box method,
  ``casadi_ipopt`` ``ipopt``'s options and status), so no import cycle forms;
* ``registry.py``: :data:`SOLVERS` and :func:`solve`, the one entry point, which
  checks the arguments, picks the solver by name and warns when the tolerances
  are not certified;
* ``objective.py``: the dual's formulas, written once; private modules
  (``_backend``, ``_linalg``, ``_certify``, ``_primal``, ``_kernel``) hold the
  array back ends, the Newton-system algebra, the rounding-aware certificate
  arithmetic, the primal-side methods and the compiled kernels.

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
from .registry import SOLVERS, DualSolver, solve
from .objective import dual_objective
from .newton import maximize_entropy_dual
from .interior_point import box_qp_interior_point
from .kernel import KernelDual, kernel_dual_objective

__all__ = ["LinearDual", "DualResult", "DualSolverWarning", "solve", "SOLVERS", "DualSolver",
           "dual_objective", "maximize_entropy_dual", "box_qp_interior_point", "NewtonState", "problem_result",
           "DISCRIMINATOR_LOSSES", "DualLogisticRegression", "KernelDual", "kernel_dual_objective"]


def __getattr__(name):
    # the scikit-learn estimator (duals/_estimator.py) is imported on first use: importing
    # scikit-learn's linear models would add about a second to every `import dualgan.duals`
    if name == "DualLogisticRegression":
        from ._estimator import DualLogisticRegression
        return DualLogisticRegression
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
