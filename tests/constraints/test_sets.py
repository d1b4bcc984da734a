"""Constraint sets: validation errors, projection against an independent reference, violation metrics."""
import math
import numpy as np
import pytest
import scipy.linalg
import scipy.optimize
import torch

from dualgan.constraints import AffineSubspace, HyperplaneUnion


def _random_subspace(rng, r=2, D=5):
    return AffineSubspace(rng.normal(size=(r, D)), rng.normal(size=r))


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("A, b, match", [
    ([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]], [1.0, 2.0], r"row 1 = 2\*row 0, a redundant copy"),
    ([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]], [1.0, 2.0, 0.0], r"row 2 = 1\*row 0 \+ 1\*row 1, inconsistent"),
    ([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]], [0.0, 1.0], r"row 0 is zero"),
    (np.eye(4)[:, :3], np.zeros(4), r"4 rows span only 3 dimensions \(at most D = 3\)"),
    ([[1.0, 0.0], [0.0, 1.0]], [1.0, 2.0, 3.0], r"b must be a vector with one entry per row of A \(length 2\)"),
    ([[1.0, 0.0], [0.0, 1.0]], [[1.0, 2.0]], r"b must be a vector"),
    ([[1.0, np.nan]], [0.0], r"A contains NaN"),
    ([[1.0, 0.0]], [np.inf], r"b contains inf"),
    (np.ones((2, 2, 2)), [0.0, 0.0], r"A must be a non-empty 2-D matrix"),
    (np.zeros((0, 3)), [], r"A must be a non-empty 2-D matrix"),
])
def test_subspace_bad_input(A, b, match):
    with pytest.raises(ValueError, match=match):
        AffineSubspace(A, b)


def test_rank_error_names_every_dependent_row():
    A = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [2.0, 0, 0, 0], [1.0, 1.0, 0, 0]])
    with pytest.raises(ValueError) as info:
        AffineSubspace(A, [1.0, 1.0, 2.0, 5.0])
    msg = str(info.value)
    assert "row 2 = 2*row 0, a redundant copy" in msg
    assert "row 3 = 1*row 0 + 1*row 1, inconsistent" in msg
    assert "rows span only 2 dimensions" in msg


@pytest.mark.parametrize("normals, offsets, match", [
    ([[1.0, 0.0], [0.0, 0.0]], [0.0, 1.0], r"normals: row\(s\) \[1\] are zero"),
    ([[1.0, 1.0], [2.0, 2.0]], [1.0, 2.0], r"hyperplanes 0 and 1 are the same hyperplane"),
    ([[1.0, 1.0], [-1.0, -1.0]], [1.0, -1.0], r"hyperplanes 0 and 1 are the same hyperplane"),
    ([[1.0, 0.0], [0.0, 1.0]], [1.0], r"offsets must be a vector with one entry per normal \(length 2\)"),
    ([[1.0, float("nan")]], [0.0], r"normals contains NaN"),
])
def test_union_bad_input(normals, offsets, match):
    with pytest.raises(ValueError, match=match):
        HyperplaneUnion(normals, offsets)


def test_parallel_distinct_hyperplanes_are_allowed():
    U = HyperplaneUnion([[1.0, 1.0], [2.0, 2.0]], [0.0, 4.0])      # x1+x2=0 and x1+x2=2
    x = torch.tensor([[0.4, 0.4], [1.5, 0.0]], dtype=torch.float64)
    assert U.assign(x).tolist() == [0, 1]


def test_samples_of_wrong_shape_are_rejected(rng):
    S = _random_subspace(rng)
    with pytest.raises(ValueError, match=r"samples must have shape \(n, 5\)"):
        S.project(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="samples must be a torch tensor"):
        S.violation(np.zeros((3, 5)))


# ---------------------------------------------------------- projection math
def test_subspace_projection_matches_normal_equations_and_kkt(rng):
    A, b = rng.normal(size=(3, 7)), rng.normal(size=3)
    S = AffineSubspace(A, b)
    x = rng.normal(size=(50, 7)) * 3
    got = S.project(torch.from_numpy(x)).numpy()
    # independent reference 1: P(x) = x - A^T (A A^T)^{-1} (A x - b) with scipy's Cholesky solve
    ref = x - scipy.linalg.cho_solve(scipy.linalg.cho_factor(A @ A.T), (x @ A.T - b).T).T @ A
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    # independent reference 2: min ||y - x||^2 s.t. A y = b by SLSQP for one sample
    sol = scipy.optimize.minimize(lambda y: 0.5 * np.sum((y - x[0]) ** 2), x[0], jac=lambda y: y - x[0],
                                  constraints=[{"type": "eq", "fun": lambda y: A @ y - b, "jac": lambda y: A}],
                                  method="SLSQP", options={"ftol": 1e-14, "maxiter": 200})
    np.testing.assert_allclose(got[0], sol.x, atol=1e-7)
    # distance = ||x - P(x)||
    np.testing.assert_allclose(S.distance(torch.from_numpy(x)).numpy(), np.linalg.norm(x - ref, axis=1), atol=1e-12)


def test_projection_is_exact_in_float64_and_float32_on_every_sample(rng):
    S = _random_subspace(rng)
    x64 = torch.from_numpy(rng.normal(size=(4000, 5)) * 2)
    p64 = S.project(x64)
    assert p64.dtype == torch.float64
    assert S.violation(p64).max_distance <= 1e-12 and S.violation(p64).max_residual <= 1e-12
    p32 = S.project(x64.float())
    assert p32.dtype == torch.float32
    assert S.violation(p32).max_distance <= 1e-6
    # residual evaluated independently in numpy float64 on the float32 samples
    res = np.abs(p32.double().numpy() @ S.A.numpy().T - S.b.numpy())
    assert res.max() <= 1e-6 * max(1.0, np.abs(S.A.numpy()).sum(axis=1).max())


