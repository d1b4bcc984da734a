"""Follow-up of a new user's pass over the kernel and image-scale APIs: each fault found is a test here."""
import re
import warnings

import numpy as np
import pytest

from dualgan.duals import KernelDual, solve
from dualgan.kernels import RBFKernel


def _rbf_mean(a, b, sigmas):
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return np.mean([np.exp(-d2 / (2 * s * s)) for s in sigmas], axis=0)


def _kernels_page_problem(C):
    rng = np.random.default_rng(0)
    x_real, x_fake = rng.normal(1, 1, (200, 2)), rng.normal(0, 1, (150, 2))
    return rng, x_real, x_fake, KernelDual(x_real, x_fake, RBFKernel(sigma=(0.5, 1.0, 2.0)), C=C)


def test_truncated_factor_rounding_is_reported_as_a_float64_limit():
    """At C = 1e-3 the truncated factor's rounding bound (eq. (1.23)) alone exceeds what w_rtol asks:
    the result must say float64 cannot certify it (it used to read as a plain stall)."""
    _, x_real, x_fake, prob = _kernels_page_problem(1e-3)
    assert prob.truncated
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = solve(prob)
    assert not res.success
    lam = np.r_[res.lam_real, res.lam_fake]
    # independent: the rounding bound 8u |beta|^T |K| |beta| / (2C) in numpy, and the w bound it implies
    X, y = np.vstack([x_real, x_fake]), np.r_[np.ones(200), -np.ones(150)]
    beta = y * lam
    K = _rbf_mean(X, X, (0.5, 1.0, 2.0))
    G = np.asarray(prob.G)
    v = G.T @ lam
    rounding = 8 * 2.0 ** -53 * (np.abs(beta) @ np.abs(K) @ np.abs(beta) + v @ v) / (2 * prob.C)
    assert np.sqrt(2 * rounding / prob.C) > res.w_rtol * np.linalg.norm(res.w)
    assert res.float64_limited
    assert "float64" in res.status.message


def test_kernels_page_example_certifies_and_its_discriminator_is_the_kernel_expansion():
    rng, x_real, x_fake, prob = _kernels_page_problem(1e-2)
    res = solve(prob)
    assert res.success, res.status
    x_new = rng.normal(size=(5, 2))
    lam = np.r_[res.lam_real, res.lam_fake]
    X, y = np.vstack([x_real, x_fake]), np.r_[np.ones(200), -np.ones(150)]
    expected = (y * lam) @ _rbf_mean(X, x_new, (0.5, 1.0, 2.0)) / prob.C   # eq. (1.22), in numpy
    got = np.asarray(prob.decision_function(res, x=x_new))
    # the certified RKHS bound sqrt(2 gap k(x,x)/C), k(x,x) = 1, plus rounding
    assert np.abs(got - expected).max() <= np.sqrt(2 * res.gap_bound / prob.C) + 1e-12


def test_deep_kernel_with_a_float32_network_serves_float64_samples():
    """A float32 network (a DCGAN discriminator's features) in a DeepKernel used to fail in KernelDual with
    torch's raw dtype error: the float64 samples now enter in the network's dtype."""
    import torch
    from torch import nn

    from dualgan.kernels import DeepKernel, LinearKernel

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh())  # float32
    x = torch.randn(6, 3, dtype=torch.float64)
    K = DeepKernel(net, LinearKernel())(x, x)
    with torch.no_grad():
        phi = net(x.float()).double().numpy()
    assert K.dtype == torch.float64
    np.testing.assert_allclose(K.detach().numpy(), phi @ phi.T, rtol=1e-12)  # the features' inner products
    prob = KernelDual(x[:3], x[3:], DeepKernel(net, RBFKernel(sigma=1.0)), C=0.1)
    assert solve(prob).success


