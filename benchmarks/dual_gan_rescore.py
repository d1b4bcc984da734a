"""Re-score saved Table-1 runs (``benchmarks/dual_gan_sensitivity.py --out DIR``) without training again.

For each study directory: success counts (all 5 modes) with exact 95%
binomial (Clopper-Pearson) intervals, the paired discordance of the dual GAN
against the standard GAN with the exact McNemar test (a two-sided binomial test
on the discordant pairs), the escaped fractions (samples with every RBF feature
below e^-12) of failed and successful runs, and success against the generator
learning rate. With several directories, ``--compare`` also tests each method
between the first study and every other one (paired by setting).

    python benchmarks/dual_gan_rescore.py DIR [DIR ...] [--n-std 3] [--min-fraction 0.2 | --min-count 80]
        [--coverage-std STD] [--escape-sigma SIGMA] [--png lr.png] [--common] [--compare]

Defaults re-apply each study's own criterion (its config.json), so the counts
printed equal those recorded at training time. Only settings on which every
method of a study was run are counted (a study interrupted mid-setting);
``--common`` keeps only the settings complete in every study given.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import torch
from scipy.stats import binomtest

from dualgan.data import ring
from dualgan.features import escaped_fraction
from dualgan.metrics import mode_coverage

LR_BINS = np.exp(-np.arange(10, -1, -2.0))  # e^-10, e^-8, ..., e^0


def load_study(directory: Path) -> tuple[dict, list[dict]]:
    cfg = json.loads((directory / "config.json").read_text())
    runs = [json.loads(line) for line in (directory / "runs.jsonl").read_text().splitlines() if line.strip()]
    return cfg, runs


def rescore(directory: Path, cfg: dict, runs: list[dict], args) -> list[dict]:
    """Each run with ``success``, ``modes`` and ``escaped`` recomputed from its saved samples."""
    std = args.coverage_std if args.coverage_std is not None else cfg["coverage_std"]
    n_std = args.n_std if args.n_std is not None else cfg["n_std"]
    min_fraction = args.min_fraction if args.min_fraction is not None else cfg["min_fraction"]
    min_count = args.min_count if args.min_count is not None else (
        None if args.min_fraction is not None else cfg["min_count"])
    sigma = args.escape_sigma if args.escape_sigma is not None else cfg["sigma"]
    centers = ring(cfg["ring_modes"], radius=cfg["ring_radius"], std=cfg["ring_std"]).centers
    out = []
    for r in runs:
        z = np.load(directory / "samples" / f"{r['method']}_{r['setting']:03d}.npz")
        x = torch.as_tensor(z["samples"].astype(np.float64))
        if bool(torch.isfinite(x).all()):
            cov = mode_coverage(x, centers, std, n_std=n_std, min_fraction=min_fraction, min_count=min_count)
            modes, esc = cov.modes_covered, escaped_fraction(x, z["anchors"], sigma)
        else:
            modes, esc = 0, float("nan")
        out.append(dict(r, modes=modes, success=modes == cfg["ring_modes"], escaped=esc, recorded_modes=r["modes"]))
    if all(getattr(args, k) is None for k in ("n_std", "coverage_std", "min_fraction", "min_count")):
        differ = sum(r["modes"] != r["recorded_modes"] for r in out)
        print(f"{directory}: {len(out)} runs re-scored under the study's own criterion; "
              f"{differ} differ from the modes recorded at training time")
    return out


def _ranges(xs: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2, 5'."""
    out, start = [], None
    for i, x in enumerate(xs):
        if start is None:
            start = x
        if i + 1 == len(xs) or xs[i + 1] != x + 1:
            out.append(f"{start}-{x}" if x != start else f"{x}")
            start = None
    return ", ".join(out)


def ci(k: int, n: int) -> str:
    lo, hi = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    return f"{k}/{n} [{100 * lo:.0f}%, {100 * hi:.0f}%]"


