"""Trust-region steps: exactness on linear scores, feasibility, cost linearisation, inner solvers."""
import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from torch import nn

from dualgan.features import RBF
from dualgan.trust_region import (FixedRadius, StandardRadius, SymmetricRadius, TrustRegionDiscriminator,
                                  discriminator_cost)
from dualgan.status import StatusCode
from tests.conftest import needs_cyipopt

C = 0.05


def _linear_problem(seed=0, d=6, n=20, m=15):
    """F(w, x) = w^T phi(x) with frozen RBF features: linear in the trainable parameters."""
    g = torch.Generator().manual_seed(seed)
    anchors = torch.randn(d, 2, generator=g, dtype=torch.float64)
    torch.manual_seed(seed)
    disc = nn.Sequential(RBF(anchors, sigma=1.0), nn.Linear(d, 1, bias=False)).double()
    real = torch.randn(n, 2, generator=g, dtype=torch.float64) + 0.7
    fake = torch.randn(m, 2, generator=g, dtype=torch.float64)
    return disc, real, fake


def _primal_pieces(disc, real, fake):
    with torch.no_grad():
        phi = disc[0](torch.cat([real, fake])).numpy()
    n, m = real.shape[0], fake.shape[0]
    y = np.r_[np.ones(n), -np.ones(m)]
    a = np.r_[np.full(n, 1 / n), np.full(m, 1 / m)]
    w = disc[1].weight.detach().numpy().reshape(-1).copy()
    return phi, y, a, w


def _f_and_grad(v, phi, y, a):
    """f(v) = C/2||v||^2 + sum a_i log(1 + exp(-y_i phi_i^T v)) and its gradient (numpy, independent of the code)."""
    margins = y * (phi @ v)
    f = 0.5 * C * v @ v + a @ np.logaddexp(0.0, -margins)
    sig = 0.5 * (1 - np.tanh(margins / 2))  # sigmoid(-margins)
    return f, C * v - phi.T @ (a * y * sig)


def _slsqp_step(phi, y, a, w, radius):
    res = minimize(lambda dlt: _f_and_grad(w + dlt, phi, y, a), np.zeros_like(w), jac=True, method="SLSQP",
                   constraints=[{"type": "ineq", "fun": lambda dlt: radius ** 2 - dlt @ dlt,
                                 "jac": lambda dlt: -2 * dlt}], options={"ftol": 1e-16, "maxiter": 1000})
    assert res.success, res.message
    return res.x


@pytest.mark.parametrize("radius", [0.05, 0.5, 50.0], ids=["boundary-small", "boundary", "interior"])
@pytest.mark.parametrize("inner", ["newton", "casadi", pytest.param("ipopt", marks=needs_cyipopt)])
def test_linear_score_is_exact_and_matches_independent_solver(radius, inner):
    disc, real, fake = _linear_problem()
    phi, y, a, w = _primal_pieces(disc, real, fake)
    tr = TrustRegionDiscriminator(disc, model="score", C=C, radius=radius, policy=FixedRadius(), solver=inner)
    rec = tr.step(real, fake)
    assert rec.accepted and rec.inner.success, (rec.status, rec.inner.status)
    assert rec.status.code is StatusCode.SUCCESS
    # the model is the cost itself: rho = 1
    assert abs(rec.rho - 1.0) <= 1e-8
    assert rec.step_norm <= radius + 1e-9 and rec.predicted_decrease > 0
    delta = rec.step.numpy()
    # independent solver on the primal trust-region problem
    ref = _slsqp_step(phi, y, a, w, radius)
    assert np.linalg.norm(delta - ref) <= 1e-6 * max(1.0, np.linalg.norm(ref))
    # KKT of the convex primal with the returned multiplier: grad f(w + delta) + mu delta = 0,
    # mu >= 0, mu (radius - ||delta||) = 0 -- sufficient for optimality
    _, gr = _f_and_grad(w + delta, phi, y, a)
    mu = rec.inner.mu
    assert mu >= 0
    assert np.linalg.norm(gr + mu * delta) <= 1e-8 * max(1.0, np.linalg.norm(gr))
    assert mu * (radius - np.linalg.norm(delta)) <= 1e-9
    if radius == 50.0:
        assert mu <= 1e-10 and np.linalg.norm(delta) < radius
    # strong duality: dual value = primal model optimum
    f_ref, _ = _f_and_grad(w + ref, phi, y, a)
    assert abs(rec.inner.dual_value - f_ref) <= 1e-9
    assert abs(rec.cost_after - f_ref) <= 1e-9
    # the module now holds w + delta
    np.testing.assert_allclose(disc[1].weight.detach().numpy().reshape(-1), w + delta, rtol=0, atol=1e-15)


