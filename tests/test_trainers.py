"""One table for every registered trainer (dualgan.train.TRAINERS): the same protocol everywhere.

For each trainer: fit to k, checkpoint, a new trainer loads it and fits to n, bit for bit the uninterrupted
fit to n (history rows and every parameter); the shared columns are in every history; ``iterations`` is the
total (a fit with nothing to do warns and changes nothing); the constructor speaks the shared vocabulary and
bad arguments raise errors naming the argument.
"""
import inspect

import numpy as np
import pytest
import torch
from torch import nn

from dualgan.constraints import AffineSubspace, AugmentedLagrangian
from dualgan.data import ring
from dualgan.features import RBF
from dualgan.status import StatusCode
from dualgan.train import SHARED_COLUMNS, TRAINERS, Trainer, make_trainer

DATA = ring(4)
CONSTRAINT_COLUMNS = ("constraint_mean_violation", "constraint_max_violation", "constraint_penalty_weight")
VOCABULARY = ("latent_dim", "batch_size", "noise", "constraint", "seed")


def _mlp(seed, out):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, out)).double()


def _features():
    return RBF(DATA.sample(12, generator=torch.Generator().manual_seed(5), dtype=torch.float64), sigma=0.5)


def _kernel():
    from dualgan.kernels import RBFKernel
    return RBFKernel(sigma=(0.3, 1.0))


# the models and own settings of each registered trainer: a trainer registered without a row here fails the table
MODELS = {
    "dual_linear": lambda: ((_mlp(0, 2), _features()), dict(C=1e-2, mode="minibatch", generator_lr=1e-2)),
    "standard_linear": lambda: ((_mlp(0, 2), _features()), dict(C=1e-2, generator_lr=1e-2, discriminator_lr=1e-2)),
    "trust_region": lambda: ((_mlp(0, 2), _mlp(1, 1)), dict(model="score", C=1e-2, radius=0.3, generator_lr=1e-2)),
    "kernel_dual": lambda: ((_mlp(0, 2), _kernel()), dict(C=1e-2, mode="minibatch", generator_lr=1e-2)),
    "game": lambda: ((_mlp(0, 2), _mlp(1, 1)), dict(optimizer="optimistic",
                                                    optimizer_options={"lr": 1e-2, "base": "adam"})),
}


def _make(name, with_constraint=True, **overrides):
    models, own = MODELS[name]()
    handler = AugmentedLagrangian(AffineSubspace([[1.0, 1.0]], [0.5]), check_every=2) if with_constraint else None
    kwargs = dict(latent_dim=2, batch_size=8, seed=3, constraint=handler, **own)
    kwargs.update(overrides)
    return make_trainer(name, *models, **kwargs)


def _parameters(trainer):
    mods = [trainer.generator] + [getattr(trainer, a) for a in ("discriminator", "features") if hasattr(trainer, a)]
    out = [t.detach().clone() for m in mods for t in m.state_dict().values()]
    if getattr(trainer, "w", None) is not None:  # the linear baseline's discriminator weights
        out.append(trainer.w.detach().clone())
    return out


def test_every_registered_trainer_is_in_the_table():
    assert set(TRAINERS.names()) == set(MODELS), "give every registered trainer a row of MODELS"
    assert {"dual_linear", "standard_linear", "trust_region", "game"} <= set(TRAINERS.names())


@pytest.mark.parametrize("name", TRAINERS.names())
def test_constructor_speaks_the_shared_vocabulary(name):
    cls = TRAINERS.get(name)
    assert issubclass(cls, Trainer) and cls.kind == name
    options = TRAINERS.options(name)
    assert set(VOCABULARY) <= set(options), f"{name} lacks {set(VOCABULARY) - set(options)}"
    params = inspect.signature(cls).parameters
    assert all(params[v].kind is inspect.Parameter.KEYWORD_ONLY for v in VOCABULARY)
    assert "noise_dim" not in params and "lr" not in params


@pytest.mark.parametrize("name", TRAINERS.names())
def test_fit_checkpoint_resume_is_bit_identical(tmp_path, name):
    straight = _make(name)
    full = straight.fit(DATA, 5)
    assert straight.status.success and straight.iteration == 5 and len(full) == 5
    assert full is straight.history and full.status == straight.status
    np.testing.assert_array_equal(full["iteration"], np.arange(5))

    first = _make(name)
    first.fit(DATA, 2, checkpoint_path=tmp_path / "ck.pt")
    resumed = _make(name).load_checkpoint(tmp_path / "ck.pt")
    assert resumed.iteration == 2 and len(resumed.history) == 2
    again = resumed.fit(DATA, 5)  # the same total: the same script, rerun after a restart
    assert resumed.iteration == 5 and resumed.status.success
    assert again.columns == full.columns
    for col in full.columns:
        if col != "seconds":
            np.testing.assert_array_equal(again[col], full[col], err_msg=f"{name}: {col}")
    assert np.all(np.diff(again["seconds"]) >= 0)
    for p, q in zip(_parameters(resumed), _parameters(straight), strict=True):
        assert torch.equal(p, q), name
    assert torch.equal(resumed.constraint.multipliers, straight.constraint.multipliers)


