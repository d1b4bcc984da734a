"""The Dualing GANs paper's Table 2 at 28x28: score linearisation, cost linearisation and the standard GAN.

All three train the same networks (``dualgan.models.dcgan_generator()`` and
``dcgan_discriminator(channels=..., hidden=...)``) with ``dualgan.trust_region.TrustRegionGAN``,
``model="score"`` / ``"cost"`` (one trust-region discriminator step per iteration) or
``"adam"`` (one Adam step on the same cost: the standard GAN), on scikit-learn's digits
resampled to 28x28 (``dualgan.data.digits_split(image_size=28)``, training part), batch B
real + B generated, float32, non-saturating generator loss, the library's other defaults.

Tuned alike: every method gets the same grid of generator learning rates (``--lr-grid``)
on seed 0; the rate with the best final classifier score is kept and seeds 1.. are run with it
(seed 0's run at that rate is one of the reported seeds, for every method alike).

Scores: a small CNN classifier trained here on the 28x28 training digits (its held-out
accuracy is printed; cached next to the results): the classifier score (``dualgan.metrics.classifier_score``,
an inception score with this classifier, eq. (6.4) of the theory page) of ``--eval-samples``
generated samples, and the Frechet distance (``dualgan.metrics.frechet_distance``, eq. (6.5))
between their features (the classifier's 128-unit hidden layer) and those of the held-out real digits.
"End": at the last iteration; "avg": the mean over the evaluations every ``--eval-every``
iterations (the paper's "avg" is over training). Intervals: mean +- t_{0.975, n-1} s / sqrt(n) over seeds.

Resumable: one JSON line per finished run in ``--out``; finished runs are skipped.

    python benchmarks/table2_digits28.py --iterations 1500 --seeds 0,1,2,3,4   # the full study
    python benchmarks/table2_digits28.py --report                              # table of what is done
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from pathlib import Path

import torch
from torch import nn

OUT = Path(__file__).resolve().parent / "results" / "table2_digits28"
METHODS = ("score", "cost", "adam")
NAMES = {"adam": "GAN (Adam)", "score": "Score Lin", "cost": "Cost Lin"}
PAPER = {  # Table 2 of the paper (CIFAR-10): (GAN, Score Lin, Cost Lin, Real Data)
    "Inception (end)": ("5.61 +- 0.09", "5.40 +- 0.12", "5.43 +- 0.10", "10.72 +- 0.38"),
    "Internal classifier (end)": ("3.85 +- 0.08", "3.52 +- 0.09", "4.42 +- 0.09", "8.03 +- 0.07"),
    "Inception (avg)": ("5.59 +- 0.38", "5.44 +- 0.08", "5.16 +- 0.37", "-"),
    "Internal classifier (avg)": ("3.64 +- 0.47", "3.70 +- 0.27", "4.04 +- 0.37", "-"),
}


class Digits28CNN(nn.Module):
    """Classifier of 28x28 digits: conv 16 -> pool -> conv 32 -> pool -> fc 128 (features) -> fc 10."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                  nn.Linear(32 * 7 * 7, 128), nn.ReLU())
        self.fc = nn.Linear(128, 10)

    def hidden(self, x):
        return self.body(x)

    def forward(self, x):
        return self.fc(self.body(x))


def classifier(out: Path, split) -> tuple[Digits28CNN, float]:
    """Train (or load) the 28x28 digits classifier; returns it and its held-out accuracy."""
    path = out / "classifier28.pt"
    net = Digits28CNN()
    if path.exists():
        saved = torch.load(path)
        net.load_state_dict(saved["state"])
        return net.eval(), saved["accuracy"]
    torch.manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = split.train_images, split.train_labels
    for _ in range(15):
        perm = torch.randperm(x.shape[0])
        for i in range(0, x.shape[0], 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        acc = float((net(split.test_images).argmax(1) == split.test_labels).double().mean())
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"state": net.state_dict(), "accuracy": acc}, path)
    return net, acc


