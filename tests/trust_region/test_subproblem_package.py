"""The sub-problem package laid out like duals/: every former public name still imports, every solver has the one
signature and returns the one certified result, and a solver's claim never replaces the certificate of its point
(checked against the model (2.4) and the dual (2.7) written here in numpy)."""
import math

import numpy as np
import pytest
import torch

import dualgan.trust_region as tr
from dualgan.status import Status, StatusCode
from dualgan.trust_region import subproblem as pkg

C = 0.05
FORMER_NAMES = ["ScoreSubproblem", "ScoreCertificate", "ScoreDualResult", "SubproblemSolution", "solve_score_dual",
                "SUBPROBLEM_SOLVERS", "secular_newton", "joint_cyipopt", "joint_casadi", "symbolic_score_dual"]


def _pieces(seed=5, n=6, m=5, P=4):
    g = np.random.default_rng(seed)
    J = g.normal(size=(n + m, P))
    w = g.normal(size=P)
    scores = J @ w + 0.3 * g.normal(size=n + m)
    y = np.r_[np.ones(n), -np.ones(m)]
    a = np.r_[np.full(n, 1 / n), np.full(m, 1 / m)]
    return J, w, scores, y, a


def _subproblem(J, w, scores, y, a, radius):
    t = torch.from_numpy
    return tr.ScoreSubproblem(t(J @ J.T), t(J @ w), t(scores), t(y), t(a), C, float(w @ w), radius)


def _numpy_gap(J, w, scores, y, a, radius, lam, mu):
    """m(t delta) - D(lam, mu) from eqs. (2.4), (2.7) and (2.8), in numpy with the explicit Jacobian."""
    s = C + mu
    u = J.T @ (y * lam)
    delta = (u - C * w) / s
    delta *= min(1.0, radius / np.linalg.norm(delta))
    model = 0.5 * C * (w + delta) @ (w + delta) + a @ np.logaddexp(0.0, -y * (scores + J @ delta))
    p = lam / a
    entropy = a @ (-p * np.log(p) - (1 - p) * np.log1p(-p))
    dual = (0.5 * C * w @ w - (u - C * w) @ (u - C * w) / (2 * s) - lam @ (y * scores) + entropy
            - mu * radius ** 2 / 2)
    return model, model - dual


def test_every_former_public_name_imports_from_the_package_and_is_the_package_object():
    for name in FORMER_NAMES:
        assert name in pkg.__all__
        assert getattr(pkg, name) is not None
    for name in ("ScoreSubproblem", "ScoreDualResult", "solve_score_dual", "SUBPROBLEM_SOLVERS"):
        assert getattr(tr, name) is getattr(pkg, name)
    assert pkg.solve is pkg.solve_score_dual
    from dualgan.trust_region.subproblem import joint_casadi, joint_cyipopt, secular_newton  # noqa: F401


@pytest.mark.parametrize("method", ["newton", "ipopt", "casadi"])
def test_each_solver_called_with_the_one_signature_returns_what_solve_returns(method):
    if pkg.SUBPROBLEM_SOLVERS.entry(method).requires is not None:
        pytest.importorskip(pkg.SUBPROBLEM_SOLVERS.entry(method).requires,
                            reason=f"{method} needs its optional package")
    sub = _subproblem(*_pieces(), radius=0.05)
    entry = pkg.SUBPROBLEM_SOLVERS.entry(method)
    direct = entry.obj(sub, entry.default_tol, *sub.initial_point(), None)
    via = pkg.solve(sub, method)
    assert isinstance(direct, pkg.ScoreDualResult) and isinstance(via, pkg.ScoreDualResult)
    assert direct.method == via.method == method
    assert torch.equal(direct.lam, via.lam) and direct.mu == via.mu and direct.gap == via.gap
    assert direct.status == via.status and via.success


@pytest.fixture
def lying_solvers():
    """Two solvers that claim SUCCESS at the start point a/2 (far from the optimum): one returns the former
    record, one the certified result."""
    reg = pkg.SUBPROBLEM_SOLVERS

    def former(problem, tol, lam, slack, mu0):
        return pkg.SubproblemSolution(lam, slack, 0.0, 0, 0, Status(StatusCode.SUCCESS, "trust me"))

    def current(problem, tol, lam, slack, mu0):
        return pkg.certified_result(problem, lam, slack, 0.0, Status(StatusCode.SUCCESS, "trust me"),
                                    inner_iterations=0, outer_iterations=0, method="claims_current")

    reg.register("claims_former", requires=None, default_tol=1e-12)(former)
    reg.register("claims_current", requires=None, default_tol=1e-12)(current)
    try:
        yield ["claims_former", "claims_current"]
    finally:  # the registry is global: leave it as the package registers it
        reg.unregister("claims_former")
        reg.unregister("claims_current")