def test_cost_linearisation_is_the_normalised_gradient_step():
    torch.manual_seed(3)
    disc = nn.Sequential(nn.Linear(2, 9), nn.Tanh(), nn.Linear(9, 1)).double()
    g = torch.Generator().manual_seed(4)
    real, fake = torch.randn(12, 2, generator=g, dtype=torch.float64) + 1, torch.randn(8, 2, generator=g,
                                                                                         dtype=torch.float64)
    # reference gradient through ordinary autograd of the usual GAN discriminator loss plus weight decay
    loss = (nn.functional.binary_cross_entropy_with_logits(disc(real).reshape(-1), torch.ones(12, dtype=torch.float64))
            + nn.functional.binary_cross_entropy_with_logits(disc(fake).reshape(-1), torch.zeros(8, dtype=torch.float64))
            + 0.5 * C * sum((p ** 2).sum() for p in disc.parameters()))
    grad = torch.cat([gi.reshape(-1) for gi in torch.autograd.grad(loss, list(disc.parameters()))])
    w_before = torch.cat([p.detach().reshape(-1) for p in disc.parameters()])
    radius = 0.3
    tr = TrustRegionDiscriminator(disc, model="cost", C=C, radius=radius, policy="fixed")
    rec = tr.step(real, fake)
    expected = -radius * grad / grad.norm()
    torch.testing.assert_close(rec.step, expected, rtol=1e-13, atol=1e-15)
    assert math.isclose(rec.predicted_decrease, radius * float(grad.norm()), rel_tol=1e-13)
    assert math.isclose(rec.cost_before, float(loss.detach()), rel_tol=1e-13)
    w_after = torch.cat([p.detach().reshape(-1) for p in disc.parameters()])
    torch.testing.assert_close(w_after, w_before + expected, rtol=0, atol=1e-15)
    assert rec.inner is None and rec.rho == pytest.approx(rec.actual_decrease / rec.predicted_decrease)


@pytest.mark.parametrize("model", ["score", "cost"])
@pytest.mark.parametrize("policy", [StandardRadius(), SymmetricRadius(), FixedRadius()], ids=["std", "sym", "fix"])
def test_every_step_is_feasible_with_nonnegative_predicted_decrease(model, policy):
    torch.manual_seed(5)
    disc = nn.Sequential(nn.Linear(2, 12), nn.ELU(), nn.Linear(12, 12), nn.Tanh(), nn.Linear(12, 1)).double()
    tr = TrustRegionDiscriminator(disc, model=model, C=1e-3, radius=3.0, policy=policy, max_attempts=3)
    g = torch.Generator().manual_seed(6)
    seen_rejection = False
    for _ in range(6):
        real = 0.5 * torch.randn(24, 2, generator=g, dtype=torch.float64) + torch.tensor([2.0, 0.0],
                                                                                         dtype=torch.float64)
        fake = torch.randn(20, 2, generator=g, dtype=torch.float64)
        radius = tr.radius
        rec = tr.step(real, fake)
        assert rec.radius_before == radius
        assert rec.step_norm <= rec.radius_before + 1e-9 or rec.attempts > 1
        assert float(rec.step.norm()) <= radius + 1e-9
        assert rec.predicted_decrease >= 0
        seen_rejection |= rec.attempts > 1
        if rec.inner is not None:
            assert rec.inner.gap >= -1e-12 and rec.inner.gap <= 1e-8, rec.inner.status
            assert rec.inner.step_norm <= radius * (1 + 1e-12)
        # records are consistent with the cost actually evaluated
        assert math.isclose(rec.cost_after, tr.cost(real, fake), rel_tol=1e-12, abs_tol=1e-14)
    if isinstance(policy, FixedRadius):
        assert tr.radius == 3.0


