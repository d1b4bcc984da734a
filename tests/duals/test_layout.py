"""The layout of dualgan.duals: one solver signature, one certificate, no import cycle; and the one check
that both differentiable objectives at fixed multipliers share."""
import ast
import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.special import xlogy

import dualgan.duals as duals
from dualgan.duals import SOLVERS, dual_objective, kernel_dual_objective
from dualgan.kernels import RBFKernel

PACKAGE = Path(duals.__file__).parent


@pytest.mark.parametrize("name", list(SOLVERS))
def test_every_registered_solver_has_the_one_signature(name):
    """The positional parameters are DualSolver's; everything else is a keyword-only option with a default."""
    params = list(inspect.signature(SOLVERS.get(name)).parameters.values())
    call = list(inspect.signature(duals.DualSolver.__call__).parameters)[1:6]  # after self, before **options
    assert [p.name for p in params[:5]] == call == ["problem", "tol", "max_iter", "lam0", "w_rtol"]
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in params[:5])
    options = params[5:]
    assert all(p.kind is p.KEYWORD_ONLY and p.default is not p.empty for p in options), options
    assert SOLVERS.options(name) == {p.name: p.default for p in options}
    for option, default in SOLVERS.options(name).items():  # the checked options are the ones given, no more
        assert SOLVERS.check_options(name, {option: default}) == {option: default}


def _imports(path: Path) -> set[str]:
    """The dualgan.duals modules ``path`` imports, at any depth (inside functions too)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.add(node.module.split(".")[0])
            else:
                out.update(a.name for a in node.names)
    return out


def test_no_import_cycle_inside_the_package_and_the_certificate_lives_in_result():
    graph = {p.stem: _imports(p) & {q.stem for q in PACKAGE.glob("*.py")} - {"__init__"}
             for p in PACKAGE.glob("*.py") if p.stem != "__init__"}

    def reaches(start, goal, seen=()):
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, seen + (nxt,))) for nxt in graph[start])

    cycles = sorted(m for m in graph if reaches(m, m))
    assert not cycles, f"modules on an import cycle: {cycles}"
    for solver in ("newton", "lbfgsb", "ipopt"):
        assert "result" in graph[solver], solver  # problem_result comes from result, not another solver
    from dualgan.duals import newton, result

    assert duals.problem_result is result.problem_result and duals.NewtonState is result.NewtonState
    assert newton.maximize_entropy_dual is duals.maximize_entropy_dual  # the old import path still works


X_REAL = torch.tensor(np.random.default_rng(0).normal(0.5, 1, (5, 3)))
X_FAKE = torch.tensor(np.random.default_rng(1).normal(0, 1, (4, 3)))
KERNEL = RBFKernel(sigma=1.1)


def _call(which, real, fake, lam_real, lam_fake, C=0.5, loss="logistic"):
    if which == "linear":
        return dual_objective(real, fake, lam_real, lam_fake, C, loss)
    return kernel_dual_objective(real, fake, lam_real, lam_fake, KERNEL, C, loss)


@pytest.mark.parametrize("which, first", [("linear", "phi_real"), ("kernel", "x_real")])
def test_both_objectives_refuse_the_same_faults_naming_their_own_arguments(which, first):
    lr, lf = np.full(5, 0.1), np.full(4, 0.125)
    with pytest.raises(ValueError, match=f"{first} and "):
        _call(which, X_REAL, X_FAKE[:, :2], lr, lf)
    with pytest.raises(ValueError, match="lam_real / lam_fake have 4 / 4 entries but the batches have 5 / 4 rows"):
        _call(which, X_REAL, X_FAKE, lr[:4], lf)
    with pytest.raises(ValueError, match=r"lam_fake\[2\] = 0\.5 with a_i = 0\.25"):
        _call(which, X_REAL, X_FAKE, lr, np.array([0.1, 0.1, 0.5, 0.1]))
    with pytest.raises(ValueError, match="C must"):
        _call(which, X_REAL, X_FAKE, lr, lf, C=0.0)
    with pytest.raises(ValueError, match="loss"):
        _call(which, X_REAL, X_FAKE, lr, lf, loss="square")


def test_kernel_objective_with_weights_is_the_closed_form():
    """-beta^T K beta / (2C) + sum_i a_i H(lam_i / a_i) (eq. (1.24)), written out in numpy."""
    w_real, w_fake = np.array([0.1, 0.3, 0.2, 0.25, 0.15]), np.array([0.4, 0.1, 0.3, 0.2])
    lr, lf = 0.3 * w_real, 0.6 * w_fake
    got = float(kernel_dual_objective(X_REAL, X_FAKE, lr, lf, KERNEL, 0.5, weights=(w_real, w_fake)))
    x = np.vstack([X_REAL.numpy(), X_FAKE.numpy()])
    K = np.exp(-((x[:, None, :] - x[None, :, :]) ** 2).sum(-1) / (2 * 1.1 ** 2))
    beta = np.concatenate([lr, -lf])
    lam, a = np.concatenate([lr, lf]), np.concatenate([w_real, w_fake])
    entropy = -(xlogy(lam, lam / a) + xlogy(a - lam, (a - lam) / a)).sum()
    assert got == pytest.approx(-beta @ K @ beta / (2 * 0.5) + entropy, rel=1e-13)
    with pytest.raises(ValueError, match="weights must be a pair"):
        kernel_dual_objective(X_REAL, X_FAKE, lr, lf, KERNEL, 0.5, weights=w_real)