def test_a_solvers_claim_never_replaces_the_certificate_of_its_point(lying_solvers):
    pieces = _pieces()
    sub = _subproblem(*pieces, radius=0.05)
    J, w, scores, y, a = pieces
    model, gap = _numpy_gap(*pieces, 0.05, a / 2, 0.0)
    assert gap > 1e-9 * (1 + abs(model))  # a/2 is far from the optimum: the claim is false
    for method in lying_solvers:
        res = pkg.solve(sub, method)
        assert res.method == method
        assert res.status.code is StatusCode.STALLED and "trust me" in res.status.message
        assert "duality gap" in res.status.message and not res.success and res.usable
        assert res.model_value == pytest.approx(model, rel=1e-12)
        assert res.gap == pytest.approx(gap, rel=1e-10)
        assert math.isfinite(res.seconds) and res.seconds >= 0


def test_a_solver_returning_something_else_is_a_clear_type_error():
    reg = pkg.SUBPROBLEM_SOLVERS
    reg.register("returns_tuple", requires=None, default_tol=1e-12)(lambda problem, tol, lam, slack, mu0: (lam, 0.0))
    try:
        with pytest.raises(TypeError, match="solver 'returns_tuple' returned a tuple; a solver returns a ScoreDualResult"):
            pkg.solve(_subproblem(*_pieces(), radius=0.05), "returns_tuple")
    finally:
        reg.unregister("returns_tuple")


def test_a_forged_result_of_a_users_solver_is_certified_at_its_own_point():
    """A solver registered from outside the library returned the certified result of the optimum with its
    multipliers halved (dataclasses.replace): solve returned SUCCESS and the optimum's gap for a point that is
    not the optimum. Its multipliers are now certified again: the gap is the numpy gap of the returned point."""
    import dataclasses

    reg = pkg.SUBPROBLEM_SOLVERS
    pieces = _pieces()
    sub = _subproblem(*pieces, radius=0.05)
    good = pkg.solve(sub)
    assert good.success

    def forged(problem, tol, lam, slack, mu0):
        return dataclasses.replace(good, lam=good.lam / 2, slack=problem.a - good.lam / 2)

    reg.register("forged", requires=None, default_tol=1e-12)(forged)
    try:
        res = pkg.solve(sub, "forged")
    finally:
        reg.unregister("forged")
    model, gap = _numpy_gap(*pieces, 0.05, good.lam.numpy() / 2, good.mu)
    assert gap > 1e-9 * (1 + abs(model))  # the halved point is not the optimum
    assert res.status.code is StatusCode.STALLED and not res.success and res.method == "forged"
    assert res.gap == pytest.approx(gap, rel=1e-10) and res.model_value == pytest.approx(model, rel=1e-12)


def test_a_solver_registered_without_its_default_tolerance_is_refused_at_registration():
    """It registered, then every solve raised AttributeError: Entry 'x' has no attribute or info 'default_tol'."""
    with pytest.raises(ValueError, match=r"every trust-region subproblem solver declares \['default_tol'\] when it "
                                         r"is registered; 'no_tol' does not declare \['default_tol'\]"):
        pkg.SUBPROBLEM_SOLVERS.register("no_tol")(lambda problem, tol, lam, slack, mu0: None)
    assert "no_tol" not in pkg.SUBPROBLEM_SOLVERS
    # 'requires' may be left out: the solver needs no optional package
    reg = pkg.SUBPROBLEM_SOLVERS
    reg.register("no_requires", default_tol=1e-12)(
        lambda problem, tol, lam, slack, mu0: pkg.secular_newton(problem, tol, lam, slack, mu0))
    try:
        sub = _subproblem(*_pieces(), radius=0.05)
        assert pkg.solve(sub, "no_requires").gap == pkg.solve(sub).gap
    finally:
        reg.unregister("no_requires")
