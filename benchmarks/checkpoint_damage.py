"""Damaged checkpoints of every registered trainer: each must be refused before anything changes (issue 24, s. 5).

For every trainer of ``dualgan.train.TRAINERS`` (small models, an augmented-Lagrangian constraint handler),
train 3 iterations with a checkpoint, then write ``--flips`` copies with one random bit flipped and
``--blocks`` copies with a random 4 KiB block zeroed (seeded), and load each into a trainer that has trained
2 iterations of its own. A copy counts as refused when ``load_checkpoint`` raises ``CheckpointError`` and the
trainer's parameters, iteration, history length and random state are exactly as before; any copy that loads,
or that changes the trainer, is a failure. A damaged copy identical to the original (a zeroed block that was
already zero) is redrawn. Prints one row per trainer and exits 1 on any failure.

    python benchmarks/checkpoint_damage.py                    # 100 flips + 20 blocks per trainer
    python benchmarks/checkpoint_damage.py --flips 1000 --blocks 200
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dualgan.constraints import AffineSubspace, AugmentedLagrangian
from dualgan.data import ring
from dualgan.features import RBF
from dualgan.train import TRAINERS, CheckpointError, make_trainer

DATA = ring(4)


def _mlp(seed, out):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, out)).double()


def _models(name):
    feats = RBF(DATA.sample(12, generator=torch.Generator().manual_seed(5), dtype=torch.float64), sigma=0.5)
    if name == "dual_linear":
        return (_mlp(0, 2), feats), dict(C=1e-2, mode="minibatch", generator_lr=1e-2)
    if name == "standard_linear":
        return (_mlp(0, 2), feats), dict(C=1e-2, generator_lr=1e-2, discriminator_lr=1e-2)
    if name == "trust_region":
        return (_mlp(0, 2), _mlp(1, 1)), dict(model="score", C=1e-2, radius=0.3, generator_lr=1e-2)
    if name == "kernel_dual":
        from dualgan.kernels import RBFKernel

        return (_mlp(0, 2), RBFKernel(sigma=(0.3, 1.0))), dict(C=1e-2, mode="minibatch", generator_lr=1e-2)
    if name == "game":
        return (_mlp(0, 2), _mlp(1, 1)), dict(optimizer="optimistic", optimizer_options={"lr": 1e-2, "base": "adam"})
    raise SystemExit(f"no small models for trainer {name!r}: add them to {__file__}")


def _make(name):
    models, own = _models(name)
    handler = AugmentedLagrangian(AffineSubspace([[1.0, 1.0]], [0.5]), check_every=2)
    return make_trainer(name, *models, latent_dim=2, batch_size=8, seed=3, constraint=handler, **own)


def _state(trainer):
    mods = [trainer.generator] + [getattr(trainer, a) for a in ("discriminator", "features") if hasattr(trainer, a)]
    tensors = [t.detach().clone() for m in mods if isinstance(m, nn.Module) for t in m.state_dict().values()]
    return tensors, trainer.iteration, len(trainer.history), trainer._rng.get_state().clone()


def _same(a, b):
    return (len(a[0]) == len(b[0]) and all(torch.equal(x, y) for x, y in zip(a[0], b[0]))
            and a[1:3] == b[1:3] and torch.equal(a[3], b[3]))


def _damaged(data: bytes, rng, flips: int, blocks: int):
    for _ in range(flips):
        b = bytearray(data)
        b[int(rng.integers(len(b)))] ^= 1 << int(rng.integers(8))
        yield "flip", bytes(b)
    made = 0
    while made < blocks:
        b = bytearray(data)
        start = int(rng.integers(len(b)))
        b[start:start + 4096] = bytes(len(b[start:start + 4096]))
        if bytes(b) != data:
            made += 1
            yield "block", bytes(b)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flips", type=int, default=100)
    ap.add_argument("--blocks", type=int, default=20)
    ap.add_argument("--seed", type=int, default=24)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    failures = 0
    print(f"{'trainer':16s} {'bytes':>8s} {'flips refused':>14s} {'blocks refused':>15s} {'loaded or changed':>18s} "
          f"{'ms/load':>8s}")
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in TRAINERS.names():
            good = Path(tmp) / f"{name}.pt"
            _make(name).fit(DATA, 3, checkpoint_path=good)
            data = good.read_bytes()
            trainer = _make(name)
            trainer.fit(DATA, 2)
            before = _state(trainer)
            refused = {"flip": 0, "block": 0}
            bad = []
            path = Path(tmp) / "damaged.pt"
            t0 = time.perf_counter()
            for kind, content in _damaged(data, rng, args.flips, args.blocks):
                path.write_bytes(content)
                try:
                    trainer.load_checkpoint(path)
                except CheckpointError:
                    if _same(_state(trainer), before):
                        refused[kind] += 1
                        continue
                bad.append(kind)
                trainer = _make(name)  # start again from a known state
                trainer.fit(DATA, 2)
                before = _state(trainer)
            ms = 1e3 * (time.perf_counter() - t0) / (args.flips + args.blocks)
            failures += len(bad)
            print(f"{name:16s} {len(data):8d} {refused['flip']:>8d}/{args.flips:<5d} {refused['block']:>9d}/"
                  f"{args.blocks:<5d} {len(bad):>18d} {ms:8.2f}")
            _make(name).load_checkpoint(good)  # the undamaged file loads
    print("every damaged copy refused before anything changed" if not failures
          else f"{failures} damaged copies were loaded or changed a trainer")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
