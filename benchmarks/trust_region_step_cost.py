"""Time and peak memory of one score-linearisation trust-region step against one plain Adam step.

Discriminators: ``dcgan28``, the library's DCGAN-style discriminator
(``dualgan.models.dcgan_discriminator()``, 138,049 parameters: 3x3 convolutions with
max-pooling, two fully connected layers and a head) on 28x28 images; an MLP with about
100k parameters on flattened 8x8 images; and a small conv net on (1, 8, 8) images.
Batch 128 real + 128 generated (N = 256), float32, the library's defaults: no
environment variable and no thread count is set here (``--threads n`` sets torch's and
the BLAS libraries' counts instead, as a user would).

Time: one process per kind of step runs it and the plain Adam step, each on its own
copy of the discriminator (same initial weights), interleaved round by round after one
warm-up step each, so that load changes on a shared machine hit both alike; the table
gives the median step time and the median over rounds of the step's time relative to the
Adam step of the same round. Memory: one process per kind of step; peak memory is the
rise of the process's peak resident set over its resident set just before one step (CPU),
or ``torch.cuda.max_memory_allocated`` (CUDA).

    python benchmarks/trust_region_step_cost.py                  # table of ratios (goal: <= 4)
    python benchmarks/trust_region_step_cost.py --nets dcgan28   # the 28x28 row only
    python benchmarks/trust_region_step_cost.py --device cuda

Score steps are measured with both Gram methods: ``score`` (default ``"auto"``:
factorised nn.Linear / nn.Conv2d layers) and ``score:torch.func`` (per-sample
gradients from torch.func for every parameter).
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch
from torch import nn


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.LeakyReLU(0.2), nn.Linear(256, 256),
                         nn.LeakyReLU(0.2), nn.Linear(256, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))


def conv():
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(32, 64, 3, stride=2, padding=1),
                         nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(64 * 4 * 4, 1))


def dcgan28():
    from dualgan.models import dcgan_discriminator

    return dcgan_discriminator(seed=None)


# name -> (builder, per-sample input shape)
NETS = {"dcgan28": (dcgan28, (1, 28, 28)), "mlp": (mlp, (1, 8, 8)), "conv": (conv, (1, 8, 8))}


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize()


def make_step(net: str, kind: str, batch: int, device: str):
    """The discriminator, one step function for ``kind`` and the parameter count (same seed for every kind)."""
    from dualgan.trust_region import TrustRegionDiscriminator, discriminator_cost

    build, shape = NETS[net]
    torch.manual_seed(0)
    disc = build().to(device)
    g = torch.Generator().manual_seed(1)
    real = torch.rand(batch, *shape, generator=g).to(device)
    fake = torch.rand(batch, *shape, generator=g).to(device)
    n_params = sum(p.numel() for p in disc.parameters())
    if kind == "adam":
        opt = torch.optim.Adam(disc.parameters(), lr=1e-4)
        tr = TrustRegionDiscriminator(disc, model="cost")  # only for batch(): labels and weights
        x, y, a = tr.batch(real, fake)

        def step():
            opt.zero_grad(set_to_none=True)
            params = list(disc.parameters())
            cost = discriminator_cost(disc(x).reshape(-1), y, a, 1e-4, sum((p.double() ** 2).sum() for p in params))
            cost.backward()
            opt.step()
    else:
        model, _, linearization = kind.partition(":")
        tr = TrustRegionDiscriminator(disc, model=model, C=1e-4, radius=1e-2, policy="fixed",
                                      linearization=linearization or "auto")

        def step():
            return tr.step(real, fake)
    return disc, step, n_params, (real, fake)


def worker(net: str, kinds: str, mode: str, reps: int, batch: int, device: str, threads: int | None) -> dict:
    """Memory: one kind per process. Time: the given kinds in one process, steps interleaved
    (adam, score, adam, score, ...), so that load changes on a shared machine hit all alike."""
    if threads is not None:  # a user's explicit choice; by default nothing is set
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(threads)
        threadpool_limits(threads)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    kinds = kinds.split(",")
    if mode == "memory":
        disc, step, n_params, (real, fake) = make_step(net, kinds[0], batch, device)
        with torch.no_grad():
            disc(torch.cat([real, fake]))
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            step()
            sync()
            return {"peak_bytes": torch.cuda.max_memory_allocated() - base, "n_params": n_params}
        base = _rss_bytes()
        step()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return {"peak_bytes": max(peak - base, 0), "n_params": n_params}
    steps = {kind: make_step(net, kind, batch, device) for kind in kinds}
    for _, step, _, _ in steps.values():  # warm-up
        step()
        sync()
    times = {kind: [] for kind in kinds}
    inner = {kind: [] for kind in kinds}
    method = {kind: "-" for kind in kinds}
    for _ in range(reps):
        for kind, (_, step, _, _) in steps.items():
            t0 = time.perf_counter()
            rec = step()
            sync()
            times[kind].append(time.perf_counter() - t0)
            if rec is not None and rec.inner is not None:
                inner[kind].append(rec.inner.seconds)
                method[kind] = rec.linearization
    out = {}
    for kind in kinds:
        out[kind] = {"seconds": statistics.median(times[kind]), "n_params": steps[kind][2],
                     "linearization": method[kind],
                     "ratio": statistics.median(t / b for t, b in zip(times[kind], times[kinds[0]]))}
        if inner[kind]:
            out[kind]["inner_seconds"] = statistics.median(inner[kind])
    return out


def run_isolated(args, net, kind, mode) -> dict:
    cmd = [sys.executable, __file__, "--worker", net, kind, mode, "--reps", str(args.reps), "--batch",
           str(args.batch), "--device", args.device]
    if args.threads is not None:
        cmd += ["--threads", str(args.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--batch", type=int, default=128, help="real samples per batch (as many generated)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None,
                   help="torch and BLAS threads (default: not set, the library's defaults)")
    p.add_argument("--nets", default=",".join(NETS), help=f"comma-separated, of {', '.join(NETS)}")
    p.add_argument("--kinds", default="adam,cost,score,score:torch.func",
                   help="comma-separated step kinds, adam first")
    p.add_argument("--worker", nargs=3, metavar=("NET", "KIND", "MODE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker, args.reps, args.batch, args.device, args.threads)))
        return
    threads = "library defaults" if args.threads is None else f"{args.threads} thread(s)"
    print(f"one discriminator step, batch {args.batch}+{args.batch}, float32, device {args.device}, {threads}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} torch threads at start; "
          f"time: median of {args.reps} interleaved steps, ratio = median of per-round ratios to adam")
    print(f"{'net':5s} {'params':>7s} {'step':17s} {'gram':11s} {'ms':>8s} {'inner ms':>9s} {'peak MiB':>9s} "
          f"{'time ratio':>10s} {'mem ratio':>9s}")
    kinds = tuple(args.kinds.split(","))
    if kinds[0] != "adam":
        p.error("--kinds must start with adam (the baseline)")
    for net in args.nets.split(","):
        if net not in NETS:
            p.error(f"unknown net {net!r}; choose from {', '.join(NETS)}")
        # one process per kind, interleaved with the Adam step it is compared with (a kind that churns
        # memory, such as the full-Jacobian torch.func step, would otherwise slow down its neighbours)
        times = {kind: run_isolated(args, net, f"adam,{kind}", "time")[kind] for kind in kinds[1:]}
        times["adam"] = run_isolated(args, net, "adam", "time")["adam"]
        base_m = run_isolated(args, net, "adam", "memory")
        for kind in kinds:
            t = times[kind]
            m = base_m if kind == "adam" else run_isolated(args, net, kind, "memory")
            inner = f"{1e3 * t['inner_seconds']:9.1f}" if "inner_seconds" in t else f"{'-':>9s}"
            print(f"{net:5s} {t['n_params']:7d} {kind:17s} {t['linearization']:11s} {1e3 * t['seconds']:8.1f} {inner} "
                  f"{m['peak_bytes'] / 2 ** 20:9.1f} {t['ratio']:10.1f} "
                  f"{m['peak_bytes'] / max(base_m['peak_bytes'], 1):9.1f}")

if __name__ == "__main__":
    main()
