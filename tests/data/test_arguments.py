"""Numbers are checked where they enter: data sets, Dirac-GAN, consensus/SGA weights, the one helper itself."""
import math

import numpy as np
import pytest
import torch

from dualgan._checks import as_tensor, check_int, check_number, check_positive
from dualgan.data import grid, ring, ring_on_plane
from dualgan.games import DiracGAN
from dualgan.games.optimizers import make_optimizer


@pytest.mark.parametrize("call,match", [
    (lambda: ring(std=-1), "std"), (lambda: ring(std=float("nan")), "std"), (lambda: ring(radius=0), "radius"),
    (lambda: ring(k=True), "k"), (lambda: ring(k=2.0), "k"), (lambda: grid(spacing=float("inf")), "spacing"),
    (lambda: ring_on_plane(seed=-1), "seed"), (lambda: ring(5).sample(0), "n must be a positive integer"),
    (lambda: DiracGAN(theta0=float("nan")), "theta0"), (lambda: DiracGAN(psi0=float("inf")), "psi0"),
    (lambda: make_optimizer("consensus", gamma=float("inf")), "gamma"),
    (lambda: make_optimizer("consensus", gamma=-1.0), "gamma"),
    (lambda: make_optimizer("sga", eps=float("nan")), "eps"),
])
def test_bad_numbers_are_refused_at_construction(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_good_numbers_including_numpy_scalars_pass():
    mix = ring(np.int64(5), radius=np.float32(2.0), std=0.0)   # std 0: point masses are allowed
    x = mix.sample(np.int64(7), generator=torch.Generator().manual_seed(0))
    assert x.shape == (7, 2) and torch.isfinite(x).all()
    assert DiracGAN(theta0=np.float64(0.5)).theta == 0.5


@pytest.mark.parametrize("value", [True, False, np.bool_(True), 1 + 0j, np.complex128(1), "1", None, [1.0],
                                   float("nan"), float("inf"), -float("inf"), torch.tensor([1.0, 2.0])])
def test_check_number_refuses_non_reals_and_non_finite(value):
    with pytest.raises(ValueError, match="x must be"):
        check_number(value, "x")


@pytest.mark.parametrize("value,expected", [(3, 3.0), (np.int64(3), 3.0), (np.float32(0.5), 0.5),
                                            (torch.tensor(2.5, dtype=torch.float64), 2.5), (1e-308, 1e-308),
                                            (5e-324, 5e-324), (1.7e308, 1.7e308), (np.array(4.0), 4.0)])
def test_check_number_accepts_reals_including_extremes(value, expected):
    assert check_number(value, "x") == expected


def test_ranges_and_integers():
    assert check_number(float("inf"), "x", allow_inf=True) == math.inf
    with pytest.raises(ValueError, match="x must be finite and > 0, got 0"):
        check_positive(0, "x")
    with pytest.raises(ValueError, match=r"x must be finite and >= 0 and < 1"):
        check_number(1.0, "x", low=0.0, high=1.0, high_open=True)
    assert check_int(np.int64(5), "n", low=1) == 5
    for bad in (True, 5.0, "5", np.float64(5)):
        with pytest.raises(ValueError, match="n must be a positive integer"):
            check_int(bad, "n", low=1)
    assert check_int(None, "n", allow_none=True) is None


def test_complex_arrays_are_refused_not_truncated():
    with pytest.raises(ValueError, match="complex"):
        as_tensor(np.array([[1 + 2j, 3.0]]), "phi_real")
    with pytest.raises(ValueError, match="complex"):
        as_tensor(torch.tensor([[1 + 2j]]), "phi_real")


def test_linear_dual_refuses_C_true_and_complex_features():
    from dualgan.duals import LinearDual

    with pytest.raises(ValueError, match="C must be a real number"):
        LinearDual(np.ones((3, 2)), np.zeros((3, 2)), C=True)
    with pytest.raises(ValueError, match="complex"):
        LinearDual(np.ones((3, 2)) * (1 + 1j), np.zeros((3, 2)), C=1.0)


def test_integers_beyond_the_float_range_and_fractions():
    from fractions import Fraction

    with pytest.raises(ValueError, match="x must be finite and > 0, got an integer with 401 digits"):
        check_positive(10 ** 400, "x")
    assert check_number(Fraction(1, 4), "x") == 0.25
    with pytest.raises(ValueError, match="seed must be"):
        from dualgan.train import DualLinearGAN, mlp_generator
        from dualgan.features import RBF

        DualLinearGAN(mlp_generator(), RBF(torch.zeros(3, 2)), latent_dim=2, seed=2 ** 64)
