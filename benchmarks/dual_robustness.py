"""Every dual method on a seeded corpus of the problems research code produces.

    python benchmarks/dual_robustness.py                       # 540 problems, every method
    python benchmarks/dual_robustness.py --count 108 --methods newton

The corpus (``benchmarks/dual_corpus.py``): C from 1e-10 to 1e2, feature
scales from 1e-4 to 1e4 (``||phi||^2 / C`` up to 1e16), N from 2 to 4096 with
d << N, d ~ N and d >> N, overlapping and separable classes, duplicated and
all-zero rows, unequal n and m, logistic and hinge, with and without bias,
cold and warm starts (including a start pinned near the wrong face of the box).

For each method and problem it records the status, iterations, seconds and
the certificate, and checks the status against an independent reference
solve of the primal (scikit-learn's ``LogisticRegression`` with
``C = 1/C``, ``sample_weight = a``; ``LinearSVC`` / ``SVC(kernel="linear")``
for the hinge loss), evaluated with the formulas written out here, not the
library's:

* every ``success`` must be truthful: ``P(w) <= P(w_ref) + gap`` and
  ``D(lambda) <= P(w_ref)`` up to rounding (weak duality), and
  ``||w - w_ref|| <= sqrt(2 gap / C) + sqrt(2 gap_ref / C)``;
* a problem where no method reaches the tolerances is classified by the
  status's own rounding estimate ("float64 cannot certify it").

It prints one line per failure and a table: problems certified, median and
largest iterations (cold starts and all), median time, truthfulness
violations. ``--out`` writes every record as JSON lines.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dual_corpus import corpus  # noqa: E402

# only the methods' own arithmetic is timed: one BLAS thread for every method
os.environ.setdefault("OMP_NUM_THREADS", "1")


def reference(p):
    """The primal optimum from a solver independent of the library, and its P.

    Logistic: scikit-learn's ``LogisticRegression`` (``C = 1/C``, ``sample_weight = a``), whose
    objective is P / C. Hinge: the primal quadratic programme in ``(w, b, xi)`` solved by Ipopt
    through casadi (scikit-learn's liblinear and libsvm take hours at ``C_sklearn = 1e10``).
    The truthfulness checks only use ``P(w_ref) >= P*``, which holds however accurate it is.
    """
    n, m = p.phi_real.shape[0], p.phi_fake.shape[0]
    X = np.vstack([p.phi_real, p.phi_fake])
    y = np.r_[np.ones(n), -np.ones(m)]
    a = np.r_[np.full(n, 1.0 / n), np.full(m, 1.0 / m)]
    if p.loss == "logistic":
        from sklearn.linear_model import LogisticRegression

        solver = "newton-cholesky" if p.d < 1500 else "lbfgs"
        clf = LogisticRegression(C=1.0 / p.C, fit_intercept=p.bias, solver=solver, tol=1e-12, max_iter=2000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(X, y, sample_weight=a)
        w = np.ravel(clf.coef_)
        b = float(np.ravel(clf.intercept_)[0]) if p.bias else 0.0
        return w, b, primal(p, w, b)
    if p.N * (p.d + 1) <= 2e5:
        return hinge_reference(p, X * y[:, None], y, a)
    # larger hinge problems: scikit-learn with a bounded effort (a rougher reference; the checks
    # below stay valid because any w has P(w) >= P*)
    from sklearn.svm import SVC, LinearSVC

    clf = (SVC(kernel="linear", C=1.0 / p.C, tol=1e-6, max_iter=20_000) if p.bias else
           LinearSVC(loss="hinge", C=1.0 / p.C, fit_intercept=False, tol=1e-8, max_iter=1000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y, sample_weight=a)
    w = np.ravel(clf.coef_)
    b = float(np.ravel(clf.intercept_)[0]) if p.bias else 0.0
    return w, b, primal(p, w, b)


def hinge_reference(p, G, y, a):
    import casadi as ca

    N, d = G.shape
    x = ca.MX.sym("x", d + 1 + N)
    w, b, xi = x[:d], x[d], x[d + 1:]
    margins = ca.mtimes(ca.DM(G), w) + (ca.DM(y) * b if p.bias else 0)
    nlp = {"x": x, "f": 0.5 * p.C * ca.sumsqr(w) + ca.dot(ca.DM(a), xi), "g": xi + margins - 1}
    solver = ca.nlpsol("ref", "ipopt", nlp, {"ipopt.print_level": 0, "print_time": False, "ipopt.tol": 1e-12,
                                            "ipopt.sb": "yes", "ipopt.max_iter": 500})
    lbx = np.r_[np.full(d, -np.inf), (-np.inf if p.bias else 0.0), np.zeros(N)]
    ubx = np.r_[np.full(d, np.inf), (np.inf if p.bias else 0.0), np.full(N, np.inf)]
    sol = solver(x0=np.r_[np.zeros(d + 1), np.ones(N)], lbx=lbx, ubx=ubx, lbg=0, ubg=np.inf)
    xs = np.asarray(sol["x"]).ravel()
    return xs[:d], float(xs[d]), primal(p, xs[:d], float(xs[d]))


def primal(p, w, b):
    n = p.phi_real.shape[0]
    X = np.vstack([p.phi_real, p.phi_fake])
    y = np.r_[np.ones(n), -np.ones(X.shape[0] - n)]
    a = np.r_[np.full(n, 1.0 / n), np.full(X.shape[0] - n, 1.0 / (X.shape[0] - n))]
    margins = y * (X @ w + b)
    loss = np.maximum(0.0, 1.0 - margins) if p.loss == "hinge" else np.logaddexp(0.0, -margins)
    return 0.5 * p.C * float(w @ w) + float(a @ loss)


def run(p, method, tol, w_rtol):
    from dualgan.duals import SOLVERS, LinearDual, solve

    if method not in SOLVERS.names(losses=p.loss, **({"bias": True} if p.bias else {})):
        return None
    prob = LinearDual(p.phi_real, p.phi_fake, C=p.C, loss=p.loss, bias=p.bias)
    lam0 = p.lam0 if p.lam0 is not None else None
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = solve(prob, method=method, tol=tol, w_rtol=w_rtol, lam0=lam0)
    return res, time.perf_counter() - t0


def warm_up(methods):
    """One untimed solve of each kind per method: compiled kernels load (or compile) and caches fill
    before the first timed problem."""
    from dualgan.duals import SOLVERS, LinearDual, solve

    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for d in (3, 40):
            for loss in ("logistic", "hinge"):
                for bias in (False, True):
                    prob = LinearDual(rng.normal(1, 1, (12, d)), rng.normal(0, 1, (10, d)), C=0.1, loss=loss, bias=bias)
                    for method in methods:
                        if method in SOLVERS.names(losses=loss, **({"bias": True} if bias else {})):
                            solve(prob, method=method)
                            solve(prob, method=method, lam0=np.full(22, 0.01))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=540, help="problems (a multiple of 36 covers every kind)")
    parser.add_argument("--max-N", type=int, default=4096)
    parser.add_argument("--methods", default=None, help="comma-separated (default: every registered dual solver)")
    parser.add_argument("--tol", type=float, default=1e-10)
    parser.add_argument("--w-rtol", type=float, default=1e-6)
    parser.add_argument("--max-work", type=float, default=2e7,
                        help="skip a non-newton method where N * min(N, d)^2 exceeds this (reported as skipped)")
    parser.add_argument("--out", default=None, help="write every record as JSON lines here")
    parser.add_argument("--summarize", default=None, metavar="JSONL",
                        help="print the table of a finished run's records instead of running")
    args = parser.parse_args()
    if args.summarize:
        with open(args.summarize, encoding="utf-8") as fh:
            records = [json.loads(line) for line in fh if line.strip()]
        summarize(records, sorted({r["method"] for r in records}, key=METHOD_ORDER.index))
        return
    if args.count < 1 or args.max_N < 2 or not args.tol > 0 or not args.w_rtol > 0:
        parser.error("--count >= 1, --max-N >= 2, --tol > 0 and --w-rtol > 0 are required")
    if args.methods:
        methods = args.methods.split(",")
    else:
        from dualgan.duals import SOLVERS

        methods = SOLVERS.names()
    records = []
    out = open(args.out + ".tmp", "w") if args.out else None
    warm_up(methods)
    t_start = time.time()
    for p in corpus(args.seed, args.count, args.max_N):
        ref = reference(p)
        for method in methods:
            work = p.N * min(p.N, p.d) ** 2
            if method != "newton" and work > args.max_work:
                rec = dict(index=p.index, method=method, skipped=True)
            else:
                got = run(p, method, args.tol, args.w_rtol)
                if got is None:
                    continue
                res, seconds = got
                rec = dict(index=p.index, method=method, skipped=False, loss=p.loss, bias=p.bias, start=p.start,
                           shape=p.shape, N=p.N, d=p.d, C=p.C, scale=p.scale, code=res.status.code.value,
                           success=res.success, message=res.status.message, gap=res.gap, gap_bound=res.gap_bound,
                           bound=res.w_error_bound, iterations=res.iterations, seconds=seconds,
                           float64_limited=res.float64_limited)
                if ref is not None:
                    w_ref, b_ref, p_ref = ref
                    w = np.asarray(res.w, dtype=np.float64)
                    P = primal(p, w, res.b if res.b is not None else 0.0)
                    slack = 1e-12 * max(1.0, abs(p_ref))
                    gap = max(res.gap, 0.0)
                    rec["p_ref"] = p_ref
                    rec["truthful"] = bool(not res.success or (
                        P <= p_ref + gap + slack and res.dual_value <= p_ref + slack))
                    rec["w_distance"] = float(np.linalg.norm(w - w_ref))
                if not rec["success"]:
                    print(f"{method:7s} {p.describe()}: {res.status}"[:300], flush=True)
            records.append(rec)
            if out:
                out.write(json.dumps(rec) + "\n")
                out.flush()
    if out:
        out.close()
        os.replace(args.out + ".tmp", args.out)
    print(f"\n# {args.count} problems, seed {args.seed}, tol {args.tol:g}, w_rtol {args.w_rtol:g}, "
          f"{time.time() - t_start:.0f} s")
    summarize(records, methods)


METHOD_ORDER = ["newton", "lbfgsb", "ipopt", "casadi"]


def summarize(records, methods):
    """The table: per method, problems run, certified, float64-limited, other failures, untruthful claims,
    iterations (all starts and cold starts), median time; then newton against each method, problem by problem."""
    print(f"{'method':8s} {'run':>5s} {'certified':>10s} {'f64-limit':>9s} {'other':>6s} {'untruthful':>10s} "
          f"{'med its':>7s} {'max its':>7s} {'cold med':>8s} {'cold max':>8s} {'med ms':>8s} {'skipped':>7s}")
    for method in methods:
        rs = [r for r in records if r["method"] == method and not r["skipped"]]
        if not rs:
            continue
        its = np.array([r["iterations"] for r in rs])
        cold = np.array([r["iterations"] for r in rs if r["start"] == "cold"] or [0])
        ok = sum(r["success"] for r in rs)
        lim = sum((not r["success"]) and r["float64_limited"] for r in rs)
        bad = sum(r.get("truthful") is False for r in rs)
        skipped = sum(1 for r in records if r["method"] == method and r["skipped"])
        print(f"{method:8s} {len(rs):5d} {ok:10d} {lim:9d} {len(rs) - ok - lim:6d} {bad:10d} "
              f"{np.median(its):7.0f} {its.max():7d} {np.median(cold):8.0f} {cold.max():8d} "
              f"{1e3 * np.median([r['seconds'] for r in rs]):8.2f} {skipped:7d}")
    newton = {r["index"]: r for r in records if r["method"] == "newton" and not r["skipped"]}
    for method in methods:
        if method == "newton":
            continue
        pairs = [(newton[r["index"]], r) for r in records
                 if r["method"] == method and not r["skipped"] and r["index"] in newton]
        if not pairs:
            continue
        slower = [(n, o) for n, o in pairs if n["seconds"] > o["seconds"]]
        only_other = sum(o["success"] and not n["success"] for n, o in pairs)
        ratio = np.median([o["seconds"] / max(n["seconds"], 1e-9) for n, o in pairs])
        print(f"newton vs {method}: {len(pairs)} problems, newton slower on {len(slower)}, "
              f"certified by {method} but not newton: {only_other}, median time ratio {method}/newton {ratio:.1f}")
        for n, o in slower[:10]:
            print(f"   #{n['index']}: newton {1e3 * n['seconds']:.2f} ms, {method} {1e3 * o['seconds']:.2f} ms")


if __name__ == "__main__":
    main()
