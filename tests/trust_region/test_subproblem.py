"""The score sub-problem: validation, its dual (2.7) and certificate against scipy on the primal, every
registered solver against that reference, the symbolic form against the reference form, Ipopt's statuses."""
import importlib.util
import math

import numpy as np
import pytest
import torch
from scipy.optimize import brentq, minimize

from dualgan.duals.ipopt import IPOPT_RETURN_STATUS, ipopt_status
from dualgan.status import Status, StatusCode
from dualgan.trust_region import LINEARIZATIONS, SUBPROBLEM_SOLVERS, ScoreSubproblem, solve_score_dual

C = 0.05


def _pieces(seed=0, n=9, m=7, P=5, scale=1.0):
    """An explicit Jacobian J (N x P), parameters w and scores: the sub-problem and the primal's data."""
    g = np.random.default_rng(seed)
    N = n + m
    J = scale * g.normal(size=(N, P))
    w = g.normal(size=P)
    scores = J @ w + 0.3 * g.normal(size=N)  # not linear in w: F_i != (Jw)_i
    y = np.r_[np.ones(n), -np.ones(m)]
    a = np.r_[np.full(n, 1 / n), np.full(m, 1 / m)]
    return J, w, scores, y, a


def _subproblem(J, w, scores, y, a, radius):
    t = torch.from_numpy
    return ScoreSubproblem(t(J @ J.T), t(J @ w), t(scores), t(y), t(a), C, float(w @ w), radius)


def _model(delta, J, w, scores, y, a):
    """m(delta) of eq. (2.4) and its gradient, in numpy (independent of the library)."""
    margins = y * (scores + J @ delta)
    wd = w + delta
    sig = 0.5 * (1 - np.tanh(margins / 2))  # sigmoid(-margins)
    return 0.5 * C * wd @ wd + a @ np.logaddexp(0.0, -margins), C * wd - J.T @ (a * y * sig)


def _scipy_step(J, w, scores, y, a, radius):
    """The primal trust-region sub-problem (2.2) with the model (2.4), by scipy alone.

    For mu >= 0, delta(mu) minimises m(delta) + mu ||delta||^2 / 2 (scipy's trust-exact with the exact
    Hessian); mu* = 0 if ||delta(0)|| <= radius, else brentq finds ||delta(mu)|| = radius (KKT of the
    convex primal, Nocedal & Wright, Numerical Optimization, Theorem 4.1).
    """
    def at(mu):
        def f(d):
            value, grad = _model(d, J, w, scores, y, a)
            return value + 0.5 * mu * d @ d, grad + mu * d

        def hess(d):
            margins = y * (scores + J @ d)
            s = 0.25 / np.cosh(margins / 2) ** 2  # sigmoid(m) sigmoid(-m)
            return (C + mu) * np.eye(J.shape[1]) + J.T @ ((a * s)[:, None] * J)

        x = minimize(f, np.zeros(J.shape[1]), jac=True, hess=hess, method="trust-exact", options={"gtol": 1e-12}).x
        for _ in range(4):  # trust-exact stops near 1e-9 here: polish by plain Newton steps (numpy)
            x = x - np.linalg.solve(hess(x), f(x)[1])
        # strongly convex (modulus >= C): ||x - x*|| <= ||grad|| / C, value error <= ||grad||^2 / (2C)
        assert np.linalg.norm(f(x)[1]) <= 1e-13
        return x

    delta = at(0.0)
    if np.linalg.norm(delta) > radius:
        hi = 1.0
        while np.linalg.norm(at(hi)) > radius:
            hi *= 4
        mu = brentq(lambda t: np.linalg.norm(at(t)) - radius, 0.0, hi, xtol=1e-15, rtol=1e-15)
        delta = at(mu)
        delta *= min(1.0, radius / np.linalg.norm(delta))
    return delta, float(_model(delta, J, w, scores, y, a)[0])


def _available(name):
    need = SUBPROBLEM_SOLVERS.entry(name).requires
    return need is None or importlib.util.find_spec(need) is not None


SOLVER_PARAMS = [pytest.param(name, marks=pytest.mark.skipif(
    not _available(name), reason=f"{SUBPROBLEM_SOLVERS.entry(name).requires} is not installed"))
    for name in SUBPROBLEM_SOLVERS]


