"""Compare constraint handlers on data with known linear constraints (SPEC.md section 4).

Two examples in R^5 (``dualgan.constraints.examples``):

* ``subspace``: 6 Gaussians (std 0.1) inside a random 3-dimensional affine
  subspace ``A x = b`` (A: 2 x 5);
* ``union``: Gaussians on two random hyperplanes, 2 modes on the first and 4
  on the second (data shares 1/3 and 2/3), every mode 2 away from the other
  hyperplane.

For each, the same MLP generator / MLP discriminator GAN (non-saturating
loss, R1 = 0.1, Adam, same seed) is trained with no constraint, a penalty,
the augmented Lagrangian and the projection layer. Printed per run: the
violation of 2000 held-out samples (mean / max distance to the set and mean
||A x - b||), mode coverage (dualgan.metrics.mode_coverage, 3 std, a mode
counts when it has a fifth of its fair share), the share of samples on each
hyperplane (union), time per iteration, and for the augmented Lagrangian the
final rho, multipliers and how much they moved over the last quarter of
training. Writes ``constraints_compare.png`` (samples) and
``constraints_history.png`` (violation and multipliers over training) to --out.

    python benchmarks/constraints_compare.py            # about 8 runs x 4000 steps
    python benchmarks/constraints_compare.py --steps 500  # quick look
"""
from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from dualgan.constraints import AugmentedLagrangian, HyperplaneUnion, Penalty, Projection  # noqa: E402
from dualgan.constraints.examples import subspace_mixture, train_constrained, two_hyperplanes  # noqa: E402


def handlers(constraint):
    return {
        "none": None,
        "penalty": Penalty(constraint, weight=10.0),
        "aug. Lagrangian": AugmentedLagrangian(constraint, rho=1.0, growth=1.6, check_every=100, rho_max=1e4),
        "projection": Projection(constraint),
    }


def multiplier_drift(run) -> float:
    """max |mu_t - mu_T| over the records of the last quarter of training (0 without multipliers)."""
    mus = [np.array(s.multipliers) for s in run.history if s.multipliers]
    if not mus:
        return 0.0
    tail = mus[len(mus) * 3 // 4:]
    return float(max(np.abs(m - tail[-1]).max() for m in tail))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="constraints_compare_out")
    parser.add_argument("--progress", action="store_true", help="tqdm progress bars")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    examples = {"subspace": subspace_mixture(seed=args.seed), "union": two_hyperplanes(seed=args.seed)}
    runs = {}
    header = (f"{'data':9s} {'handler':16s} {'status':9s} {'mean dist':>10s} {'max dist':>10s} {'mean|Ax-b|':>10s} "
              f"{'modes':>6s} {'hq frac':>7s} {'shares':>13s} {'ms/iter':>8s} {'rho':>8s} {'mu drift':>9s} multipliers")
    print(header)
    print("-" * len(header))
    for data_name, data in examples.items():
        for name, handler in handlers(data.constraint).items():
            run = train_constrained(data, handler, steps=args.steps, batch_size=args.batch_size, hidden=args.hidden,
                                    loss="non_saturating", r1=0.1, seed=args.seed, record_every=50,
                                    progress=args.progress, name=name)
            runs[data_name, name] = run
            v, cov = run.violation, run.coverage
            shares = "/".join(f"{s:.2f}" for s in run.shares) if run.shares else "-"
            mu = ", ".join(f"{m:+.3g}" for m in run.final_state.multipliers) or "-"
            rho = f"{run.final_state.penalty_weight:8.3g}" if name == "aug. Lagrangian" else f"{'-':>8s}"
            print(f"{data_name:9s} {name:16s} {run.status[:9]:9s} {v.mean_distance:10.2e} {v.max_distance:10.2e} "
                  f"{v.mean_residual:10.2e} {cov.modes_covered:3d}/{cov.n_modes:<2d} {cov.high_quality_fraction:7.3f} "
                  f"{shares:>13s} {1e3 * run.seconds_per_iteration:8.2f} {rho} {multiplier_drift(run):9.2e} {mu}",
                  flush=True)
        if isinstance(data.constraint, HyperplaneUnion):
            print(f"{'':9s} data shares: {'/'.join(f'{s:.2f}' for s in data.plane_shares())}")
    _plot_samples(examples, runs, os.path.join(args.out, "constraints_compare.png"))
    _plot_history(examples, runs, os.path.join(args.out, "constraints_history.png"))
    print(f"figures written to {args.out}/")
    return 0


def _coordinates(data, x: torch.Tensor) -> np.ndarray:
    """2-D view: in-subspace coordinates (subspace) or signed distances to the two hyperplanes (union)."""
    x = x.to(torch.float64)
    if isinstance(data.constraint, HyperplaneUnion):
        return data.constraint.signed_distances(x).numpy()
    N = data.constraint.null_basis()
    return ((x - data.constraint.point()) @ N[:, :2]).numpy()


def _plot_samples(examples, runs, path):
    names = ["none", "penalty", "aug. Lagrangian", "projection"]
    fig, axes = plt.subplots(len(examples), len(names), figsize=(4 * len(names), 4 * len(examples)), squeeze=False)
    for row, (data_name, data) in enumerate(examples.items()):
        real = _coordinates(data, data.sample(2000, torch.Generator().manual_seed(123), dtype=torch.float64))
        for col, name in enumerate(names):
            run = runs[data_name, name]
            fake = _coordinates(data, run.samples)
            ax = axes[row, col]
            ax.scatter(real[:, 0], real[:, 1], s=3, alpha=0.3, c="tab:blue", label="data")
            ax.scatter(fake[:, 0], fake[:, 1], s=3, alpha=0.3, c="tab:red", label="generated")
            ax.set_title(f"{data_name}: {name}\nmean dist {run.violation.mean_distance:.1e}, "
                         f"modes {run.coverage.modes_covered}/{run.coverage.n_modes}", fontsize=9)
            if isinstance(data.constraint, HyperplaneUnion):
                ax.set_xlabel("signed distance to hyperplane 0")
                ax.set_ylabel("signed distance to hyperplane 1")
            else:
                ax.set_xlabel("subspace coordinate 1")
                ax.set_ylabel("subspace coordinate 2")
            if row == 0 and col == 0:
                ax.legend(markerscale=4, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_history(examples, runs, path):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for data_name in examples:
        for name in ("none", "penalty", "aug. Lagrangian"):
            run = runs[data_name, name]
            axes[0].semilogy(run.history_steps, [max(s.mean_residual, 1e-16) for s in run.history],
                             label=f"{data_name}: {name}")
        run = runs[data_name, "aug. Lagrangian"]
        mus = np.array([s.multipliers for s in run.history])
        for k in range(mus.shape[1]):
            axes[1].plot(run.history_steps, mus[:, k], label=f"{data_name}: mu_{k}")
    axes[0].set_xlabel("generator step")
    axes[0].set_ylabel("mean |A x - b| of the training batch")
    axes[0].legend(fontsize=8)
    axes[1].set_xlabel("generator step")
    axes[1].set_ylabel("augmented Lagrangian multipliers")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
