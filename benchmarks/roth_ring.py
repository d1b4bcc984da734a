"""Roth et al. (2017), section 5.1: the 7-mode ring on a 2-D plane in 3-D.

Unregularised JS-GAN against the JS regulariser (gamma0 = 0.1, annealed
exponentially to 0.01 * gamma0 over the run), their setting: generator and
discriminator MLPs with two tanh hidden layers of 128 units, 2-D normal latent,
Adam (lr 1e-3, beta1 0.5), batch 512, alternating D/G updates, non-saturating
generator loss. Every ``--eval-every`` iterations 10 batches of samples are
scored with :func:`dualgan.metrics.mode_coverage` (3 standard deviations,
a mode counts when it holds a fifth of its fair share).

Writes ``<out>/roth_ring.json`` (after every finished run), ``<out>/roth_ring_modes.png`` (modes covered over time, one line per
seed) and ``<out>/roth_ring_samples.png`` (final samples projected on the ring's plane).

Every evaluation also rewrites ``<out>/tmp/roth_ring_<config>_seed<s>.json`` and a
checkpoint ``.pt`` beside it; running the same command again resumes each run
from its checkpoint (delete ``<out>/tmp`` to start afresh), and
``--from-partial`` plots and tabulates the progress files without training.

Example (the run reported in docs/objectives.md)::

    nice -n 10 python benchmarks/roth_ring.py --iterations 50000 --seeds 0 1 --workers 2
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from torch import nn

from dualgan.data import ring_on_plane
from dualgan.losses import non_saturating
from dualgan.metrics import mode_coverage
from dualgan.regularizers import ExponentialAnnealing, JSRegularizer

CONFIGS = ("unregularized", "regularized")


def mlp(d_in: int, d_out: int, hidden: int = 128) -> nn.Module:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                         nn.Linear(hidden, d_out))


def run_one(config: str, seed: int, iterations: int, eval_every: int, batch: int = 512, z_dim: int = 2,
            gamma0: float = 0.1, progress: bool = True, partial_dir: str | None = None) -> dict:
    """Train one GAN; with ``partial_dir`` it checkpoints every evaluation and resumes from a checkpoint there."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    data = ring_on_plane(7, radius=1.0, std=0.01)
    gen = torch.Generator().manual_seed(1000 + seed)
    G, D = mlp(z_dim, 3), mlp(3, 1)
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
    schedule = ExponentialAnnealing(gamma0, total_steps=iterations, final_ratio=0.01)
    penalty = JSRegularizer(schedule) if config == "regularized" else None
    loss = non_saturating
    record = {"config": config, "seed": seed, "iteration": [], "modes_covered": [], "high_quality_fraction": [],
              "gamma": [], "d_loss": [], "wall_s": 0.0}
    eval_z = torch.randn(10 * batch, z_dim, generator=torch.Generator().manual_seed(7))
    stem = f"roth_ring_{config}_seed{seed}"
    checkpoint = Path(partial_dir, stem + ".pt") if partial_dir is not None else None
    first = 1
    if checkpoint is not None and checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        if state["iterations"] == iterations:
            G.load_state_dict(state["G"])
            D.load_state_dict(state["D"])
            opt_g.load_state_dict(state["opt_g"])
            opt_d.load_state_dict(state["opt_d"])
            gen.set_state(state["generator"])
            schedule.step_count = state["step"]
            record = state["record"]
            first = state["step"] + 1
    t0 = time.perf_counter() - record["wall_s"]
    it = range(first, iterations + 1)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc=f"{config} seed {seed}", mininterval=30, position=CONFIGS.index(config))
    for step in it:
        x_real = data.sample(batch, generator=gen)
        z = torch.randn(batch, z_dim, generator=gen)
        # discriminator step: one pass over both batches feeds the loss and, when regularised, the penalty
        x_fake = G(z)
        x_both = torch.cat([x_real, x_fake.detach()])
        if penalty is not None:
            x_both.requires_grad_(True)
        scores = D(x_both)[:, 0]
        d_loss = loss.discriminator_loss(scores[:batch], scores[batch:])
        if penalty is not None:
            (grad,) = torch.autograd.grad(scores.sum(), x_both, create_graph=True)
            d_loss = d_loss + penalty.from_gradients(scores[:batch], grad[:batch], scores[batch:], grad[batch:])
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        # generator step (alternating: the same G(z), scored by the updated discriminator)
        g_loss = loss.generator_loss(D(x_fake))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        schedule.step()
        if step % eval_every == 0 or step == iterations:
            with torch.no_grad():
                samples = G(eval_z)
            report = mode_coverage(samples, data.centers, data.std, n_std=3.0)
            record["iteration"].append(step)
            record["modes_covered"].append(report.modes_covered)
            record["high_quality_fraction"].append(report.high_quality_fraction)
            record["gamma"].append(schedule.current if penalty is not None else 0.0)
            record["d_loss"].append(float(d_loss.detach()))
            record["wall_s"] = time.perf_counter() - t0
            if partial_dir is not None:   # progress so far, readable (and resumable) while the run goes on
                Path(partial_dir, stem + ".json").write_text(json.dumps(record))
                torch.save({"iterations": iterations, "step": step, "G": G.state_dict(), "D": D.state_dict(),
                            "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "generator": gen.get_state(),
                            "record": record}, str(checkpoint) + ".tmp")
                os.replace(str(checkpoint) + ".tmp", checkpoint)
    record["wall_s"] = time.perf_counter() - t0
    with torch.no_grad():
        record["final_samples"] = G(eval_z[:2000]).tolist()
    return record