def mcnemar(a: dict, b: dict) -> tuple[int, int, float]:
    """Discordant pairs (a only, b only) over the common keys and the exact two-sided McNemar p-value."""
    keys = sorted(set(a) & set(b))
    only_a = sum(a[k] and not b[k] for k in keys)
    only_b = sum(b[k] and not a[k] for k in keys)
    p = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    return only_a, only_b, p


def fmt_escaped(vals: list[float]) -> str:
    v = np.asarray(vals, dtype=float)
    if v.size == 0:
        return "-"
    finite = v[np.isfinite(v)]
    nonfinite = v.size - finite.size
    tail = f", {nonfinite} non-finite" if nonfinite else ""
    if finite.size == 0:
        return f"{nonfinite} non-finite"
    return (f"mean {finite.mean():.2f}, all escaped {int((finite == 1).sum())}/{v.size}, "
            f">=half {int((finite >= 0.5).sum())}/{v.size}{tail}")


def summarise(directory: Path, cfg: dict, runs: list[dict]) -> dict:
    name = directory.name
    by = {m: {r["setting"]: r for r in runs if r["method"] == m} for m in ("dual", "standard")}
    print(f"\n== {name}: RBF {cfg['rbf_convention']} {cfg['rbf_bandwidth']:g} (sigma {cfg['sigma']:.4f}), "
          f"features {cfg['features']}, ring std {cfg['ring_std']:g}, lr {cfg['lr_pairing']}, init {cfg['init']}")
    succ = {m: {k: r["success"] for k, r in by[m].items()} for m in by}
    walls = []
    wall_path = directory / "wall_times.jsonl"
    if wall_path.exists():
        walls = [json.loads(line) for line in wall_path.read_text().splitlines() if line.strip()]
    timed = [w for w in walls if w.get("wall_s") is not None]
    if walls:  # an invocation stopped by hand has no recorded wall time (its note says why)
        untimed = len(walls) - len(timed)
        print(f"  wall time: {sum(w['wall_s'] for w in timed):.0f} s over {len(timed)} timed invocation(s)"
              + (f" and {untimed} stopped by hand without a recorded time" if untimed else "")
              + f" ({sum(w['runs'] for w in walls)} runs, {walls[-1]['workers']} workers)")
    for m in ("dual", "standard"):
        rs = list(by[m].values())
        if not rs:
            print(f"  {m:8s}: not run")
            continue
        k = sum(r["success"] for r in rs)
        fail = [r["escaped"] for r in rs if not r["success"]]
        ok = [r["escaped"] for r in rs if r["success"]]
        secs = sum(r["seconds"] for r in rs)
        stopped = sum(not (r["status"].startswith("success") or r["status"] == "completed") for r in rs)
        print(f"  {m:8s}: success {ci(k, len(rs))}; mean modes {np.mean([r['modes'] for r in rs]):.2f}; "
              f"escaped in failed runs: {fmt_escaped(fail)}; in successful runs: {fmt_escaped(ok)}; "
              f"stopped early by a failure {stopped}/{len(rs)}; training time {secs:.0f} s summed over runs")
    if by["dual"] and by["standard"]:
        a, b, p = mcnemar(succ["dual"], succ["standard"])
        both = sum(succ["dual"][k] and succ["standard"][k] for k in set(succ["dual"]) & set(succ["standard"]))
        print(f"  paired: dual only {a}, standard only {b}, both {both}; exact McNemar p = {p:.3g}")
    print("  success by generator learning rate (bins e^-10..e^0, step e^2):")
    for lo, hi in zip(LR_BINS[:-1], LR_BINS[1:]):
        cells = []
        for m in ("dual", "standard"):
            rs = [r for r in by[m].values() if lo <= r["lr"] < hi]
            cells.append(f"{m} {sum(r['success'] for r in rs)}/{len(rs)}")
        print(f"    [{lo:.1e}, {hi:.1e}): " + ", ".join(cells))
    return succ