# ------------------------------------------------------------------------------------------------ validation
def _good():
    J, w, scores, y, a = _pieces()
    t = torch.from_numpy
    return dict(gram=t(J @ J.T), jw=t(J @ w), scores=t(scores), y=t(y), a=t(a), C=C, w_sqnorm=float(w @ w),
                radius=0.5)


def _with(**changes):
    args = _good()
    for k, v in changes.items():
        args[k] = v(args) if callable(v) else v
    return args


BAD = [
    (dict(gram=lambda g: g["gram"][:, :-1]), ValueError, "gram must be a square"),
    (dict(gram=lambda g: g["gram"] + torch.triu(torch.ones_like(g["gram"]), 1)), ValueError, "gram must be symmetric"),
    (dict(gram=lambda g: g["gram"] - 1e3 * torch.eye(g["gram"].shape[0], dtype=torch.float64)), ValueError,
     "negative diagonal"),
    (dict(gram=lambda g: g["gram"].clone().fill_diagonal_(float("nan"))), ValueError, "gram contains NaN"),
    (dict(gram=[[1.0]]), TypeError, "gram must be a torch tensor"),
    (dict(gram=lambda g: g["gram"].to(torch.complex128)), TypeError, "gram must hold real numbers"),
    (dict(jw=lambda g: g["jw"][:-1]), ValueError, "jw must be a vector of length N = 16"),
    (dict(scores=lambda g: torch.where(torch.arange(16) == 3, torch.tensor(float("inf"), dtype=torch.float64),
                                       g["scores"])), ValueError, "scores contains NaN or inf"),
    (dict(y=lambda g: 2 * g["y"]), ValueError, "y must hold labels"),
    (dict(a=lambda g: torch.where(torch.arange(16) == 0, torch.zeros((), dtype=torch.float64), g["a"])), ValueError,
     "a .* must be > 0"),
    (dict(C=0.0), ValueError, "C"),
    (dict(C=float("inf")), ValueError, "C"),
    (dict(w_sqnorm=-1.0), ValueError, "w_sqnorm"),
    (dict(w_sqnorm=float("nan")), ValueError, "w_sqnorm"),
    (dict(radius=0.0), ValueError, "radius"),
    (dict(radius=float("inf")), ValueError, "radius"),
    (dict(radius=True), ValueError, "radius"),
]


@pytest.mark.parametrize("change, error, match", BAD, ids=[f"{list(b[0])[0]}-{i}" for i, b in enumerate(BAD)])
def test_each_bad_input_is_refused_naming_the_argument(change, error, match):
    with pytest.raises(error, match=match):
        ScoreSubproblem(**_with(**change))


def test_the_subproblem_is_frozen_float64_and_symmetrised():
    args = _good()
    args["gram"] = args["gram"].float()
    args["scores"] = args["scores"].numpy()  # numpy accepted too
    sub = ScoreSubproblem(**args)
    assert all(t.dtype == torch.float64 for t in (sub.gram, sub.jw, sub.scores, sub.y, sub.a))
    assert torch.equal(sub.gram, sub.gram.T)
    with pytest.raises(AttributeError):
        sub.radius = 2.0
    assert sub.with_radius(2.0).radius == 2.0 and sub.radius == 0.5


def test_solve_refuses_unknown_solvers_options_and_objects():
    sub = ScoreSubproblem(**_good())
    with pytest.raises(ValueError, match="unknown trust-region subproblem solver 'cg'"):
        solve_score_dual(sub, "cg")
    with pytest.raises(ValueError, match="takes no option"):
        solve_score_dual(sub, "newton", options={"max_iter": 3})
    with pytest.raises(TypeError, match="ScoreSubproblem"):
        solve_score_dual(_good())
    with pytest.raises(ValueError, match="tol"):
        solve_score_dual(sub, tol=-1.0)
    with pytest.raises(ValueError, match="mu0"):
        solve_score_dual(sub, mu0=-1.0)
    with pytest.raises(ValueError, match="lam0 contains NaN"):
        solve_score_dual(sub, lam0=torch.full((16,), float("nan"), dtype=torch.float64))


