"""Bilinear game x^T A y with a random 10 x 10 A: each optimiser against its closed-form linear update map.

The update maps M are written out here (``_closed_form_map``) from the update
rules (eqs. (3.3)-(3.10) and (3.12) of the theory page) in numpy; the
library's own ``bilinear_update_map`` is compared with them only in the test
named as a cross-implementation check.
"""
import numpy as np
import pytest
import torch

from dualgan.games import BilinearGame, make_optimizer, random_matrix

A = random_matrix(10, seed=0, singular_values=(0.5, 1.5))

# (name, lr, extra hyper-parameters); small steps, all well inside each method's stable range
CONVERGENT = [
    ("consensus", 0.3, {"gamma": 1.0}),
    ("extragradient", 0.5, {}),
    ("optimistic", 0.35, {}),
    ("sga", 0.3, {"lam": 1.0}),
    ("cgd", 1.0, {}),
]


def _closed_form_map(name, h, hyper, A=A):
    """z_{t+1} = M z_t for z = (x, y) on L_1 = x^T A y = -L_2, v = J z with J = [[0, A], [-A^T, 0]] (eq. (3.12)).

    Optimistic GD has memory: its map acts on (z_t, z_{t-1}) (the companion matrix).
    """
    n, m = A.shape
    I = np.eye(n + m)
    J = np.block([[np.zeros((n, n)), A], [-A.T, np.zeros((m, m))]])
    if name == "simultaneous":                          # (3.3)
        return I - h * J
    if name == "alternating":                           # (3.4): x first, then y sees the new x
        return np.block([[np.eye(n), -h * A], [h * A.T, np.eye(m) - h ** 2 * A.T @ A]])
    if name == "consensus":                             # (3.5): v + gamma J^T v
        return I - h * (J + hyper["gamma"] * J.T @ J)
    if name == "extragradient":                         # (3.6): z - h J (z - h J z)
        return I - h * J + h ** 2 * J @ J
    if name == "optimistic":                            # (3.7) on (z_t, z_{t-1})
        return np.block([[I - 2 * h * J, h * J], [I, np.zeros_like(I)]])
    if name == "sga":                                   # (3.8), (3.9): A = J here, <v, J^T v> = 0 so lam = +|lam0|
        return I - h * (J + abs(hyper["lam"]) * J.T @ J)
    if name == "cgd":                                   # (3.10) with f = x^T A y, g = -f
        S = np.linalg.inv(np.eye(n) + h ** 2 * A @ A.T)
        dx = -h * S @ np.hstack([h * A @ A.T, A])       # Delta x = -h S (A y + h A A^T x)
        dy = h * (np.hstack([A.T, np.zeros((m, m))]) + A.T @ dx)   # Delta y = h A^T (x + Delta x)
        return I + np.vstack([dx, dy])
    raise KeyError(name)


def _spectral_radius(name, lr, hyper):
    return float(np.max(np.abs(np.linalg.eigvals(_closed_form_map(name, lr, hyper)))))


def _fitted_rate(norms, start):
    """Geometric rate per step: exp of the least-squares slope of log ||z_t|| for t >= start."""
    t = np.arange(start, len(norms))
    slope = np.polyfit(t, np.log(norms[start:]), 1)[0]
    return float(np.exp(slope))


def _run(name, lr, hyper, steps, stop=None):
    game = BilinearGame(A, seed=1)
    opt = make_optimizer(name, lr=lr, **hyper)
    norms = [float(game.get_flat().norm())]
    dist = [game.distance_to_equilibrium()]
    for _ in range(steps):
        record = opt.step(game)
        assert record.ok, record.status
        norms.append(float(game.get_flat().norm()))
        dist.append(game.distance_to_equilibrium())
        if stop is not None and dist[-1] <= stop:
            break
    return np.array(norms), np.array(dist)