def _worker(args):
    return run_one(*args)


def plot(records, data, out: Path):
    plot_modes(records, out)
    plot_samples(records, data, out)


def plot_modes(records, out: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, config in zip(axes, CONFIGS):
        for r in records:
            if r["config"] == config:
                ax.plot(r["iteration"], r["modes_covered"], label=f"seed {r['seed']}", alpha=0.8)
        ax.set_title(config + (" (gamma0 = 0.1, annealed to 0.001)" if config == "regularized" else ""))
        ax.set_xlabel("iteration")
        ax.set_ylim(-0.3, 7.3)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left")
    axes[0].set_ylabel("modes covered (of 7, within 3 sd)")
    fig.tight_layout()
    fig.savefig(out / "roth_ring_modes.png", dpi=120)
    plt.close(fig)


def plot_samples(records, data, out: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # final samples in the ring's plane coordinates (first two principal directions of the centres)
    c = data.centers
    mu = c.mean(0)
    _, _, vt = torch.linalg.svd(c - mu)
    basis = vt[:2].T
    seeds = sorted({r["seed"] for r in records})
    fig, axes = plt.subplots(len(CONFIGS), len(seeds), figsize=(3 * len(seeds), 6), squeeze=False)
    for i, config in enumerate(CONFIGS):
        for j, seed in enumerate(seeds):
            ax = axes[i][j]
            for r in records:
                if r["config"] == config and r["seed"] == seed:
                    s = (torch.tensor(r["final_samples"], dtype=torch.float64) - mu) @ basis
                    ax.scatter(s[:, 0], s[:, 1], s=2, alpha=0.4)
            cc = (c - mu) @ basis
            ax.scatter(cc[:, 0], cc[:, 1], marker="x", color="red", s=30)
            ax.set_xlim(-1.6, 1.6)
            ax.set_ylim(-1.6, 1.6)
            ax.set_aspect("equal")
            ax.set_title(f"{config}, seed {seed}", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "roth_ring_samples.png", dpi=110)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=50_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    parser.add_argument("--eval-every", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (one thread each)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--from-partial", action="store_true",
                        help="no training: summarise and plot the per-run progress files in <out>/tmp")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.from_partial:
        records = [json.loads(p.read_text()) for p in sorted((args.out / "tmp").glob("roth_ring_*_seed*.json"))]
        if not records:
            raise SystemExit(f"no progress files in {args.out / 'tmp'}")
        report(records, args.out, partial=True)
        return
    torch.set_num_threads(1)
    partial = args.out / "tmp"
    partial.mkdir(exist_ok=True)
    jobs = [(c, s, args.iterations, args.eval_every, 512, 2, 0.1, not args.no_progress, str(partial))
            for s in args.seeds for c in sorted(args.configs, key=lambda c: c != "regularized")]
    # seed by seed, so that a cut-short run still leaves complete pairs to compare
    records = []
    t0 = time.perf_counter()

    def save():
        summary = {"iterations": args.iterations, "eval_every": args.eval_every, "seeds": args.seeds,
                   "wall_s_total": time.perf_counter() - t0,
                   "runs": [{k: v for k, v in r.items() if k != "final_samples"} for r in records]}
        (args.out / "roth_ring.json").write_text(json.dumps(summary, indent=1))

    if args.workers > 1:
        import multiprocessing as mp
        with mp.get_context("spawn").Pool(args.workers) as pool:
            for r in pool.imap_unordered(_worker, jobs):
                records.append(r)
                save()
    else:
        for job in jobs:
            records.append(run_one(*job))
            save()
    save()
    report(records, args.out)
    print(f"total wall {time.perf_counter() - t0:.0f} s")


def report(records, out: Path, partial: bool = False):
    """Plot and print the table: modes covered at the end, their minimum and mean over each run's second half."""
    if not partial or all("final_samples" in r for r in records):
        plot(records, ring_on_plane(7, radius=1.0, std=0.01), out)
    else:
        plot_modes(records, out)
    print(f"\n{'config':<14} {'seed':>4} {'iterations':>10} {'modes@end':>9} {'min modes 2nd half':>18} "
          f"{'mean modes 2nd half':>19} {'hq frac@end':>11} {'wall s':>7}")
    for r in sorted(records, key=lambda r: (r["config"], r["seed"])):
        last = r["iteration"][-1]
        half = [m for i, m in zip(r["iteration"], r["modes_covered"]) if i > last // 2]
        print(f"{r['config']:<14} {r['seed']:>4} {last:>10} {r['modes_covered'][-1]:>9} {min(half):>18} "
              f"{sum(half) / len(half):>19.2f} {r['high_quality_fraction'][-1]:>11.3f} {r['wall_s']:>7.0f}")


if __name__ == "__main__":
    main()
