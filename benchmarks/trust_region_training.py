"""Trust-region discriminator steps (score and cost linearisation) against standard (Adam) training.

Two problems, the same generator/discriminator pair for every method, fixed seeds:

* ``ring``: the 8-mode ring of radius 2 (:func:`dualgan.data.ring`, std 0.02);
  MLP generator and MLP discriminator; reports modes covered and the
  high-quality fraction (:func:`dualgan.metrics.mode_coverage`, 3 std,
  a mode counts when it gets a fifth of its fair share of 2000 samples);
* ``digits``: scikit-learn's 8x8 digits; MLP generator with sigmoid output,
  small conv discriminator; reports the classifier score
  (:func:`dualgan.metrics.classifier_score`, library digits classifier) of 2000 samples
  (real held-out digits score as the reference).

Writes, under ``--out``: ``trust_region_<problem>_curves.png`` (discriminator
cost after its step, acceptance rate and radius, rho) and
``trust_region_<problem>_samples.png``, plus a table on stdout.

    python benchmarks/trust_region_training.py --problem ring --iterations 1000
    python benchmarks/trust_region_training.py --problem digits --iterations 1000
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from dualgan.data import ring  # noqa: E402
from dualgan.data.digits import digits_split  # noqa: E402
from dualgan.metrics import classifier_score, mode_coverage  # noqa: E402
from dualgan.trust_region import StandardRadius, TrustRegionGAN  # noqa: E402

METHODS = {
    # name: (trainer model, radius policy, initial radius)
    "adam": ("adam", None, None),
    "tr-cost": ("cost", StandardRadius(max_radius=1.0), 0.05),
    "tr-score": ("score", StandardRadius(max_radius=1.0), 0.05),
}


def ring_problem(seed):
    torch.manual_seed(seed)
    gen = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
    torch.manual_seed(seed + 1)
    disc = nn.Sequential(nn.Linear(2, 64), nn.LeakyReLU(0.2), nn.Linear(64, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))
    return gen, disc, 8, ring(8)


def digits_problem(seed):
    torch.manual_seed(seed)
    gen = nn.Sequential(nn.Linear(16, 128), nn.ReLU(), nn.Linear(128, 64), nn.Sigmoid(), nn.Unflatten(1, (1, 8, 8)))
    torch.manual_seed(seed + 1)
    disc = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(16, 16, 3, stride=2, padding=1),
                         nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(16 * 16, 1))
    return gen, disc, 16, digits_split(seed=0).train_images


def evaluate(problem, trainer, data):
    samples = trainer.sample(2000)
    if problem == "ring":
        rep = mode_coverage(samples, data.centers, data.std)
        return {"modes": f"{rep.modes_covered}/{rep.n_modes}", "high_quality": f"{rep.high_quality_fraction:.3f}"}
    return {"classifier_score": f"{classifier_score(samples).score:.3f}"}


def smooth(x, k=25):
    x = np.asarray(x, dtype=float)
    if x.size < k:
        return x
    kernel = np.ones(k) / k
    return np.convolve(np.nan_to_num(x, nan=np.nanmean(x)), kernel, mode="valid")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--problem", choices=["ring", "digits"], default="ring")
    p.add_argument("--iterations", type=int, default=1000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--C", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--out", default="benchmarks/results")
    args = p.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    make = ring_problem if args.problem == "ring" else digits_problem
    results, samples = {}, {}
    for name in args.methods.split(","):
        model, policy, radius = METHODS[name]
        gen, disc, latent, data = make(args.seed)
        kw = dict(policy=policy, radius=radius) if radius is not None else {}
        trainer = TrustRegionGAN(gen, disc, latent_dim=latent, batch_size=args.batch, model=model, C=args.C,
                                 seed=args.seed, generator_lr=1e-3, discriminator_lr=1e-3, **kw)
        t0 = time.perf_counter()
        trainer.fit(data, iterations=args.iterations, progress=True)
        seconds = time.perf_counter() - t0
        metrics = evaluate(args.problem, trainer, data if args.problem == "ring" else None)
        results[name] = (trainer, seconds, metrics)
        samples[name] = trainer.sample(2000 if args.problem == "ring" else 36)
        trainer.history.save(out / f"trust_region_{args.problem}_{name}.json")

    # ---- table
    print(f"\nproblem {args.problem}, {args.iterations} iterations, batch {args.batch}+{args.batch}, C={args.C}, "
          f"seed {args.seed}")
    if args.problem == "digits":
        held_out = digits_split(seed=0).test_images
        print(f"reference: held-out real digits classifier score {classifier_score(held_out).score:.3f}")
    print(f"{'method':9s} {'status':10s} {'s':>7s} {'accepted':>8s} {'final cost':>10s} {'final radius':>12s} "
          f"{'median rho':>10s}  metrics")
    for name, (trainer, seconds, metrics) in results.items():
        h = trainer.history
        rho = h["rho"]
        med_rho = f"{np.nanmedian(rho):10.3f}" if np.isfinite(rho).any() else f"{'-':>10s}"
        acc = f"{trainer.accepted_fraction:8.3f}" if math.isfinite(trainer.accepted_fraction) else f"{'-':>8s}"
        rad = f"{trainer.radius:12.4g}" if name != "adam" else f"{'-':>12s}"
        last = np.nanmean(h["objective"][-50:])
        print(f"{name:9s} {str(trainer.status.code):10s} {seconds:7.1f} {acc} {last:10.4f} {rad} {med_rho}  "
              + ", ".join(f"{k}={v}" for k, v in metrics.items()))

    # ---- curves
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    for name, (trainer, _, _) in results.items():
        h = trainer.history
        axes[0].plot(smooth(h["objective"]), label=name)
        if name != "adam":
            axes[1].plot(smooth(h["accepted"], 50), label=f"{name}: acceptance (50-iter mean)")
            axes[1].plot(h["radius_after"], "--", label=f"{name}: radius", alpha=0.7)
            axes[2].plot(h["rho"], ".", ms=2, label=name, alpha=0.5)
    axes[0].set_title("discriminator cost after its step (25-iter mean)")
    axes[1].set_title("acceptance and trust radius")
    axes[1].set_yscale("log")
    axes[2].set_title("acceptance ratio rho")
    axes[2].set_ylim(-1, 3)
    for ax in axes:
        ax.set_xlabel("iteration")
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(out / f"trust_region_{args.problem}_curves.png", dpi=90)

    fig, axes = plt.subplots(1, len(samples), figsize=(4 * len(samples), 4))
    for ax, (name, x) in zip(np.atleast_1d(axes), samples.items()):
        if args.problem == "ring":
            ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.4)
            c = ring(8).centers
            ax.scatter(c[:, 0], c[:, 1], c="r", marker="x")
            ax.set_xlim(-3, 3)
            ax.set_ylim(-3, 3)
        else:
            grid = x[:36].reshape(6, 6, 8, 8).permute(0, 2, 1, 3).reshape(48, 48)
            ax.imshow(grid.numpy(), cmap="gray")
            ax.axis("off")
        ax.set_title(f"{name}: {results[name][2]}", fontsize="small")
    fig.tight_layout()
    fig.savefig(out / f"trust_region_{args.problem}_samples.png", dpi=90)
    print(f"figures: {out}/trust_region_{args.problem}_curves.png, {out}/trust_region_{args.problem}_samples.png")


if __name__ == "__main__":
    main()