# ------------------------------------------------------------------------------------------------ the dual
def test_dual_derivatives_match_central_differences():
    sub = _subproblem(*_pieces(seed=1), radius=0.4)
    g = np.random.default_rng(2)
    lam = torch.from_numpy(g.uniform(0.1, 0.9, sub.N)) * sub.a
    mu = 0.3
    grad, hess = sub.dual_gradient(lam, sub.a - lam, mu), sub.dual_hessian(lam, sub.a - lam, mu)

    def D(x):
        lam_ = torch.from_numpy(x[:-1])
        return sub.dual_value(lam_, sub.a - lam_, float(x[-1]))

    x = np.r_[lam.numpy(), mu]
    h = 1e-7
    fd = np.array([(D(x + h * e) - D(x - h * e)) / (2 * h) for e in np.eye(x.size)])
    np.testing.assert_allclose(grad.numpy(), fd, rtol=1e-6, atol=1e-7)
    fd_h = np.array([(sub.dual_gradient(torch.from_numpy((x + h * e)[:-1]), sub.a - torch.from_numpy((x + h * e)[:-1]),
                                        float((x + h * e)[-1])) -
                      sub.dual_gradient(torch.from_numpy((x - h * e)[:-1]), sub.a - torch.from_numpy((x - h * e)[:-1]),
                                        float((x - h * e)[-1]))).numpy() / (2 * h) for e in np.eye(x.size)])
    np.testing.assert_allclose(hess.numpy(), fd_h, rtol=1e-5, atol=1e-5 * float(hess.abs().max()))


