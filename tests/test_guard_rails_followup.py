"""Follow-up of the guard-rail work: other inputs of the same kinds (extreme but finite numbers,
valid input refused, a documented value contradicted by a reference), each with its right value
computed independently in numpy or mpmath inside the test, or its clear error."""
from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch

from dualgan.kernels import InverseMultiquadricKernel, RationalQuadraticKernel, RBFKernel, median_distance

_POINTS = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])


def _reference_gram(points: np.ndarray, kind: str, length: float) -> np.ndarray:
    """The Gram matrix in 50-digit arithmetic from the pairwise differences (no expansion, no scaling)."""
    mpmath.mp.dps = 50
    n = points.shape[0]
    out = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            d2 = sum((mpmath.mpf(float(a)) - mpmath.mpf(float(b))) ** 2 for a, b in zip(points[i], points[j]))
            t = d2 / mpmath.mpf(length) ** 2
            if kind == "rbf":
                v = mpmath.exp(-t / 2)
            elif kind == "imq":
                v = 1 / mpmath.sqrt(1 + t)
            else:  # rational quadratic, alpha = 1
                v = 1 / (1 + t / 2)
            out[i, j] = float(v)
    return out


def _kernel(kind: str, length):
    if kind == "rbf":
        return RBFKernel(sigma=length)
    if kind == "imq":
        return InverseMultiquadricKernel(c=length)
    return RationalQuadraticKernel(alpha=1.0, length_scale=length)


@pytest.mark.parametrize("kind", ["rbf", "imq", "rq"])
@pytest.mark.parametrize("scale", [1e-200, 1e-160, 1.0, 1e160, 1e200])
def test_kernels_are_scale_free_at_extreme_scales(kind, scale):
    # points and bandwidth both scaled: the Gram matrix is that of the unit problem. Before, the squares of
    # distances underflowed (1e-200: every entry 1), sigma ** 2 underflowed (ZeroDivisionError) or the squares
    # overflowed (1e200: NaN everywhere).
    x = torch.tensor(_POINTS * scale)
    got = _kernel(kind, 1.5 * scale)(x).numpy()
    np.testing.assert_allclose(got, _reference_gram(_POINTS, kind, 1.5), rtol=1e-13, atol=0)


@pytest.mark.parametrize("kind", ["rbf", "imq", "rq"])
def test_kernels_with_a_bandwidth_far_below_the_distances_give_the_identity(kind):
    # sigma = 1e-300 with unit distances: k = 1 on equal rows, 0 elsewhere (was ZeroDivisionError for RBF,
    # NaN on the diagonal for the inverse multiquadric and rational quadratic kernels)
    x = torch.tensor(_POINTS)
    got = _kernel(kind, 1e-300)(x).numpy()
    np.testing.assert_array_equal(got, np.eye(3))


def test_rbf_kernel_keeps_k_x_x_equal_to_one_at_a_small_bandwidth():
    # k(x, x) = 1 is documented; the rounding of the centred expansion (~1e-15) divided by sigma ** 2 = 1e-16
    # used to give k(x_i, x_i) = 2e-8 for some rows
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(40, 5)) + 3.0)
    gram = RBFKernel(sigma=1e-8)(x).numpy()
    np.testing.assert_array_equal(np.diag(gram), np.ones(40))
    d = np.sqrt(((x.numpy()[:, None, :] - x.numpy()[None, :, :]) ** 2).sum(-1))
    np.testing.assert_array_equal(gram[~np.eye(40, dtype=bool)], np.exp(-0.5 * (d[~np.eye(40, dtype=bool)] / 1e-8) ** 2))


@pytest.mark.parametrize("scale", [1e-200, 1e200])
def test_median_heuristic_at_extreme_scales(scale):
    # distinct samples at 1e-200 were refused ("needs distinct samples", median 0.0); at 1e200 the median was inf
    x = torch.tensor(_POINTS * scale)
    d = [np.hypot(*(a - b)) for i, a in enumerate(_POINTS) for b in _POINTS[i + 1:]]
    assert median_distance(x) == pytest.approx(np.median(d) * scale, rel=1e-15)
    got = RBFKernel()(x).numpy()
    np.testing.assert_allclose(got, _reference_gram(_POINTS, "rbf", float(np.median(d))), rtol=1e-13)