@pytest.mark.parametrize("name, lr, hyper", [("simultaneous", 0.1, {}), ("alternating", 0.1, {})] + CONVERGENT)
def test_one_step_equals_closed_form_update_map(name, lr, hyper):
    game = BilinearGame(A, seed=5)
    opt = make_optimizer(name, lr=lr, **hyper)
    M = _closed_form_map(name, lr, hyper)
    z0 = game.get_flat().numpy()
    opt.step(game)
    z1 = game.get_flat().numpy()
    if name == "optimistic":  # first step has no past field: z1 = z0 - h v(z0); then the companion map applies
        opt.step(game)
        z2 = game.get_flat().numpy()
        np.testing.assert_allclose(z2, (M @ np.concatenate([z1, z0]))[:20], rtol=1e-12, atol=1e-13)
    else:
        np.testing.assert_allclose(z1, M @ z0, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name, lr, hyper", [("simultaneous", 0.1, {}), ("alternating", 0.1, {})] + CONVERGENT)
def test_cross_implementation_library_update_map_equals_the_closed_form(name, lr, hyper):
    """Cross-implementation check: the library's bilinear_update_map (used by its stability maps) against the
    map written out in this file."""
    M = make_optimizer(name, lr=lr, **hyper).bilinear_update_map(A)
    np.testing.assert_allclose(M, _closed_form_map(name, lr, hyper), rtol=1e-12, atol=1e-13)


def test_simultaneous_gd_diverges_at_the_predicted_rate():
    lr = 0.1
    rho = _spectral_radius("simultaneous", lr, {})
    sigma_max = np.linalg.svd(A, compute_uv=False).max()
    assert rho == pytest.approx(np.sqrt(1 + lr ** 2 * sigma_max ** 2), rel=1e-12)  # |1 - i h sigma|
    norms, _ = _run("simultaneous", lr, {}, 1500)
    assert norms[-1] > 1e4 * norms[0]
    rate = _fitted_rate(norms, 750)
    assert abs(np.log(rate) - np.log(rho)) <= 0.03 * np.log(rho), (rate, rho)


def test_alternating_gd_stays_bounded_without_converging():
    lr = 0.1
    M = _closed_form_map("alternating", lr, {})
    assert np.linalg.det(M) == pytest.approx(1.0, abs=1e-10)  # symplectic
    np.testing.assert_allclose(np.abs(np.linalg.eigvals(M)), 1.0, atol=1e-9)  # all on the unit circle
    norms, _ = _run("alternating", lr, {}, 1500)
    assert norms.max() <= 3.0 * norms[0]
    assert norms[500:].min() >= 0.3 * norms[0]  # no convergence
    rate = _fitted_rate(norms, 500)
    assert abs(rate - 1.0) < 2e-4


@pytest.mark.parametrize("name, lr, hyper", CONVERGENT)
def test_convergent_methods_reach_1e_6_at_the_predicted_rate(name, lr, hyper):
    rho = _spectral_radius(name, lr, hyper)
    assert rho < 0.99
    norms, dist = _run(name, lr, hyper, 2000, stop=1e-6)
    assert dist[-1] <= 1e-6, (name, dist[-1], len(dist))
    rate = _fitted_rate(norms, len(norms) // 2)
    # measured geometric rate agrees with the spectral radius of the update map
    assert abs(np.log(rate) - np.log(rho)) <= 0.03 * abs(np.log(rho)), (name, rate, rho)


def test_sga_sign_alignment_is_positive_and_equals_consensus_on_bilinear():
    game_sga, game_co = BilinearGame(A, seed=2), BilinearGame(A, seed=2)
    sga = make_optimizer("sga", lr=0.2, lam=-0.7)
    co = make_optimizer("consensus", lr=0.2, gamma=0.7)
    for _ in range(5):
        rec = sga.step(game_sga)
        co.step(game_co)
        assert rec.coefficient == 0.7  # |lam| * sign(0 + eps)
    assert torch.allclose(game_sga.get_flat(), game_co.get_flat(), rtol=1e-12, atol=1e-14)


def test_cgd_matches_closed_form_for_general_sum_quadratic_game():
    """Non-zero-sum quadratic game: GMRES path against the closed-form CGD step of the paper."""
    rng = np.random.default_rng(3)
    n, m = 4, 3
    P, Q = rng.standard_normal((n, n)), rng.standard_normal((m, m))
    P, Q = P @ P.T / n, Q @ Q.T / m
    B, C = rng.standard_normal((n, m)), rng.standard_normal((n, m))
    x = torch.tensor(rng.standard_normal(n), requires_grad=True)
    y = torch.tensor(rng.standard_normal(m), requires_grad=True)
    Pt, Qt, Bt, Ct = (torch.tensor(M) for M in (P, Q, B, C))
    from dualgan.games import Game, Player

    f = lambda: 0.5 * x @ Pt @ x + x @ Bt @ y           # noqa: E731  player x minimises f
    g = lambda: 0.5 * y @ Qt @ y - x @ Ct @ y           # noqa: E731  player y minimises g
    game = Game([Player("x", [x], f), Player("y", [y], g)])
    eta = 0.3
    x0, y0 = x.detach().numpy().copy(), y.detach().numpy().copy()
    rec = make_optimizer("cgd", lr=eta).step(game)
    assert rec.ok and rec.inner_iterations > 0
    gx, gy = P @ x0 + B @ y0, Q @ y0 - C.T @ x0
    Dxy_f, Dyx_g = B, -C.T
    dx = -eta * np.linalg.solve(np.eye(n) - eta ** 2 * Dxy_f @ Dyx_g, gx - eta * Dxy_f @ gy)
    dy = -eta * np.linalg.solve(np.eye(m) - eta ** 2 * Dyx_g @ Dxy_f, gy - eta * Dyx_g @ gx)
    np.testing.assert_allclose(x.detach().numpy(), x0 + dx, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(y.detach().numpy(), y0 + dy, rtol=1e-8, atol=1e-10)
