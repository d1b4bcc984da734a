"""A dual solver written by a user to the documented protocol (DualSolver, registered in SOLVERS): its result is
certified by solve from the returned pair, whatever it claims (checked against the gap written here in numpy),
and a solver that breaks the protocol gets a clear error naming it."""
import dataclasses

import numpy as np
import pytest
from scipy.special import entr, logsumexp

from dualgan.duals import SOLVERS, DualResult, LinearDual, problem_result, solve
from dualgan.status import Status, StatusCode

C = 0.1


def _problem():
    g = np.random.default_rng(0)
    return LinearDual(g.normal(0.5, 1, (20, 3)), g.normal(0, 1, (15, 3)), C=C)


def _numpy_gap(problem, w, lam):
    """P(w) - D(lam) of eqs. (1.1) and (1.3) (logistic, no bias), in numpy."""
    G, a = problem.G.numpy(), problem.a.numpy()
    margins = G @ w
    primal = 0.5 * C * w @ w + a @ np.array([logsumexp([0.0, -t]) for t in margins])
    v = G.T @ lam
    p = lam / a
    dual = -v @ v / (2 * C) + a @ (entr(p) + entr(1 - p))
    return primal - dual


@pytest.fixture
def user_solver(temporary_entries):
    def register(name, fn, **info):
        temporary_entries(SOLVERS, name, fn, **{"losses": ("logistic",), "bias": False, **info})

    return register


def test_a_forged_success_is_certified_from_the_returned_pair(user_solver):
    """The user's solver returned the optimum's result with lam_real halved (dataclasses.replace): solve said
    SUCCESS with the optimum's gap 4e-26. Now the returned pair is certified: its gap is the numpy gap (0.2)."""
    problem = _problem()
    good = solve(problem)
    user_solver("forged", lambda problem, tol, max_iter, lam0, w_rtol:
                dataclasses.replace(good, lam_real=good.lam_real / 2, method="forged"))
    with pytest.warns(RuntimeWarning, match="did not certify"):
        res = solve(problem, method="forged")
    reference = _numpy_gap(problem, good.w, np.concatenate([good.lam_real / 2, good.lam_fake]))
    assert reference > 0.1  # the forged pair is far from optimal
    assert res.status.code is StatusCode.STALLED and not res.success and res.method == "forged"
    assert "the solver reported" in res.status.message
    assert res.gap == pytest.approx(reference, rel=1e-10) and res.gap_bound >= res.gap
    np.testing.assert_array_equal(res.lam_real, good.lam_real / 2)
    np.testing.assert_array_equal(res.w, good.w)  # the solver's own w is the primal half that is certified


def test_an_honest_user_solver_keeps_its_success_and_numbers(user_solver):
    """A user's solver that ends with problem_result, as documented, is certified again to the same numbers."""
    problem = _problem()
    good = solve(problem)

    def honest(problem, tol, max_iter, lam0, w_rtol):
        lam = np.concatenate([good.lam_real, good.lam_fake])
        return problem_result(problem, __import__("torch").from_numpy(lam), None, 3, 0.0,
                              Status(StatusCode.SUCCESS, ""), "honest", tol, w_rtol)

    user_solver("honest", honest)
    res = solve(problem, method="honest")
    assert res.success and res.method == "honest" and res.iterations == 3
    assert res.gap_bound <= 1e-10  # and the pair is optimal by the numpy gap, to its rounding
    assert abs(_numpy_gap(problem, res.w, np.concatenate([res.lam_real, res.lam_fake]))) <= 1e-14
    # both discriminators are within their certified bounds of the one optimum w*
    assert np.linalg.norm(res.w - good.w) <= res.w_error_bound + good.w_error_bound


def test_a_solver_that_breaks_the_protocol_is_named(user_solver):
    problem = _problem()
    # returned the multipliers alone: AttributeError: 'Tensor' object has no attribute 'success'
    user_solver("returns_tensor", lambda problem, tol, max_iter, lam0, w_rtol: problem.a / 2)
    with pytest.raises(TypeError, match=r"dual solver 'returns_tensor' returned a Tensor; a solver returns a "
                                        r"DualResult: end it with problem_result\("):
        solve(problem, method="returns_tensor")
    # multipliers of another problem's size
    good = solve(problem)
    user_solver("short", lambda problem, tol, max_iter, lam0, w_rtol:
                dataclasses.replace(good, lam_fake=good.lam_fake[:5]))
    with pytest.raises(ValueError, match=r"'short' returned multipliers of shape \(25,\); the problem has "
                                         r"n \+ m = 35 samples"):
        solve(problem, method="short")
    # a status that is not a Status
    user_solver("string_status", lambda problem, tol, max_iter, lam0, w_rtol:
                dataclasses.replace(good, status="success"))
    with pytest.raises(TypeError, match="DualResult.status of dual solver 'string_status'"):
        solve(problem, method="string_status")
    assert isinstance(good, DualResult)


def test_a_solver_registered_without_losses_or_bias_is_refused_at_registration():
    """It registered, then solve raised AttributeError: Entry 'bare' has no attribute or info 'losses'."""
    with pytest.raises(ValueError, match=r"every dual solver declares \['losses', 'bias'\] when it is registered; "
                                         r"'bare' does not declare \['losses', 'bias'\]: register it with "
                                         r"\.register\('bare', losses=\.\.\., bias=\.\.\.\)"):
        SOLVERS.register("bare")(lambda problem, tol, max_iter, lam0, w_rtol: None)
    with pytest.raises(ValueError, match=r"'no_bias' does not declare \['bias'\]"):
        SOLVERS.register("no_bias", losses=("logistic",))(lambda problem, tol, max_iter, lam0, w_rtol: None)
    assert "bare" not in SOLVERS and "no_bias" not in SOLVERS
