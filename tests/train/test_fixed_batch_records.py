"""What a fixed-batch trainer reports: the batch itself (public, read-only, distinct rows) and the dual
solver's real iteration counts."""
import numpy as np
import pytest
import torch

import dualgan.train.linear as linear
from dualgan.data import ring
from dualgan.features import RBF
from dualgan.train import DualLinearGAN, StandardLinearGAN, mlp_generator

DATA = ring(5, radius=2.0, std=0.1)


def _features():
    return RBF(DATA.sample(30, generator=torch.Generator().manual_seed(1), dtype=torch.float64), sigma=0.3)


@pytest.mark.parametrize("cls", [DualLinearGAN, StandardLinearGAN])
def test_fixed_batch_is_public_read_only_and_drawn_without_replacement(cls):
    table = DATA.sample(250, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    gan = cls(mlp_generator(dtype=torch.float64), _features(), latent_dim=2, batch_size=200, mode="fixed")
    assert gan.fixed_batch is None                      # drawn at the first iteration
    gan.fit(table, 1)
    batch = gan.fixed_batch
    assert batch.real.shape == (200, 2) and batch.noise.shape == (200, 2)
    # 200 distinct rows of the 250 (with replacement, about 187 would be distinct)
    rows = {tuple(r) for r in batch.real.numpy()}
    assert len(rows) == 200 and rows <= {tuple(r) for r in table.numpy()}
    batch.real.zero_()                                  # a copy: the trainer's batch is untouched
    assert len({tuple(r) for r in gan.fixed_batch.real.numpy()}) == 200
    gan.fit(table, 2)                                   # the same batch at every iteration
    assert torch.equal(gan.fixed_batch.noise, gan.fixed_batch.noise) and len(gan.history) == 2


def test_fixed_batch_of_a_small_table_and_minibatch_mode():
    small = DATA.sample(50, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    gan = DualLinearGAN(mlp_generator(dtype=torch.float64), _features(), latent_dim=2, batch_size=80, mode="fixed")
    gan.fit(small, 1)
    assert gan.fixed_batch.real.shape == (80, 2)        # fewer rows than the batch: drawn with replacement
    mini = DualLinearGAN(mlp_generator(dtype=torch.float64), _features(), latent_dim=2, batch_size=20)
    mini.fit(DATA, 1)
    assert mini.fixed_batch is None


@pytest.mark.parametrize("fixed_optimizer", ["lbfgs", "adam"])
def test_inner_iterations_are_those_of_the_solve_that_certified_the_value(monkeypatch, fixed_optimizer):
    calls = []
    real_solve = linear.solve

    def counting_solve(*args, **kwargs):
        res = real_solve(*args, **kwargs)
        calls.append(res.iterations)
        return res

    monkeypatch.setattr(linear, "solve", counting_solve)
    per_iteration = []
    gan = DualLinearGAN(mlp_generator(dtype=torch.float64, output_gain=3.0), _features(), latent_dim=2,
                        batch_size=40, mode="fixed", fixed_optimizer=fixed_optimizer, generator_lr=1e-2)
    hist = gan.fit(DATA, 4, callbacks=[lambda tr, it: per_iteration.append(list(calls)) or calls.clear()])
    assert gan.status.success
    recorded = hist["inner_iterations"]
    assert np.all(recorded > 0), recorded           # a warm re-solve's 0 is not what certified the value
    for counts, value in zip(per_iteration, recorded):
        # the count of the last solve of the iteration that did any work
        assert value == [c for c in counts if c > 0][-1]