def evaluate(samples, clf, real_test) -> tuple[float, float]:
    from dualgan.metrics import classifier_score, frechet_distance

    score = classifier_score(samples, clf).score
    with torch.no_grad():
        fd = frechet_distance(samples, real_test, features=lambda t: clf.hidden(t.float())).distance
    return score, fd


def run(method: str, seed: int, lr: float, args, split, clf) -> dict:
    from dualgan.models import dcgan_discriminator, dcgan_generator
    from dualgan.trust_region import TrustRegionGAN

    channels, hidden = json.loads(args.disc)
    gen = dcgan_generator(seed=seed)
    disc = dcgan_discriminator(channels=tuple(channels), hidden=tuple(hidden), seed=seed)
    trainer = TrustRegionGAN(gen, disc, latent_dim=32, batch_size=args.batch, model=method, generator_lr=lr,
                             seed=seed)
    curve = []

    def callback(tr, iteration):
        if iteration % args.eval_every == 0 or iteration == args.iterations:
            s, fd = evaluate(tr.sample(args.eval_samples, seed=10_000), clf, split.test_images)
            curve.append((iteration, s, fd))

    t0 = time.perf_counter()
    trainer.fit(split.train_images, args.iterations, callbacks=[callback])
    seconds = time.perf_counter() - t0
    finite = [c for c in curve if math.isfinite(c[1]) and math.isfinite(c[2])]
    h = trainer.history
    return {"method": method, "seed": seed, "lr": lr, "iterations": args.iterations, "batch": args.batch,
            "disc": args.disc, "status": str(trainer.status), "ok": bool(trainer.status.ok), "seconds": seconds,
            "end_score": curve[-1][1] if curve else float("nan"), "end_fd": curve[-1][2] if curve else float("nan"),
            "avg_score": statistics.fmean(c[1] for c in finite) if finite else float("nan"),
            "avg_fd": statistics.fmean(c[2] for c in finite) if finite else float("nan"),
            "accepted_fraction": float(h["accepted"].mean()) if "accepted" in h else None,
            "curve": curve}


def _done(path: Path) -> list[dict]:
    """Finished runs; a run written twice (two processes on one file) counts once, its last line."""
    if not path.exists():
        return []
    runs = {}
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            runs[_key(r)] = r
    return list(runs.values())


def _key(r):
    return (r["method"], r["seed"], r["lr"], r["iterations"], r["batch"], r["disc"])


def interval(values) -> str:
    from scipy.stats import t

    v = [x for x in values if math.isfinite(x)]
    if not v:
        return "-"
    m = statistics.fmean(v)
    if len(v) < 2:
        return f"{m:.2f} (n=1)"
    half = t.ppf(0.975, len(v) - 1) * statistics.stdev(v) / math.sqrt(len(v))
    return f"{m:.2f} +- {half:.2f}" + ("" if len(v) == len(values) else f" (n={len(v)})")


