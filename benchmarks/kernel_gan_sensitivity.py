"""Table 1 on the ring with kernel discriminators: the kernel dual GAN and its MMD counterpart, paired by setting.

The 100 settings of ``benchmarks/dual_gan_sensitivity.py`` (same draw, same
seeds, same generator initialisation, data, noise and coverage criterion) are
run with four methods:

* ``kernel_rbf``: :class:`dualgan.train.KernelDualGAN` with an RBF mixture
  (sigma 0.2, 0.5, 1, 2), the dual solved exactly (``weights="optimal"``);
* ``mmd_rbf``: the same kernel with the multipliers fixed at a/2 (the MMD GAN);
* ``kernel_imq`` / ``mmd_imq``: the same two with an inverse multiquadric kernel (c = 0.5).

C = 1e-4 and the gap tolerance 1e-8, as the linear dual GAN's study. The
driver keeps freed memory in the process (:func:`keep_freed_memory`): an
iteration makes a few dozen Gram-sized temporaries, and glibc's default of
returning them to the system made every one cost page faults (a fifth of an
iteration at batch 185; results are unchanged). The
escaped fraction is that of the linear studies (every RBF feature of sigma 0.2 on
the same 100 anchors below e^-12), so the failure modes can be compared.
Every run appends one JSON line to ``OUT/runs.jsonl``; ``--resume`` skips the
runs already there (settings run in order, the four methods of a setting together).
``benchmarks/kernel_gan_report.py OUT`` pairs the runs with the saved linear studies.

    python benchmarks/kernel_gan_sensitivity.py --settings 100 --workers 2 --out benchmarks/results/table1_ring/kernel --resume
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import ctypes
import ctypes.util
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dual_gan_sensitivity import N_SAMPLES, OUTPUT_STD, RING_STD, draw_settings  # noqa: E402

from dualgan.data import ring  # noqa: E402
from dualgan.features import escaped_fraction  # noqa: E402
from dualgan.kernels import InverseMultiquadricKernel, RBFKernel  # noqa: E402
from dualgan.metrics import mode_coverage  # noqa: E402
from dualgan.train import mlp_generator  # noqa: E402
from dualgan.train.kernel import KernelDualGAN  # noqa: E402

METHODS = ("kernel_rbf", "mmd_rbf", "kernel_imq", "mmd_imq")
RBF_SIGMAS = (0.2, 0.5, 1.0, 2.0)
IMQ_C = 0.5
ANCHOR_SIGMA = 0.2  # the escaped fraction of the linear studies (RBF features, std convention)


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed blocks for reuse (no trimming, no mmap below 32 MiB); False elsewhere.

    Forked workers inherit the setting. The Gram matrices of a batch (up to 400 x 400 float64, about 1 MiB)
    are above malloc's default mmap threshold, so each temporary was mapped, faulted in page by page and
    unmapped again; kept, the same memory is reused.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): the default allocator
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
    return bool(mallopt(m_trim_threshold, 1 << 30)) and bool(mallopt(m_mmap_threshold, 32 << 20))


def make_kernel(method: str):
    return RBFKernel(sigma=RBF_SIGMAS) if method.endswith("rbf") else InverseMultiquadricKernel(c=IMQ_C)


def run_one(method: str, i: int, s: dict, run_seed: int, cfg: dict) -> dict:
    data = ring(5, radius=2.0, std=cfg["ring_std"])
    anchors = data.sample(100, generator=torch.Generator().manual_seed(run_seed + 1000))
    gen = mlp_generator(size=s["size"], seed=run_seed, output_std=OUTPUT_STD)
    gan = KernelDualGAN(gen, make_kernel(method), C=1e-4, latent_dim=2, batch_size=s["batch_size"],
                        mode="minibatch", beta1=s["beta1"], seed=run_seed, generator_lr=s["lr_dual"], tol=1e-8,
                        weights="mmd" if method.startswith("mmd") else "optimal")
    t0 = time.perf_counter()
    gan.fit(data, s["iterations"])
    seconds = time.perf_counter() - t0
    samples = gan.sample(N_SAMPLES, seed=run_seed + 7).detach().to(torch.float64)
    finite = bool(torch.isfinite(samples).all())
    np.savez_compressed(Path(cfg["out"]) / "samples" / f"{method}_{i:03d}.npz",
                        samples=samples.numpy().astype(np.float32))
    hist = gan.history
    rec = dict(setting=i, method=method, run_seed=run_seed, lr=s["lr_dual"], **s, status=str(gan.status),
               code=gan.status.code.value, seconds=seconds, finite=finite, iterations_done=gan.iteration,
               final_inner_gap=float(hist["inner_gap"][-1]) if gan.iteration else None)
    if finite:
        cov = mode_coverage(samples, data.centers, cfg["ring_std"], n_std=3.0, min_fraction=0.2)
        rec.update(modes=cov.modes_covered, counts=list(cov.counts),
                   escaped=escaped_fraction(samples, anchors, ANCHOR_SIGMA))
    else:
        rec.update(modes=0, counts=None, escaped=None)
    return rec


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--settings", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--out", required=True)
    p.add_argument("--max-iterations", type=int, default=None, help="cap every run (smoke tests only)")
    p.add_argument("--resume", action="store_true")
    args = p.parse_args(argv)
    methods = [m for m in args.methods.split(",") if m]
    if not methods or set(methods) - set(METHODS):
        p.error(f"--methods must be a comma-separated subset of {','.join(METHODS)}, got {args.methods!r}")
    torch.set_num_threads(1)
    keep_freed_memory()
    out = Path(args.out)
    (out / "samples").mkdir(parents=True, exist_ok=True)
    cfg = dict(settings=args.settings, seed=args.seed, ring_std=RING_STD, C=1e-4, tol=1e-8, rbf_sigmas=RBF_SIGMAS,
               imq_c=IMQ_C, max_iterations=args.max_iterations, out=str(out))
    cfg_path = out / "config.json"
    if args.resume and cfg_path.exists():
        old = json.loads(cfg_path.read_text())
        diff = {k: (old.get(k), v) for k, v in cfg.items()
                if k not in ("out", "settings") and json.dumps(old.get(k)) != json.dumps(v)}
        if diff:
            p.error(f"--resume with options that differ from {cfg_path}: {diff}")
    cfg_path.write_text(json.dumps(cfg, indent=1))
    settings = draw_settings(args.settings, args.seed)
    if args.max_iterations is not None:
        for s in settings:
            s["iterations"] = min(s["iterations"], args.max_iterations)
    runs_path = out / "runs.jsonl"
    done = set()
    if args.resume and runs_path.exists():
        done = {(r["method"], r["setting"]) for r in map(json.loads, filter(str.strip, runs_path.read_text().splitlines()))}
    elif runs_path.exists():
        runs_path.unlink()
    jobs = [(m, i, s, args.seed * 1000 + i) for i, s in enumerate(settings) for m in methods if (m, i) not in done]
    print(f"{len(jobs)} runs to do ({len(done)} already recorded)", flush=True)
    t_start = time.perf_counter()
    if args.workers == 1:
        pool, results = None, (run_one(*job, cfg) for job in jobs)
    else:
        pool = cf.ProcessPoolExecutor(max_workers=args.workers, initializer=torch.set_num_threads, initargs=(1,))
        futures = [pool.submit(run_one, *job, cfg) for job in jobs]
        results = (f.result() for f in cf.as_completed(futures))
    try:
        with runs_path.open("a") as fh:
            for k, r in enumerate(results):
                fh.write(json.dumps(r) + "\n")
                fh.flush()
                print(f"[{k + 1:3d}/{len(jobs)}] #{r['setting']:3d} {r['method']:10s} lr {r['lr']:.2e} batch "
                      f"{r['batch_size']:3d} iters {r['iterations']:4d}: modes {r['modes']} escaped {r['escaped']} "
                      f"{r['seconds']:6.1f} s {r['status']}", flush=True)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    wall = time.perf_counter() - t_start
    with (out / "wall_times.jsonl").open("a") as fh:
        fh.write(json.dumps(dict(runs=len(jobs), wall_s=wall, workers=args.workers)) + "\n")
    print(f"wall time {wall:.0f} s (this invocation)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
