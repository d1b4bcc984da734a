"""Mode coverage on the 8-mode ring: consensus optimisation against simultaneous GD with the same settings.

Setting of the consensus-optimisation paper (Mescheder et al. 2017): ReLU MLPs
for generator and discriminator, 16-d Gaussian latent, RMSProp, gamma = 10,
minimax GAN loss, the same step-size schedule for both methods (--lr for
--steps steps, then --final-lr for --final-steps steps). Sizes and iteration counts are reduced to fit a 2-core
machine; the command line states what ran. For every seed both methods start
from the same initial weights and see the same batches; coverage is
dualgan.metrics.mode_coverage of 2000 fresh samples (a mode counts when it gets
at least a fifth of its fair share of samples within 3 standard deviations).

    nice -n 10 python benchmarks/games_ring.py --seeds 0 1 2 --steps 4000 --final-steps 2000 --out benchmarks/results
"""
from __future__ import annotations

import argparse
import os
import time

import torch

from dualgan.data import ring
import numpy as np

from dualgan.games import MixtureGAN, make_optimizer, run_optimizer


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=4000, help="steps at --lr")
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--final-steps", type=int, default=2000, help="extra steps at --final-lr (0: none)")
    p.add_argument("--final-lr", type=float, default=1e-4)
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

    metric = ("modes covered", lambda g: float(g.coverage(2000).modes_covered), True)
    kwargs = {"simultaneous": {}, "consensus": {"gamma": args.gamma}, "sga": {"lam": 1.0},
              "alternating": {"order": ["discriminator", "generator"]}, "optimistic": {}, "extragradient": {}}
    optimizers = {m: (m, dict(kwargs.get(m, {}), lr=args.lr, base="rmsprop")) for m in args.methods}
    print(f"ring8 radius 2 std {args.std}; MLP hidden={args.hidden} depth={args.depth}; batch {args.batch}; "
          f"RMSProp lr {args.lr} for {args.steps} steps, then {args.final_lr} for {args.final_steps}; gamma {args.gamma}; loss {args.loss}; seeds {args.seeds}")
    rows, games, curves = [], [], {}
    t_total = time.perf_counter()
    for method in args.methods:
        for seed in args.seeds:
            t_run = time.perf_counter()
            game = make_game(seed)
            name, kw = optimizers[method]
            opt = make_optimizer(name, **kw)
            first = run_optimizer(game, opt, args.steps, metric=metric, eval_every=args.eval_every, name=method,
                                  seed=seed)
            curve = list(first.metric)
            status = first.status
            if args.final_steps and first.status.success:  # a run that failed (a Status) is not continued
                opt.set_lr(args.final_lr)  # the same schedule for every method
                second = run_optimizer(game, opt, args.final_steps, metric=metric, eval_every=args.eval_every,
                                       name=method, seed=seed)
                curve += list(second.metric[1:])
                status = second.status
            report = game.coverage(2000)
            rows.append((method, seed, report.modes_covered, max(curve), report.high_quality_fraction, status))
            curves[(method, seed)] = curve
            games.append(game)
            print(f"{method:14s} seed {seed}: modes covered {report.modes_covered}/8 (best checkpoint "
                  f"{int(max(curve))}), high-quality fraction {report.high_quality_fraction:.3f}; "
                  f"curve {[int(v) for v in curve]}; {status}; {time.perf_counter() - t_run:.0f} s", flush=True)
    print(f"\n{'optimizer':14s} {'final modes covered per seed':>30s} {'mean':>6s} {'best checkpoint per seed':>26s}")
    for method in args.methods:
        sel = [r for r in rows if r[0] == method]
        print(f"{method:14s} {str([r[2] for r in sel]):>30s} {np.mean([r[2] for r in sel]):6.2f} "
              f"{str([int(r[3]) for r in sel]):>26s}")
    print(f"wall time {time.perf_counter() - t_total:.0f} s ({args.threads} torch thread(s), runs one after another)")
    os.makedirs(args.out, exist_ok=True)
    _curves(curves, args, os.path.join(args.out, "games_ring_coverage.png"))
    _scatter(games, [m for m in args.methods for _ in args.seeds], args.seeds * len(args.methods), mixture,
             os.path.join(args.out, "games_ring_samples.png"))


def _curves(curves, args, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    colours = {m: f"C{k}" for k, m in enumerate(args.methods)}
    for (method, seed), curve in curves.items():
        steps = np.arange(len(curve)) * args.eval_every
        ax.plot(steps, curve, color=colours[method], alpha=0.8, label=method if seed == args.seeds[0] else None)
    if args.final_steps:
        ax.axvline(args.steps, color="k", lw=0.5, ls="--")
    ax.set_xlabel("step")
    ax.set_ylabel("modes covered (of 8)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print("wrote", path)


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
