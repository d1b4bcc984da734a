"""Time of one dual-GAN iteration against one standard-GAN iteration (same generator, features, batch).

Both trainers run in minibatch mode on the 5-mode ring with RBF features on
100 anchors (sigma 0.2), C = 1e-4, the fc-small generator, float32, one
thread. Per-iteration times are read from the histories' cumulative
``seconds`` column after a warm-up, the two trainers running in interleaved
blocks of 10 iterations so that both see the same machine load; the ratio of
medians is printed (goal: <= 1.3).

    python benchmarks/dual_gan_timing.py --batch-size 100 --iterations 300 --seeds 0,1,2

The training path (and with it the Newton iterations per warm-started solve)
depends on the seed, so the ratio is printed per seed and as a median.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from dualgan.data import ring
from dualgan.features import RBF
from dualgan.train import DualLinearGAN, StandardLinearGAN, mlp_generator


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--iterations", type=int, default=300)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--tol", type=float, default=None,
                   help="duality-gap tolerance of the dual solves (default: the trainer's minibatch default, 1e-6)")
    p.add_argument("--size", default="small", choices=["small", "large"])
    p.add_argument("--seeds", default="0,1,2",
                   help="comma-separated seeds (generator initialisation, data and noise): training paths differ "
                        "and with them the Newton iterations per solve, so the ratio is given per seed")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    ratios = []
    for seed in (int(x) for x in args.seeds.split(",")):
        ratios.append(time_pair(args, seed))
    if len(ratios) > 1:
        print(f"ratio over seeds {args.seeds}: median {np.median(ratios):.2f} (min {min(ratios):.2f}, "
              f"max {max(ratios):.2f})   goal <= 1.3")
    return 0


def time_pair(args, seed: int) -> float:
    """Interleaved timing of the two trainers from the same start; returns the ratio of medians."""
    data = ring(5, std=0.3)
    feats = RBF(data.sample(100, generator=torch.Generator().manual_seed(seed)), sigma=0.2)
    common = dict(latent_dim=2, batch_size=args.batch_size, mode="minibatch", generator_lr=1e-3, seed=seed)
    dual = DualLinearGAN(mlp_generator(size=args.size, output_gain=3.0, seed=seed), feats, C=1e-4, tol=args.tol,
                         **common)
    tol = dual.tol
    standard = StandardLinearGAN(mlp_generator(size=args.size, output_gain=3.0, seed=seed), feats, C=1e-4,
                                 discriminator_lr=1e-2, **common)
    # interleave blocks of 10 iterations so that both trainers see the same machine load
    total = args.warmup + args.iterations
    for stop in range(10, total + 10, 10):
        for trainer in (dual, standard):
            trainer.fit(data, min(stop, total))
    rows = []
    for name, trainer in (("dual GAN", dual), ("standard GAN", standard)):
        t = np.diff(trainer.history["seconds"])[args.warmup:]
        extra = ""
        if "inner_iterations" in trainer.history:
            extra = f"  (Newton iterations per solve: {trainer.history['inner_iterations'][args.warmup:].mean():.1f})"
        rows.append((name, float(np.median(t)), float(np.mean(t))))
        print(f"seed {seed}  {name:14s} median {1e3 * np.median(t):7.3f} ms   mean {1e3 * np.mean(t):7.3f} ms{extra}")
    ratio = rows[0][1] / rows[1][1]
    print(f"seed {seed}  ratio dual / standard (medians): {ratio:.2f}   goal <= 1.3   batch {args.batch_size}, "
          f"{args.iterations} timed iterations, tol {tol:g}")
    return ratio


if __name__ == "__main__":
    raise SystemExit(main())
