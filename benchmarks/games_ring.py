"""Mode coverage on the 8-mode ring: consensus optimisation against simultaneous GD with the same settings.

Setting of the consensus-optimisation paper (Mescheder et al. 2017): ReLU MLPs
for generator and discriminator, 16-d Gaussian latent, RMSProp, gamma = 10,
minimax GAN loss. Sizes and iteration counts are reduced to fit a 2-core
machine; the command line states what ran. For every seed both methods start
from the same initial weights and see the same batches; coverage is
dualgan.metrics.mode_coverage of 2000 fresh samples (a mode counts when it gets
at least a fifth of its fair share of samples within 3 standard deviations).

    nice -n 10 python benchmarks/games_ring.py --seeds 0 1 2 3 --steps 4000 --out benchmarks/results
"""
from __future__ import annotations

import argparse
import os

import torch

from dualgan.data import ring
from dualgan.games import MixtureGAN, compare_optimizers


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--gamma", type=float, default=10.0)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--std", type=float, default=0.02)
    p.add_argument("--loss", default="minimax")
    p.add_argument("--methods", nargs="+", default=["simultaneous", "consensus"])
    p.add_argument("--out", default=os.path.join("benchmarks", "results"))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    mixture = ring(8, radius=2.0, std=args.std)

    def make_game(seed):
        return MixtureGAN(mixture, loss=args.loss, hidden=args.hidden, depth=args.depth, batch_size=args.batch,
                          seed=seed)

    kwargs = {"simultaneous": {}, "consensus": {"gamma": args.gamma}, "sga": {"lam": 1.0},
              "alternating": {"order": ["discriminator", "generator"]}, "optimistic": {}, "extragradient": {}}
    optimizers = {m: (m, dict(kwargs.get(m, {}), lr=args.lr, base="rmsprop")) for m in args.methods}
    print(f"ring8 radius 2 std {args.std}; MLP hidden={args.hidden} depth={args.depth}; batch {args.batch}; "
          f"RMSProp lr {args.lr}; gamma {args.gamma}; loss {args.loss}; steps {args.steps}; seeds {args.seeds}")
    final_samples = {}

    def coverage_metric(game):
        report = game.coverage(2000)
        final_samples[id(game)] = game
        return float(report.modes_covered)

    comparison = compare_optimizers(make_game, optimizers, seeds=args.seeds, n_steps=args.steps,
                                    eval_every=args.eval_every, progress=False,
                                    metric=("modes covered", coverage_metric, True))
    print(comparison.format())
    for m in args.methods:
        runs = [r for r in comparison.runs if r.optimizer == m]
        print(f"{m}: modes covered per seed {[int(r.final_metric) for r in runs]}; "
              f"curve (seed {runs[0].seed}) {[int(v) for v in runs[0].metric]}")
    os.makedirs(args.out, exist_ok=True)
    path = comparison.plot(os.path.join(args.out, "games_ring_coverage.png"))
    print("wrote", path)
    games = list(final_samples.values())  # insertion order: optimiser-major, then seed
    _scatter(games, [m for m in args.methods for _ in args.seeds], args.seeds * len(args.methods), mixture,
             os.path.join(args.out, "games_ring_samples.png"))


def _scatter(games, methods, seeds, mixture, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = len(games) // max(1, len(set(methods)))
    fig, axes = plt.subplots(len(set(methods)), cols, figsize=(2.6 * cols, 2.6 * len(set(methods))), squeeze=False)
    for k, (game, method, seed) in enumerate(zip(games, methods, seeds)):
        ax = axes[k // cols][k % cols]
        x = game.sample(1000).float().numpy()
        ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.5)
        c = mixture.centers.numpy()
        ax.scatter(c[:, 0], c[:, 1], s=20, c="r", marker="x")
        ax.set_xlim(-3, 3)
        ax.set_ylim(-3, 3)
        ax.set_title(f"{method} seed {seed}: {game.coverage(2000).modes_covered}/8", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print("wrote", path)


if __name__ == "__main__":
    main()
