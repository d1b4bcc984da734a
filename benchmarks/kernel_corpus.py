"""A seeded corpus of kernel-discriminator duals, every status checked against an independent solve.

``make_problem(i, seed)`` draws problem ``i``: N from 2 to 4096 (log-uniform up to
600, and every 25th problem one of 1024 to 4096), sample dimension 1 to 20,
separable or overlapping classes, near-duplicate samples (rows copied with a
1e-10 perturbation, across classes too) that make K numerically singular, an RBF,
inverse multiquadric or rational quadratic kernel with bandwidth 1e-2 to 1e2 times
the median distance, C from 1e-5 to 1, both losses, with and without bias.

Each problem is solved by ``newton`` and, where the size allows, ``lbfgsb`` (N <= 1024),
``ipopt`` and ``casadi`` (N <= 256), at ``tol = 1e-8`` (``w_rtol = inf``). The
independent reference evaluates feasible points directly on K in numpy:
scipy's L-BFGS-B on the Gram-form dual (no bias: a dual value D_ref <= P* and the
primal of its recovered discriminator, P_ref >= P*), scipy's L-BFGS-B on the
primal in the expansion coefficients (logistic with bias: P_ref) or libsvm's
``SVC(kernel="precomputed")`` (hinge with bias: P_ref). A SUCCESS is truthful when
neither reference point contradicts the certified bound:
``P - P_ref <= gap_bound + slack`` and ``D_ref - D <= gap_bound + slack`` (slack
``1e-12 max(1, |P|)``, the rounding of the direct evaluations).

    python benchmarks/kernel_corpus.py --count 200 --out benchmarks/results/kernel_corpus.jsonl --table benchmarks/results/kernel_corpus_table.md
"""
from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.special import xlogy

from dualgan.duals import SOLVERS, DualSolverWarning, KernelDual, solve
from dualgan.kernels import InverseMultiquadricKernel, RationalQuadraticKernel, RBFKernel, median_distance

TOL = 1e-8
BIG_N = (1024, 2048, 4096, 1536, 3072, 4096, 2048, 1024)


@dataclass(frozen=True)
class KernelProblem:
    """One problem of the corpus."""

    index: int
    x_real: np.ndarray
    x_fake: np.ndarray
    kernel: object
    bandwidth_factor: float
    C: float
    loss: str
    bias: bool
    separable: bool
    duplicates: bool

    def describe(self) -> str:
        return (f"#{self.index} n={len(self.x_real)} m={len(self.x_fake)} D={self.x_real.shape[1]} "
                f"{type(self.kernel).__name__} x{self.bandwidth_factor:.1e} C={self.C:.1e} {self.loss}"
                f"{'+bias' if self.bias else ''} {'separable' if self.separable else 'overlapping'}"
                f"{' near-duplicates' if self.duplicates else ''}")