def test_kernel_dual_gan_trains_an_image_generator_as_on_flattened_rows():
    """KernelDualGAN with a DCGAN-style generator (images (B, 1, S, S)) used to stop on 'the feature map must
    return (B, d) features': the kernel now sees rows of pixels, the same run as a generator of flat rows."""
    import torch
    from torch import nn

    from dualgan.data import load_digits
    from dualgan.models import dcgan_generator
    from dualgan.train import KernelDualGAN

    images, _ = load_digits(image_size=8, dtype=torch.float64)
    images = images[:32]
    runs = []
    for flat in (False, True):
        gen = dcgan_generator(latent_dim=4, hidden=8, channels=(4, 2), image_size=8, seed=0, dtype=torch.float64)
        gan = KernelDualGAN(nn.Sequential(gen, nn.Flatten()) if flat else gen, RBFKernel(sigma=2.0), C=1e-2,
                            latent_dim=4, batch_size=16, mode="minibatch")
        runs.append(gan.fit(images.flatten(1) if flat else images, iterations=2))
    np.testing.assert_array_equal(runs[0]["objective"], runs[1]["objective"])
    assert runs[0].meta["status_code"] == "success"
    assert np.all(np.asarray(runs[0]["inner_gap"]) <= 1e-6)


def test_a_trainer_latent_dim_other_than_the_dcgan_generator_s_is_named():
    import torch

    from dualgan.models import dcgan_discriminator, dcgan_generator
    from dualgan.trust_region import TrustRegionGAN

    gen = dcgan_generator(latent_dim=4, hidden=8, channels=(4, 2), image_size=8)
    with pytest.raises(ValueError, match=r"latent_dim=4.*\(2, 3\).*trainer's latent_dim must equal"):
        TrustRegionGAN(gen, dcgan_discriminator(channels=(4,), hidden=(8, 4), image_size=8), latent_dim=3,
                       batch_size=8, model="score")
    with pytest.raises(TypeError, match=r"discriminator\.to\(torch\.float32\)"):
        TrustRegionGAN(gen, dcgan_discriminator(channels=(4,), hidden=(8, 4), image_size=8, dtype=torch.float64),
                       latent_dim=4, batch_size=8, model="score")


def test_a_kernel_of_the_wrong_type_is_the_same_error_in_the_problem_and_the_trainer():
    import torch

    from dualgan.train import KernelDualGAN, mlp_generator

    x = np.random.default_rng(0).normal(size=(6, 2))

    def not_a_kernel(a, b):
        return a @ b.T

    with pytest.raises(TypeError, match=r"kernel must be a dualgan\.kernels\.Kernel or a name of \[.*'rbf'"):
        KernelDual(x[:3], x[3:], not_a_kernel, C=0.1)
    with pytest.raises(TypeError, match=r"kernel must be a dualgan\.kernels\.Kernel or a name of \[.*'rbf'"):
        KernelDualGAN(mlp_generator(dtype=torch.float64), not_a_kernel, latent_dim=2)
    with pytest.raises(ValueError, match="unknown kernel 'gauss'"):
        KernelDual(x[:3], x[3:], "gauss", C=0.1)


@pytest.mark.parametrize("which", ["load_digits", "ring", "load_idx_images"])
def test_an_integer_dtype_for_samples_in_0_1_is_refused(which, tmp_path):
    """load_digits(dtype=torch.int64) returned the [0, 1] images truncated to 0 and 1, silently."""
    import torch

    from dualgan.data import load_digits, ring
    from dualgan.data.idx import load_idx_images

    call = {"load_digits": lambda: load_digits(dtype=torch.int64),
            "ring": lambda: ring(5).sample(4, dtype=torch.int64),
            "load_idx_images": lambda: load_idx_images(tmp_path / "missing", dtype=torch.int64)}[which]
    with pytest.raises(ValueError, match=r"dtype must be a floating torch dtype .*got torch\.int64"):
        call()


