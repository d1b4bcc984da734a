"""Seconds per run of the kernel Table 1 study (``benchmarks/kernel_gan_sensitivity.py``), two revisions interleaved.

Each run is one (setting, method) of the study, trained in a fresh process by the
``run_one`` of a revision of this repository exported with ``git archive`` into a
temporary folder (its own ``dualgan``, its own driver), so the code measured is
exactly what was committed. The runs of the revisions alternate, setting by
setting, so that a change of the machine's load falls on both. Before its timed
run every process solves one small kernel dual on each side of Newton's method
(numba's compiled kernels are loaded, or compiled once per export, outside the
timing: a kernel first compiled inside a timed run added some 7 s to it).

Reported per run: ``fit_seconds`` (wall time of ``fit``, the study's ``seconds``),
``cpu_seconds`` (process time of ``fit``; less sensitive to other processes on
the machine), iterations per second and the
final inner gap. Variants: ``before`` (the ``--before`` revision), ``after`` (the
``--after`` revision with the driver's allocator setting) and ``after_plain``
(the same code with glibc's default allocator), to separate the two changes.

    python benchmarks/kernel_dual_speed_gan.py --before e83274c~1 --settings 2,6 --methods kernel_rbf,kernel_imq
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VARIANTS = ("before", "after", "after_plain")

RUNNER = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, "benchmarks")
sys.path.insert(0, ".")
import torch
import kernel_gan_sensitivity as drv
from dual_gan_sensitivity import draw_settings
method, i, allocator, max_iterations, out = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4], sys.argv[5]
torch.set_num_threads(1)
if allocator and hasattr(drv, "keep_freed_memory"):
    drv.keep_freed_memory()
from dualgan.duals import KernelDual, solve
g = torch.Generator().manual_seed(0)
warm_up = KernelDual(torch.randn(30, 2, generator=g, dtype=torch.float64),
                     torch.randn(30, 2, generator=g, dtype=torch.float64) + 1, drv.make_kernel(method), 1e-4)
for side in ("primal", "dual"):  # both compiled Newton kernels (a fresh export compiles each on first use)
    solve(warm_up, tol=1e-8, options=dict(side=side))
s = draw_settings(i + 1, 0)[i]
if max_iterations != "none":
    s["iterations"] = min(s["iterations"], int(max_iterations))
(Path(out) / "samples").mkdir(parents=True, exist_ok=True)
fit, cpu = drv.KernelDualGAN.fit, []


def timed_fit(self, *args, **kwargs):
    t0 = time.process_time()
    try:
        return fit(self, *args, **kwargs)
    finally:
        cpu.append(time.process_time() - t0)


drv.KernelDualGAN.fit = timed_fit
rec = drv.run_one(method, i, s, i, dict(out=out, ring_std=drv.RING_STD))
print(json.dumps(dict(fit_seconds=rec["seconds"], cpu_seconds=cpu[0], iterations=rec["iterations_done"],
                      batch_size=s["batch_size"], status=rec["status"], modes=rec["modes"],
                      final_inner_gap=rec["final_inner_gap"])))
"""


def export(revision: str, into: Path) -> Path:
    """The package and the two study drivers of ``revision``, extracted under ``into``."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision, "dualgan",
                              "benchmarks/kernel_gan_sensitivity.py", "benchmarks/dual_gan_sensitivity.py"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run(tree: Path, method: str, setting: int, allocator: bool, max_iterations, scratch: Path) -> dict:
    out = scratch / f"{tree.name}_{method}_{setting}_{int(allocator)}"
    proc = subprocess.run([sys.executable, "-c", RUNNER, method, str(setting), "1" if allocator else "0",
                           "none" if max_iterations is None else str(max_iterations), str(out)],
                          cwd=tree, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"run {method} #{setting} in {tree.name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", required=True, help="git revision of the old code")
    p.add_argument("--after", default="HEAD", help="git revision of the new code (default HEAD)")
    p.add_argument("--settings", default="2,6", help="comma-separated Table 1 settings (seed 0)")
    p.add_argument("--methods", default="kernel_rbf,kernel_imq")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--max-iterations", type=int, default=None, help="cap every run (shorter measurements)")
    p.add_argument("--out", default=None, help="JSON lines of the runs (default: print only)")
    args = p.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    if not variants or set(variants) - set(VARIANTS):
        p.error(f"--variants must be a comma-separated subset of {','.join(VARIANTS)}, got {args.variants!r}")
    settings = [int(v) for v in args.settings.split(",") if v]
    methods = [m for m in args.methods.split(",") if m]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        trees = {"before": export(args.before, tmp / "before")}
        if {"after", "after_plain"} & set(variants):
            trees["after"] = export(args.after, tmp / "after")
        rows = []
        for k, (setting, method) in enumerate((s, m) for s in settings for m in methods):
            order = variants if k % 2 == 0 else variants[::-1]  # alternate which variant runs first
            for variant in order:
                tree = trees["before" if variant == "before" else "after"]
                r = run(tree, method, setting, variant == "after", args.max_iterations, tmp / "runs")
                r.update(variant=variant, setting=setting, method=method)
                rows.append(r)
                print(f"#{setting:3d} {method:10s} {variant:11s} batch {r['batch_size']:3d} iters {r['iterations']:4d}: "
                      f"fit {r['fit_seconds']:7.1f} s  cpu {r['cpu_seconds']:7.1f} s  "
                      f"{r['iterations'] / r['fit_seconds']:6.1f} it/s  gap {r['final_inner_gap']:.1e}  "
                      f"modes {r['modes']}", flush=True)
    if args.out:
        with open(args.out, "a") as fh:
            for r in rows:
                fh.write(json.dumps(r) + "\n")
    for variant in variants:
        fit = sum(r["fit_seconds"] for r in rows if r["variant"] == variant)
        cpu = sum(r["cpu_seconds"] for r in rows if r["variant"] == variant)
        print(f"{variant:11s} total fit {fit:8.1f} s  cpu {cpu:8.1f} s", flush=True)
    if "before" in variants:
        base = {(r["setting"], r["method"]): r for r in rows if r["variant"] == "before"}
        for variant in (v for v in variants if v != "before"):
            ratios = [base[(r["setting"], r["method"])]["cpu_seconds"] / r["cpu_seconds"]
                      for r in rows if r["variant"] == variant]
            print(f"speedup (cpu) before / {variant}: " + ", ".join(f"{x:.2f}" for x in ratios), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
