"""Bilinear game x^T A y with a random 10 x 10 A, and the Dirac-GAN: measured behaviour against the theory.

For each optimiser: steps to reach ||x|| + ||y|| <= 1e-6 (or the state after
--steps), the measured geometric rate (least-squares slope of log ||z_t|| over
the second half of the run) and the spectral radius of the closed-form update
map (make_optimizer(name, lr=lr, **hyper).bilinear_update_map(A), written
independently of the optimiser's step code). Then Dirac-GAN vector-field figures with trajectories.

    python benchmarks/games_bilinear.py [--gaussian] [--out benchmarks/results]

Default A: Haar-orthogonal factors with singular values uniform in [0.5, 1.5]
(seed 0). --gaussian: i.i.d. N(0, 1/10) entries (condition number ~90: the
rates still match the theory but reaching 1e-6 needs ~10^5 steps).
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from dualgan.games import BilinearGame, DiracGAN, make_optimizer, plot_vector_field, random_matrix, run_optimizer
from dualgan.regularizers import R1

SETTINGS = [("simultaneous", 0.1, {}), ("alternating", 0.1, {}), ("consensus", 0.3, {"gamma": 1.0}),
            ("extragradient", 0.5, {}), ("optimistic", 0.35, {}), ("sga", 0.3, {"lam": 1.0}), ("cgd", 1.0, {})]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gaussian", action="store_true")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join("benchmarks", "results"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    A = (random_matrix(10, seed=args.seed) if args.gaussian
         else random_matrix(10, seed=args.seed, singular_values=(0.5, 1.5)))
    sv = np.linalg.svd(A, compute_uv=False)
    print(f"A: 10 x 10, {'Gaussian N(0, 1/10)' if args.gaussian else 'singular values U[0.5, 1.5]'}, seed {args.seed}; "
          f"sigma in [{sv.min():.4f}, {sv.max():.4f}]; z0 ~ N(0, I) (seed 1)")
    print(f"{'optimizer':14s} {'h':>5s} {'steps':>6s} {'||x||+||y||':>12s} {'measured rate':>14s} "
          f"{'rho(M)':>12s} {'|diff|':>9s} {'ms/step':>8s}")
    for name, lr, hyper in SETTINGS:
        game = BilinearGame(A, seed=1)
        opt = make_optimizer(name, lr=lr, **hyper)
        norms, t0 = [float(game.get_flat().norm())], time.perf_counter()
        for _ in range(args.steps):
            opt.step(game)
            norms.append(float(game.get_flat().norm()))
            if game.distance_to_equilibrium() <= 1e-6 or norms[-1] > 1e12:
                break
        ms = 1e3 * (time.perf_counter() - t0) / (len(norms) - 1)
        start = len(norms) // 2
        rate = float(np.exp(np.polyfit(np.arange(start, len(norms)), np.log(norms[start:]), 1)[0]))
        M = make_optimizer(name, lr=lr, **hyper).bilinear_update_map(A)
        rho = float(np.max(np.abs(np.linalg.eigvals(M))))
        print(f"{name:14s} {lr:5.2f} {len(norms) - 1:6d} {game.distance_to_equilibrium():12.3e} {rate:14.6f} "
              f"{rho:12.6f} {abs(rate - rho):9.2e} {ms:8.2f}")

    # Dirac-GAN figures: flows and trajectories
    cases = [("GAN, simultaneous GD", DiracGAN("minimax", 1.0, 1.0), "simultaneous", {}, 0.1),
             ("GAN + R1 (gamma=1), simultaneous GD", DiracGAN("minimax", 1.0, 1.0, regularizers=(R1(1.0),)),
              "simultaneous", {}, 0.1),
             ("GAN, consensus (gamma=1)", DiracGAN("minimax", 1.0, 1.0), "consensus", {"gamma": 1.0}, 0.1),
             ("WGAN, alternating GD", DiracGAN("wasserstein", 1.0, 1.0), "alternating", {}, 0.1)]
    print("\nDirac-GAN from (theta, psi) = (1, 1), h = 0.1, 500 steps")
    for title, game, name, hyper, lr in cases:
        field_game = DiracGAN(game.loss, 0.0, 0.0, regularizers=game.regularizers)
        run = run_optimizer(game, make_optimizer(name, lr=lr, **hyper), 500, record_trajectory=True)
        radii = np.linalg.norm(run.trajectory, axis=1)
        print(f"  {title:38s} distance: start {radii[0]:.3f}, min {radii.min():.3e}, end {radii[-1]:.3e}")
        fname = "games_dirac_" + title.split(",")[0].replace(" ", "").replace("+", "_").replace("(", "").replace(
            ")", "").replace("=", "") + f"_{name}.png"
        plot_vector_field(field_game, os.path.join(args.out, fname), {name: run.trajectory}, xlim=(-2.5, 2.5),
                          ylim=(-2.5, 2.5), labels=("theta", "psi"), title=title)
    print("figures in", args.out)


if __name__ == "__main__":
    main()
