r"""Ipopt through cyipopt, with exact derivatives.

Two formulations, chosen by shape so that Ipopt sees a sparse problem where it
can:

* lifted (d < N): variables :math:`(\lambda, v)` with the d equalities
  :math:`G^\top\lambda - v = 0`; the objective
  :math:`\|v\|^2/(2C) - \sum_i a_i H(\lambda_i/a_i)` then has a diagonal
  Hessian and the Jacobian is :math:`[G^\top, -I]`;
* dense (d >= N): variables :math:`\lambda` only, with the dense Hessian
  :math:`GG^\top/C + \mathrm{diag}(a_i/(\lambda_i(a_i-\lambda_i)))`.

``bound_relax_factor = 0`` keeps every iterate inside the box, where the
entropy is defined. The bias equality :math:`y^\top\lambda = 0` is one more
linear constraint.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from .newton import problem_result
from .problem import LinearDual
from .registry import register_solver
from .result import gap_target

__all__ = ["solve_ipopt", "NlpDual"]


class NlpDual:
    """The dual as an NLP in cyipopt's callback form (minimise -D)."""

    def __init__(self, problem: LinearDual, lifted: bool | None = None):
        self.G = problem.G.cpu().numpy()
        self.a = problem.a.cpu().numpy()
        self.y = problem.y.cpu().numpy()
        self.C, self.hinge, self.bias = problem.C, problem.loss == "hinge", problem.bias
        self.N, self.d = self.G.shape
        self.lifted = (self.d < self.N) if lifted is None else lifted
        self.n_var = self.N + (self.d if self.lifted else 0)
        self.n_con = (self.d if self.lifted else 0) + (1 if self.bias else 0)
        if not self.lifted:
            self.K = self.G @ self.G.T
            self._hrow, self._hcol = np.tril_indices(self.N)

    # -- pieces of -D
    def _entropy_terms(self, lam):
        a = self.a
        rest = a - lam
        f = (lam * np.log(lam / a) + rest * np.log(rest / a)).sum()
        g = np.log(lam) - np.log(rest)
        h = a / (lam * rest)
        return f, g, h

    def objective(self, x):
        lam = x[: self.N]
        v = x[self.N:] if self.lifted else self.G.T @ lam
        f = (v @ v) / (2 * self.C)
        return f - lam.sum() if self.hinge else f + self._entropy_terms(lam)[0]

    def gradient(self, x):
        lam = x[: self.N]
        if self.lifted:
            g = np.concatenate([np.zeros(self.N), x[self.N:] / self.C])
        else:
            g = self.K @ lam / self.C
        g[: self.N] += -1.0 if self.hinge else self._entropy_terms(lam)[1]
        return g

    def constraints(self, x):
        parts = []
        if self.lifted:
            parts.append(self.G.T @ x[: self.N] - x[self.N:])
        if self.bias:
            parts.append(np.array([self.y @ x[: self.N]]))
        return np.concatenate(parts) if parts else np.zeros(0)

    def jacobianstructure(self):
        rows, cols = [], []
        if self.lifted:
            r, c = np.meshgrid(np.arange(self.d), np.arange(self.N), indexing="ij")
            rows += [r.ravel(), np.arange(self.d)]
            cols += [c.ravel(), self.N + np.arange(self.d)]
        if self.bias:
            rows.append(np.full(self.N, self.n_con - 1))
            cols.append(np.arange(self.N))
        if not rows:
            return np.zeros(0, dtype=int), np.zeros(0, dtype=int)
        return np.concatenate(rows), np.concatenate(cols)

    def jacobian(self, x):
        vals = []
        if self.lifted:
            vals += [self.G.T.ravel(), -np.ones(self.d)]
        if self.bias:
            vals.append(self.y)
        return np.concatenate(vals) if vals else np.zeros(0)

    def hessianstructure(self):
        if self.lifted:
            idx = np.arange(self.n_var)
            return idx, idx
        return self._hrow, self._hcol

    def hessian(self, x, lagrange, obj_factor):
        lam = x[: self.N]
        diag = np.zeros(self.N) if self.hinge else self._entropy_terms(lam)[2]
        if self.lifted:
            return obj_factor * np.concatenate([diag, np.full(self.d, 1.0 / self.C)])
        H = self.K / self.C
        H = H[self._hrow, self._hcol]
        on_diag = self._hrow == self._hcol
        H[on_diag] += diag
        return obj_factor * H

    def intermediate(self, alg_mod, iter_count, *args):
        """Ipopt's per-iteration callback: remember the iteration count."""
        self.iterations = int(iter_count)
        return True

    def start(self, lam):
        return np.concatenate([lam, self.G.T @ lam]) if self.lifted else lam.copy()

    def bounds(self):
        lb = np.concatenate([np.zeros(self.N), np.full(self.n_var - self.N, -np.inf)])
        ub = np.concatenate([self.a, np.full(self.n_var - self.N, np.inf)])
        return lb, ub


