"""Stability map of the Dirac-GAN: 7 optimisers x 50 step sizes x 20 coefficients x 10 seeds x 1000 steps, batched.

Runs dualgan.games.stability_map on the Dirac-GAN (minimax loss, R1 with
gamma = 1 by default; --no-r1 without it), prints the wall time, the table,
and the speed-up over the per-run harness (dualgan.games.run_optimizer on the
object DiracGAN) measured on a random sample of cells: the harness's mean time
per run times the number of runs, divided by the batched time. The sampled
cells' final iterates are compared with the batched ones (relative to
max(1, |z|)). Writes the figure and the table to --out.

    python benchmarks/games_stability_map.py [--no-r1] [--samples 14] [--workers 2] [--out docs/report]

The goal (issue 19): the full map in under 60 s on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from dualgan.games import OPTIMIZERS, dirac_functional, make_optimizer, run_optimizer, stability_map
from dualgan.regularizers import R1


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--no-r1", action="store_true", help="the plain Dirac-GAN (no regulariser)")
    p.add_argument("--lrs", type=int, default=50)
    p.add_argument("--coefficients", type=int, default=20)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--samples", type=int, default=14, help="cells run by the per-run harness for the speed-up")
    p.add_argument("--workers", type=int, default=2, help="processes (default 2: the goal is stated for 2 cores)")
    p.add_argument("--out", default=os.path.join("benchmarks", "results"))
    args = p.parse_args(argv)
    for name in ("lrs", "coefficients", "seeds", "steps"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be a positive integer")
    if args.workers < 1:
        p.error("--workers must be a positive integer")
    if args.samples < 0:
        p.error("--samples must be >= 0")
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    regs = [] if args.no_r1 else [R1(1.0)]
    game = dirac_functional("minimax", regs)
    lrs = np.geomspace(0.01, 3.0, args.lrs)
    coefs = np.linspace(0.1, 4.0, args.coefficients)
    seeds = range(args.seeds)
    names = OPTIMIZERS.names(batchable=True)
    print(f"{game.name}: {len(names)} optimisers x {len(lrs)} step sizes x {len(coefs)} coefficients x "
          f"{args.seeds} seeds x {args.steps} steps = {len(names) * len(lrs) * len(coefs) * args.seeds} "
          f"runs; torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    def cpu_seconds():       # this process and its reaped children (the forked workers)
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    start, cpu_start = time.perf_counter(), cpu_seconds()
    result = stability_map(game, names, lrs, coefs, seeds, args.steps, progress=True,
                           workers=args.workers)
    batched_seconds = time.perf_counter() - start
    batched_cpu = cpu_seconds() - cpu_start
    print(result.format())
    summary = (f"batched stability map ({args.workers} process{'es' if args.workers > 1 else ''}): "
               f"{batched_seconds:.1f} s wall, {batched_cpu:.1f} s CPU in all processes "
               f"({result.cells} runs, {1e6 * batched_seconds / (result.cells * args.steps):.3f} us wall per "
               f"run-step; load average {load:.1f} when it started)")
    print(summary)

    if args.samples:
        rng = np.random.default_rng(0)
        times, worst = [], 0.0
        for k in range(args.samples):
            o = k % len(names)
            name = names[o]
            i, j, s = rng.integers(len(lrs)), rng.integers(len(coefs)), rng.integers(args.seeds)
            kw = {"lr": float(lrs[i])}
            coef_name = OPTIMIZERS.entry(name).info.get("coefficient")
            if coef_name:
                kw[coef_name] = float(coefs[j])
            obj = game.make_game(game.start(int(s)))
            t0 = time.perf_counter()
            res = run_optimizer(obj, make_optimizer(name, **kw), args.steps, eval_every=args.steps)
            times.append(time.perf_counter() - t0)
            if res.status.success and not result.diverged[o, i, j, s]:
                dist = float(np.linalg.norm(obj.get_flat().numpy()))
                worst = max(worst, abs(dist - result.final_distance[o, i, j, s]) / max(1.0, dist))
            print(f"  harness {name:14s} lr {lrs[i]:.3g} coef {coefs[j]:.3g} seed {s}: {times[-1]:.2f} s, "
                  f"{res.status}; batched final distance {result.final_distance[o, i, j, s]:.3e}, "
                  f"harness {obj.distance_to_equilibrium():.3e}")
        per_run = float(np.mean(times))
        extrapolated = per_run * result.cells
        speedup = (f"per-run harness: {per_run:.2f} s per {args.steps}-step run ({1e3 * per_run / args.steps:.2f} ms "
                   f"per step) on {args.samples} sampled cells, "
                   f"{extrapolated / 3600:.1f} h for the map; speed-up of the batched map {extrapolated / batched_seconds:.0f}x "
                   f"(wall); sampled final distances agree to {worst:.1e} (relative to max(1, |z|))")
        print(speedup)
        summary += "\n" + speedup
    tag = "dirac_plain" if args.no_r1 else "dirac_r1"
    png = result.plot(os.path.join(args.out, f"stability_map_{tag}.png"))
    with open(os.path.join(args.out, f"stability_map_{tag}.txt"), "w") as fh:
        fh.write(result.format() + "\n")
        fh.write(summary + "\n")
    print("wrote", png)


if __name__ == "__main__":
    main()
