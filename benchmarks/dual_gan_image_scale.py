"""Dual GAN against standard GAN per iteration on wide random-CNN features at 28x28 (ratio, interleaved).

Both trainers run in minibatch mode on 28x28 digits (``load_digits(image_size=28)``) with
the same ``dcgan_generator()`` initialisation, the same frozen ``RandomCNNFeatures(channels)``
(d = 784 c1 + 196 c2), the same batch B (B real + B generated samples), C = 1e-4, float32, the
library's defaults otherwise (thread policy included: no environment variable is set here).
Every dual solve must be certified: a run whose trainer status is not SUCCESS, or whose
``inner_gap`` exceeds the solve's tolerance anywhere, is reported as failed.

Timing: one process per configuration. After two warm-up iterations of each trainer, every
round runs ``--block`` iterations of the dual GAN then ``--block`` of the standard GAN (the
trainers' own ``seconds`` column, so ``fit``'s call overhead is not counted); the round's ratio
is the median dual time over the median standard time. The table gives the median over
``--rounds`` (>= 5) rounds of the times and of the per-round ratio. ``--busy both`` (default)
measures each configuration quietly and with a competing process spinning on one core. The
machine may be shared: read the ratios, which are measured interleaved, rather than the times.

    python benchmarks/dual_gan_image_scale.py --quick             # d = 18,816, B = 128 (the issue's row)
    python benchmarks/dual_gan_image_scale.py                     # d from 1,176 to 112,896, B 64..512
    python benchmarks/dual_gan_image_scale.py --configs 19k:256 --busy no
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

#: feature widths: name -> channels of RandomCNNFeatures (d = 784 c1 + 196 c2 at 28x28)
WIDTHS = {"1k": (1, 2), "19k": (16, 32), "75k": (64, 128), "113k": (96, 192)}
DEFAULT_CONFIGS = "1k:64,1k:512,19k:64,19k:128,19k:256,19k:512,75k:128,113k:64"


def worker(width: str, batch: int, rounds: int, block: int) -> dict:
    import warnings

    import numpy as np
    import torch

    from dualgan.data import load_digits
    from dualgan.features import RandomCNNFeatures
    from dualgan.models import dcgan_generator
    from dualgan.train import DualLinearGAN, StandardLinearGAN

    images = load_digits(image_size=28)[0]
    features = RandomCNNFeatures(channels=WIDTHS[width])
    common = dict(latent_dim=32, batch_size=batch, mode="minibatch", generator_lr=1e-3, seed=0, C=1e-4)
    dual = DualLinearGAN(dcgan_generator(seed=0), features, **common)
    standard = StandardLinearGAN(dcgan_generator(seed=0), features, discriminator_lr=1e-2, **common)
    trainers = {"dual": dual, "standard": standard}
    times = {k: [] for k in trainers}
    ratios = []

    def advance(trainer, k):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trainer.fit(images, trainer.iteration + k)
        if not trainer.status.ok:
            raise RuntimeError(f"{type(trainer).__name__}: {trainer.status}")
        return np.diff(np.r_[0.0, trainer.history["seconds"]])[-k:]

    for trainer in trainers.values():
        advance(trainer, 2)  # warm-up
    for _ in range(rounds):
        medians = {}
        for name, trainer in trainers.items():
            t = advance(trainer, block)
            times[name].extend(t.tolist())
            medians[name] = float(np.median(t))
        ratios.append(medians["dual"] / medians["standard"])
    hist = dual.history
    gaps = np.asarray(hist["inner_gap"])
    with torch.no_grad():
        d = int(features(images[:1]).shape[1])
    return {"d": d, "ratios": ratios, "dual_ms": 1e3 * statistics.median(times["dual"]),
            "standard_ms": 1e3 * statistics.median(times["standard"]),
            "newton_iterations": float(np.mean(hist["inner_iterations"])), "max_gap": float(gaps.max()),
            "tol": dual.tol, "certified": bool(dual.status.ok and (gaps <= dual.tol).all()),
            "solves": int(len(gaps))}


def _run(args, width: str, batch: int, busy: bool) -> dict:
    spinner = None
    if busy:
        spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        cmd = [sys.executable, os.path.abspath(__file__), "--rounds", str(args.rounds), "--block", str(args.block),
               "--worker", width, str(batch)]
        out = subprocess.run(cmd, capture_output=True, text=True)
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="only d = 18,816 (19k), B = 128")
    p.add_argument("--configs", default=None, help=f"comma-separated width:batch pairs (default {DEFAULT_CONFIGS}); "
                                                   f"widths {', '.join(WIDTHS)}")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds (median; >= 5)")
    p.add_argument("--block", type=int, default=3, help="iterations of each trainer per round")
    p.add_argument("--busy", choices=("no", "yes", "both"), default="both",
                   help="a competing process spinning on one core: without, with, or both (default)")
    p.add_argument("--json", default=None, help="also write the measurements to this file")
    p.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), args.rounds, args.block)))
        return 0
    if args.rounds < 1 or args.block < 1:
        raise SystemExit("--rounds and --block must be positive integers")
    spec = "19k:128" if args.quick else (args.configs or DEFAULT_CONFIGS)
    configs = []
    for item in spec.split(","):
        width, _, batch = item.partition(":")
        if width not in WIDTHS or not batch.isdigit() or int(batch) < 1:
            raise SystemExit(f"--configs: {item!r} is not width:batch with a width of {list(WIDTHS)}")
        configs.append((width, int(batch)))
    loads = {"no": [False], "yes": [True], "both": [False, True]}[args.busy]
    started, rows = time.perf_counter(), []
    print(f"dual / standard linear GAN per iteration, 28x28, RandomCNNFeatures, C = 1e-4, float32, library "
          f"defaults; {args.rounds} rounds x {args.block} iterations each, median; {os.cpu_count()} CPUs")
    print(f"{'d':>7} {'B':>4} {'load':>5} {'dual ms':>8} {'std ms':>8} {'ratio':>6} {'min':>5} {'max':>5} "
          f"{'Newton it':>9} {'max gap':>8} certified")
    for width, batch in configs:
        for busy in loads:
            r = _run(args, width, batch, busy)
            r.update(width=width, batch=batch, busy=busy)
            rows.append(r)
            load = "busy" if busy else "quiet"
            if "error" in r:
                print(f"{width:>7} {batch:>4} {load:>5} failed: {r['error']}", flush=True)
                continue
            ratio = statistics.median(r["ratios"])
            print(f"{r['d']:>7} {batch:>4} {load:>5} {r['dual_ms']:8.1f} {r['standard_ms']:8.1f} {ratio:6.2f} "
                  f"{min(r['ratios']):5.2f} {max(r['ratios']):5.2f} {r['newton_iterations']:9.1f} "
                  f"{r['max_gap']:8.1e} {'yes' if r['certified'] else 'NO'} ({r['solves']} solves)", flush=True)
    print(f"goal: ratio <= 1.3 at d = 18,816, B = 128; wall time {time.perf_counter() - started:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
