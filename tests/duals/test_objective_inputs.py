"""The differentiable duals at fixed multipliers (dual_objective, kernel_dual_objective) refuse batches they would
evaluate wrongly and take a kernel by name as KernelDual does."""
import numpy as np
import pytest
import torch
from scipy.special import entr

from dualgan.duals import dual_objective, kernel_dual_objective
from dualgan.kernels import KERNELS

C = 0.5


def _batches():
    g = np.random.default_rng(0)
    return torch.tensor(g.normal(size=(10, 3)).round()), torch.tensor(g.normal(1, 1, size=(8, 3)).round())


def _numpy_dual(real, fake, lam_real, lam_fake):
    """D(lam) of eq. (1.3) (logistic), a_i = 1/n, 1/m, by hand."""
    v = lam_real @ real - lam_fake @ fake
    a = np.r_[np.full(len(lam_real), 1 / len(lam_real)), np.full(len(lam_fake), 1 / len(lam_fake))]
    p = np.r_[lam_real, lam_fake] / a
    return -v @ v / (2 * C) + a @ (entr(p) + entr(1 - p))


def test_an_integer_batch_is_refused_not_evaluated_with_integer_multipliers():
    # an int64 batch cast the multipliers to int64 (all 0): D was the entropy alone, 1.386 instead of 0.935
    real, fake = _batches()
    lam_real, lam_fake = torch.full((10,), 0.06, dtype=torch.float64), torch.full((8,), 0.07, dtype=torch.float64)
    reference = _numpy_dual(real.numpy(), fake.numpy(), lam_real.numpy(), lam_fake.numpy())
    assert float(dual_objective(real, fake, lam_real, lam_fake, C)) == pytest.approx(reference, rel=1e-13)
    for fn, kw in ((dual_objective, {}), (kernel_dual_objective, {"kernel": "linear"})):
        args = (lam_real, lam_fake) + ((kw["kernel"],) if kw else ()) + (C,)
        with pytest.raises(TypeError, match=r"_fake must be a floating-point torch tensor .* got dtype torch\.int64"):
            fn(real, fake.long(), *args)
        with pytest.raises(TypeError, match=r"_real must be a floating-point torch tensor .* got ndarray"):
            fn(real.numpy(), fake, *args)  # was torch's 'to() received an invalid combination of arguments'


def test_kernel_dual_objective_takes_a_kernel_by_name():
    # the name raised AttributeError: 'str' object has no attribute 'needs_resolve'
    real, fake = _batches()
    lam_real, lam_fake = torch.full((10,), 0.06, dtype=torch.float64), torch.full((8,), 0.07, dtype=torch.float64)
    by_name = kernel_dual_objective(real, fake, lam_real, lam_fake, "linear", C)
    by_instance = kernel_dual_objective(real, fake, lam_real, lam_fake, KERNELS.get("linear")(), C)
    assert float(by_name) == float(by_instance)
    # the linear kernel's dual is the linear dual on the raw samples (eq. (1.24) with K = X X^T)
    reference = _numpy_dual(real.numpy(), fake.numpy(), lam_real.numpy(), lam_fake.numpy())
    assert float(by_name) == pytest.approx(reference, rel=1e-12)
    with pytest.raises(TypeError, match=r"kernel must be a dualgan.kernels.Kernel or a name of \["):
        kernel_dual_objective(real, fake, lam_real, lam_fake, 3.0, C)
    with pytest.raises(ValueError, match="unknown kernel 'nope'"):
        kernel_dual_objective(real, fake, lam_real, lam_fake, "nope", C)