IPOPT_OPTIONS = {
    "print_level": 0,
    "sb": "yes",
    "bound_relax_factor": 0.0,
    "honor_original_bounds": "yes",
    "mu_strategy": "adaptive",
}


@register_solver("ipopt", losses=("logistic", "hinge"), bias=True, requires="cyipopt")
def solve_ipopt(problem: LinearDual, tol: float, max_iter: int | None, lam0, w_rtol: float) -> "DualResult":  # noqa: F821
    """Solve the dual with Ipopt (cyipopt), exact Hessian."""
    import cyipopt

    nlp = NlpDual(problem)
    lb, ub = nlp.bounds()
    zero = np.zeros(nlp.n_con)
    lam_init, _ = problem.initial_point(lam0)
    x0 = nlp.start(lam_init.cpu().numpy())

    def run_once(ipopt_tol, iter_cap):
        ipopt = cyipopt.Problem(n=nlp.n_var, m=nlp.n_con, problem_obj=nlp, lb=lb, ub=ub, cl=zero, cu=zero)
        for key, val in IPOPT_OPTIONS.items():
            ipopt.add_option(key, val)
        ipopt.add_option("tol", ipopt_tol)
        ipopt.add_option("max_iter", iter_cap)
        x, info = ipopt.solve(x0)
        msg = info["status_msg"]
        msg = msg.decode() if isinstance(msg, bytes) else msg
        return np.clip(x[: nlp.N], 0.0, nlp.a), getattr(nlp, "iterations", 0), f"ipopt status {info['status']} ({msg})"

    return ipopt_with_refinement(problem, run_once, tol, max_iter, "ipopt", w_rtol)


def ipopt_with_refinement(problem: LinearDual, run_once, tol, max_iter, method, w_rtol) -> "DualResult":  # noqa: F821
    """Run Ipopt, and re-run with a tighter tolerance while the duality gap exceeds ``tol``.

    Ipopt stops on its own scaled KKT error, which bounds the duality gap only up
    to a problem-dependent factor (large for small C); the gap is what we certify.
    """
    t0 = time.perf_counter()
    iter_cap = 3000 if max_iter is None else max_iter
    ipopt_tol, iterations, status, message = min(1e-8, 0.01 * tol), 0, "max_iter", ""
    for attempt in range(4):
        lam, its, ipopt_status = run_once(ipopt_tol, iter_cap)
        iterations += its
        lam_t = torch.as_tensor(lam, dtype=torch.float64, device=problem.device)
        _, _, gap, w, _ = problem.certificate(lam_t)
        target = gap_target(problem.C, float(torch.linalg.vector_norm(w)), tol, w_rtol)
        if gap <= target:
            status = "converged"
            break
        # Ipopt's own verdict (say "Solve_Succeeded" on its scaled KKT error) is reported as what it
        # is, beside the gap that decides the status
        status, message = "stalled", f"Ipopt stopped on its own KKT test ({ipopt_status}) short of the certificate"
        if its >= iter_cap:
            status, message = "max_iter", f"Ipopt used its {iter_cap} iterations ({ipopt_status})"
            break
        if ipopt_tol <= 1e-15:
            break
        ipopt_tol = max(1e-15, ipopt_tol * 0.1 * target / gap)
    return problem_result(problem, lam_t, None, iterations, time.perf_counter() - t0, status, message, method, tol,
                          w_rtol)
