"""Batched runs of every batchable optimiser against outputs recorded before the optimisers owned their batched steps.

``data/batched_reference.npz`` holds the trajectories and results of :func:`dualgan.games.batched_run`
as computed when the runner still chose each optimiser's update rule itself (one branch per optimiser
name, one per base optimiser). Moving those rules into the optimiser classes and the base optimisers'
registry must not change a single number: the closed-form games (bilinear, Dirac-GAN with R1, with
WGAN's clipping), the ``torch.func`` games (Dirac-GAN with the JS regulariser, a small mixture GAN that
draws a batch every step) and every functional base (plain SGD, SGD with momentum, dampening,
Nesterov and weight decay, Adam with amsgrad, centred RMSProp with momentum), including cells that
diverge. The independent references of the same runs are in ``test_functional.py`` (the per-run
harness and ``torch.optim``).
"""
from pathlib import Path

import numpy as np
import pytest
import torch

from dualgan.data import ring
from dualgan.games import (OPTIMIZERS, batched_run, bilinear_functional, dirac_functional, mixture_functional,
                           random_matrix)
from dualgan.regularizers import R1, JSRegularizer

REFERENCE = Path(__file__).with_name("data") / "batched_reference.npz"
A32 = random_matrix(3, 2, seed=1, singular_values=(0.5, 1.5))
GAMES = {
    "bilinear": lambda: bilinear_functional(A32),
    "dirac_r1": lambda: dirac_functional("minimax", [R1(1.0)]),
    "dirac_js": lambda: dirac_functional("non_saturating", [JSRegularizer(0.3)]),
    "dirac_wgan_clip": lambda: dirac_functional("wasserstein", clip=0.8),
    "mixture": lambda: mixture_functional(ring(4), hidden=3, depth=1, latent_dim=2, batch_size=6,
                                          regularizers=[R1(0.5)]),
}
#: (game, base, base_kwargs, optimiser options, steps, step sizes, coefficients); configuration 4 runs SGA only
CONFIGS = [
    ("bilinear", "sgd", None, {}, 40, [0.05, 0.3, 2.5, 0.4], [0.5, 1.5, 1.0, 0.0001]),
    ("dirac_r1", "adam", {"betas": (0.5, 0.9)}, {}, 30, [0.02, 0.1, 0.3], [0.5, 1.5, 3.0]),
    ("dirac_js", "rmsprop", {"alpha": 0.9, "centered": True, "momentum": 0.3}, {}, 12, [0.01, 0.05], [0.7, 1.2]),
    ("dirac_wgan_clip", "sgd", {"momentum": 0.5, "nesterov": True, "weight_decay": 0.01}, {}, 30,
     [0.05, 0.2, 0.6], [0.3, 1.0, 2.0]),
    ("bilinear", "sgd", {"momentum": 0.4, "dampening": 0.2}, {"align": False, "eps": 0.0}, 25, [0.1, 0.2],
     [-0.5, 1.0]),
    ("mixture", "adam", {"amsgrad": True}, {}, 4, [0.05, 0.1, 0.02], [0.5, 1.0, 2.0]),
]
RECORDED = ["simultaneous", "alternating", "consensus", "extragradient", "optimistic", "sga", "cgd"]
CASES = [(k, name) for k, cfg in enumerate(CONFIGS) for name in RECORDED if not cfg[3] or name == "sga"]
FIELDS = ("trajectory", "final_params", "diverged", "diverged_at", "measured_rate", "final_distance",
          "final_field_norm", "coefficient", "lr")


@pytest.fixture(scope="module")
def reference():
    with np.load(REFERENCE) as data:
        return dict(data)


def test_every_recorded_optimiser_is_still_registered_and_batchable():
    assert set(RECORDED) <= set(OPTIMIZERS.names(batchable=True))


@pytest.mark.parametrize("k, name", CASES, ids=[f"{CONFIGS[k][0]}-{CONFIGS[k][1]}-{n}" for k, n in CASES])
def test_batched_run_reproduces_the_recorded_outputs(reference, k, name):
    game_name, base, base_kwargs, options, steps, lrs, coefs = CONFIGS[k]
    g = GAMES[game_name]()
    seeds = [0, 1, 1, 2][:len(lrs)]
    z0 = torch.stack([g.start(s) for s in seeds])
    kw = dict(base=base, base_kwargs=base_kwargs, options=options, record_trajectory=True)
    if g.sample_batch is not None:
        kw["seeds"] = seeds
    run = batched_run(g, name, z0, lrs, coefs, steps, **kw)
    key = f"{k}/{name}"
    assert run.steps == int(reference[f"{key}/steps"])
    for field in FIELDS:
        got, want = np.asarray(getattr(run, field)), reference[f"{key}/{field}"]
        assert got.shape == want.shape, field
        if got.dtype == bool or np.issubdtype(got.dtype, np.integer):
            assert np.array_equal(got, want), field
        else:   # equal to 1e-12 relative (NaN where the recording has NaN)
            assert np.array_equal(np.isnan(got), np.isnan(want)), field
            ok = ~np.isnan(want)
            if want.ndim >= 2 and field in ("trajectory", "final_params"):
                # Each cell's parameter vector to 1e-12 relative to its own norm: a coordinate 1e-9 times the
                # vector's size carries the rounding of its larger neighbours (the recording was made on another
                # CPU, whose BLAS kernels round the last bit differently), not a difference in the update rule.
                scale = np.nanmax(np.abs(want), axis=-1, keepdims=True)
                err = np.where(ok, np.abs(got - want), 0.0)
                assert np.all(err <= 1e-12 * scale + 1e-300), (field, (err / np.maximum(scale, 1e-300)).max())
            elif field in ("final_distance", "final_field_norm"):
                # A norm near 0 at a converged cell is a difference of numbers of the iterate's size: its rounding
                # is relative to the largest coordinate the cell's trajectory reached.
                traj = reference[f"{key}/trajectory"]
                scale = np.nanmax(np.abs(traj.reshape(-1, *traj.shape[-2:])), axis=(0, 2))
                err = np.where(ok, np.abs(got - want), 0.0)
                assert np.all(err <= 1e-12 * (np.abs(np.where(ok, want, 0.0)) + scale) + 1e-300), (field, err.max())
            else:
                assert np.allclose(got[ok], want[ok], rtol=1e-12, atol=1e-300), (field, np.abs(got - want)[ok].max())
