"""Pair the kernel Table-1 runs with the saved linear studies, setting by setting: success with exact 95%
intervals, exact McNemar tests, escaped fractions (markdown on stdout).

    python benchmarks/kernel_gan_report.py benchmarks/results/table1_ring/kernel \
        --linear benchmarks/results/table1_ring/std
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from scipy.stats import binomtest


def load(path: Path) -> dict:
    runs = {}
    for line in (path / "runs.jsonl").read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            runs[(r["method"], r["setting"])] = r
    return runs


def interval(k: int, n: int) -> str:
    if n == 0:
        return "-"
    ci = binomtest(k, n).proportion_ci(0.95, method="exact")
    return f"{k}/{n} = {100 * k / n:.0f}% [{100 * ci.low:.0f}%, {100 * ci.high:.0f}%]"


def mcnemar(a: list[bool], b: list[bool]) -> tuple[int, int, int, float]:
    only_a = sum(x and not y for x, y in zip(a, b))
    only_b = sum(y and not x for x, y in zip(a, b))
    both = sum(x and y for x, y in zip(a, b))
    p = binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    return only_a, only_b, both, p


def escaped(runs: list[dict]) -> str:
    failed = [r for r in runs if r["modes"] != 5 and r.get("escaped") is not None]
    if not failed:
        return "-"
    mean = sum(r["escaped"] for r in failed) / len(failed)
    return f"{mean:.2f} ({len(failed)} failed)"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("kernel_dir")
    p.add_argument("--linear", default="benchmarks/results/table1_ring/std")
    args = p.parse_args(argv)
    kern = load(Path(args.kernel_dir))
    lin = load(Path(args.linear))
    methods = ["kernel_rbf", "mmd_rbf", "kernel_imq", "mmd_imq"]
    settings = sorted({s for (_, s) in kern if all((m, s) in kern for m in methods)})
    print(f"{len(settings)} settings with all four kernel runs complete: {settings}\n")
    rows = {m: [kern[(m, s)] for s in settings] for m in methods}
    rows["linear dual (std study)"] = [lin[("dual", s)] for s in settings]
    rows["standard (std study)"] = [lin[("standard", s)] for s in settings]
    print("| method | success [exact 95% CI] | failed runs: mean escaped fraction | summed training time |")
    print("|---|---|---|---|")
    for m, rs in rows.items():
        k = sum(r["modes"] == 5 for r in rs)
        print(f"| {m} | {interval(k, len(rs))} | {escaped(rs)} | {sum(r['seconds'] for r in rs):.0f} s |")
    print("\n| pair | A only / B only / both | exact McNemar p |")
    print("|---|---|---|")
    for a, b in [("kernel_rbf", "mmd_rbf"), ("kernel_imq", "mmd_imq"), ("kernel_rbf", "linear dual (std study)"),
                 ("kernel_imq", "linear dual (std study)"), ("kernel_rbf", "standard (std study)"),
                 ("kernel_imq", "standard (std study)")]:
        sa = [r["modes"] == 5 for r in rows[a]]
        sb = [r["modes"] == 5 for r in rows[b]]
        oa, ob, both, pv = mcnemar(sa, sb)
        print(f"| {a} vs {b} | {oa} / {ob} / {both} | {pv:.3g} |")
    codes = {}
    for m in methods:
        for r in rows[m]:
            codes[(m, r.get("code"))] = codes.get((m, r.get("code")), 0) + 1
    print("\nrun statuses: " + ", ".join(f"{m} {c}: {k}" for (m, c), k in sorted(codes.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
