"""Cost of each constraint handler per generator step, isolated from the GAN.

Times one forward + backward pass of the example's MLP generator (8 -> 64 ->
64 -> 5, batch 256, float32) alone and with each handler (projection layer,
penalty, augmented Lagrangian penalty + update), for a subspace (A: 2 x 5) and
a union of two hyperplanes. Rounds are interleaved (every variant once per
round) and the median over rounds is reported, so load changes on a shared
machine hit all variants alike.

    python benchmarks/constraints_overhead.py [--rounds 200] [--batch 256]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from dualgan.constraints import AugmentedLagrangian, NoConstraint, Penalty, Projection
from dualgan.constraints.examples import mlp, subspace_mixture, two_hyperplanes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=10, help="passes per timed sample")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"{'set':9s} {'handler':16s} {'median us/step':>15s} {'overhead us':>12s} {'ratio':>6s}")
    for set_name, data in (("subspace", subspace_mixture()), ("union", two_hyperplanes())):
        S = data.constraint
        variants = {"none": NoConstraint(), "projection": Projection(S), "penalty": Penalty(S, 10.0),
                    "aug. Lagrangian": AugmentedLagrangian(S)}
        base = mlp([8, 64, 64, 5])
        gens = {name: h.wrap_generator(base) for name, h in variants.items()}
        z = torch.randn(args.batch, 8)
        times = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, h in variants.items():
                G = gens[name]
                t0 = time.perf_counter()
                for _ in range(args.repeat):
                    x = G(z)
                    loss = x.square().mean() + h.penalty(x)
                    loss.backward()
                    h.update(x.detach())
                times[name].append((time.perf_counter() - t0) / args.repeat)
        ref = statistics.median(times["none"])
        for name in variants:
            med = statistics.median(times[name])
            print(f"{set_name:9s} {name:16s} {1e6 * med:15.1f} {1e6 * (med - ref):12.1f} {med / ref:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
