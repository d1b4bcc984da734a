"""Every registered entry of each family against an independent reference, one table per family.

The tables iterate over whatever is registered (no hand-written lists of
names), so an entry added to the library is tested here without editing this
file:

* dual solvers (:data:`dualgan.duals.SOLVERS`): each on seeded problems of every
  loss it declares, with and without a bias where it declares one, against the
  primal solved by scikit-learn (logistic: ``LogisticRegression`` with the
  Newton-Cholesky solver) or by scipy's SLSQP on the primal quadratic programme
  (hinge), compared by weak duality and objective agreement (eqs. (1.1), (1.3),
  (1.12) and (1.16) of the theory page, written out here in numpy);
* game optimisers (:data:`dualgan.games.OPTIMIZERS`): each one's steps on the
  bilinear game against its closed-form update map, and the geometric rate of
  a long run against the spectral radius of that map (eq. (3.12));
* radius policies (:data:`dualgan.trust_region.radius.POLICIES`): each against
  its documented rule (eqs. (2.12)-(2.13)) written out by hand below, on a grid
  of ratios, step lengths and radii.
"""
from __future__ import annotations

import functools
import importlib.util
import math
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize

from dualgan.duals import SOLVERS, LinearDual, solve
from dualgan.games import OPTIMIZERS, BilinearGame, make_optimizer, random_matrix
from dualgan.trust_region.radius import POLICIES

# ---------------------------------------------------------------------------------------------- dual solvers
# (n real, m generated, d features, C): d < N, and d >= N (the dual side of Newton, the dense Ipopt form)
SHAPES = [(15, 12, 4, 0.1), (8, 7, 20, 1.0)]
SOLVER_TOL = 1e-8   # every registered solver certifies this on these small problems


def _solver_cases():
    cases = []
    for name in SOLVERS:
        entry = SOLVERS.entry(name)
        requires = entry.info.get("requires")
        missing = requires is not None and importlib.util.find_spec(requires) is None
        for loss in entry.losses:
            for bias in ((False, True) if entry.bias else (False,)):
                for k in range(len(SHAPES)):
                    marks = [pytest.mark.skip(reason=f"solver {name!r} needs the package {requires!r}, "
                                                     f"not installed")] if missing else []
                    cases.append(pytest.param(name, loss, bias, k, marks=marks, id=f"{name}-{loss}-bias{bias}-{k}"))
    return cases


def _problem(loss, bias, k):
    n, m, d, C = SHAPES[k]
    rng = np.random.default_rng(k)
    return LinearDual(rng.normal(0.5, 1.0, (n, d)), rng.normal(0.0, 1.2, (m, d)), C=C, loss=loss, bias=bias)


def _arrays(p):
    """``G`` (rows y_i phi_i), ``y`` (+1 real, -1 generated), ``a`` (1/n, 1/m): the problem in numpy."""
    n, m = p.phi_real.shape[0], p.phi_fake.shape[0]
    phi = np.vstack([p.phi_real.numpy(), p.phi_fake.numpy()])
    y = np.r_[np.ones(n), -np.ones(m)]
    a = np.r_[np.full(n, 1.0 / n), np.full(m, 1.0 / m)]
    return y[:, None] * phi, y, a, phi


def _primal(p, w, b):
    """Eq. (1.1): C/2 ||w||^2 + sum_i a_i l(y_i (w . phi_i + b))."""
    G, y, a, _ = _arrays(p)
    z = G @ w + y * b
    loss = np.logaddexp(0.0, -z) if p.loss == "logistic" else np.maximum(0.0, 1.0 - z)
    return 0.5 * p.C * float(w @ w) + float(a @ loss)


