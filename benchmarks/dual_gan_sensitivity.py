"""Sensitivity to hyper-parameters: dual GAN vs the standard GAN on the 5-mode ring (Table 1 of Dualing GANs).

Each setting is drawn as in the paper's Table 1 and run for BOTH methods with
the same generator initialisation, features, data and noise seeds:

* mini-batch size ~ randint[20, 200]
* generator learning rate (dual GAN) ~ enr([0, 10])
* generator momentum (Adam beta1, both methods) ~ rand[0.1, 0.9]
* discriminator learning rate (standard GAN) ~ enr([0, 6])
* generator learning rate* (standard GAN) ~ enr([0, 10])
* generator architecture ~ {fc-small, fc-large}
* iterations ~ randint[400, 2000]

where enr([a, b]) = exp(-U(a, b)) (log-uniform between e^-b and e^-a; our
reading of the table's notation). Success: all 5 modes covered by 2000
samples (within 3 std of a centre, at least 20% of a mode's fair share).

    python benchmarks/dual_gan_sensitivity.py --settings 30 --seed 0 --workers 2

Ring: radius 2, std 0.3; RBF features on 100 anchors, sigma 0.2; C = 1e-4.
Generator initialisation (the same for both methods): ``--init std`` (default)
calibrates the output layer so that the initial samples are centred with
per-coordinate standard deviation 1 (:func:`dualgan.train.mlp_generator`'s
``output_std``); ``--init gain`` multiplies the output weights by 3 (the demo's
choice), which leaves most "large" generators collapsed within 0.3 of the
origin, where every RBF feature is ~exp(-50) and neither method gets a gradient.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import math
import time

import numpy as np
import torch

from dualgan.data import ring
from dualgan.features import RBF
from dualgan.metrics import mode_coverage
from dualgan.train import DualLinearGAN, StandardLinearGAN, mlp_generator

# The paper's covariance was lost in extraction; see docs/dual_gan.md for why std 0.3.
RING_STD = 0.3
GAIN = 3.0  # the output-layer gain of --init gain (the demo's)
OUTPUT_STD = 1.0  # the calibrated spread of the initial samples of --init std (the default)


def draw_settings(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        out.append(dict(batch_size=int(rng.integers(20, 201)), lr_dual=math.exp(-rng.uniform(0, 10)),
                        beta1=float(rng.uniform(0.1, 0.9)), disc_lr=math.exp(-rng.uniform(0, 6)),
                        lr_std=math.exp(-rng.uniform(0, 10)), size=str(rng.choice(["small", "large"])),
                        iterations=int(rng.integers(400, 2001))))
    return out


def run_one(method: str, s: dict, run_seed: int, output_std: float | None = OUTPUT_STD,
            standard_loss: str = "minimax") -> tuple[int, float, str]:
    data = ring(5, radius=2.0, std=RING_STD)
    anchors = data.sample(100, generator=torch.Generator().manual_seed(run_seed + 1000))
    feats = RBF(anchors, sigma=0.2)
    init = dict(output_gain=GAIN) if output_std is None else dict(output_std=output_std)
    gen = mlp_generator(size=s["size"], seed=run_seed, **init)
    common = dict(noise_dim=2, batch_size=s["batch_size"], mode="minibatch", beta1=s["beta1"], seed=run_seed)
    if method == "dual":
        gan = DualLinearGAN(gen, feats, C=1e-4, lr=s["lr_dual"], tol=1e-8, **common)
    else:
        gan = StandardLinearGAN(gen, feats, C=1e-4, lr=s["lr_std"], disc_lr=s["disc_lr"],
                                generator_loss=standard_loss, **common)
    t0 = time.perf_counter()
    gan.fit(data, s["iterations"])
    seconds = time.perf_counter() - t0
    samples = gan.sample(2000, seed=run_seed + 7)
    if not bool(torch.isfinite(samples).all()):
        return 0, seconds, gan.status + " (non-finite samples)"
    return mode_coverage(samples, data.centers, data.std).modes_covered, seconds, gan.status


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--settings", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="worker processes (one torch thread each)")
    p.add_argument("--init", choices=("std", "gain"), default="std",
                   help="generator output layer: calibrated to initial sample std 1 (default) or gain 3 (the demo's)")
    p.add_argument("--methods", default="dual,standard", help="comma-separated subset of dual,standard")
    p.add_argument("--standard-loss", choices=("minimax", "non_saturating"), default="minimax",
                   help="generator loss of the standard GAN (minimax: the saddle problem the dual GAN solves)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    settings = draw_settings(args.settings, args.seed)
    print(f"{'#':>3s} {'batch':>5s} {'lr dual':>9s} {'beta1':>5s} {'lr D':>9s} {'lr G*':>9s} {'arch':>5s} "
          f"{'iters':>5s} | {'dual modes':>10s} {'s':>6s} | {'std modes':>9s} {'s':>6s}", flush=True)
    wins = {"dual": 0, "standard": 0}
    t_start = time.perf_counter()
    output_std = OUTPUT_STD if args.init == "std" else None
    methods = tuple(m for m in ("dual", "standard") if m in args.methods.split(","))
    if not methods:
        p.error("--methods must name dual and/or standard")
    jobs = [(m, s, args.seed * 1000 + i, output_std, args.standard_loss) for i, s in enumerate(settings)
            for m in methods]
    with cf.ProcessPoolExecutor(max_workers=args.workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        futures = [pool.submit(run_one, *job) for job in jobs]
        for i, s in enumerate(settings):
            res = {m: futures[len(methods) * i + k].result() for k, m in enumerate(methods)}
            # a method left out by --methods prints as -1 modes
            res.update({m: (-1, float("nan"), "not run") for m in ("dual", "standard") if m not in res})
            for m in wins:
                wins[m] += res[m][0] == 5
            note = "; ".join(f"{m}: {r[2]}" for m, r in res.items() if r[2] not in ("completed", "not run"))
            print(f"{i:3d} {s['batch_size']:5d} {s['lr_dual']:9.2e} {s['beta1']:5.2f} {s['disc_lr']:9.2e} "
                  f"{s['lr_std']:9.2e} {s['size']:>5s} {s['iterations']:5d} | {res['dual'][0]:10d} "
                  f"{res['dual'][1]:6.1f} | {res['standard'][0]:9d} {res['standard'][1]:6.1f} {note}", flush=True)
    n = len(settings)
    rates = ", ".join(f"{m} GAN {wins[m]}/{n} = {100 * wins[m] / n:.0f}%" if m in methods else f"{m} GAN not run"
                      for m in ("dual", "standard"))
    print(f"\nsuccess (all 5 modes): {rates}  (paper, 100 settings: 49% vs 32%)")
    print(f"generator init {args.init}, standard GAN generator loss {args.standard_loss}; settings seed {args.seed}, "
          f"run seeds {args.seed * 1000}..{args.seed * 1000 + n - 1}, {args.workers} worker processes, "
          f"wall time {time.perf_counter() - t_start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