@pytest.mark.parametrize("name", TRAINERS.names())
def test_shared_columns_in_every_history(name):
    with_constraint = _make(name).fit(DATA, 2)
    assert set(SHARED_COLUMNS) | set(CONSTRAINT_COLUMNS) <= set(with_constraint.columns), name
    plain = _make(name, with_constraint=False).fit(DATA, 2)
    assert set(SHARED_COLUMNS) <= set(plain.columns) and not set(CONSTRAINT_COLUMNS) & set(plain.columns)
    for col in ("objective", "generator_loss"):
        assert np.isfinite(plain[col]).all(), (name, col)


@pytest.mark.parametrize("name", TRAINERS.names())
def test_iterations_is_the_total_and_a_fit_with_nothing_to_do_warns(name):
    trainer = _make(name, with_constraint=False)
    trainer.fit(DATA, 2)
    before = [p.clone() for p in _parameters(trainer)]
    for target in (2, 1, 0):
        with pytest.warns(UserWarning, match="already at iteration 2; iterations=.* is the total to reach"):
            trainer.fit(DATA, target)
    assert trainer.iteration == 2 and len(trainer.history) == 2
    assert all(torch.equal(p, q) for p, q in zip(before, _parameters(trainer)))
    trainer.fit(DATA, 3)
    assert trainer.iteration == 3 and trainer.history["iteration"].tolist() == [0, 1, 2]


@pytest.mark.parametrize("name", TRAINERS.names())
def test_callbacks_see_every_row_and_can_stop_the_run(name):
    seen = []

    def stop_at_2(trainer, iteration):
        seen.append((iteration, len(trainer.history)))
        if iteration == 2:
            trainer.should_stop = True

    trainer = _make(name, with_constraint=False)
    trainer.fit(DATA, 5, callbacks=[stop_at_2])
    assert seen == [(1, 1), (2, 2)]
    assert trainer.status.code is StatusCode.INTERRUPTED and "callback" in trainer.status.message
    trainer.fit(DATA, 3)
    assert trainer.iteration == 3 and trainer.status.success


@pytest.mark.parametrize("name", TRAINERS.names())
@pytest.mark.parametrize("override,error,match", [
    (dict(latent_dim=0), ValueError, "latent_dim"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(noise="cauchy"), ValueError, "noise"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(constraint=object()), TypeError, "constraint must follow .*ConstraintHandler"),
    (dict(bogus=1), ValueError, r"takes no option\(s\) \['bogus'\]"),
])
def test_bad_constructor_arguments_name_the_argument(name, override, error, match):
    with pytest.raises(error, match=match):
        _make(name, with_constraint=False, **override)


@pytest.mark.parametrize("name", TRAINERS.names())
@pytest.mark.parametrize("kwargs,error,match", [
    (dict(iterations=-1), ValueError, "iterations must be a non-negative integer"),
    (dict(iterations=2.5), ValueError, "iterations must be a non-negative integer"),
    (dict(iterations=2, checkpoint_every=1), ValueError, "checkpoint_every needs a checkpoint_path"),
    (dict(iterations=2, callbacks=print), TypeError, r"callbacks must be a sequence.*callbacks=\[cb\]"),
    (dict(iterations=2, callbacks=[3]), TypeError, "every entry of callbacks must be a callable"),
])
def test_bad_fit_arguments_name_the_argument(name, kwargs, error, match):
    trainer = _make(name, with_constraint=False)
    with pytest.raises(error, match=match):
        trainer.fit(DATA, **kwargs)
    assert trainer.iteration == 0 and len(trainer.history) == 0


@pytest.mark.parametrize("name", TRAINERS.names())
def test_a_checkpoint_of_another_trainer_is_refused(tmp_path, name):
    other = "trust_region" if name != "trust_region" else "game"
    _make(other, with_constraint=False).fit(DATA, 1, checkpoint_path=tmp_path / "ck.pt")
    trainer = _make(name, with_constraint=False)
    from dualgan.train import CheckpointError

    with pytest.raises(CheckpointError, match=f"checkpoint of a '{other}' trainer"):
        trainer.load_checkpoint(tmp_path / "ck.pt")
    assert trainer.iteration == 0


class _InfAtSecondDraw:
    """Real data whose second batch holds one inf (the tester's reproducer of a silent inf -> zero feature)."""

    def __init__(self):
        self.draws = 0

    def sample(self, n, generator=None, dtype=torch.float64):
        x = DATA.sample(n, generator=generator, dtype=dtype)
        self.draws += 1
        if self.draws >= 2:
            x[0, 0] = float("inf")
        return x


