"""Monotone dual ascent on the 5-mode ring (the issue's first Must-show).

Fixed batch (the same real and noise samples every iteration), RBF features on
100 anchor points (training samples), sigma = 0.2, C = 1e-4, float64.
Prints: decreases of the recorded objective larger than 1e-9, the largest
decrease, an independent re-check of the final objective (cold-started
L-BFGS-B dual solve), modes covered (3 std, 20% of a fair share) and times.

    python benchmarks/dual_gan_monotone.py                # 1000 iterations
    python benchmarks/dual_gan_monotone.py --iterations 100
    python benchmarks/dual_gan_monotone.py --seeds 0,1,2,3,4,5,6,7,8,9   # the rate over seeds

The fixed-batch ascent is chaotic in the last bits (any change of rounding gives
another certified path), and which modes it ends in depends on the seed: the
monotone ascent holds in every run, all 5 modes in some (docs/dual_gan.md).
"""
from __future__ import annotations

import argparse
import time

import torch

from dualgan.data import ring
from dualgan.duals import LinearDual, solve
from dualgan.features import RBF
from dualgan.metrics import mode_coverage
from dualgan.train import DualLinearGAN, mlp_generator

RING_STD = 0.3  # see docs/dual_gan.md


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=200)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--gain", type=float, default=3.0, help="output_gain of the fc-small generator")
    p.add_argument("--std", type=float, default=RING_STD)
    p.add_argument("--seeds", default="0",
                   help="comma-separated seeds (anchors, generator, batch); with several, a summary line gives "
                        "how many runs were monotone and covered all 5 modes")
    p.add_argument("--progress", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    seeds = [int(x) for x in args.seeds.split(",")]
    outcomes = []
    for seed in seeds:
        if len(seeds) > 1:
            print(f"--- seed {seed}")
        outcomes.append(run(args, seed))
    if len(seeds) > 1:
        mono = sum(m for m, _ in outcomes)
        full = [s for s, (_, k) in zip(seeds, outcomes) if k == 5]
        print(f"\nseeds {args.seeds}: monotone (no decrease > 1e-9) in {mono}/{len(seeds)}; all 5 modes covered in "
              f"{len(full)}/{len(seeds)} (seeds {full}); modes per seed {[k for _, k in outcomes]}")
    return 0


def run(args, seed: int) -> tuple[bool, int]:
    """One fixed-batch run; prints its report and returns (monotone, modes covered)."""
    data = ring(5, radius=2.0, std=args.std)
    anchors = data.sample(100, generator=torch.Generator().manual_seed(seed + 1000), dtype=torch.float64)
    feats = RBF(anchors, sigma=0.2)
    gen = mlp_generator(latent_dim=2, out_dim=2, size="small", seed=seed, output_gain=args.gain,
                        dtype=torch.float64)
    gan = DualLinearGAN(gen, feats, C=1e-4, latent_dim=2, batch_size=args.batch_size, mode="fixed",
                        generator_lr=args.lr, seed=seed)
    t0 = time.perf_counter()
    hist = gan.fit(data, args.iterations, progress=args.progress)
    seconds = time.perf_counter() - t0
    # independent re-check of the last objective: cold start, another solver
    batch = gan._fixed
    with torch.no_grad():
        prob = LinearDual(feats(batch.real), feats(gan.generator(batch.noise)), C=1e-4)
    check = solve(prob, method="lbfgsb", tol=1e-9, warn=False)
    cov = mode_coverage(gan.sample(2000, seed=123), data.centers, data.std)
    drops = hist.decreases(1e-9)
    print(f"{'iterations':28s} {len(hist)}   (status {gan.status})")
    print(f"{'objective first -> last':28s} {hist['objective'][0]:.10f} -> {hist['objective'][-1]:.10f}")
    print(f"{'decreases > 1e-9':28s} {len(drops)}")
    print(f"{'largest decrease':28s} {hist.largest_decrease():.3e}")
    print(f"{'max duality gap':28s} {hist['inner_gap'].max():.3e}")
    print(f"{'steps accepted':28s} {int(hist['accepted'].sum())}/{len(hist)}, mean trials {hist['trials'].mean():.2f}")
    print(f"{'final g: newton vs lbfgsb':28s} {hist['objective'][-1]:.10f} vs {check.dual_value:.10f} "
          f"({check.status}, gap {check.gap:.1e})")
    print(f"{'modes covered':28s} {cov.modes_covered}/5 counts {cov.counts} (threshold {cov.threshold}, "
          f"{cov.n_std:g} std = {cov.n_std * data.std:g})")
    print(f"{'high-quality fraction':28s} {cov.high_quality_fraction:.3f}", flush=True)
    print(f"{'seconds':28s} {seconds:.1f} ({1e3 * seconds / max(1, len(hist)):.1f} ms / iteration)", flush=True)
    return len(drops) == 0 and gan.status.success, cov.modes_covered


if __name__ == "__main__":
    raise SystemExit(main())
