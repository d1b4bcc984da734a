r"""Compare the constraint handlers on the two examples of :mod:`dualgan.constraints.examples`.

:func:`compare_handlers` trains the same GAN with no constraint, a penalty,
the augmented Lagrangian and the projection on a subspace mixture and on two
hyperplanes of R^5, prints one table row per run, and writes two figures
(samples; violation and multipliers over training). Used by
``benchmarks/constraints_compare.py`` and ``dualgan constraints-demo``.
"""
from __future__ import annotations

import os

import numpy as np
import torch

from .._io import new_figure, save_figure
from .lagrangian import AugmentedLagrangian
from .penalty import Penalty
from .projection import Projection
from .sets import HyperplaneUnion
from .examples import ConstrainedRun, subspace_mixture, train_constrained, two_hyperplanes

__all__ = ["compare_handlers", "handlers", "multiplier_drift"]


def compare_handlers(steps: int = 4000, batch_size: int = 256, hidden: int = 64, seed: int = 0,
                     out: str | None = None, progress: bool = False, print_fn=print) -> dict:
    """Train the same GAN with every handler of :func:`handlers` on both examples and print a table.

    Parameters
    ----------
    steps : int, default 4000
        Generator steps per run.
    batch_size : int, default 256
        Samples per batch.
    hidden : int, default 64
        Width of the hidden layers of generator and discriminator.
    seed : int, default 0
        Seed of the data and of every run.
    out : str or None, default None
        A folder to write ``constraints_compare.png`` (samples) and
        ``constraints_history.png`` (violation and multipliers over training)
        into; ``None`` writes no figure.
    progress : bool, default False
        Show a progress bar per run.
    print_fn : callable, default print
        Receives each line of the table.

    Returns
    -------
    dict
        ``{(data_name, handler_name): ConstrainedRun}`` for ``data_name`` in
        ``("subspace", "union")`` and the four handler names.
    """
    examples = {"subspace": subspace_mixture(seed=seed), "union": two_hyperplanes(seed=seed)}
    runs: dict[tuple[str, str], ConstrainedRun] = {}
    header = (f"{'data':9s} {'handler':16s} {'status':10s} {'mean dist':>10s} {'max dist':>10s} {'mean|Ax-b|':>10s} "
              f"{'modes':>6s} {'hq frac':>7s} {'shares':>13s} {'ms/iter':>8s} {'rho':>8s} {'mu drift':>9s} multipliers")
    print_fn(header)
    print_fn("-" * len(header))
    for data_name, data in examples.items():
        for name, handler in handlers(data.constraint).items():
            run = train_constrained(data, handler, steps=steps, batch_size=batch_size, hidden=hidden,
                                    loss="non_saturating", r1=0.1, seed=seed, record_every=50,
                                    progress=progress, name=name)
            runs[data_name, name] = run
            v, cov = run.violation, run.coverage
            shares = "/".join(f"{s:.2f}" for s in run.shares) if run.shares else "-"
            mu = ", ".join(f"{m:+.3g}" for m in run.final_state.multipliers) or "-"
            rho = f"{run.final_state.penalty_weight:8.3g}" if name == "aug. Lagrangian" else f"{'-':>8s}"
            print_fn(f"{data_name:9s} {name:16s} {run.status.code.value:10s} {v.mean_distance:10.2e} {v.max_distance:10.2e} "
                     f"{v.mean_residual:10.2e} {cov.modes_covered:3d}/{cov.n_modes:<2d} "
                     f"{cov.high_quality_fraction:7.3f} {shares:>13s} {1e3 * run.seconds_per_iteration:8.2f} {rho} "
                     f"{multiplier_drift(run):9.2e} {mu}")
            if not run.status.success:
                print_fn(f"{'':9s} {name}: {run.status}")
        if isinstance(data.constraint, HyperplaneUnion):
            print_fn(f"{'':9s} data shares: {'/'.join(f'{s:.2f}' for s in data.plane_shares())}")
    if out is not None:
        os.makedirs(out, exist_ok=True)
        _plot_samples(examples, runs, os.path.join(out, "constraints_compare.png"))
        _plot_history(examples, runs, os.path.join(out, "constraints_history.png"))
        print_fn(f"figures written to {out}/")
    return runs


def handlers(constraint):
    """The four handlers the comparison runs, with the settings it uses.

    Parameters
    ----------
    constraint : AffineSubspace or HyperplaneUnion
        The constraint set of the example.

    Returns
    -------
    dict
        ``{"none": None, "penalty": Penalty, "aug. Lagrangian": AugmentedLagrangian,
        "projection": Projection}``, fresh instances.
    """
    return {
        "none": None,
        "penalty": Penalty(constraint, weight=10.0),
        "aug. Lagrangian": AugmentedLagrangian(constraint, rho=1.0, growth=1.6, check_every=100, rho_max=1e4),
        "projection": Projection(constraint),
    }


def multiplier_drift(run) -> float:
    r"""How much the multipliers still moved at the end: :math:`\max_t \|\mu_t - \mu_T\|_\infty` over the last quarter.

    Parameters
    ----------
    run : ConstrainedRun
        A run whose history records :class:`~dualgan.constraints.ConstraintState` values.

    Returns
    -------
    float
        The largest entrywise change against the final multipliers over the
        records of the last quarter of training; 0 without multipliers.
    """
    mus = [np.array(s.multipliers) for s in run.history if s.multipliers]
    if not mus:
        return 0.0
    tail = mus[len(mus) * 3 // 4:]
    return float(max(np.abs(m - tail[-1]).max() for m in tail))


def _coordinates(data, x: torch.Tensor) -> np.ndarray:
    """2-D view: in-subspace coordinates (subspace) or signed distances to the two hyperplanes (union)."""
    x = x.to(torch.float64)
    if isinstance(data.constraint, HyperplaneUnion):
        return data.constraint.signed_distances(x).numpy()
    N = data.constraint.null_basis()
    return ((x - data.constraint.point()) @ N[:, :2]).numpy()


def _plot_samples(examples, runs, path):
    names = ["none", "penalty", "aug. Lagrangian", "projection"]
    fig, axes = new_figure(len(examples), len(names), figsize=(4 * len(names), 4 * len(examples)), squeeze=False)
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
    save_figure(fig, path, dpi=110)


def _plot_history(examples, runs, path):
    fig, axes = new_figure(1, 2, figsize=(11, 4))
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
    save_figure(fig, path, dpi=110)