def report(args, split, clf, acc) -> str:
    runs = [r for r in _done(args.out_file) if r["iterations"] == args.iterations and r["batch"] == args.batch
            and r["disc"] == args.disc]
    chosen = _chosen_lr(runs, args)
    rows = {m: [r for r in runs if r["method"] == m and r["lr"] == chosen.get(m)] for m in METHODS}
    # only the seeds every method finished (a study stopped early compares like with like)
    common = set.intersection(*({r["seed"] for r in rows[m]} for m in METHODS))
    rows = {m: sorted((r for r in rows[m] if r["seed"] in common), key=lambda r: r["seed"]) for m in METHODS}
    real_score, real_fd = evaluate(split.test_images, clf, split.train_images)
    lines = [f"| metric | {' | '.join(NAMES[m] for m in ('adam', 'score', 'cost'))} | real data |",
             "|---|---:|---:|---:|---:|"]
    for label, key, real in (("classifier score (end)", "end_score", f"{real_score:.2f}"),
                             ("classifier score (avg)", "avg_score", "-"),
                             ("Frechet distance (end)", "end_fd", f"{real_fd:.2f}"),
                             ("Frechet distance (avg)", "avg_fd", "-")):
        cells = [interval([r[key] for r in rows[m]]) for m in ("adam", "score", "cost")]
        lines.append(f"| {label} | {' | '.join(cells)} | {real} |")
    lines.append("")
    lines.append("| method | generator lr (picked on seed 0) | seeds | runs ok | wall time per run (s, median) |")
    lines.append("|---|---:|---|---:|---:|")
    for m in ("adam", "score", "cost"):
        rs = rows[m]
        lines.append(f"| {NAMES[m]} | {chosen.get(m, '-')} | {','.join(str(r['seed']) for r in rs)} | "
                     f"{sum(r['ok'] for r in rs)}/{len(rs)} | "
                     f"{statistics.median(r['seconds'] for r in rs) if rs else float('nan'):.0f} |")
    tune = [r for r in runs if r["seed"] == 0]
    lines.append("")
    lines.append("Tuning runs (seed 0): " + "; ".join(f"{NAMES[r['method']]} lr {r['lr']}: score "
                                                       f"{r['end_score']:.2f}, FD {r['end_fd']:.2f}"
                                                       for r in sorted(tune, key=lambda r: (r['method'], r['lr']))))
    total = sum(r["seconds"] for r in runs)
    lines.append(f"Classifier held-out accuracy {acc:.3f}; real data: held-out digits (score) and held-out vs "
                 f"training digits (Frechet distance); total wall time of the runs {total / 60:.0f} min.")
    return "\n".join(lines)


def _chosen_lr(runs, args) -> dict:
    chosen = {}
    for m in METHODS:
        tune = [r for r in runs if r["method"] == m and r["seed"] == 0 and math.isfinite(r["end_score"])]
        if tune:
            chosen[m] = max(tune, key=lambda r: r["end_score"])["lr"]
    return chosen


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=1500)
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--lr-grid", default="0.001,0.003", help="generator learning rates tried on seed 0 (every method)")
    p.add_argument("--batch", type=int, default=64, help="real samples per batch (as many generated)")
    p.add_argument("--disc", default="[[32, 64, 64], [128, 64]]",
                   help="discriminator channels and hidden widths, JSON (default: the 138,049-parameter one)")
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--eval-samples", type=int, default=500)
    p.add_argument("--out", default=str(OUT / "runs.jsonl"))
    p.add_argument("--report", action="store_true", help="only print the table of the finished runs")
    args = p.parse_args(argv)
    args.out_file = Path(args.out)
    args.out_file.parent.mkdir(parents=True, exist_ok=True)
    from dualgan.data import digits_split

    split = digits_split(seed=0, image_size=28)
    clf, acc = classifier(args.out_file.parent, split)
    if not args.report:
        print(f"classifier held-out accuracy {acc:.3f}", flush=True)
        methods = args.methods.split(",")
        grid = [float(v) for v in args.lr_grid.split(",")]
        seeds = [int(s) for s in args.seeds.split(",")]
        for phase in ("tune", "seeds"):
            done = {_key(r) for r in _done(args.out_file)}
            chosen = _chosen_lr([r for r in _done(args.out_file) if r["iterations"] == args.iterations and
                                 r["batch"] == args.batch and r["disc"] == args.disc], args)
            # seeds in the outer loop: a study stopped early has the same seeds for every method
            todo = ([(m, 0, lr) for m in methods for lr in grid] if phase == "tune" else
                    [(m, s, chosen[m]) for s in seeds if s != 0 for m in methods])
            for m, seed, lr in todo:
                if (m, seed, lr, args.iterations, args.batch, args.disc) in done:
                    continue
                r = run(m, seed, lr, args, split, clf)
                with open(args.out_file, "a") as fh:
                    fh.write(json.dumps(r) + "\n")
                print(f"{m} seed {seed} lr {lr}: {r['status']}, score {r['end_score']:.2f} (avg "
                      f"{r['avg_score']:.2f}), FD {r['end_fd']:.2f}, {r['seconds']:.0f} s", flush=True)
    print(report(args, split, clf, acc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