def test_projection_is_idempotent(rng):
    S = _random_subspace(rng)
    x = torch.from_numpy(rng.normal(size=(200, 5)))
    p = S.project(x)
    torch.testing.assert_close(S.project(p), p, rtol=0, atol=1e-14)
    U = HyperplaneUnion(rng.normal(size=(3, 5)), rng.normal(size=3))
    q = U.project(x)
    torch.testing.assert_close(U.project(q), q, rtol=0, atol=1e-14)


def test_union_projection_is_nearest_hyperplane_by_brute_force(rng):
    normals, offsets = rng.normal(size=(3, 4)), rng.normal(size=3)
    U = HyperplaneUnion(normals, offsets)
    x = rng.normal(size=(300, 4)) * 2
    got = U.project(torch.from_numpy(x)).numpy()
    for i in range(x.shape[0]):
        # every hyperplane's projection, computed from scratch; keep the closest
        cands = [x[i] - (normals[k] @ x[i] - offsets[k]) / (normals[k] @ normals[k]) * normals[k] for k in range(3)]
        best = min(cands, key=lambda y: np.linalg.norm(y - x[i]))
        np.testing.assert_allclose(got[i], best, atol=1e-12)
    v = U.violation(torch.from_numpy(got))
    assert v.max_distance <= 1e-12
    dist = np.min(np.abs(x @ normals.T - offsets) / np.linalg.norm(normals, axis=1), axis=1)
    np.testing.assert_allclose(U.distance(torch.from_numpy(x)).numpy(), dist, atol=1e-13)


def test_violation_record_matches_numpy(rng):
    S = _random_subspace(rng, r=2, D=4)
    x = rng.normal(size=(100, 4))
    v = S.violation(torch.from_numpy(x))
    res = np.linalg.norm(x @ S.A.numpy().T - S.b.numpy(), axis=1)
    proj = x - np.linalg.solve(S.A.numpy() @ S.A.numpy().T, (x @ S.A.numpy().T - S.b.numpy()).T).T @ S.A.numpy()
    dist = np.linalg.norm(x - proj, axis=1)
    assert v.mean_residual == pytest.approx(res.mean(), rel=1e-12)
    assert v.max_residual == pytest.approx(res.max(), rel=1e-12)
    assert v.mean_distance == pytest.approx(dist.mean(), rel=1e-12)
    assert v.max_distance == pytest.approx(dist.max(), rel=1e-12)


def test_null_basis_and_point(rng):
    S = _random_subspace(rng, r=2, D=5)
    N = S.null_basis().numpy()
    assert N.shape == (5, 3)
    np.testing.assert_allclose(N.T @ N, np.eye(3), atol=1e-13)
    np.testing.assert_allclose(S.A.numpy() @ N, 0, atol=1e-13)
    x0 = S.point().numpy()
    np.testing.assert_allclose(x0, np.linalg.lstsq(S.A.numpy(), S.b.numpy(), rcond=None)[0], atol=1e-13)


def test_a_batch_of_another_width_or_kind_is_refused_by_every_map_of_a_set():
    # residual, distance and signed_distances raised torch's 'mat1 and mat2 shapes cannot be multiplied
    # (4x3 and 2x1)' for samples of width 3 against a set in R^2, and AttributeError for a numpy array
    from dualgan.constraints import ResidualFeatures

    S, U = AffineSubspace([[0.5, 0.5]], [0.3]), HyperplaneUnion([[0.5, 0.5]], [0.3])
    maps = (S.residual, S.distance, S.project, U.residual, U.signed_distances, U.distance, U.project)
    for fn in maps:
        with pytest.raises(ValueError, match=r"samples must have shape \(n, 2\) to match the constraint, got "
                                             r"\(4, 3\)"):
            fn(torch.ones(4, 3, dtype=torch.float64))
        with pytest.raises(ValueError, match=r"samples must be a torch tensor of shape \(n, 2\), got ndarray"):
            fn(np.ones((4, 2)))
    with pytest.raises(ValueError, match="x has 3 values per sample but the constraint has dimension 2"):
        ResidualFeatures(S)(torch.ones(4, 3, dtype=torch.float64))  # its own check, before the set's
    # the right width still maps: the residual 0.5 x1 + 0.5 x2 - 0.3 by hand
    x = torch.tensor([[1.0, 3.0], [-2.0, 0.5]], dtype=torch.float64)
    np.testing.assert_allclose(S.residual(x).numpy()[:, 0], [0.5 * 1 + 0.5 * 3 - 0.3, 0.5 * -2 + 0.5 * 0.5 - 0.3],
                               rtol=1e-15)


def test_an_integer_batch_is_refused_by_every_map_of_a_set():
    # the float64 factors were cast to the batch's dtype: an int64 batch truncated A = [0.5, 0.5] to [0, 0] and
    # returned a residual of 0 (and ResidualFeatures a zero residual block) without an error
    from dualgan.constraints import ResidualFeatures

    S, U = AffineSubspace([[0.5, 0.5]], [0.3]), HyperplaneUnion([[0.5, 0.5]], [0.3])
    for fn in (S.residual, S.distance, U.residual, U.signed_distances, U.distance, ResidualFeatures(S)):
        with pytest.raises(ValueError, match="samples must be floating point, got dtype torch.int64"):
            fn(torch.tensor([[1, 1]]))
    x = torch.tensor([[1.0, 1.0]], dtype=torch.float64)
    assert float(S.residual(x)[0, 0]) == pytest.approx(0.5 + 0.5 - 0.3, rel=1e-15)
    assert float(U.signed_distances(x)[0, 0]) == pytest.approx(0.7 / math.sqrt(0.5), rel=1e-15)
