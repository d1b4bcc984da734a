"""Non-linear discriminators on the bundled digits (the report's item 3; MNIST/CIFAR-10 in the paper).

Trust-region cost linearisation, score linearisation and standard (Adam)
discriminator training, with the same generator, conv discriminator, losses,
generator optimiser, data and seeds (the problem of
``benchmarks/trust_region_training.py --problem digits``). Every
``--eval-every`` iterations the classifier score
(:func:`dualgan.metrics.classifier_score`, library digits classifier) of 1000
samples is taken. Reported per method: the score at the end, the score
averaged over all evaluations of the second half of training (the paper's
"avg" row), and how much the objective oscillates: the standard deviation of
the iteration-to-iteration change of the discriminator cost over the second
half (``osc``), next to its mean level. PNG: cost curves and score curves.

    python benchmarks/paper/digits_trust_region.py --iterations 3000 --eval-every 250 --seed 0
"""
from __future__ import annotations

import os
import sys

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import argparse  # noqa: E402
import concurrent.futures as cf  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from dualgan.data.digits import digits_split  # noqa: E402
from dualgan.metrics import classifier_score  # noqa: E402
from dualgan.trust_region import TrustRegionGAN  # noqa: E402
from trust_region_training import METHODS, digits_problem  # noqa: E402


def run(name: str, iterations: int, eval_every: int, batch: int, C: float, seed: int):
    torch.set_num_threads(1)
    model, policy, radius = METHODS[name]
    gen, disc, latent, data = digits_problem(seed)
    kw = dict(policy=policy, radius=radius) if radius is not None else {}
    trainer = TrustRegionGAN(gen, disc, latent_dim=latent, batch_size=batch, model=model, C=C, seed=seed,
                             generator_lr=1e-3, discriminator_lr=1e-3, **kw)
    scores, done = [], 0
    t0 = time.perf_counter()
    while done < iterations:
        done = min(done + eval_every, iterations)
        hist = trainer.fit(data, iterations=done)  # the total: it continues from trainer.iteration
        with torch.no_grad():
            samples = trainer.sample(1000).float()
        score = classifier_score(samples).score if bool(torch.isfinite(samples).all()) else float("nan")
        scores.append((done, score))
        if not trainer.status.success:
            break
    seconds = time.perf_counter() - t0
    return dict(name=name, scores=scores, objective=np.asarray(hist["objective"], dtype=float),
                accepted=trainer.accepted_fraction, status=trainer.status, seconds=seconds)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=3000)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--C", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default="docs/report")
    args = p.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t_start = time.perf_counter()
    names = ("adam", "tr-cost", "tr-score")
    with cf.ProcessPoolExecutor(max_workers=args.workers) as pool:
        futs = [pool.submit(run, n, args.iterations, args.eval_every, args.batch, args.C, args.seed) for n in names]
        results = [f.result() for f in futs]
    real = classifier_score(digits_split(seed=0).test_images).score
    print(f"digits, {args.iterations} iterations, batch {args.batch}+{args.batch}, C = {args.C:g}, seed {args.seed}; "
          f"real held-out digits score {real:.3f}")
    print(f"{'method':9s} {'score end':>9s} {'score avg':>9s} {'cost mean':>9s} {'osc':>9s} {'accepted':>8s} "
          f"{'s':>7s}  status")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for r in results:
        it, sc = np.array(r["scores"]).T
        half = it > args.iterations / 2
        obj = r["objective"]
        tail = obj[len(obj) // 2:]
        osc = float(np.nanstd(np.diff(tail)))
        acc = f"{r['accepted']:8.3f}" if np.isfinite(r["accepted"]) else f"{'-':>8s}"
        print(f"{r['name']:9s} {sc[-1]:9.3f} {np.nanmean(sc[half]):9.3f} {np.nanmean(tail):9.4f} {osc:9.4f} {acc} "
              f"{r['seconds']:7.1f}  {r['status']}")
        axes[0].plot(obj, lw=0.5, alpha=0.8, label=r["name"])
        axes[1].plot(it, sc, "o-", label=r["name"])
    axes[0].set_title("discriminator cost after its step")
    axes[1].set_title(f"classifier score (real digits {real:.2f})")
    for ax in axes:
        ax.set_xlabel("iteration")
        ax.legend()
    fig.tight_layout()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "digits_trust_region.png", dpi=90)
    print("paper (CIFAR-10, internal classifier): GAN end 3.85 / avg 3.64, score lin. 3.52 / 3.70, "
          "cost lin. 4.42 / 4.04")
    print(f"wall time {time.perf_counter() - t_start:.0f} s with {args.workers} workers; "
          f"figure {out / 'digits_trust_region.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