@pytest.mark.parametrize("dtype", ["int64", "'float64' (a string)"])
@pytest.mark.parametrize("which", ["dcgan_generator", "dcgan_discriminator", "mlp_generator"])
def test_a_network_factory_names_a_dtype_that_is_not_a_floating_torch_dtype(which, dtype):
    """dcgan_generator(dtype=torch.int64) and dtype='float64' failed inside nn.Module.to with torch's raw error."""
    import torch

    from dualgan.models import dcgan_discriminator, dcgan_generator
    from dualgan.train import mlp_generator

    factory = {"dcgan_generator": lambda d: dcgan_generator(latent_dim=4, hidden=8, channels=(4,), image_size=4,
                                                            dtype=d),
               "dcgan_discriminator": lambda d: dcgan_discriminator(channels=(4,), hidden=(8, 4), image_size=4,
                                                                    dtype=d),
               "mlp_generator": lambda d: mlp_generator(dtype=d)}[which]
    bad = torch.int64 if dtype == "int64" else "float64"
    with pytest.raises(ValueError, match=r"dtype must be a floating torch dtype"):
        factory(bad)
    assert next(factory(torch.float64).parameters()).dtype == torch.float64


@pytest.mark.parametrize("family", ["linear", "kernel"])
@pytest.mark.parametrize("lam_real, where", [([0.9, 0.1, 0.1], "lam_real[0] = 0.9"),
                                             ([0.1, -0.01, 0.1], "lam_real[1] = -0.01"),
                                             ([0.1, 0.1, float("nan")], "lam_real[2] = nan")])
def test_a_generator_objective_refuses_multipliers_outside_their_box(family, lam_real, where):
    """dual_objective / kernel_dual_objective returned NaN, silently, for a multiplier outside [0, a_i]."""
    import torch

    from dualgan.duals import dual_objective, kernel_dual_objective

    x = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    def call(lr):
        if family == "linear":
            return dual_objective(x[:3], x[3:], lr, [0.1, 0.1], C=0.1)
        return kernel_dual_objective(x[:3], x[3:], lr, [0.1, 0.1], RBFKernel(sigma=1.0), C=0.1)
    with pytest.raises(ValueError, match=rf"lam_real must hold multipliers in \[0, a_i\].*{re.escape(where)}"):
        call(lam_real)
    # at the box's corners (lambda = a_i) the value is finite: the entropy term is 0 there
    assert torch.isfinite(call([1 / 3, 0.0, 1 / 3]))


def test_the_deep_kernel_by_name_says_it_needs_an_instance():
    """KernelDual(..., "deep") and KernelDualGAN(..., "deep") failed with DeepKernel's raw missing-argument error."""
    import torch

    from dualgan.train import KernelDualGAN, mlp_generator

    x = np.random.default_rng(0).normal(size=(6, 2))
    with pytest.raises(ValueError, match=r"kernel 'deep' cannot be built from its name alone.*DeepKernel\(features"):
        KernelDual(x[:3], x[3:], "deep", C=0.1)
    with pytest.raises(ValueError, match=r"kernel 'deep' cannot be built from its name alone"):
        KernelDualGAN(mlp_generator(dtype=torch.float64), "deep", latent_dim=2)
    assert solve(KernelDual(x[:3], x[3:], "rbf", C=0.1)).success


def test_decision_function_names_x_when_its_width_differs_from_the_samples():
    """It said 'x and y must have the same number of columns': y is the kernel's argument, not the user's."""
    rng, _, _, prob = _kernels_page_problem(1e-2)
    res = solve(prob)
    with pytest.raises(ValueError, match=r"x must have D = 2 columns, as the problem's samples, got 3"):
        prob.decision_function(res, x=rng.normal(size=(4, 3)))


def test_a_median_bandwidth_of_one_batch_is_the_median_of_its_pairwise_distances():
    """kernel(x) and kernel.gram(x) resolved the median on x stacked on itself (a zero distance per sample):
    a bandwidth below the median pairwise distance of the batch that the kernels page documents."""
    import torch
    from scipy.spatial.distance import pdist

    from dualgan.kernels import DeepKernel

    x = torch.randn(9, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    sigma = float(np.median(pdist(x.numpy())))  # independent: scipy's pairwise distances
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1).numpy()
    expected = np.exp(-d2 / (2 * sigma ** 2))
    k = RBFKernel(sigma="median")
    for K in (k(x), k.gram(x), k.gram(x, chunk_size=2), DeepKernel(torch.nn.Identity(), k)(x)):
        np.testing.assert_allclose(K.detach().numpy(), expected, rtol=1e-12, atol=1e-15)