def plot(studies: list[tuple[str, list[dict]]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(studies), figsize=(4.2 * len(studies), 3.4), squeeze=False, sharey=True)
    centres = np.sqrt(LR_BINS[:-1] * LR_BINS[1:])
    for ax, (name, runs) in zip(axes[0], studies):
        for m, marker in (("dual", "o-"), ("standard", "s--")):
            rates, ns = [], []
            for lo, hi in zip(LR_BINS[:-1], LR_BINS[1:]):
                rs = [r for r in runs if r["method"] == m and lo <= r["lr"] < hi]
                ns.append(len(rs))
                rates.append(np.mean([r["success"] for r in rs]) if rs else np.nan)
            ax.semilogx(centres, rates, marker, label=f"{m} GAN")
            if m == "dual":
                for c, n in zip(centres, ns):
                    ax.annotate(f"n={n}", (c, 1.02), fontsize=7, ha="center")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("generator learning rate")
        ax.set_ylim(-0.02, 1.1)
    axes[0, 0].set_ylabel("success rate (all 5 modes)")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    print(f"\nwrote {path}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dirs", nargs="+", help="study directories written by dual_gan_sensitivity.py --out")
    p.add_argument("--n-std", type=float, default=None, help="coverage radius in std (default: the study's)")
    p.add_argument("--coverage-std", type=float, default=None, help="std of the coverage test (default: the study's)")
    p.add_argument("--min-fraction", type=float, default=None, help="fraction of a mode's fair share (default: study's)")
    p.add_argument("--min-count", type=int, default=None, help="absolute samples per covered mode")
    p.add_argument("--escape-sigma", type=float, default=None,
                   help="RBF std of the escape test (default: each study's own sigma)")
    p.add_argument("--png", default=None, help="write success against learning rate to this PNG")
    p.add_argument("--common", action="store_true",
                   help="keep only the settings complete in every study given (a paired design across studies)")
    p.add_argument("--compare", action="store_true", help="McNemar of each method: first study against the others")
    args = p.parse_args(argv)
    for name in ("n_std", "coverage_std", "min_fraction", "escape_sigma"):
        v = getattr(args, name)
        if v is not None and not (math.isfinite(v) and v > 0):
            p.error(f"--{name.replace('_', '-')} must be a positive number, got {v}")
    if args.min_count is not None and args.min_count < 1:
        p.error(f"--min-count must be a positive integer, got {args.min_count}")
    loaded = []
    for d in args.dirs:
        directory = Path(d)
        if not (directory / "runs.jsonl").exists():
            p.error(f"{directory} has no runs.jsonl; pass a directory written by dual_gan_sensitivity.py --out")
        loaded.append((directory, *load_study(directory)))
    # a setting counts when every method of its study was run on it (and, with --common, in every study)
    complete = []
    for directory, cfg, runs in loaded:
        per = [{r["setting"] for r in runs if r["method"] == m} for m in cfg["methods"]]
        complete.append(set.intersection(*per))
    keep_all = set.intersection(*complete) if args.common else None
    studies, succs = [], []
    for (directory, cfg, runs), keep in zip(loaded, complete):
        keep = keep_all if keep_all is not None else keep
        dropped = len({r["setting"] for r in runs} - keep)
        runs = [r for r in runs if r["setting"] in keep]
        print(f"{directory}: {len(keep)} complete settings"
              + (f" ({dropped} incomplete or outside the common set left out)" if dropped else "")
              + (f": settings {_ranges(sorted(keep))}" if keep else ""))
        runs = rescore(directory, cfg, runs, args)
        succs.append(summarise(directory, cfg, runs))
        studies.append((directory.name, runs))
    if args.compare and len(succs) > 1:
        print()
        for (name, _), succ in zip(studies[1:], succs[1:]):
            for m in ("dual", "standard"):
                a, b, pv = mcnemar(succ[m], succs[0][m])
                print(f"{m:8s} {name} vs {studies[0][0]}: {name} only {a}, {studies[0][0]} only {b}; "
                      f"exact McNemar p = {pv:.3g}")
    if args.png:
        plot(studies, args.png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
