"""Cost of each regulariser per discriminator step, as a ratio to the unregularised step.

One discriminator step = scores of a real and a generated batch, the
non-saturating loss (+ the penalty), backward, Adam step (+ clipping). Two
discriminators: Roth et al.'s ring MLP (3 -> 128 -> 128 -> 1, tanh, batch 512)
and a small conv net on 8x8 digit-shaped inputs (batch 64). The variants are
timed in interleaved rounds (so load changes on a shared machine hit all of
them alike) and the median step time is reported, as CPU time of the process
(one thread), which waiting for a busy CPU does not inflate; on a GPU use
wall-clock time with synchronisation instead. Roth et al. report a
"marginal" overall training-time factor for their regulariser.

    nice -n 10 python benchmarks/regularizer_cost.py            # prints the table, writes results/regularizer_cost.json
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from dualgan.losses import non_saturating
from dualgan.regularizers import (CoupledGradientPenalty, JSRegularizer, LocalGradientPenalty, R1, R2,
                                  WeightClipper, apply_spectral_norm)


def ring_mlp():
    return nn.Sequential(nn.Linear(3, 128), nn.Tanh(), nn.Linear(128, 128), nn.Tanh(), nn.Linear(128, 1))


def digits_cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(32, 64, 3, stride=2, padding=1),
                         nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(64 * 4 * 4, 1))


VARIANTS = {
    "none": dict(),
    "R1": dict(penalty=lambda: R1(10.0)),
    "R2": dict(penalty=lambda: R2(10.0)),
    "Roth JS": dict(penalty=lambda: JSRegularizer(0.1)),
    "Roth JS, shared pass": dict(penalty=lambda: JSRegularizer(0.1), shared=True),
    "WGAN-GP": dict(penalty=lambda: CoupledGradientPenalty(10.0)),
    "DRAGAN": dict(penalty=lambda: LocalGradientPenalty(10.0)),
    "spectral norm": dict(spectral=True),
    "weight clipping": dict(clip=WeightClipper(0.01)),
}


def make_step(base: nn.Module, variant: dict):
    D = copy.deepcopy(base)
    if variant.get("spectral"):
        apply_spectral_norm(D)
    opt = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.5, 0.999))
    penalty = variant["penalty"]() if "penalty" in variant else None
    clip = variant.get("clip")

    shared = variant.get("shared", False)

    def step(x_real, x_fake):
        n = x_real.shape[0]
        x_both = torch.cat([x_real, x_fake])
        if shared:    # one forward pass feeds the loss and the penalty (JSRegularizer.from_gradients)
            x_both.requires_grad_(True)
        scores = D(x_both)[:, 0]
        loss = non_saturating.discriminator_loss(scores[:n], scores[n:])
        if shared:
            (grad,) = torch.autograd.grad(scores.sum(), x_both, create_graph=True)
            loss = loss + penalty.from_gradients(scores[:n], grad[:n], scores[n:], grad[n:])
        elif penalty is not None:
            loss = loss + penalty(D, x_real, x_fake)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if clip is not None:
            clip(D)

    return step


def measure(name, base, shape, batch, rounds, steps_per_round):
    gen = torch.Generator().manual_seed(0)
    x_real = torch.randn((batch,) + shape, generator=gen)
    x_fake = torch.randn((batch,) + shape, generator=gen)
    steps = {v: make_step(base, spec) for v, spec in VARIANTS.items()}
    for step in steps.values():       # warm-up
        for _ in range(3):
            step(x_real, x_fake)
    times = {v: [] for v in VARIANTS}
    for _ in range(rounds):
        for v, step in steps.items():
            t0 = time.process_time()      # CPU time of this process: robust to other jobs on a shared machine
            for _ in range(steps_per_round):
                step(x_real, x_fake)
            times[v].append((time.process_time() - t0) / steps_per_round)
    med = {v: statistics.median(ts) for v, ts in times.items()}
    rows = [{"network": name, "variant": v, "ms_per_step": 1e3 * med[v], "ratio": med[v] / med["none"]}
            for v in VARIANTS]
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20, help="steps per timed round")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rows = measure("ring MLP, batch 512", ring_mlp(), (3,), 512, args.rounds, args.steps)
    rows += measure("digits CNN, batch 64", digits_cnn(), (1, 8, 8), 64, args.rounds, args.steps)
    print(f"{'network':<22} {'variant':<22} {'CPU ms/step':>11} {'ratio':>6}")
    for r in rows:
        print(f"{r['network']:<22} {r['variant']:<22} {r['ms_per_step']:>11.2f} {r['ratio']:>6.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "regularizer_cost.json").write_text(json.dumps(
        {"torch": torch.__version__, "threads": 1, "rounds": args.rounds, "steps_per_round": args.steps,
         "clock": "process_time", "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
