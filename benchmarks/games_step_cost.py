"""Cost of one consensus step and one SGA step relative to one simultaneous GD step on the same GAN.

Goals of issue 5: consensus <= 2.5 x simGD, SGA <= 3 x simGD. The three
optimisers run interleaved on identical copies of the same MixtureGAN (8-mode
ring, ReLU MLPs, one fixed batch) so that load changes on a shared machine hit
all three alike; the table reports the median CPU time per step (process time,
robust to other jobs) and the wall time, and the ratios.

    python benchmarks/games_step_cost.py [--hidden 384] [--depth 4] [--batch 512] [--repeats 30] [--unaligned-sga]

``--unaligned-sga`` adds a row for SGA without sign alignment (``align=False``),
which needs only A^T v and no J^T v.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from dualgan.data import ring
from dualgan.games import MixtureGAN, make_optimizer


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--unaligned-sga", action="store_true", help="also time SGA with align=False")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    base = MixtureGAN(ring(8), hidden=args.hidden, depth=args.depth, batch_size=args.batch, seed=0)
    base.resample()
    names = {"simultaneous": {}, "consensus": {"gamma": 10.0}, "sga": {"lam": 1.0}}
    if args.unaligned_sga:
        names["sga-unaligned"] = {"lam": 1.0, "align": False}
    games = {name: copy.deepcopy(base) for name in names}
    opts = {name: make_optimizer(name.split("-")[0], lr=1e-4, base="rmsprop", **kw) for name, kw in names.items()}
    cpu = {name: [] for name in names}
    wall = {name: [] for name in names}
    for name in names:  # warm-up: binds the optimisers, allocates buffers
        opts[name].step(games[name])
    for _ in range(args.repeats):
        for name in names:
            c0, w0 = time.process_time(), time.perf_counter()
            opts[name].step(games[name])
            cpu[name].append(time.process_time() - c0)
            wall[name].append(time.perf_counter() - w0)
    n_params = base.num_parameters
    print(f"MixtureGAN ring8: hidden={args.hidden} depth={args.depth} batch={args.batch} params={n_params} "
          f"threads={args.threads} repeats={args.repeats}")
    print(f"{'optimizer':14s} {'median CPU ms':>14s} {'median wall ms':>15s} {'ratio (CPU)':>12s} {'ratio (wall)':>13s} {'goal':>6s}")
    ref_c = statistics.median(cpu["simultaneous"])
    ref_w = statistics.median(wall["simultaneous"])
    goals = {"simultaneous": "", "consensus": "2.5", "sga": "3", "sga-unaligned": ""}
    for name in names:
        c, w = statistics.median(cpu[name]), statistics.median(wall[name])
        print(f"{name:14s} {1e3 * c:14.2f} {1e3 * w:15.2f} {c / ref_c:12.2f} {w / ref_w:13.2f} {goals[name]:>6s}")


if __name__ == "__main__":
    main()
