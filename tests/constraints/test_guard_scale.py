"""AffineSubspace's rank and consistency test is scale-invariant: equations of scale 1e-200 or 1e8 count as 1.

Before: ``AffineSubspace([[1e8, 0, 0], [0, 1e-8, 0]], [1e8, 1e-8])`` (x1 = 1, x2 = 1) was refused as
inconsistent and ``AffineSubspace([[1e-200, 1e-200, 0]], [2e-200])`` (x1 + x2 = 2) as "row 0 is zero". The
references are the exact projections onto the same sets written at unit scale.
"""
import numpy as np
import pytest
import torch

from dualgan.constraints import AffineSubspace


def _projection_reference(A, b, x):
    """Projection onto {A x = b} from the unit-scaled equations: x - A^T (A A^T)^{-1} (A x - b), numpy."""
    A, b = np.asarray(A, float), np.asarray(b, float)
    return x - ((x @ A.T - b) @ np.linalg.inv(A @ A.T)) @ A


def test_the_issue_inputs_are_accepted_with_the_exact_sets():
    x = np.array([[0.0, 0.0, 5.0], [3.0, -2.0, 1.0]])
    S = AffineSubspace([[1e8, 0, 0], [0, 1e-8, 0]], [1e8, 1e-8])   # x1 = 1, x2 = 1
    np.testing.assert_allclose(S.project(torch.tensor(x)).numpy(), [[1, 1, 5], [1, 1, 1]], rtol=0, atol=1e-15)
    np.testing.assert_allclose(S.distance(torch.tensor(x)).numpy(), [np.sqrt(2), np.sqrt(4 + 9)], rtol=1e-15)
    T = AffineSubspace([[1e-200, 1e-200, 0]], [2e-200])             # x1 + x2 = 2
    np.testing.assert_allclose(T.project(torch.tensor(x)).numpy(),
                               _projection_reference([[1, 1, 0]], [2], x), rtol=0, atol=1e-15)
    np.testing.assert_allclose(T.project(torch.zeros(1, 3, dtype=torch.float64)).numpy(), [[1, 1, 0]], atol=1e-15)
    # the residual is in the caller's units
    np.testing.assert_allclose(T.residual(torch.tensor([[2.0, 0.0, 0.0]])).numpy(), [[0.0]], atol=1e-215)


@pytest.mark.parametrize("scales", [(1e-300, 1.0), (1e150, 1e-150), (1e-8, 1e8), (1.0, 1.0)])
def test_row_scales_do_not_change_the_set(scales):
    rng = np.random.default_rng(0)
    A = rng.normal(size=(2, 4))
    b = rng.normal(size=2)
    x = rng.normal(size=(3, 4))
    s = np.array(scales)
    S = AffineSubspace(A * s[:, None], b * s)
    np.testing.assert_allclose(S.project(torch.tensor(x)).numpy(), _projection_reference(A, b, x), rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("scale", [1e-200, 1.0, 1e200])
def test_dependent_rows_are_still_named_at_any_scale(scale):
    with pytest.raises(ValueError, match=r"row 1 = 2\*row 0, inconsistent with them \(b\[1\] = 3(e|\s)"):
        AffineSubspace(np.array([[1.0, 0], [2.0, 0]]) * scale, np.array([1.0, 3.0]) * scale)
    with pytest.raises(ValueError, match=r"row 1 = 2\*row 0, a redundant copy"):
        AffineSubspace(np.array([[1.0, 0], [2.0, 0]]) * scale, np.array([1.0, 2.0]) * scale)
    # nearly parallel rows at a tiny scale: dependent relative to their own length
    with pytest.raises(ValueError, match="row 1 = "):
        AffineSubspace(np.array([[1.0, 1.0, 0], [1.0, 1.0 + 1e-14, 0]]) * scale, np.array([1.0, 1.0]) * scale)


def test_an_exactly_zero_row_is_named():
    with pytest.raises(ValueError, match=r"row 0 is zero \(0 = 0, redundant\)"):
        AffineSubspace([[0.0, 0.0], [1.0, 0.0]], [0.0, 1.0])
    with pytest.raises(ValueError, match=r"row 1 is zero but b\[1\] = 5e-300 != 0"):
        AffineSubspace([[1.0, 0.0], [0.0, 0.0]], [1.0, 5e-300])


def test_hyperplane_normals_of_any_scale_define_their_hyperplane():
    from dualgan.constraints import HyperplaneUnion

    x = torch.tensor([[3.0, 4.5]], dtype=torch.float64)
    # a normal of 1e-13 next to one of 1 was refused as "zero"; one of 1e-200 divided by an underflowed norm
    for scale in (1e-200, 1e-13, 1.0, 1e200):
        U = HyperplaneUnion(np.array([[1.0, 0.0], [0.0, 1.0]]) * [[scale], [1.0]], np.array([1.0 * scale, 2.0]))
        np.testing.assert_array_equal(U.project(x).numpy(), [[1.0, 4.5]])  # x1 = 1 is the nearer one (2 < 2.5)
        np.testing.assert_allclose(U.distance(x).numpy(), [2.0], rtol=1e-15)
    with pytest.raises(ValueError, match=r"row\(s\) \[0\] are zero"):
        HyperplaneUnion([[0.0, 0.0], [0.0, 1.0]], [0.0, 0.0])


def test_a_set_beyond_float64_is_refused():
    from dualgan.constraints import HyperplaneUnion

    with pytest.raises(ValueError, match=r"b\[0\] = 1e\+300 over the norm of its row.*beyond float64"):
        AffineSubspace([[1e-300, 0.0]], [1e300])
    with pytest.raises(ValueError, match=r"offsets\[0\] = 1e\+300 over the norm of its row.*beyond float64"):
        HyperplaneUnion([[1e-300, 0.0]], [1e300])
