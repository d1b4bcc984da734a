"""Cost of one consensus step and one SGA step relative to one simultaneous GD step on the same GAN.

Goals of issue 5: consensus <= 2.5 x simGD, SGA <= 3 x simGD. For each width
in ``--hidden`` the optimisers run interleaved on identical copies of the same
MixtureGAN (8-mode ring, minimax loss, ReLU MLPs with ``--depth`` hidden
layers, one fixed batch) so that load changes on a shared machine hit all of
them alike; the table reports the median CPU time per step (process time,
robust to other jobs), the wall time, and the ratios. The defaults are the GAN
of the ring experiment (``benchmarks/games_ring.py``: width 64, depth 4, batch
256) plus a narrower and a much wider network: the ratios depend on the width,
because at width 384 the large matrix products dominate and their count sets
the ratio (consensus: the field and one double-backward pass, about 3 x simGD;
aligned SGA: the field and one double-backward pass per player, about 3.4 x),
while narrow networks are bound by per-operation overhead.

    python benchmarks/games_step_cost.py [--hidden 64 16 384] [--depth 4] [--batch 256] [--repeats 20]

A row for SGA without sign alignment (``align=False``, which needs A^T v but
not J^T v) is printed too.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from dualgan.data import ring
from dualgan.games import MixtureGAN, make_optimizer

GOALS = {"simultaneous": "", "consensus": "2.5", "sga": "3", "sga-unaligned": ""}


def measure(hidden: int, depth: int, batch: int, repeats: int) -> dict:
    base = MixtureGAN(ring(8), hidden=hidden, depth=depth, batch_size=batch, seed=0)
    base.resample()
    names = {"simultaneous": {}, "consensus": {"gamma": 10.0}, "sga": {"lam": 1.0},
             "sga-unaligned": {"lam": 1.0, "align": False}}
    games = {name: copy.deepcopy(base) for name in names}
    opts = {name: make_optimizer(name.split("-")[0], lr=1e-4, base="rmsprop", **kw) for name, kw in names.items()}
    cpu = {name: [] for name in names}
    wall = {name: [] for name in names}
    for name in names:  # warm-up: binds the optimisers, allocates buffers
        opts[name].step(games[name])
    for _ in range(repeats):
        for name in names:
            c0, w0 = time.process_time(), time.perf_counter()
            opts[name].step(games[name])
            cpu[name].append(time.process_time() - c0)
            wall[name].append(time.perf_counter() - w0)
    return {"params": base.num_parameters, "cpu": {n: statistics.median(v) for n, v in cpu.items()},
            "wall": {n: statistics.median(v) for n, v in wall.items()}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[64, 16, 384])
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for hidden in args.hidden:
        out = measure(hidden, args.depth, args.batch, args.repeats)
        print(f"\nMixtureGAN ring8: hidden={hidden} depth={args.depth} batch={args.batch} params={out['params']} "
              f"threads={args.threads} repeats={args.repeats}")
        print(f"{'optimizer':14s} {'median CPU ms':>14s} {'median wall ms':>15s} {'ratio (CPU)':>12s} "
              f"{'ratio (wall)':>13s} {'goal':>6s}")
        ref_c, ref_w = out["cpu"]["simultaneous"], out["wall"]["simultaneous"]
        for name in out["cpu"]:
            c, w = out["cpu"][name], out["wall"][name]
            print(f"{name:14s} {1e3 * c:14.2f} {1e3 * w:15.2f} {c / ref_c:12.2f} {w / ref_w:13.2f} {GOALS[name]:>6s}")


if __name__ == "__main__":
    main()