def make_problem(index: int, seed: int = 0) -> KernelProblem:
    """The ``index``-th problem of the corpus drawn with ``seed`` (deterministic)."""
    rng = np.random.default_rng([seed, index, 26])
    N = BIG_N[(index // 25) % len(BIG_N)] if index % 25 == 24 else int(round(math.exp(rng.uniform(math.log(2),
                                                                                                   math.log(600)))))
    N = max(N, 2)
    n = max(1, min(N - 1, int(round(N * rng.uniform(0.3, 0.7)))))
    D = int(rng.choice([1, 2, 5, 20]))
    separable = bool(index % 2)
    shift = np.zeros(D)
    shift[0] = 8.0 if separable else 0.3
    x = np.vstack([rng.normal(size=(n, D)) + shift, rng.normal(size=(N - n, D))])
    duplicates = index % 3 == 0 and N >= 4
    if duplicates:  # copies (also of the other class) perturbed by 1e-10: K numerically singular
        k = max(1, N // 4)
        src, dst = rng.choice(N, k), rng.choice(N, k, replace=False)
        x[dst] = x[src] + 1e-10 * rng.normal(size=(k, D))
    factor = 10.0 ** rng.uniform(-2, 2)
    med = median_distance(torch.from_numpy(x)) if N >= 2 else 1.0
    med = med if med > 0 else 1.0
    kind = index % 5
    if kind in (0, 1, 2):
        kernel = RBFKernel(sigma=factor * med)
    elif kind == 3:
        kernel = InverseMultiquadricKernel(c=factor * med)
    else:
        kernel = RationalQuadraticKernel(alpha=(0.5, 2.0), length_scale=factor * med)
    C = 10.0 ** rng.uniform(-5, 0)
    loss = ("logistic", "hinge")[(index // 2) % 2]
    bias = bool((index // 4) % 2)
    return KernelProblem(index, x[:n], x[n:], kernel, factor, C, loss, bias, separable, duplicates)


def _direct(K, y, a, C, loss, lam=None, alpha=None, b=0.0):
    """(primal of f = K alpha + b, dual of lam), evaluated on K in numpy (eqs. (1.21), (1.3), (1.12))."""
    primal = dual = None
    if alpha is not None:
        m = y * (K @ alpha + b)
        loss_sum = a @ (np.maximum(0, 1 - m) if loss == "hinge" else np.logaddexp(0, -m))
        primal = 0.5 * C * alpha @ K @ alpha + loss_sum
    if lam is not None:
        beta = y * lam
        sep = lam.sum() if loss == "hinge" else -(xlogy(lam, lam / a) + xlogy(a - lam, (a - lam) / a)).sum()
        dual = -beta @ K @ beta / (2 * C) + sep
    return primal, dual


def reference(prob: KernelDual, loss: str, bias: bool) -> dict:
    """Independent feasible points evaluated on K: {'P_ref': ..., 'D_ref': ... (or None)}."""
    K, y, a, C = prob.K.numpy(), prob.y.numpy(), prob.a.numpy(), prob.C
    N = K.shape[0]
    if not bias:
        def neg(lam):
            beta = y * lam
            Kb = K @ beta
            if loss == "hinge":
                return beta @ Kb / (2 * C) - lam.sum(), y * Kb / C - 1.0
            ent = -(xlogy(lam, lam / a) + xlogy(a - lam, (a - lam) / a)).sum()
            return beta @ Kb / (2 * C) - ent, y * Kb / C - np.log((a - lam) / lam)
        lo = 0.0 if loss == "hinge" else 1e-300
        bounds = [(lo, ai if loss == "hinge" else ai * (1 - 2 ** -52)) for ai in a]
        res = minimize(neg, a / 2, jac=True, method="L-BFGS-B", bounds=bounds,
                       options=dict(ftol=1e-15, gtol=1e-12, maxiter=5000, maxcor=30))
        lam = np.clip(res.x, 0, a)
        P, D = _direct(K, y, a, C, loss, lam=lam, alpha=y * lam / C)
        return {"P_ref": P, "D_ref": D, "reference": "scipy L-BFGS-B on the Gram dual"}
    if loss == "hinge":
        from sklearn.svm import SVC

        svc = SVC(kernel="precomputed", C=1.0, tol=1e-10, max_iter=10 ** 7).fit(K, y, sample_weight=a / C)
        alpha = np.zeros(N)
        alpha[svc.support_] = svc.dual_coef_[0]
        P, _ = _direct(K, y, a, C, loss, alpha=alpha, b=svc.intercept_[0])
        return {"P_ref": P, "D_ref": None, "reference": "libsvm SVC(kernel='precomputed')"}

    def primal(z):  # logistic with bias, in the expansion coefficients (alpha, b)
        alpha, b = z[:-1], z[-1]
        Ka = K @ alpha
        m = y * (Ka + b)
        s = -a * y * np.exp(-np.logaddexp(0, m))  # d loss / d f_i
        val = 0.5 * C * alpha @ Ka + a @ np.logaddexp(0, -m)
        return val, np.r_[K @ (C * alpha + s), s.sum()]
    res = minimize(primal, np.zeros(N + 1), jac=True, method="L-BFGS-B",
                   options=dict(ftol=1e-15, gtol=1e-12, maxiter=5000, maxcor=30))
    P, _ = _direct(K, y, a, C, loss, alpha=res.x[:-1], b=res.x[-1])
    return {"P_ref": P, "D_ref": None, "reference": "scipy L-BFGS-B on the primal in (alpha, b)"}


def methods_for(N: int) -> list[str]:
    out = ["newton"]
    if N <= 1024:
        out.append("lbfgsb")
    if N <= 256:
        out += [m for m in ("ipopt", "casadi") if m in SOLVERS.names()]
    return out


def run(index: int, seed: int = 0, methods: list[str] | None = None) -> dict:
    """Solve problem ``index`` by ``methods`` (default :func:`methods_for` its size) and check each status."""
    p = make_problem(index, seed)
    t0 = time.perf_counter()
    prob = KernelDual(p.x_real, p.x_fake, p.kernel, p.C, loss=p.loss, bias=p.bias)
    setup = time.perf_counter() - t0
    ref = reference(prob, p.loss, p.bias)
    rec = dict(index=index, describe=p.describe(), N=prob.N, rank=prob.rank, loss=p.loss, bias=p.bias,
               separable=p.separable, duplicates=p.duplicates, factor=p.bandwidth_factor, C=p.C, setup_s=setup, **ref)
    slack_of = lambda P: 1e-12 * max(1.0, abs(P))  # noqa: E731
    for method in (methods_for(prob.N) if methods is None else methods):
        if p.bias and not SOLVERS.entry(method).bias or p.loss not in SOLVERS.entry(method).losses:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DualSolverWarning)
            try:
                r = solve(prob, method=method, tol=TOL, w_rtol=math.inf, warn=False)
            except Exception as exc:  # a method that raises is recorded, never hidden
                rec[method] = dict(code="raised", error=f"{type(exc).__name__}: {exc}"[:200])
                continue
        bound = r.gap_bound if math.isfinite(getattr(r, "gap_bound", float("nan"))) else r.gap
        truthful = True
        if r.success:
            slack = slack_of(r.primal_value)
            truthful = r.primal_value - ref["P_ref"] <= bound + slack and (
                ref["D_ref"] is None or ref["D_ref"] - r.dual_value <= bound + slack)
        rec[method] = dict(code=r.status.code.value, success=r.success, gap=r.gap, gap_bound=bound,
                           P=r.primal_value, D=r.dual_value, seconds=r.seconds, iterations=r.iterations,
                           truthful=bool(truthful), float64_limited=bool(r.float64_limited))
    return rec


def table(records: list[dict]) -> str:
    methods = ["newton", "lbfgsb", "ipopt", "casadi"]
    lines = ["| method | problems run | certified | failed | untruthful SUCCESS | certified by another, not by it |",
             "|---|---|---|---|---|---|"]
    for m in methods:
        run_ = [r for r in records if m in r and "success" in r[m]]
        raised = [r for r in records if m in r and r[m].get("code") == "raised"]
        if not run_ and not raised:
            continue
        cert = sum(r[m]["success"] for r in run_)
        bad = sum(r[m]["success"] and not r[m]["truthful"] for r in run_)
        missed = sum(1 for r in run_ if not r[m]["success"] and any(
            r.get(o, {}).get("success") for o in methods if o != m))
        lines.append(f"| {m} | {len(run_) + len(raised)} | {cert} | {len(run_) - cert + len(raised)} | {bad} | "
                     f"{missed} |")
    n = len(records)
    big = sum(r["N"] >= 1024 for r in records)
    dup = sum(r["duplicates"] for r in records)
    trunc = sum(r["rank"] < r["N"] for r in records)
    lines.append("")
    lines.append(f"{n} problems (N from {min(r['N'] for r in records)} to {max(r['N'] for r in records)}, {big} with "
                 f"N >= 1024; {dup} with near-duplicate samples; {trunc} with a truncated factor, rank < N; "
                 f"{sum(r['separable'] for r in records)} separable); tol = {TOL:g}, w_rtol = inf.")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="JSON lines, one record per problem (resumed)")
    p.add_argument("--table", default=None, help="write the markdown table here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    done = {}
    if out.exists():
        for line in out.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                done[r["index"]] = r
    t0 = time.perf_counter()
    with out.open("a") as fh:
        for i in range(args.count):
            if i in done:
                continue
            r = run(i, args.seed)
            done[i] = r
            fh.write(json.dumps(r) + "\n")
            fh.flush()
            nt = r["newton"]
            print(f"{r['describe']} rank {r['rank']}: newton {nt['code']} gap {nt['gap']:.2e} "
                  f"{nt['seconds']:.2f} s truthful {nt['truthful']}", flush=True)
    records = [done[i] for i in sorted(done) if i < args.count]
    text = table(records)
    print(text)
    print(f"wall time {time.perf_counter() - t0:.0f} s (this invocation)")
    if args.table:
        Path(args.table).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
