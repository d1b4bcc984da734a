"""RBF bandwidth conventions, the escape test, RBFWithCoordinates, and the Table-1 study's options.

Every value is checked against a hand computation or the kernel's closed form.
"""
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from dualgan.features import RBF, RBFWithCoordinates, escaped_fraction, rbf_sigma

ROOT = Path(__file__).resolve().parents[2]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---------------------------------------------------------------- bandwidth conventions
def test_rbf_sigma_hand_values():
    assert rbf_sigma(0.2, "std") == 0.2
    assert rbf_sigma(0.2, "variance") == pytest.approx(0.4472135954999579, rel=1e-15)  # sqrt(0.2)
    assert rbf_sigma(0.2, "coefficient") == pytest.approx(1.5811388300841898, rel=1e-15)  # 1/sqrt(0.4)
    assert rbf_sigma(0.2) == 0.2  # the default is today's reading


@pytest.mark.parametrize("convention, kernel", [
    ("std", lambda d2, v: np.exp(-d2 / (2 * v ** 2))),
    ("variance", lambda d2, v: np.exp(-d2 / (2 * v))),
    ("coefficient", lambda d2, v: np.exp(-v * d2)),
])
@pytest.mark.parametrize("v", [0.2, 1.7])
def test_rbf_conventions_match_their_formulas(rng, convention, kernel, v):
    anchors = rng.normal(size=(6, 2))
    x = rng.normal(size=(5, 2)) * 2
    d2 = ((x[:, None, :] - anchors[None]) ** 2).sum(-1)
    out = RBF(anchors, sigma=rbf_sigma(v, convention))(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(out, kernel(d2, v), rtol=1e-13, atol=0)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_rbf_sigma_rejects_bad_value(bad):
    with pytest.raises(ValueError, match="value"):
        rbf_sigma(bad, "std")


def test_rbf_sigma_rejects_unknown_convention():
    with pytest.raises(ValueError, match="convention"):
        rbf_sigma(0.2, "gamma")


# ---------------------------------------------------------------- escape test
def test_escaped_fraction_hand_values():
    # sigma 0.2, threshold e^-12: escaped beyond 0.2 * sqrt(24) = 0.97980 from every anchor
    anchors = np.array([[0.0, 0.0], [5.0, 0.0]])
    samples = np.array([[0.97, 0.0], [0.99, 0.0], [5.0, 0.9], [5.0, -1.0], [2.5, 0.0]])
    assert escaped_fraction(samples, anchors, 0.2) == pytest.approx(3 / 5, abs=0)
    # the coefficient reading (sigma 1.581): escaped beyond 7.746; none of these
    assert escaped_fraction(samples, anchors, rbf_sigma(0.2, "coefficient")) == 0.0
    # the definition: every feature below e^-12
    feats = RBF(anchors, 0.2)(torch.as_tensor(samples)).numpy()
    assert np.array_equal((feats < math.exp(-12)).all(1), [False, True, False, True, True])


def test_escaped_fraction_rejects_nan():
    with pytest.raises(ValueError, match="samples contains NaN"):
        escaped_fraction(np.array([[0.0, float("nan")]]), np.zeros((1, 2)), 0.2)


def test_escaped_fraction_rejects_dimension_mismatch():
    with pytest.raises(ValueError, match="dimensions"):
        escaped_fraction(np.zeros((2, 3)), np.zeros((1, 2)), 0.2)


# ---------------------------------------------------------------- RBFWithCoordinates
def test_rbf_with_coordinates_hand_values():
    # anchors (0,0), (2,0): centre (1,0), scale sqrt(mean(1, 1)) = 1; sigma 1
    f = RBFWithCoordinates(torch.tensor([[0.0, 0.0], [2.0, 0.0]], dtype=torch.float64), sigma=1.0)
    assert f.scale == 1.0 and f.out_features == 5
    out = f(torch.tensor([[3.0, 1.0]], dtype=torch.float64))[0].tolist()
    # d^2 = 10 and 2 -> exp(-5), exp(-1); u = (2, 1); |u|^2 = 5
    assert out == pytest.approx([math.exp(-5), math.exp(-1), 2.0, 1.0, 5.0], rel=1e-15)


def test_rbf_with_coordinates_explicit_center_and_scale():
    f = RBFWithCoordinates(np.array([[0.0, 0.0]]), sigma=0.5, center=[1.0, -1.0], scale=2.0)
    out = f(torch.tensor([[3.0, 3.0]], dtype=torch.float64))[0].tolist()
    # d^2 = 18 -> exp(-18 / 0.5) = exp(-36); u = (1, 2); |u|^2 = 5
    assert out == pytest.approx([math.exp(-36), 1.0, 2.0, 5.0], rel=1e-15)


def test_score_gradient_does_not_vanish_far_away():
    anchors = torch.tensor([[0.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    x = torch.tensor([[51.0, 0.0]], dtype=torch.float64, requires_grad=True)
    (g_rbf,) = torch.autograd.grad(RBF(anchors, 0.2)(x).sum(), x)
    assert g_rbf.abs().max().item() == 0.0  # plain RBF: exactly no gradient
    f = RBFWithCoordinates(anchors, sigma=0.2)  # centre (1, 0), scale 1
    (g,) = torch.autograd.grad(f(x).sum(), x)  # score with w = 1: u1 + u2 + |u|^2, u = (50, 0)
    assert g[0].tolist() == pytest.approx([1 + 2 * 50, 1 + 0], rel=1e-14)


def test_rbf_with_coordinates_gradcheck(rng):
    f = RBFWithCoordinates(torch.as_tensor(rng.normal(size=(6, 3))), sigma=0.7)
    x = torch.tensor(rng.normal(size=(4, 3)), dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(f, (x,))


def test_rbf_with_coordinates_keeps_nan():
    f = RBFWithCoordinates(np.array([[0.0, 0.0], [1.0, 1.0]]))
    out = f(torch.tensor([[float("nan"), 0.0], [0.5, 0.5]], dtype=torch.float64))
    # every feature that depends on the NaN coordinate is NaN; the other coordinate's stays finite
    assert torch.isnan(out[0]).tolist() == [True, True, True, False, True]
    assert torch.isfinite(out[1]).all()


@pytest.mark.parametrize("kwargs, match", [
    (dict(scale=0.0), "scale"),
    (dict(scale=float("nan")), "scale"),
    (dict(center=[0.0, 0.0, 0.0]), "center"),
    (dict(center=[float("nan"), 0.0]), "center"),
    (dict(sigma=-1.0), "sigma"),
])
def test_rbf_with_coordinates_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RBFWithCoordinates(np.array([[0.0, 0.0], [1.0, 1.0]]), **kwargs)


def test_rbf_with_coordinates_rejects_coincident_anchors_default_scale():
    with pytest.raises(ValueError, match="scale="):
        RBFWithCoordinates(np.ones((3, 2)))


def test_rbf_with_coordinates_rejects_wrong_input_shape():
    with pytest.raises(ValueError, match="shape"):
        RBFWithCoordinates(np.array([[0.0, 0.0], [1.0, 1.0]]))(torch.zeros(3, 3, dtype=torch.float64))


# ---------------------------------------------------------------- the study's options
def test_draw_settings_shared_pairing_changes_only_the_standard_lr():
    sens = _load("dual_gan_sensitivity")
    shared = sens.draw_settings(20, 0, "shared")
    unpaired = sens.draw_settings(20, 0, "unpaired")
    for s, u in zip(shared, unpaired):
        assert s["lr_std"] == s["lr_dual"] == u["lr_dual"]
        assert {k: v for k, v in s.items() if k != "lr_std"} == {k: v for k, v in u.items() if k != "lr_std"}
    assert sum(u["lr_std"] != u["lr_dual"] for u in unpaired) == 20
    with pytest.raises(ValueError, match="pairing"):
        sens.draw_settings(2, 0, "paired")


@pytest.mark.parametrize("argv, match", [
    (["--ring-std", "-0.1"], "--ring-std"),
    (["--rbf-bandwidth", "0"], "--rbf-bandwidth"),
    (["--min-count", "0"], "--min-count"),
    (["--methods", "dual,gan"], "--methods"),
    (["--rbf-convention", "gamma"], "--rbf-convention"),
])
def test_sensitivity_rejects_bad_options(argv, match, capsys):
    sens = _load("dual_gan_sensitivity")
    with pytest.raises(SystemExit):
        sens.parse_args(argv)
    assert match in capsys.readouterr().err


def test_mcnemar_and_interval_against_hand_values():
    rescore = _load("dual_gan_rescore")
    a = {0: True, 1: True, 2: False, 3: True}
    b = {0: False, 1: False, 2: False, 3: True}
    # 2 discordant pairs, both for a: two-sided exact p = 2 * 0.5^2
    assert rescore.mcnemar(a, b) == (2, 0, pytest.approx(0.5, rel=1e-12))
    # Clopper-Pearson 0/10: upper bound 1 - 0.025^(1/10) = 0.3085 -> "[0%, 31%]"
    assert rescore.ci(0, 10) == "0/10 [0%, 31%]"
    # 5/10: bounds 0.187 and 0.813 (symmetric)
    assert rescore.ci(5, 10) == "5/10 [19%, 81%]"


def test_study_saves_runs_and_rescoring_reproduces_them(tmp_path, capsys):
    sens = _load("dual_gan_sensitivity")
    rescore = _load("dual_gan_rescore")
    out = tmp_path / "study"
    assert sens.main(["--settings", "2", "--max-iterations", "3", "--workers", "1", "--ring-std", "0.25",
                      "--rbf-convention", "coefficient", "--features", "rbf+coords", "--out", str(out)]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["sigma"] == pytest.approx(1 / math.sqrt(0.4)) and cfg["ring_std"] == 0.25
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert sorted((r["method"], r["setting"]) for r in runs) == [("dual", 0), ("dual", 1), ("standard", 0),
                                                                ("standard", 1)]
    for r in runs:
        assert r["lr"] == r["lr_dual"]  # shared learning rate
        z = np.load(out / "samples" / f"{r['method']}_{r['setting']:03d}.npz")
        assert z["samples"].shape == (2000, 2) and z["samples"].dtype == np.float32
        assert r["escaped"] == escaped_fraction(z["samples"].astype(np.float64), z["anchors"], cfg["sigma"])
    capsys.readouterr()
    assert rescore.main([str(out)]) == 0
    assert "4 runs re-scored under the study's own criterion; 0 differ" in capsys.readouterr().out
    # a looser criterion can only cover more modes
    args = type("A", (), dict(n_std=3.0, coverage_std=0.25, min_fraction=None, min_count=1, escape_sigma=None))
    loose = rescore.rescore(out, cfg, runs, args)
    assert all(lr["modes"] >= r["modes"] for lr, r in zip(loose, runs))


def test_an_integer_batch_is_refused_naming_this_map():
    # an int batch truncated the anchors and the centre to integers in the cast to its dtype
    feat = RBFWithCoordinates(torch.full((3, 2), 0.7, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"RBFWithCoordinates input must be a floating-point torch tensor of shape "
                                         r"\(batch, 2\), got a tensor of dtype torch.int64"):
        feat(torch.zeros(4, 2, dtype=torch.int64))