def test_rejected_step_is_resolved_at_a_smaller_radius_and_leaves_w_when_all_fail():
    torch.manual_seed(7)
    disc = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1)).double()
    g = torch.Generator().manual_seed(8)
    real, fake = torch.randn(16, 2, generator=g, dtype=torch.float64) + 1, torch.randn(16, 2, generator=g,
                                                                                         dtype=torch.float64)
    # cost linearisation with a huge radius overshoots: rho < 0, rejected, shrunk by 1/4 each time
    w0 = torch.cat([p.detach().reshape(-1).clone() for p in disc.parameters()])
    tr = TrustRegionDiscriminator(disc, model="cost", C=C, radius=1e3, policy=StandardRadius(max_radius=1e4),
                                  max_attempts=2)
    rec = tr.step(real, fake)
    assert not rec.accepted and rec.attempts == 2 and rec.rho < 1e-4
    assert rec.radius_after == pytest.approx(1e3 / 16) and float(rec.step.norm()) <= 1e3 / 4 + 1e-9
    w1 = torch.cat([p.detach().reshape(-1) for p in disc.parameters()])
    assert torch.equal(w0, w1) and rec.cost_after == rec.cost_before


def test_float32_discriminator_steps_stay_in_the_ball():
    torch.manual_seed(9)
    disc = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))
    tr = TrustRegionDiscriminator(disc, model="score", C=1e-3, radius=0.2)
    g = torch.Generator().manual_seed(10)
    for _ in range(3):
        real, fake = torch.randn(32, 2, generator=g) + 1, torch.randn(32, 2, generator=g)
        rec = tr.step(real, fake)
        assert rec.step.dtype == torch.float32
        assert float(rec.step.double().norm()) <= rec.radius_before + 1e-9
        assert rec.predicted_decrease >= 0 and rec.inner.gap <= 1e-8


def test_discriminator_cost_is_stable_for_large_scores():
    y = torch.tensor([1.0, -1.0], dtype=torch.float64)
    a = torch.tensor([1.0, 1.0], dtype=torch.float64)
    value = discriminator_cost(torch.tensor([-800.0, 800.0]), y, a, 1.0, 0.0)
    assert math.isclose(float(value), 1600.0, rel_tol=1e-15)


def test_bad_inputs_name_the_argument():
    disc = nn.Linear(2, 1).double()
    with pytest.raises(ValueError, match="model"):
        TrustRegionDiscriminator(disc, model="quadratic")
    with pytest.raises(ValueError, match="C"):
        TrustRegionDiscriminator(disc, C=0.0)
    with pytest.raises(ValueError, match="radius"):
        TrustRegionDiscriminator(disc, radius=-1.0)
    with pytest.raises(ValueError, match="unknown solver"):
        TrustRegionDiscriminator(disc, solver="cg")
    with pytest.raises(ValueError, match="radius policy"):
        TrustRegionDiscriminator(disc, policy="aggressive")
    tr = TrustRegionDiscriminator(disc)
    x = torch.randn(4, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="fake"):
        tr.step(x, torch.full((3, 2), float("nan"), dtype=torch.float64))
    with pytest.raises(ValueError, match="same shape"):
        tr.step(x, torch.randn(3, 5, dtype=torch.float64))


def test_secular_derivative_with_the_shared_factorisation_matches_finite_differences():
    """q'(s) from the inner Newton's own factorisation = q'(s) from a fresh one = central differences of q(lam(s))."""
    from dualgan.trust_region import ScoreSubproblem
    from dualgan.trust_region.subproblem.newton import _dq_ds, _inner_solve

    g = torch.Generator().manual_seed(3)
    N, P = 30, 12
    J = torch.randn(N, P, generator=g, dtype=torch.float64)
    y = torch.cat([torch.ones(N // 2), -torch.ones(N - N // 2)]).double()
    a = torch.cat([torch.full((N // 2,), 2.0 / N), torch.full((N - N // 2,), 2.0 / N)]).double()
    w = torch.randn(P, generator=g, dtype=torch.float64)
    scores = J @ w
    sub = ScoreSubproblem(J @ J.T, scores, scores, y, a, 0.05, float(w @ w), 0.1)

    def solved(s):
        state = _inner_solve(sub, s, 0.5 * a, 0.5 * a, 1e-18)
        assert state.status.code in (StatusCode.SUCCESS, StatusCode.STALLED), state.status
        return state

    s = 0.3
    state = solved(s)
    assert state.system_solve is not None
    _, r = sub.q_and_r(state.lam)
    shared, dlam_shared = _dq_ds(sub, state.lam, state.slack, s, r, state.system_solve)
    fresh, dlam_fresh = _dq_ds(sub, state.lam, state.slack, s, r)
    np.testing.assert_allclose(dlam_shared.numpy(), dlam_fresh.numpy(), rtol=1e-9)
    h = 1e-5 * s
    central = (sub.q_and_r(solved(s + h).lam)[0] - sub.q_and_r(solved(s - h).lam)[0]) / (2 * h)
    assert shared == pytest.approx(central, rel=1e-6)
