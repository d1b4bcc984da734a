"""Dual and standard linear-discriminator trainers: monotone ascent, Danskin gradient, resume, constraints."""
import numpy as np
import pytest
import torch

from dualgan.constraints.base import ConstraintState
from dualgan.data import ring
from dualgan.duals import LinearDual, solve
from dualgan.features import RBF
from dualgan.train import DualLinearGAN, History, RecordLambdas, StandardLinearGAN, mlp_generator
from tests._references import logistic_primal

DATA = ring(5, radius=2.0, std=0.1)


def _features(k=40, seed=1):
    return RBF(DATA.sample(k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64), sigma=0.2)


def _dual(mode="fixed", batch=40, generator_lr=1e-3, seed=0, **kw):
    gen = mlp_generator(seed=seed, output_gain=25.0, dtype=torch.float64)
    return DualLinearGAN(gen, _features(), C=1e-4, latent_dim=2, batch_size=batch, mode=mode, generator_lr=generator_lr, seed=seed, **kw)


def _g_primal(gan):
    """Independent value of g(theta) on the trainer's fixed batch: the primal (1.1) minimised by scipy
    (tests/_references.py; strong duality, eq. (1.4)), no dualgan solver involved."""
    batch = gan._fixed
    with torch.no_grad():
        phi_real, phi_fake = gan.features(batch.real), gan.features(gan.generator(batch.noise))
    return logistic_primal(phi_real.numpy(), phi_fake.numpy(), gan.C)[0]


def test_fixed_batch_is_monotone_and_matches_independent_solves():
    gan = _dual()
    recomputed = {}

    def cb(trainer, it):
        if it % 25 == 0:
            recomputed[it] = _g_primal(trainer)

    hist = gan.fit(DATA, 100, callbacks=[cb])
    assert gan.status.success and len(hist) == 100
    assert hist.is_monotone(tol=1e-9), hist.decreases(1e-9)[:3]
    assert hist["objective"][-1] > hist["objective"][0]  # it actually ascends
    assert float(np.max(hist["inner_gap"])) <= 1e-10
    # the recorded objective at the end of iteration t equals the primal minimum found by scipy
    for it, value in recomputed.items():
        assert hist["objective"][it - 1] == pytest.approx(value, abs=1e-8)
    vals = [recomputed[k] for k in sorted(recomputed)]
    assert all(b >= a - 1e-8 for a, b in zip(vals, vals[1:]))


