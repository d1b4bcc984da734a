"""One check of a flag (``check_bool``) for every boolean argument: LinearDual's bias and ResidualFeatures' squares
refused a numpy bool (what a parameter grid or a boolean array's entry gives), kernel_mmd's unbiased and the
estimator's fit_intercept accepted it; all four now take True, False and numpy bools and refuse 1, 'yes' and None."""
import numpy as np
import pytest
import torch

from dualgan._checks import check_bool
from dualgan.constraints import AffineSubspace, ResidualFeatures
from dualgan.duals import DualLogisticRegression, LinearDual, solve
from dualgan.metrics import kernel_mmd


@pytest.mark.parametrize("value, expected", [(True, True), (False, False), (np.True_, True), (np.False_, False)])
def test_a_flag_is_a_python_bool(value, expected):
    out = check_bool(value, "flag")
    assert out is expected


@pytest.mark.parametrize("value", [1, 0, "yes", None, 1.0, np.array([True, False])])
def test_anything_else_is_refused_naming_the_argument(value):
    with pytest.raises(ValueError, match="flag must be True or False, got "):
        check_bool(value, "flag")


def test_every_boolean_argument_takes_a_numpy_bool():
    g = np.random.default_rng(0)
    real, fake = g.normal(1, 1, (20, 2)), g.normal(0, 1, (15, 2))
    with_np, with_py = LinearDual(real, fake, C=0.1, bias=np.True_), LinearDual(real, fake, C=0.1, bias=True)
    assert with_np.bias is True
    assert solve(with_np).b == solve(with_py).b  # the same problem, solved to the same bias
    S = AffineSubspace([[1.0, 1.0]], [0.5])
    x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    assert torch.equal(ResidualFeatures(S, squares=np.False_)(x), ResidualFeatures(S, squares=False)(x))
    a, b = torch.randn(10, 2, dtype=torch.float64), torch.randn(12, 2, dtype=torch.float64)
    assert kernel_mmd(a, b, features="identity", unbiased=np.False_).mmd2 == \
        kernel_mmd(a, b, features="identity", unbiased=False).mmd2
    for bad in (1, "yes"):
        with pytest.raises(ValueError, match=f"bias must be True or False, got {bad!r}"):
            LinearDual(real, fake, C=0.1, bias=bad)
        with pytest.raises(ValueError, match=f"squares must be True or False, got {bad!r}"):
            ResidualFeatures(S, squares=bad)
        with pytest.raises(ValueError, match=f"fit_intercept must be True or False, got {bad!r}"):
            DualLogisticRegression(fit_intercept=bad).fit(real, np.r_[np.ones(10), np.zeros(10)])
