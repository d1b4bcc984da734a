"""Dualing GANs on the bundled 8x8 digits (the report's items 2a and 2b; MNIST in the paper).

``--part scores`` (paper: mean inception score over 100 random settings on
MNIST, dual linear GAN 2.83 against standard GAN 1.99). Settings drawn as in
the paper's Table 1 MNIST row (mini-batch randint[20, 200], dual generator
learning rate enr([0, 10]), momentum rand[.1, .9], discriminator learning rate
enr([0, 6]), standard generator learning rate enr([0, 10]), fc-small / fc-large
generators; the two DCGAN generators are left out), each run for both the dual
linear GAN and the standard GAN with the same linear discriminator on the
trained digits CNN's hidden activations (:func:`dualgan.features.digits_features`,
3200 features), the same generator initialisation and the same seeds.
enr([a, b]) = exp(-U(a, b)). The paper ran 20000 iterations per setting; we run
``--iterations`` (default 600) so that the whole study fits a 2-core machine.
Score: :func:`dualgan.metrics.classifier_score` of 2000 samples (the library's
digits classifier, i.e. the paper's "internal classifier" score; 10 is the
maximum, real held-out digits score about 9).

``--part features`` (the paper's Figure 5): the dual linear GAN with one fixed
setting on three feature maps: Gaussian RBF on 100 training digits, a frozen
randomly initialised CNN (all hidden activations) and the trained CNN (all
hidden activations); classifier score and a PNG of samples for each.

    python benchmarks/paper/digits_dual.py --part scores --settings 12 --seed 0 --workers 2
    python benchmarks/paper/digits_dual.py --part features --iterations 1500 --seed 0
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import concurrent.futures as cf  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from dualgan.data.digits import digits_split  # noqa: E402
from dualgan.features import RBF, RandomCNNFeatures, digits_features  # noqa: E402
from dualgan.metrics import classifier_score  # noqa: E402
from dualgan.train import DualLinearGAN, StandardLinearGAN, mlp_generator  # noqa: E402

NOISE_DIM = 16
C = 1e-4


def draw_settings(n: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [dict(batch_size=int(rng.integers(20, 201)), lr_dual=math.exp(-rng.uniform(0, 10)),
                 beta1=float(rng.uniform(0.1, 0.9)), disc_lr=math.exp(-rng.uniform(0, 6)),
                 lr_std=math.exp(-rng.uniform(0, 10)), size=str(rng.choice(["small", "large"])))
            for _ in range(n)]


def image_generator(size: str, seed: int) -> nn.Module:
    """fc generator -> sigmoid -> (B, 1, 8, 8) images in [0, 1]."""
    return nn.Sequential(mlp_generator(latent_dim=NOISE_DIM, out_dim=64, size=size, seed=seed), nn.Sigmoid(),
                         nn.Unflatten(1, (1, 8, 8)))


def feature_map(kind: str, seed: int, train: torch.Tensor) -> nn.Module:
    if kind == "trained":
        return digits_features()
    if kind == "random":
        return RandomCNNFeatures(in_channels=1, channels=(16, 32), seed=seed)
    if kind == "rbf":
        g = torch.Generator().manual_seed(seed + 1000)
        anchors = train[torch.randperm(train.shape[0], generator=g)[:100]].flatten(1)
        # bandwidth: median distance between anchors (the usual heuristic)
        sigma = float(torch.cdist(anchors, anchors).median())
        return nn.Sequential(nn.Flatten(), RBF(anchors, sigma=sigma))
    raise ValueError(f"unknown feature kind {kind!r}")


def run_one(method: str, s: dict, features: str, iterations: int, run_seed: int, standard_loss: str = "minimax"):
    torch.set_num_threads(1)
    train = digits_split(seed=0).train_images
    feats = feature_map(features, run_seed, train)
    gen = image_generator(s["size"], run_seed)
    common = dict(latent_dim=NOISE_DIM, batch_size=s["batch_size"], mode="minibatch", beta1=s["beta1"], seed=run_seed)
    if method == "dual":
        gan = DualLinearGAN(gen, feats, C=C, generator_lr=s["lr_dual"], tol=1e-8, **common)
    else:
        gan = StandardLinearGAN(gen, feats, C=C, generator_lr=s["lr_std"], discriminator_lr=s["disc_lr"],
                                gan_loss=standard_loss, **common)
    t0 = time.perf_counter()
    gan.fit(train, iterations)
    seconds = time.perf_counter() - t0
    samples = gan.sample(2000, seed=run_seed + 7).float()
    if not bool(torch.isfinite(samples).all()):
        return float("nan"), seconds, str(gan.status) + " (non-finite samples)", samples[:64]
    return classifier_score(samples).score, seconds, str(gan.status), samples[:64]


def part_scores(args) -> None:
    settings = draw_settings(args.settings, args.seed)
    print(f"{'#':>3s} {'batch':>5s} {'lr dual':>9s} {'beta1':>5s} {'lr D':>9s} {'lr G*':>9s} {'arch':>5s} | "
          f"{'dual score':>10s} {'s':>6s} | {'std score':>9s} {'s':>6s}", flush=True)
    t_start = time.perf_counter()
    methods = tuple(m for m in ("dual", "standard") if m in args.methods.split(","))
    jobs = [(m, s, "trained", args.iterations, args.seed * 1000 + i, args.standard_loss)
            for i, s in enumerate(settings) for m in methods]
    scores = {m: [] for m in methods}
    with cf.ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = [pool.submit(run_one, *job) for job in jobs]
        for i, s in enumerate(settings):
            res = {m: futures[len(methods) * i + k].result() for k, m in enumerate(methods)}
            res.update({m: (float("nan"), float("nan"), "not run", None) for m in ("dual", "standard") if m not in res})
            for m in scores:
                scores[m].append(res[m][0])
            note = "; ".join(f"{m}: {r[2]}" for m, r in res.items() if not (r[2].startswith("success") or r[2] == "not run"))
            print(f"{i:3d} {s['batch_size']:5d} {s['lr_dual']:9.2e} {s['beta1']:5.2f} {s['disc_lr']:9.2e} "
                  f"{s['lr_std']:9.2e} {s['size']:>5s} | {res['dual'][0]:10.3f} {res['dual'][1]:6.1f} | "
                  f"{res['standard'][0]:9.3f} {res['standard'][1]:6.1f} {note}", flush=True)
    real = classifier_score(digits_split(seed=0).test_images).score
    print()
    for m, v in scores.items():
        v = np.asarray(v, dtype=float)
        ok = np.isfinite(v)
        print(f"{m:>8s} GAN: mean classifier score {np.mean(np.where(ok, v, 1.0)):.3f} "
              f"(median {np.median(np.where(ok, v, 1.0)):.3f}, non-finite runs counted as 1.0: {int((~ok).sum())})")
    print(f"real held-out digits: {real:.3f}   (paper, MNIST, 100 settings x 20000 iterations: dual 2.83, "
          f"standard 1.99)")
    print(f"standard GAN generator loss {args.standard_loss}; "
          f"{len(settings)} settings (seed {args.seed}), {args.iterations} iterations each, run seeds "
          f"{args.seed * 1000}..{args.seed * 1000 + len(settings) - 1}, {args.workers} workers, wall time "
          f"{time.perf_counter() - t_start:.0f} s", flush=True)


def part_features(args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = dict(batch_size=100, lr_dual=args.lr, beta1=0.5, disc_lr=1e-2, lr_std=1e-3, size="large")
    kinds = ("rbf", "random", "trained")
    t_start = time.perf_counter()
    with cf.ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = {k: pool.submit(run_one, "dual", s, k, args.iterations, args.seed) for k in kinds}
        results = {k: f.result() for k, f in futures.items()}
    fig, axes = plt.subplots(1, len(kinds), figsize=(4 * len(kinds), 4.3))
    for ax, k in zip(axes, kinds):
        score, seconds, status, samples = results[k]
        padded = torch.nn.functional.pad(samples[:64, 0], (1, 1, 1, 1))  # a white frame around each digit
        grid = padded.reshape(8, 8, 10, 10).permute(0, 2, 1, 3).reshape(80, 80).numpy()
        ax.imshow(grid, cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"{k} features: score {score:.2f}")
        ax.axis("off")
        print(f"{k:>8s} features: classifier score {score:.3f}, {seconds:.1f} s, {status}", flush=True)
    fig.suptitle(f"dual linear GAN on digits, {args.iterations} iterations, seed {args.seed}")
    fig.tight_layout()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "digits_features.png", dpi=100)
    print(f"setting {s}, C = {C:g}, seed {args.seed}, wall time {time.perf_counter() - t_start:.0f} s; "
          f"figure {out / 'digits_features.png'}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=("scores", "features"), required=True)
    p.add_argument("--settings", type=int, default=12)
    p.add_argument("--iterations", type=int, default=600)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-3, help="generator learning rate of the features part")
    p.add_argument("--out", default="docs/report")
    p.add_argument("--methods", default="dual,standard", help="scores part: comma-separated subset of dual,standard")
    p.add_argument("--standard-loss", choices=("minimax", "non_saturating"), default="minimax",
                   help="generator loss of the standard GAN (minimax: the saddle problem the dual GAN solves)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    part_scores(args) if args.part == "scores" else part_features(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