@pytest.mark.parametrize("layer", ["dropout", "batchnorm"])
def test_deep_kernel_features_in_training_mode_are_one_fixed_function(layer):
    # a DeepKernel on a feature network left in training mode: with Dropout(0.3) a solved KernelDual's scores
    # at its own samples were 0.083 off the certified ones; with BatchNorm1d a solve moved the user's
    # running_mean by 0.49. The kernel is evaluated as eq. (7.1): the eval-mode network, flags put back.
    from torch import nn

    from dualgan.duals import KernelDual, solve
    from dualgan.kernels import DeepKernel
    from dualgan.status import StatusCode

    torch.manual_seed(0)
    second = nn.Dropout(0.3) if layer == "dropout" else nn.BatchNorm1d(8)
    net = nn.Sequential(nn.Linear(2, 8), second).double()
    if layer == "batchnorm":  # running statistics away from (0, 1), so eval and train modes differ
        second.running_mean.fill_(0.5)
        second.running_var.fill_(2.0)
    buffers = {k: v.clone() for k, v in net.state_dict().items()}
    kernel = DeepKernel(net, RBFKernel(sigma=1.0))
    xr = torch.randn(20, 2, dtype=torch.float64) + 1
    xf = torch.randn(15, 2, dtype=torch.float64)
    problem = KernelDual(xr, xf, kernel, C=1.0)
    result = solve(problem)
    assert result.status.code is StatusCode.SUCCESS
    x = torch.cat([xr, xf])
    scores = problem.decision_function(result)
    np.testing.assert_allclose(problem.decision_function(result, x=x).numpy(), scores.numpy(), atol=1e-12)
    # reference: the eval-mode features written out in numpy, then the Gaussian kernel of eq. (1.20)
    w, b = net[0].weight.detach().numpy(), net[0].bias.detach().numpy()
    f = x.numpy() @ w.T + b
    if layer == "batchnorm":
        f = (f - 0.5) / np.sqrt(2.0 + second.eps) * second.weight.detach().numpy() + second.bias.detach().numpy()
    d2 = ((f[:, None, :] - f[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(kernel(x).detach().numpy(), np.exp(-0.5 * d2), rtol=1e-12, atol=1e-300)
    assert net.training and second.training  # the user's flags put back
    for k, v in net.state_dict().items():
        assert torch.equal(v, buffers[k]), k  # running statistics did not move


def _coverage_reference(samples: np.ndarray, centers: np.ndarray, std: float, n_std: float = 3.0):
    """Counts of high-quality samples per mode, from np.hypot of the differences (no squares to under/overflow)."""
    dist = np.hypot(samples[:, None, 0] - centers[None, :, 0], samples[:, None, 1] - centers[None, :, 1])
    nearest = dist.argmin(1)
    good = dist[np.arange(len(samples)), nearest] <= n_std * std
    return tuple(int(v) for v in np.bincount(nearest[good], minlength=len(centers)))


@pytest.mark.parametrize("case", ["tiny", "huge", "offset"])
def test_mode_coverage_at_extreme_scales(case):
    # tiny: all three samples went to the first mode (squares of 1e-200 underflow); huge: a sample 1e199 from
    # its centre (std 1e199) was not counted (squares overflow); offset: centres at 1e8, std 1e-3, the
    # expansion's rounding (about 1) counted 34 + 1 of 40 samples that all lie within 3 std of their centre.
    from dualgan.metrics import mode_coverage

    rng = np.random.default_rng(0)
    if case == "tiny":
        centers, samples, std = _POINTS[:2] * 1e-200, np.array([[0.0, 0.0], [1.0, 0.0], [0.5, 0.0]]) * 1e-200, 1e-201
    elif case == "huge":
        centers, samples, std = np.array([[1e200, 0.0], [0.0, 1e200]]), np.array([[1.1e200, 0.0]]), 1e199
    else:
        centers = np.array([[1e8, 1e8], [1e8 + 1, 1e8]])
        samples, std = np.repeat(centers, 20, axis=0) + rng.normal(scale=1e-3, size=(40, 2)), 1e-3
    report = mode_coverage(samples, centers, std=std)
    expected = _coverage_reference(samples, centers, std)
    assert report.counts == expected
    assert report.modes_covered == sum(c >= report.threshold for c in expected)


@pytest.mark.parametrize("what", ["frechet", "mmd", "rbf"])
def test_samples_near_the_largest_float_do_not_raise_overflow_error(what):
    # entries of 1e308: the power-of-two scale 2**1024 raised OverflowError (math range error)
    from dualgan.metrics import frechet_distance, kernel_mmd

    x = np.array([[1e308, 0.0], [0.0, 1e308], [0.0, 0.0]])
    if what == "frechet":  # the distance itself is beyond float64: the library's clear error
        with pytest.raises(ValueError, match="beyond float64"):
            frechet_distance(x, 0.5 * x, features=lambda a: a)
    elif what == "mmd":  # scale-free: the same value as the problem scaled down by 1e16 (reference below)
        got = kernel_mmd(x, 0.5 * x, features=lambda a: a, kernel="rbf", bandwidth=1e308).mmd2
        k = lambda a, b: np.exp(-0.5 * ((a[:, None] - b[None]) ** 2).sum(-1))
        u, v = x / 1e308, 0.5 * x / 1e308
        off = ~np.eye(3, dtype=bool)
        ref = k(u, u)[off].mean() + k(v, v)[off].mean() - 2 * k(u, v).mean()
        assert got == pytest.approx(ref, rel=1e-12)
    else:
        got = RBFKernel(sigma=1e308)(torch.tensor(x)).numpy()
        np.testing.assert_allclose(got, _reference_gram(x / 1e308, "rbf", 1.0), rtol=1e-13)


def test_solve_dual_prints_extreme_dual_values_in_scientific_notation(capsys):
    # --C 1e-300: the dual value of about -9e266 was printed with 14 decimals, a 280-character number
    import re

    from dualgan.cli import main

    assert main(["solve-dual", "--n", "5", "--m", "5", "--d", "2", "--C", "1e-300"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines()
            if re.match(r"^(newton|ipopt|casadi|lbfgsb) ", line) and "unavailable" not in line]
    assert rows
    for line in rows:
        assert len(line) < 90, line
        value = float(line.split()[3])  # the dual value column parses as a number
        assert math.isfinite(value) or math.isnan(value)


def test_history_files_with_an_integer_beyond_float64_or_bad_headers_are_refused_clearly(tmp_path):
    # a JSON column holding 10**400 raised OverflowError; a dict without "columns" raised KeyError; an npz whose
    # header names a column by a number loaded it under the name 5; a folder was reported as not existing
    import json

    from dualgan.train.history import _FORMAT, History

    path = tmp_path / "big.json"
    path.write_text(json.dumps({"format": _FORMAT, "columns": {"objective": [10 ** 400]}}))
    with pytest.raises(ValueError, match=r"big\.json.*column 'objective' holds 1000"):
        History.load(path)
    # the largest float64 written as an integer still reads back exactly
    path.write_text(json.dumps({"format": _FORMAT, "columns": {"objective": [int(np.finfo(np.float64).max)]}}))
    assert History.load(path).column("objective")[0] == np.finfo(np.float64).max
    with pytest.raises(ValueError, match="its columns are NoneType, not a mapping"):
        History.from_dict({"format": _FORMAT})
    npz = tmp_path / "h.npz"
    np.savez(npz, __meta__=np.array(json.dumps({"format": _FORMAT, "meta": {}, "columns": [5]})),
             **{"col:5": np.array([1.0, 2.0])})
    with pytest.raises(ValueError, match=r"h\.npz.*list of column names \(strings\)"):
        History.load(npz)
    (tmp_path / "d.json").mkdir()
    with pytest.raises(ValueError, match=r"d\.json' is a folder"):
        History.load(tmp_path / "d.json")


def test_saving_under_a_file_says_it_is_a_file(tmp_path):
    # the message said the folder "does not exist; create it first", which mkdir cannot do over a file
    from dualgan.train.history import History

    (tmp_path / "f").write_text("x")
    h = History()
    h.append(objective=1.0)
    with pytest.raises(ValueError, match=r"path=.*'.*f' is a file, not a folder"):
        h.save(tmp_path / "f" / "h.json")


def test_confusion_rates_of_a_float32_discriminator_on_float64_samples():
    # was RuntimeError "mat1 and mat2 must have the same dtype"; the samples go to the network's dtype, as the
    # feature networks of frechet_distance and kernel_mmd do
    from torch import nn

    from dualgan.metrics import confusion_rates

    torch.manual_seed(0)
    disc = nn.Linear(2, 1)
    real = 3 * torch.randn(50, 2, dtype=torch.float64) + 1.0
    fake = 3 * torch.randn(40, 2, dtype=torch.float64) - 1.0
    rates = confusion_rates(disc, real, fake)
    w, b = disc.weight.detach().numpy()[0].astype(np.float32), np.float32(disc.bias.item())
    tp = np.mean(real.numpy().astype(np.float32) @ w + b > 0)
    fp = np.mean(fake.numpy().astype(np.float32) @ w + b > 0)
    assert rates.true_positive_rate == pytest.approx(tp) and rates.false_positive_rate == pytest.approx(fp)
    assert 0 < tp < 1 and 0 < fp < 1  # a threshold that separates nothing would not test the counts


@pytest.mark.parametrize("method", ["newton", "lbfgsb", "ipopt", "casadi"])
def test_solver_tolerances_at_the_ends_of_float64(method):
    # w_rtol = 1e300 raised OverflowError ((w_rtol ||w||) ** 2) in lbfgsb, ipopt and casadi; tol = 5e-324 made
    # ipopt and casadi refuse their own derived tolerance 0.01 * tol = 0.0 ("tol (Ipopt's tol) must be > 0")
    import warnings

    from dualgan.duals import LinearDual, solve
    from dualgan.status import StatusCode

    pytest.importorskip("cyipopt" if method == "ipopt" else "casadi" if method == "casadi" else "numpy")
    rng = np.random.default_rng(0)
    problem = LinearDual(rng.normal(size=(6, 3)) + 1, rng.normal(size=(5, 3)), 1.0)
    # cross-implementation reference: newton at its default tolerances (certified from its own multipliers)
    ref = solve(problem, method="newton")
    assert ref.status.code is StatusCode.SUCCESS
    loose = solve(problem, method=method, w_rtol=1e300)
    assert loose.status.code is StatusCode.SUCCESS and loose.gap <= 1e-10
    # weak duality both ways: each dual value is within the other's certified gap
    assert abs(loose.dual_value - ref.dual_value) <= loose.gap + ref.gap + 1e-15
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tight = solve(problem, method=method, tol=5e-324)
    # float64 cannot certify a gap of 5e-324: an honest status, never SUCCESS, never an exception
    assert tight.status.code is StatusCode.STALLED
    assert abs(tight.dual_value - ref.dual_value) <= tight.gap + ref.gap + 1e-15


@pytest.mark.parametrize("scale", [1e-200, 1.0, 1e200])
def test_rbf_features_at_extreme_scales(scale):
    # dualgan.features.RBF: sigma = 1e200 raised OverflowError (sigma ** 2), sigma = 1e-200 gave NaN at x = c_j,
    # anchors and points at 1e-200 gave NaN everywhere
    from dualgan.features import RBF

    anchors = _POINTS * scale
    got = RBF(torch.tensor(anchors), sigma=1.5 * scale)(torch.tensor(_POINTS * scale)).numpy()
    np.testing.assert_allclose(got, _reference_gram(_POINTS, "rbf", 1.5), rtol=1e-13, atol=0)
    far = RBF(torch.tensor(_POINTS), sigma=1e-200)(torch.tensor(_POINTS)).numpy()
    np.testing.assert_array_equal(far, np.eye(3))  # exp(-d^2 / (2 sigma^2)) is 1 at d = 0 and 0 elsewhere
    wide = RBF(torch.tensor(_POINTS), sigma=1e200)(torch.tensor(_POINTS)).numpy()
    np.testing.assert_array_equal(wide, np.ones((3, 3)))  # exp(-d^2 / 2e400) rounds to 1


@pytest.mark.parametrize("scale", [1e-200, 1.0, 1e200])
def test_escaped_fraction_at_extreme_scales(scale):
    # sigma = 0.2 * 1e200 raised OverflowError (sigma ** 2); at 1e-200 the squares underflowed and no sample
    # escaped. Reference: escaped beyond sigma * sqrt(2 * 12) of every anchor, from np.hypot (no squares)
    from dualgan.features.rbf_coords import escaped_fraction

    anchors = np.array([[0.0, 0.0], [5.0, 0.0]])
    samples = np.array([[0.97, 0.0], [0.99, 0.0], [5.0, 0.9], [5.0, -1.0], [2.5, 0.0]])
    d = np.hypot(samples[:, None, 0] - anchors[None, :, 0], samples[:, None, 1] - anchors[None, :, 1]).min(1)
    expected = float(np.mean(d > 0.2 * np.sqrt(24.0)))
    assert expected == 0.6
    assert escaped_fraction(samples * scale, anchors * scale, 0.2 * scale) == expected


def test_compare_optimizers_refuses_an_unwritable_figure_format_before_any_step(tmp_path, capsys):
    # --out c.json ran every optimiser, then matplotlib refused 'json' (exit 2 only after all the work)
    from dualgan.cli import main

    code = main(["compare-optimizers", "--game", "dirac", "--steps", "2", "--out", str(tmp_path / "c.json")])
    out, err = capsys.readouterr()
    assert code == 2 and "c.json" in err and "'.png'" in err and "Traceback" not in err
    assert "mean" not in out  # refused before any run
    assert not (tmp_path / "c.json").exists()


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # scipy's cg on inf entries
def test_compare_optimizers_at_a_huge_step_size_reports_statuses(tmp_path, capsys):
    # --lr 1e300: CGD's eta ** 2 raised OverflowError (a traceback, exit 1); now each run ends with its status
    from dualgan.cli import main

    code = main(["compare-optimizers", "--game", "dirac", "--steps", "2", "--lr", "1e300",
                 "--optimizers", "cgd,simultaneous", "--seeds", "0", "--out", str(tmp_path / "c.png")])
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "OverflowError" not in out + err
    assert code in (0, 1)
    cgd_rows = [line for line in out.splitlines() if line.startswith("cgd ") and "mean" not in line]
    assert cgd_rows and all(("numerical_error" in r) or ("non_finite" in r) for r in cgd_rows)
    # simultaneous GD on the Dirac GAN: one step of 1e300 leaves the start by about 1e300 * |v(z0)|, beyond float64
    # after the second step (the distance is inf): a non-finite status, never success
    sim = [line for line in out.splitlines() if line.startswith("simultaneous ") and "mean" not in line]
    assert sim and all("non_finite" in r for r in sim)


def test_a_sweep_record_with_a_changed_digit_is_refused_and_the_run_is_redone(tmp_path):
    # a results line whose "seconds" or a metric had one digit changed loaded as written and was averaged into
    # the summary; records now carry the SHA-256 of their canonical line (older lines without one still load)
    import json
    import warnings

    from dualgan.status import Status, StatusCode
    from dualgan.sweep import ResultsStore, RunConfig, RunRecord

    good = RunRecord("a" * 16, RunConfig("standard_gan", "ring5", 2, 0), {"final_objective": 1.3680906845009095},
                     1.2804922139994233, Status(StatusCode.SUCCESS))
    assert RunRecord.from_json(good.to_json()) == good
    for old, new in [("1.2804922139994233", "9.2804922139994233"), ("1.3680906845009095", "1.3680906845019095")]:
        line = good.to_json()
        assert old in line
        with pytest.raises(ValueError, match="does not match the SHA-256"):
            RunRecord.from_json(line.replace(old, new))
    legacy = json.loads(good.to_json())
    del legacy["sha256"]
    assert RunRecord.from_json(json.dumps(legacy)) == good  # a line written before digests
    path = tmp_path / "r.jsonl"
    path.write_text(good.to_json().replace("1.2804922139994233", "9.2804922139994233") + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert ResultsStore(path).records() == []  # the damaged run is not counted, so a resumed sweep redoes it
    assert any("SHA-256" in str(w.message) for w in caught)


def test_kernel_dual_on_samples_whose_gram_overflows_names_the_gram():
    # finite samples at 1e200 under a polynomial kernel: the Gram overflows; the message said "phi_real contains
    # inf", an input the user never passed. (1e200)^2 is beyond float64's largest 1.8e308: the reference.
    from dualgan._checks import NonFiniteError
    from dualgan.duals import KernelDual
    from dualgan.kernels import PolynomialKernel

    assert 1e200 * 1e200 == math.inf
    x = torch.tensor([[1e200, 0.0], [0.0, 1e200]], dtype=torch.float64)
    with pytest.raises(NonFiniteError, match=r"Gram matrix of these samples under PolynomialKernel.*beyond float64"):
        KernelDual(x, -x, PolynomialKernel(), C=1.0)
    KernelDual(x * 1e-200, -x * 1e-200, PolynomialKernel(), C=1.0)  # the same samples rescaled are accepted