def _dual(p, lam):
    """Eq. (1.3) (logistic: entropy of lam_i / a_i) or eq. (1.12) (hinge: sum of lam), at 0 <= lam <= a."""
    G, _, a, _ = _arrays(p)
    v = G.T @ lam
    if p.loss == "hinge":
        return -float(v @ v) / (2 * p.C) + float(lam.sum())
    u = np.clip(lam / a, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = -(np.where(u > 0, u * np.log(u), 0.0) + np.where(u < 1, (1 - u) * np.log1p(-u), 0.0))
    return -float(v @ v) / (2 * p.C) + float(a @ ent)


@functools.lru_cache(maxsize=None)
def _reference(loss, bias, k):
    """The primal minimiser ``(w, b)`` from an outside solver."""
    p = _problem(loss, bias, k)
    G, y, a, phi = _arrays(p)
    if loss == "logistic":
        from sklearn.linear_model import LogisticRegression

        # scikit-learn: 1/2 ||w||^2 + C_sk sum_i s_i log(1 + exp(-y_i (w . x_i + b))) = (eq. (1.1)) / C
        clf = LogisticRegression(C=1.0 / p.C, fit_intercept=bias, tol=1e-12, max_iter=1000, solver="newton-cholesky")
        clf.fit(phi, (y > 0).astype(int), sample_weight=a)
        return clf.coef_.ravel().copy(), float(clf.intercept_[0]) if bias else 0.0
    # hinge: min C/2 ||w||^2 + a . xi  s.t.  xi >= 0, xi >= 1 - (G w + y b), by SLSQP
    N, d = G.shape
    nb = int(bias)
    M = np.hstack([G, y[:, None]]) if bias else G
    cons = [{"type": "ineq", "fun": lambda x: x[d + nb:] - 1.0 + M @ x[:d + nb],
             "jac": lambda x: np.hstack([M, np.eye(N)])}]
    res = minimize(lambda x: 0.5 * p.C * x[:d] @ x[:d] + a @ x[d + nb:], np.r_[np.zeros(d + nb), np.ones(N)],
                   jac=lambda x: np.r_[p.C * x[:d], np.zeros(nb), a], constraints=cons,
                   bounds=[(None, None)] * (d + nb) + [(0.0, None)] * N, method="SLSQP",
                   options={"ftol": 1e-15, "maxiter": 2000})
    assert res.success, res.message
    return res.x[:d].copy(), float(res.x[d]) if bias else 0.0


@pytest.mark.parametrize("name, loss, bias, k", _solver_cases())
def test_every_registered_dual_solver_against_the_primal_reference(name, loss, bias, k):
    p = _problem(loss, bias, k)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a certified solve emits no DualSolverWarning
        res = solve(p, method=name, tol=SOLVER_TOL, w_rtol=math.inf)
    assert res.success and res.method == name, res.status
    G, y, a, _ = _arrays(p)
    lam = np.concatenate([np.asarray(res.lam_real), np.asarray(res.lam_fake)])
    w = np.asarray(res.w, dtype=np.float64)
    b = float(res.b) if bias else 0.0
    # dual feasibility: the box, and the bias equality
    assert (lam >= 0).all() and (lam <= a).all()
    if bias:
        assert abs(float(y @ lam)) <= 1e-12
    D, P = _dual(p, lam), _primal(p, w, b)
    # the record states the values of its own pair
    assert res.dual_value == pytest.approx(D, abs=1e-12)
    assert res.primal_value == pytest.approx(P, abs=1e-12)
    assert res.gap == pytest.approx(P - D, abs=1e-12) and res.gap <= SOLVER_TOL
    w_ref, b_ref = _reference(loss, bias, k)
    P_ref = _primal(p, w_ref, b_ref)
    # weak duality: a dual value never exceeds a primal value (up to the bias equality's rounding)
    slack = abs(b_ref) * abs(float(y @ lam)) + 1e-13
    assert D <= P_ref + slack and D <= P + slack
    # objective agreement: the solver's primal value is no worse than the reference's, and both
    # are within the certified gap (plus the reference's own accuracy) of the solver's dual value
    assert P <= P_ref + 1e-9
    assert P_ref - D <= SOLVER_TOL + 1e-9
    # strong convexity (C/2 ||w - w*||^2 <= P(w) - D): both discriminators lie near w*; the
    # differences of values near 1 are known to a few ulps
    ulps = 8 * np.finfo(np.float64).eps * (abs(P) + abs(D) + 1.0)
    bound = math.sqrt(2 * (max(P - D, 0) + ulps) / p.C) + math.sqrt(2 * (max(P_ref - D, 0) + ulps) / p.C)
    assert np.linalg.norm(w - w_ref) <= bound


# ---------------------------------------------------------------------------------------------- game optimisers
A_GAME = random_matrix(3, 2, seed=0, singular_values=(0.6, 1.2))   # non-square: a transposed block fails


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_registered_optimiser_steps_by_its_closed_form_map_on_the_bilinear_game(name):
    """Cross-implementation check: the optimiser's steps against its own bilinear_update_map on x^T A y (run for
    every registered optimiser); the maps are checked against closed forms written in tests/games/test_bilinear.py."""
    lr = 0.2
    game = BilinearGame(A_GAME, seed=3)
    opt = make_optimizer(name, lr=lr)
    M = opt.bilinear_update_map(A_GAME)
    n = game.num_parameters
    k = M.shape[0] // n                                # 1 + the number of past iterates the method uses
    assert M.shape == (k * n, k * n)
    zs = [game.get_flat().numpy().copy()]
    for _ in range(k + 4):
        assert opt.step(game).ok
        zs.append(game.get_flat().numpy().copy())
    for t in range(k, len(zs) - 1):                    # once the method has its k - 1 past fields
        state = np.concatenate([zs[t - j] for j in range(k)])
        np.testing.assert_allclose(zs[t + 1], (M @ state)[:n], rtol=1e-9, atol=1e-12)
    # the past-iterate rows of the map shift the state: z_{t-j} moves one slot down
    for j in range(1, k):
        np.testing.assert_array_equal(M[j * n:(j + 1) * n, (j - 1) * n:j * n], np.eye(n))


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_registered_optimiser_converges_or_diverges_at_its_spectral_radius(name):
    """Cross-implementation check: the spectral radius of the optimiser's bilinear_update_map (numpy's eigenvalues)
    against the measured rate."""
    lr = 0.3
    A = random_matrix(4, seed=1, singular_values=(0.5, 1.5))
    game = BilinearGame(A, seed=2)
    opt = make_optimizer(name, lr=lr)
    rho = float(np.max(np.abs(np.linalg.eigvals(opt.bilinear_update_map(A)))))
    norms = [float(game.get_flat().norm())]
    for _ in range(400):
        assert opt.step(game).ok
        norms.append(float(game.get_flat().norm()))
    norms = np.array(norms)
    t = np.arange(200, len(norms))
    rate = float(np.exp(np.polyfit(t, np.log(norms[200:]), 1)[0]))
    assert abs(math.log(rate) - math.log(rho)) <= 0.05 * abs(math.log(rho)) + 2e-3, (rate, rho)
    if rho < 0.99:
        assert norms[-1] < 1e-2 * norms[0]             # theory says it converges: it does
    if rho > 1.01:
        assert norms[-1] > 10 * norms[0]               # theory says it diverges: it does


# ---------------------------------------------------------------------------------------------- radius policies
def _hand_standard(pol, rho, step, radius):
    """Eq. (2.12), Nocedal & Wright's Algorithm 4.1, as the module documents it."""
    floor = lambda r: max(r, pol.min_radius)           # noqa: E731
    if not math.isfinite(rho) or rho < pol.eta_accept:
        return False, floor(pol.shrink * radius)
    if rho < pol.eta_shrink:
        return True, floor(pol.shrink * radius)
    if rho > pol.eta_grow and step >= pol.boundary_fraction * radius:
        return True, min(pol.grow * radius, pol.max_radius)
    return True, radius


def _hand_symmetric(pol, rho, step, radius):
    """Eq. (2.13): far from 1 on either side is a poor model."""
    floor = lambda r: max(r, pol.min_radius)           # noqa: E731
    if not math.isfinite(rho) or abs(rho - 1) > pol.tolerance:
        return False, floor(pol.shrink * radius)
    if abs(rho - 1) < pol.grow_tolerance and step >= pol.boundary_fraction * radius:
        return True, min(pol.grow * radius, pol.max_radius)
    return True, radius


def _hand_fixed(pol, rho, step, radius):
    """Accept every step, keep the radius."""
    return True, radius


HAND_RULES = {"standard": _hand_standard, "symmetric": _hand_symmetric, "fixed": _hand_fixed}
RHOS = [-np.inf, -2.0, -1e-3, 0.0, 5e-5, 1e-4, 0.1, 0.25, 0.26, 0.5, 0.75, 0.76, 0.8, 1.0, 1.2, 1.74, 1.76, 3.0,
        np.inf, np.nan]


@pytest.mark.parametrize("name", POLICIES.names())
def test_every_registered_radius_policy_follows_its_documented_rule(name):
    assert name in HAND_RULES, f"radius policy {name!r} has no hand-written rule in this test: add one"
    policy = POLICIES.get(name)()
    rule = HAND_RULES[name]
    for radius in (1e-10, 0.3, 1.0, 8.0):
        for step in (0.1 * radius, 0.998 * radius, 0.999 * radius, radius):
            for rho in RHOS:
                decision = policy.update(float(rho), step, radius)
                expected = rule(policy, float(rho), step, radius)
                assert (decision.accepted, decision.radius) == pytest.approx(expected, rel=1e-15, abs=0), \
                    (name, rho, step, radius, decision)
                assert decision.reason