@pytest.mark.parametrize("name", TRAINERS.names())
def test_non_finite_real_data_ends_every_trainer_with_non_finite(name):
    # the RBF features of an inf sample are exactly 0 (finite): before the check in the base class's sampling
    # the linear trainers trained on them and ended SUCCESS
    trainer = _make(name, with_constraint=False)
    before = None

    def keep(tr, it):
        nonlocal before
        before = [p.clone() for p in _parameters(tr)]

    trainer.fit(_InfAtSecondDraw(), 3, callbacks=[keep])
    assert trainer.status.code is StatusCode.NON_FINITE
    assert trainer.status.message == "non-finite data samples at iteration 1"
    assert trainer.iteration == 1 and len(trainer.history) == 1
    assert all(torch.equal(p, q) for p, q in zip(before, _parameters(trainer)))


def test_non_finite_real_data_in_the_fixed_batch_of_the_dual_gan():
    from dualgan.train import DualLinearGAN

    def data(n, g):
        x = DATA.sample(n, generator=g, dtype=torch.float64)
        x[0, 0] = float("inf")
        return x

    gan = DualLinearGAN(_mlp(0, 2), _features(), latent_dim=2, batch_size=32, mode="fixed")
    gan.fit(data, 3)
    assert gan.status.code is StatusCode.NON_FINITE
    assert gan.status.message == "non-finite data samples at iteration 0"


# ------------------------------------------------------------------ construction-time checks, later fits
@pytest.mark.parametrize("name", TRAINERS.names())
def test_a_latent_dim_that_does_not_fit_the_generator_fails_at_construction(name):
    bn = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.Linear(8, 2)).double()
    models, own = MODELS[name]()
    with pytest.raises(ValueError, match=r"latent_dim=3 does not fit the generator"):
        make_trainer(name, *models, latent_dim=3, batch_size=8, **own)
    # the check's forward moves no batch-norm statistics and keeps the modules' modes
    models = (bn,) + models[1:]
    make_trainer(name, *models, latent_dim=2, batch_size=8, **own)
    assert bn.training and int(bn[1].num_batches_tracked) == 0
    assert torch.equal(bn[1].running_mean, torch.zeros(8))


@pytest.mark.parametrize("name", ["dual_linear", "standard_linear"])
def test_a_fixed_batch_trainer_warns_when_a_later_fit_gets_other_data(name, tmp_path):
    from dualgan.data import grid

    trainer = _make(name, with_constraint=False, mode="fixed")
    trainer.fit(DATA, 2)
    batch = trainer._fixed.real.clone()
    import warnings as _w

    with _w.catch_warnings():
        _w.simplefilter("error")
        trainer.fit(DATA, 3)  # the same data: no warning
    with pytest.warns(UserWarning, match="fixed mode trains on the batch of 8 samples drawn at its first iteration"):
        trainer.fit(grid(4, spacing=10), 4)
    assert torch.equal(trainer._fixed.real, batch) and trainer.status.success
    # a restored trainer adopts the data of its first fit (the same script rerun after a restart)
    trainer.save_checkpoint(tmp_path / "ck.pt")
    resumed = _make(name, with_constraint=False, mode="fixed").load_checkpoint(tmp_path / "ck.pt")
    with _w.catch_warnings():
        _w.simplefilter("error")
        resumed.fit(DATA, 5)


@pytest.mark.parametrize("name", TRAINERS.names())
def test_a_fit_that_trains_nothing_leaves_a_final_status(name):
    trainer = _make(name, with_constraint=False)
    with pytest.warns(UserWarning, match="already at iteration 0"):
        history = trainer.fit(DATA, 0)
    assert trainer.status.code is StatusCode.SUCCESS and trainer.status.message == "already at iteration 0"
    assert history.status == trainer.status and len(history) == 0


# the same quantity has one column name in every trainer that records it (docs/dual_gan.md, "History columns")
SAME_NAMES = {
    "inner_iterations": ("dual_linear", "kernel_dual", "trust_region", "game"),   # iterations of the discriminator's inner solve
    "inner_gap": ("dual_linear", "kernel_dual", "trust_region"),  # duality gap of the discriminator's inner solve
    "generator_grad_norm": ("dual_linear", "kernel_dual", "standard_linear", "trust_region"),
}


@pytest.mark.parametrize("name", TRAINERS.names())
def test_the_same_quantity_has_one_column_name(name):
    history = _make(name, with_constraint=False).fit(DATA, 2)
    for column, trainers in SAME_NAMES.items():
        assert (column in history.columns) == (name in trainers), (name, column)
    assert not {"dual_iterations", "grad_norm", "gap"} & set(history.columns)
    # settings live in history.meta under the constructor's argument names, never under a column's name
    assert not set(history.meta) & set(history.columns), set(history.meta) & set(history.columns)