@pytest.mark.parametrize("radius", [0.05, 0.5, 50.0])
def test_weak_duality_and_certificate_against_scipy_on_the_primal(radius):
    """Any feasible (lambda, mu): D <= scipy's primal optimum <= m(t delta); the gap is their difference."""
    pieces = _pieces(seed=3)
    sub = _subproblem(*pieces, radius=radius)
    _, best = _scipy_step(*pieces, radius)
    g = np.random.default_rng(4)
    for _ in range(20):
        lam = torch.from_numpy(g.uniform(0.0, 1.0, sub.N)) * sub.a
        mu = float(g.exponential(0.5))
        cert = sub.certificate(lam, sub.a - lam, mu)
        assert cert.dual_value <= best + 1e-12 <= cert.model_value + 2e-12
        assert cert.gap == pytest.approx(cert.model_value - cert.dual_value, abs=1e-15)
        assert cert.step_norm <= radius * (1 + 1e-15)
        # the recovered step from the certificate's own coefficients: delta = J^T c - weight_decay w
        J, w, scores, y, a = pieces
        delta = J.T @ cert.score_weights.numpy() - cert.weight_decay * w
        assert np.linalg.norm(delta) == pytest.approx(cert.step_norm, rel=1e-10)
        assert _model(delta, J, w, scores, y, a)[0] == pytest.approx(cert.model_value, rel=1e-12, abs=1e-14)
        np.testing.assert_allclose(cert.jdelta.numpy(), y * (J @ delta), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("radius", [0.05, 0.5, 50.0], ids=["boundary-small", "boundary", "interior"])
@pytest.mark.parametrize("method", SOLVER_PARAMS)
def test_every_registered_solver_matches_scipy_on_the_primal(method, radius):
    pieces = _pieces(seed=5)
    J, w, scores, y, a = pieces
    sub = _subproblem(*pieces, radius=radius)
    ref_step, ref_value = _scipy_step(*pieces, radius)
    res = solve_score_dual(sub, method)
    assert res.success and res.usable and res.method == method, res.status
    assert isinstance(res.status, Status)
    assert -1e-14 <= res.gap <= 1e-9 * (1 + abs(res.model_value))
    assert res.dual_value == pytest.approx(ref_value, abs=1e-9)
    assert res.model_value == pytest.approx(ref_value, abs=1e-9)
    delta = J.T @ res.score_weights.numpy() - res.weight_decay * w
    assert np.linalg.norm(delta - ref_step) <= 1e-5 * max(1.0, np.linalg.norm(ref_step))
    assert res.step_norm <= radius * (1 + 1e-12)
    assert res.on_boundary == (np.linalg.norm(ref_step) > radius * (1 - 1e-6))
    if radius == 50.0:
        assert res.mu <= 1e-8


@pytest.mark.parametrize("method", SOLVER_PARAMS)
def test_warm_started_solvers_reach_the_same_step(method):
    pieces = _pieces(seed=6)
    sub = _subproblem(*pieces, radius=0.2)
    cold = solve_score_dual(sub, method)
    warm = solve_score_dual(sub.with_radius(0.1), method, lam0=cold.lam, slack0=cold.slack, mu0=cold.mu)
    fresh = solve_score_dual(sub.with_radius(0.1), method)
    assert warm.success and fresh.success
    assert warm.model_value == pytest.approx(fresh.model_value, abs=1e-9)


def test_symbolic_form_is_the_reference_form():
    """casadi's (2.7) against ScoreSubproblem.dual_value / dual_gradient at random points, float64."""
    ca = pytest.importorskip("casadi")
    from dualgan.trust_region.subproblem import symbolic_score_dual

    sub = _subproblem(*_pieces(seed=7, scale=3.0), radius=0.3)
    x = ca.SX.sym("x", sub.N + 1)
    expr = symbolic_score_dual(ca, x, sub)
    f = ca.Function("f", [x], [expr, ca.gradient(expr, x)])
    g = np.random.default_rng(8)
    for _ in range(10):
        lam = torch.from_numpy(g.uniform(1e-3, 1 - 1e-3, sub.N)) * sub.a
        mu = float(g.exponential(1.0))
        value, grad = f(np.r_[lam.numpy(), mu])
        assert float(value) == pytest.approx(sub.dual_value(lam, sub.a - lam, mu), rel=1e-12, abs=1e-14)
        np.testing.assert_allclose(np.asarray(grad).ravel(), sub.dual_gradient(lam, sub.a - lam, mu).numpy(),
                                   rtol=1e-12, atol=1e-12)


def test_registries_list_every_entry():
    assert {"newton", "ipopt", "casadi"} <= set(SUBPROBLEM_SOLVERS)
    assert {"auto", "torch.func"} <= set(LINEARIZATIONS)
    assert SUBPROBLEM_SOLVERS.options("newton") == {"radius_rtol": 1e-10, "max_outer": 60}


# ------------------------------------------------------------------------------------------------ Ipopt statuses
def test_ipopt_status_table():
    expected = {0: StatusCode.SUCCESS, 1: StatusCode.SUCCESS, -1: StatusCode.MAX_ITER, -4: StatusCode.MAX_ITER,
                3: StatusCode.STALLED, -2: StatusCode.NUMERICAL_ERROR, -3: StatusCode.NUMERICAL_ERROR,
                -13: StatusCode.NON_FINITE, 5: StatusCode.INTERRUPTED, -12: StatusCode.ERROR, -199: StatusCode.ERROR}
    for number, code in expected.items():
        assert ipopt_status(number).code is code
        name = IPOPT_RETURN_STATUS[number][0]
        assert ipopt_status(name) == ipopt_status(number)  # casadi's names and cyipopt's integers agree
        assert name in ipopt_status(number).message
    assert ipopt_status(-1, b"Maximum number of iterations exceeded").message.endswith("exceeded")
    assert ipopt_status(42).code is StatusCode.ERROR and "42" in ipopt_status(42).message
    assert ipopt_status("Not_A_Status").code is StatusCode.ERROR
    assert ipopt_status(True).code is StatusCode.ERROR  # a bool is not a return code


def test_ipopt_iteration_cap_is_max_iter_in_both_front_ends():
    """One Ipopt iteration on a sub-problem: cyipopt's integer and casadi's name both map to MAX_ITER."""
    sub = _subproblem(*_pieces(seed=9), radius=0.05)
    ran = 0
    for method in ("ipopt", "casadi"):
        if not _available(method):
            continue
        ran += 1
        res = solve_score_dual(sub, method, options={"max_iter": 1})
        assert res.status.code is StatusCode.MAX_ITER and "Maximum_Iterations_Exceeded" in res.status.message
        assert res.usable and res.step_norm <= 0.05 * (1 + 1e-12) and math.isfinite(res.gap) and res.gap >= -1e-12
    if not ran:
        pytest.skip("neither cyipopt nor casadi is installed")


# ------------------------------------------------------------------------------------------------ option values
from dualgan.trust_region import SUBPROBLEM_SOLVERS as _SOLVERS  # noqa: E402

BAD_OPTIONS = [
    ("ipopt", {"max_iter": -1}, r"option 'max_iter' of the trust-region subproblem solver 'ipopt' must be a positive"),
    ("ipopt", {"max_iter": 0}, "'max_iter'.*positive integer"),
    ("ipopt", {"max_iter": True}, "'max_iter'.*got True"),
    ("ipopt", {"max_iter": 10.0}, "'max_iter'.*got 10.0"),
    ("casadi", {"max_iter": -1}, "option 'max_iter' of the trust-region subproblem solver 'casadi'"),
    ("casadi", {"max_iter": "5"}, "'max_iter'"),
    ("newton", {"max_outer": 0}, "option 'max_outer' .*'newton' must be a positive integer"),
    ("newton", {"max_outer": True}, "'max_outer'.*got True"),
    ("newton", {"max_outer": 2.5}, "'max_outer'"),
    ("newton", {"radius_rtol": float("nan")}, "'radius_rtol'.*finite"),
    ("newton", {"radius_rtol": 0.0}, "'radius_rtol'"),
    ("newton", {"radius_rtol": 1.0}, "'radius_rtol'"),
    ("newton", {"radius_rtol": True}, "'radius_rtol'"),
]


@pytest.mark.parametrize("method, options, match", BAD_OPTIONS)
def test_bad_option_values_are_refused_before_any_solve(method, options, match, capfd):
    """The reported input (ipopt, max_iter=-1) printed Ipopt's option table and raised a TypeError; now a
    ValueError naming the option and its default, and nothing reaches Ipopt (no output)."""
    sub = ScoreSubproblem(**_good())
    with pytest.raises(ValueError, match=match) as info:
        solve_score_dual(sub, method, options=options)
    assert "leave it out for the default" in str(info.value)
    with pytest.raises(ValueError, match=match):
        _SOLVERS.check_options(method, options)
    out, err = capfd.readouterr()
    assert "max_iter" not in out + err and "Ipopt" not in out + err


def test_solver_functions_called_directly_check_their_options():
    from dualgan.trust_region.subproblem import joint_casadi, joint_cyipopt, secular_newton

    sub = ScoreSubproblem(**_good())
    lam, slack = sub.initial_point()
    with pytest.raises(ValueError, match="max_outer"):
        secular_newton(sub, 1e-12, lam, slack, None, max_outer=True)
    with pytest.raises(ValueError, match="radius_rtol"):
        secular_newton(sub, 1e-12, lam, slack, None, radius_rtol=float("nan"))
    with pytest.raises(ValueError, match="max_iter"):
        joint_cyipopt(sub, 1e-12, lam, slack, None, max_iter=-1)
    with pytest.raises(ValueError, match="max_iter"):
        joint_casadi(sub, 1e-12, lam, slack, None, max_iter=-1)


def test_ipopt_runners_check_tol_and_max_iter_before_ipopt():
    from dualgan.duals.casadi_ipopt import run_casadi
    from dualgan.duals.ipopt import run_cyipopt

    x = np.zeros(1)
    for kwargs, match in [(dict(tol=1e-8, max_iter=-1), "max_iter"), (dict(tol=1e-8, max_iter=True), "max_iter"),
                          (dict(tol=float("nan"), max_iter=5), "tol"), (dict(tol=0.0, max_iter=5), "tol")]:
        with pytest.raises(ValueError, match=match):
            run_cyipopt(None, 1, 0, x, x, x, **kwargs)
        with pytest.raises(ValueError, match=match):
            run_casadi(None, {}, x, x, x, **kwargs)


def test_numpy_integer_options_behave_like_python_ints():
    """check_int accepts numpy integers: the result equals the one with the Python int, and the values
    come back as Python ints."""
    assert _SOLVERS.check_options("newton", {"max_outer": np.int64(7), "radius_rtol": np.float32(0.5)}) == \
        {"max_outer": 7, "radius_rtol": 0.5}
    assert type(_SOLVERS.check_options("ipopt", {"max_iter": np.int32(3)})["max_iter"]) is int
    sub = _subproblem(*_pieces(seed=9), radius=0.05)
    a = solve_score_dual(sub, "newton", options={"max_outer": np.int64(1)})
    b = solve_score_dual(sub, "newton", options={"max_outer": 1})
    assert a.status == b.status and torch.equal(a.lam, b.lam) and a.outer_iterations == b.outer_iterations == 1
    for method in ("ipopt", "casadi"):
        if _available(method):
            res = solve_score_dual(sub, method, options={"max_iter": np.int64(1)})
            assert res.status.code is StatusCode.MAX_ITER and "Maximum_Iterations_Exceeded" in res.status.message