def test_danskin_gradient_matches_finite_differences():
    """d g(theta)/d theta along a direction = central difference of cold-solved g (eq. (1.14) of the theory page)."""
    torch.manual_seed(0)
    gen = mlp_generator(seed=3, output_gain=25.0, dtype=torch.float64)
    feats = _features()
    real = DATA.sample(30, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    z = torch.randn(30, 2, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    params = list(gen.parameters())
    direction = [torch.randn_like(p) for p in params]

    def g(eps):
        with torch.no_grad():
            for p, d in zip(params, direction):
                p.add_(eps * d)
            prob = LinearDual(feats(real), feats(gen(z)), C=1e-2)
            val = solve(prob, tol=1e-13, warn=False).dual_value
            for p, d in zip(params, direction):
                p.sub_(eps * d)
        return val

    from dualgan.duals import dual_objective

    with torch.no_grad():
        res = solve(LinearDual(feats(real), feats(gen(z)), C=1e-2), tol=1e-13, warn=False)
    value = dual_objective(feats(real), feats(gen(z)), res.lam_real, res.lam_fake, 1e-2)
    grads = torch.autograd.grad(value, params)
    analytic = sum(float((gr * d).sum()) for gr, d in zip(grads, direction))
    # Richardson extrapolation of central differences removes the O(h^2) term
    h = 1e-4
    d1, d2 = (g(h) - g(-h)) / (2 * h), (g(h / 2) - g(-h / 2)) / h
    numeric = (4 * d2 - d1) / 3
    assert analytic == pytest.approx(numeric, rel=1e-6)


def test_minibatch_mode_records_columns_and_lambda_snapshots():
    gan = _dual(mode="minibatch", batch=30, generator_lr=1e-3)
    hist = gan.fit(DATA, 15, callbacks=[RecordLambdas([0, 14])])
    assert gan.status.success and len(hist) == 15
    for col in ("objective", "inner_gap", "lambda_mean", "lambda_min", "lambda_max", "seconds", "generator_grad_norm"):
        assert np.isfinite(hist[col]).all(), col
    assert (hist["lambda_min"] > 0).all() and (hist["lambda_max"] < 1).all()
    lam = hist.array("lambda_fake@14")
    assert lam.shape == (30,)
    assert hist["lambda_fake_mean"][-1] == pytest.approx(lam.mean(), rel=1e-12)
    assert np.all(np.diff(hist["seconds"]) >= 0)


def test_standard_baseline_primal_matches_linear_dual(rng):
    gan = StandardLinearGAN(mlp_generator(dtype=torch.float64), _features(), C=1e-3, latent_dim=2)
    pr, pf = torch.as_tensor(rng.uniform(size=(7, 40))), torch.as_tensor(rng.uniform(size=(5, 40)))
    w = torch.as_tensor(rng.normal(size=40))
    assert float(gan.primal(pr, pf, w)) == pytest.approx(LinearDual(pr, pf, C=1e-3).primal_value(w), rel=1e-13)


def test_standard_discriminator_steps_reach_the_dual_optimum():
    """Many Adam steps on w with the generator frozen reach min_w P = max_lambda D (strong duality).

    600 steps left P 7e-6 above the optimum with this torch build (Adam had not finished); 2000 reach it.
    """
    gen = mlp_generator(seed=0, output_gain=25.0, dtype=torch.float64)
    gan = StandardLinearGAN(gen, _features(), C=1e-1, latent_dim=2, batch_size=40, mode="fixed", generator_lr=1e-12,
                            discriminator_lr=0.05, discriminator_steps=2000)
    hist = gan.fit(DATA, 1)
    assert hist["objective"][0] == pytest.approx(_g_primal(gan), abs=1e-6)


@pytest.mark.parametrize("trainer, mode", [("dual", "fixed"), ("dual", "minibatch"), ("standard", "minibatch")])
def test_resume_from_checkpoint_gives_identical_run(tmp_path, trainer, mode):
    def make():
        gen = mlp_generator(seed=0, output_gain=25.0, dtype=torch.float64)
        if trainer == "dual":
            return DualLinearGAN(gen, _features(), latent_dim=2, batch_size=20, mode=mode, generator_lr=1e-3, seed=4)
        return StandardLinearGAN(gen, _features(), latent_dim=2, batch_size=20, mode=mode, generator_lr=1e-3, seed=4)

    straight = make()
    full = straight.fit(DATA, 12)
    first = make()
    first.fit(DATA, 6, checkpoint_path=tmp_path / "ck.pt")
    resumed = make().load_checkpoint(tmp_path / "ck.pt")
    assert resumed.iteration == 6
    again = resumed.fit(DATA, 12)
    assert again.columns == full.columns and len(again) == 12
    for col in full.columns:
        if col != "seconds":
            np.testing.assert_array_equal(again[col], full[col], err_msg=col)
    for p, q in zip(straight.generator.parameters(), resumed.generator.parameters()):
        assert torch.equal(p, q)


def test_checkpoint_with_other_settings_is_refused(tmp_path):
    gan = _dual(batch=10)
    gan.fit(DATA, 2, checkpoint_path=tmp_path / "ck.pt")
    other = _dual(batch=10, tol=1e-8)
    with pytest.raises(ValueError, match="tol"):
        other.load_checkpoint(tmp_path / "ck.pt")


class _RecordingHandler:
    """A constraint handler that counts the calls the interface promises (penalty pulls y towards 0)."""

    def __init__(self):
        self.calls = {"wrap": 0, "penalty": 0, "update": 0, "state": 0}

    def wrap_generator(self, generator):
        self.calls["wrap"] += 1
        return generator

    def penalty(self, samples):
        self.calls["penalty"] += 1
        return 0.1 * (samples[:, 1] ** 2).mean()

    def update(self, samples):
        self.calls["update"] += 1

    def state(self, samples):
        self.calls["state"] += 1
        v = samples[:, 1].abs()
        return ConstraintState(float(v.mean()), float(v.max()), multipliers=(0.5,), penalty_weight=0.1)


@pytest.mark.parametrize("cls", [DualLinearGAN, StandardLinearGAN])
def test_constraint_handler_is_called_at_documented_points(cls):
    handler = _RecordingHandler()
    gan = cls(mlp_generator(output_gain=25.0, dtype=torch.float64), _features(), latent_dim=2, batch_size=10,
              mode="minibatch", constraint=handler)
    hist = gan.fit(DATA, 4)
    assert handler.calls["wrap"] == 1 and handler.calls["update"] == 4 and handler.calls["state"] == 4
    assert handler.calls["penalty"] >= 4
    assert np.isfinite(hist["constraint_mean_violation"]).all()
    assert (hist["constraint_multiplier_0"] == 0.5).all()


def test_history_from_fit_round_trips(tmp_path):
    hist = _dual(batch=10).fit(DATA, 3)
    assert History.load(hist.save(tmp_path / "h.json")) == hist
    assert hist.meta["trainer"] == "DualLinearGAN" and hist.meta["mode"] == "fixed"


def test_bad_input_names_the_argument():
    gen, feats = mlp_generator(), _features()
    with pytest.raises(ValueError, match="C must"):
        DualLinearGAN(gen, feats, C=0.0, latent_dim=2)
    with pytest.raises(ValueError, match="mode"):
        DualLinearGAN(gen, feats, latent_dim=2, mode="full")
    with pytest.raises(ValueError, match="latent_dim"):
        DualLinearGAN(gen, feats, latent_dim=0)
    with pytest.raises(TypeError, match="features"):
        DualLinearGAN(gen, "rbf", latent_dim=2)
    with pytest.raises(TypeError, match="constraint must follow .*ConstraintHandler .missing wrap_generator"):
        DualLinearGAN(gen, feats, latent_dim=2, constraint=object())
    with pytest.raises(ValueError, match="data"):
        DualLinearGAN(gen, feats, latent_dim=2).fit("ring", 1)
    with pytest.raises(ValueError, match="discriminator_lr"):
        StandardLinearGAN(gen, feats, latent_dim=2, discriminator_lr=-1)


@pytest.mark.parametrize("size", ["small", "large"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mlp_generator_output_std_calibrates_every_architecture(size, seed):
    """output_std: centred initial samples with that per-coordinate spread, measured on fresh noise."""
    gen = mlp_generator(size=size, seed=seed, output_std=1.5, dtype=torch.float64)
    z = torch.randn(20000, 2, generator=torch.Generator().manual_seed(123), dtype=torch.float64)
    with torch.no_grad():
        x = gen(z)
    # calibrated on 4096 other draws: the sampling error of a std over 4096 draws is ~1-2%
    assert abs(float(x.std(dim=0).mean()) - 1.5) < 0.08
    assert float(x.mean(dim=0).norm()) < 0.1
    # the gain alone does not do this: the same seed with the default init is far narrower for "large"
    plain = mlp_generator(size=size, seed=seed, dtype=torch.float64)
    with torch.no_grad():
        assert float(plain(z).std(dim=0).mean()) < 0.5


def test_mlp_generator_output_std_rejects_bad_values():
    with pytest.raises(ValueError, match="output_std"):
        mlp_generator(output_std=0.0)
    with pytest.raises(ValueError, match="not both"):
        mlp_generator(output_std=1.0, output_gain=3.0)


@pytest.mark.parametrize("loss", ["logistic", "hinge"])
def test_danskin_surrogate_has_the_gradient_of_the_dual_objective(loss):
    """The trainer's generator loss: the same parameter gradient as autograd through dual_objective."""
    from dualgan.duals import LinearDual, dual_objective, solve

    torch.manual_seed(0)
    gen = mlp_generator(dtype=torch.float64)
    feats = RBF(torch.randn(20, 2, dtype=torch.float64), sigma=0.7)
    noise = torch.randn(30, 2, dtype=torch.float64)
    phi_real = feats(2 * torch.randn(25, 2, dtype=torch.float64))
    phi_fake = feats(gen(noise))
    # the identity is exact at the optimum: the pair is solved far below the default bound on w
    res = solve(LinearDual(phi_real, phi_fake.detach(), C=0.05, loss=loss), tol=1e-12, w_rtol=1e-12)
    params = list(gen.parameters())
    ref = torch.autograd.grad(dual_objective(phi_real, phi_fake, res.lam_real, res.lam_fake, 0.05, loss=loss),
                              params, retain_graph=True)
    got = torch.autograd.grad(DualLinearGAN._danskin_surrogate(phi_fake, res), params)
    # the two agree to the pair's accuracy: the surrogate uses the solver's w, dual_objective v(lambda)/C,
    # which differ by the rounding of the solve (the hinge interior point's multipliers: 9e-10 relative
    # with this machine's BLAS, failing the 1e-10 of the logistic case, which holds)
    rtol, atol = (1e-10, 1e-13) if loss == "logistic" else (1e-8, 1e-11)
    for r, g in zip(ref, got):
        torch.testing.assert_close(g, r, rtol=rtol, atol=atol)
    assert sum(float(r.abs().sum()) for r in ref) > 1e-3  # a non-trivial gradient


def test_solver_options_are_checked_by_name_and_reach_the_solver(monkeypatch):
    import dualgan.duals as duals
    import dualgan.train.linear as linear

    f = RBF(torch.randn(10, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)), sigma=1.0)
    with pytest.raises(ValueError, match="memory"):  # newton has no such option: refused at construction
        DualLinearGAN(mlp_generator(size="small", seed=0), f, latent_dim=2, solver="newton",
                      solver_options={"memory": 3})
    seen = []
    real_solve = duals.solve

    def spy(*args, **kwargs):
        seen.append(kwargs.get("options"))
        return real_solve(*args, **kwargs)

    monkeypatch.setattr(linear, "solve", spy)
    gan = DualLinearGAN(mlp_generator(size="small", seed=0).double(), f, latent_dim=2, batch_size=20,
                        solver="lbfgsb", solver_options={"memory": 3})
    gan.fit(ring(5), 2)
    assert seen and all(o == {"memory": 3} for o in seen)
    assert gan.status.success, gan.status


# ------------------------------------------------------------------ settings checked at construction and on load
def test_solver_option_values_are_checked_at_construction():
    # before, memory=-1 constructed and the run failed at its first solve
    with pytest.raises(ValueError, match="memory must be a positive integer, got -1"):
        _dual(solver="lbfgsb", solver_options={"memory": -1})
    with pytest.raises(ValueError, match="side must be 'auto', 'primal' or 'dual'"):
        _dual(solver="newton", solver_options={"side": "both"})
    with pytest.raises(ValueError, match="takes no option"):
        _dual(solver="newton", solver_options={"memory": 3})


@pytest.mark.parametrize("saved,loaded,key", [
    (dict(solver="lbfgsb", solver_options={"memory": 5}), dict(solver="lbfgsb", solver_options={"memory": 50}),
     "solver_options"),
    (dict(lbfgs_history=20), dict(lbfgs_history=5), "generator_optimizer"),  # L-BFGS history_size
    (dict(fixed_optimizer="adam", shrink=0.5), dict(fixed_optimizer="adam", shrink=0.25), "shrink"),
    (dict(fixed_optimizer="adam", max_backtracks=30), dict(fixed_optimizer="adam", max_backtracks=3),
     "max_backtracks"),
])
def test_every_dual_gan_setting_is_checked_on_load(tmp_path, saved, loaded, key):
    from dualgan.train import CheckpointError

    _dual(batch=16, **saved).fit(DATA, 1, checkpoint_path=tmp_path / "ck.pt")
    with pytest.raises(CheckpointError, match=f"written with {key}="):
        _dual(batch=16, **loaded).load_checkpoint(tmp_path / "ck.pt")
    assert _dual(batch=16, **saved).load_checkpoint(tmp_path / "ck.pt").iteration == 1


def test_a_generator_optimizer_is_recorded_with_its_hyperparameters(tmp_path):
    from dualgan.train import CheckpointError

    def sgd(lr):
        return lambda params: torch.optim.SGD(params, lr=lr)

    _dual(mode="minibatch", batch=16, generator_optimizer=sgd(1e-2)).save_checkpoint(tmp_path / "ck.pt")
    with pytest.raises(CheckpointError, match="generator_optimizer"):
        _dual(mode="minibatch", batch=16, generator_optimizer=sgd(1e-3)).load_checkpoint(tmp_path / "ck.pt")
    assert _dual(mode="minibatch", batch=16, generator_optimizer=sgd(1e-2)).load_checkpoint(tmp_path / "ck.pt")


@pytest.mark.parametrize("kw", [dict(lbfgs_history=True), dict(max_backtracks=np.bool_(False)),
                                dict(batch_size=2.0), dict(latent_dim=True)])
def test_integer_arguments_refuse_bools_and_floats(kw):
    with pytest.raises(ValueError, match=list(kw)[0]):
        DualLinearGAN(mlp_generator(dtype=torch.float64), _features(), **{"latent_dim": 2, **kw})


def test_integer_arguments_take_numpy_integers():
    gan = DualLinearGAN(mlp_generator(dtype=torch.float64), _features(), latent_dim=np.int64(2),
                        batch_size=np.int32(16), lbfgs_history=np.int64(3), max_backtracks=np.int64(2))
    assert (gan.latent_dim, gan.batch_size, gan.lbfgs_history, gan.max_backtracks) == (2, 16, 3, 2)
    assert all(type(v) is int for v in (gan.latent_dim, gan.batch_size, gan.lbfgs_history, gan.max_backtracks))
