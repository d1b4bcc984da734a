"""Per-iteration time and peak memory at 28x28: Adam, cost- and score-linearisation steps, dual vs standard linear GAN.

Setting: 28x28x1 images (scikit-learn's digits resampled, ``dualgan.data.load_digits(image_size=28)``),
the DCGAN-style discriminator of ``dualgan.models.dcgan_discriminator`` at three widths
(34,721, 138,049 and 468,481 parameters), batches of B real + B generated samples, float32, CPU
(or ``--device cuda``), the library's defaults otherwise (no environment variable is set here).

Rows (each timed on its own copy of the models, same initial weights):

* ``adam``: one Adam step of the discriminator on the cost of eq. (2.1) (the baseline), run under
  the library's thread policy (``dualgan._threads.thread_policy``) as ``TrustRegionGAN(model="adam")``
  runs it, so that its ``default`` setting is the library's as for every other row;
* ``cost``, ``score``: one trust-region step, ``TrustRegionDiscriminator(model=...)``, C = 1e-4,
  radius 1e-2, fixed radius, one solve per step (``max_attempts=1``);
* ``dual:cnn`` / ``standard:cnn``: one minibatch iteration of ``DualLinearGAN`` /
  ``StandardLinearGAN`` with ``RandomCNNFeatures(channels=(16, 32))`` (d = 18,816), the
  generator ``dcgan_generator()`` and batch B; ``dual:disc`` / ``standard:disc``: the same with
  the discriminator's own features (``disc.features``, frozen, d = h1 + h2).
  Their time is the trainer's own ``seconds`` column (one iteration per call of ``fit``).

Time: one process per (size, batch, load); in each round every thread setting is applied in
turn (without the busy process only the defaults, unless ``--quiet-settings`` names more) and
every row runs once under it (interleaved, so that load changes hit all rows alike);
after one warm-up round, the table gives the median time over rounds and the median over rounds of
the per-round ratio to the ``adam`` row (TR rows) or to the matching standard-GAN row (dual rows).
Thread settings: ``default`` (nothing set: whatever the library's thread policy chooses),
``1`` and ``2`` (``torch.set_num_threads(n)`` and ``threadpoolctl.threadpool_limits(n)``, a
user's explicit choice; torch's count is restored after each). ``default/best`` is the default
time over the best explicit setting's time (median of per-round ratios).

Memory: one fresh process per row (CPU: the rise of the peak resident set size,
``resource.getrusage(RUSAGE_SELF).ru_maxrss``, over the resident set just before the first step
or iteration, so one-time allocations such as Adam's state count; tracemalloc does not see
torch's allocator. CUDA: ``torch.cuda.max_memory_allocated`` over the allocated bytes before).

Load: ``--busy`` adds one competing process spinning on a core for the whole measurement
(``--busy both``, the default, measures without and with it).

    python benchmarks/image_scale.py                 # full table (about 10 minutes on 2 cores)
    python benchmarks/image_scale.py --quick         # 138k parameters, batch 128, 5 rounds
    python benchmarks/image_scale.py --device cuda   # on a GPU (timings synchronised)
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

# discriminator widths: name -> (channels, hidden); parameter counts from dcgan_discriminator
SIZES = {"30k": ((16, 32, 32), (64, 32)), "138k": ((32, 64, 64), (128, 64)), "470k": ((64, 128, 128), (192, 128))}
TR_ROWS = ("adam", "cost", "score")
GAN_ROWS = ("dual:cnn", "standard:cnn", "dual:disc", "standard:disc")
ROWS = TR_ROWS + GAN_ROWS
THREAD_SETTINGS = ("default", "1", "2")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize()


class Row:
    """One measured operation: ``run()`` does one step or iteration and returns its seconds and a note."""

    def __init__(self, name: str, size: str, batch: int, device: str):
        from dualgan.data import load_digits
        from dualgan.models import dcgan_discriminator, dcgan_generator

        self.name, self.device = name, device
        self.sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
        channels, hidden = SIZES[size]
        disc = dcgan_discriminator(channels=channels, hidden=hidden, seed=0, device=device)
        self.n_params = sum(p.numel() for p in disc.parameters())
        images = load_digits(image_size=28, device=device)[0]
        g = torch.Generator().manual_seed(1)
        idx = torch.randperm(images.shape[0], generator=g)
        real = images[idx[:batch]]
        with torch.no_grad():
            fake = dcgan_generator(seed=1, device=device)(torch.randn(batch, 32, generator=g).to(device))
        self.note = ""
        if name in TR_ROWS:
            self._tr(disc, real, fake)
        else:
            self._gan(name, disc, images, batch)

    def _tr(self, disc, real, fake):
        from dualgan._threads import thread_policy
        from dualgan.trust_region import TrustRegionDiscriminator, discriminator_cost

        model = "cost" if self.name == "adam" else self.name
        tr = TrustRegionDiscriminator(disc, model=model, C=1e-4, radius=1e-2, policy="fixed", max_attempts=1)

        def warm():  # no graph kept: the step's own graph is part of its peak (as for Adam's)
            with torch.no_grad():
                disc(torch.cat([real, fake]))

        self.warm = warm
        if self.name == "adam":
            opt = torch.optim.Adam(disc.parameters(), lr=1e-4)
            x, y, a = tr.batch(real, fake)

            def step():
                with thread_policy():   # the policy TrustRegionGAN(model="adam").fit runs its steps under
                    opt.zero_grad(set_to_none=True)
                    params = list(disc.parameters())
                    cost = discriminator_cost(disc(x).reshape(-1), y, a, 1e-4,
                                              sum((p.double() ** 2).sum() for p in params))
                    cost.backward()
                    opt.step()
                return ""
        else:
            def step():
                rec = tr.step(real, fake)
                inner = rec.inner
                return (f"{rec.linearization}; inner {1e3 * inner.seconds:.0f} ms" if inner is not None
                        else str(rec.linearization or ""))
        self.step = step

    def _gan(self, name, disc, images, batch):
        from dualgan.features import RandomCNNFeatures
        from dualgan.models import dcgan_generator
        from dualgan.train import DualLinearGAN, StandardLinearGAN

        kind, feat = name.split(":")
        if feat == "cnn":
            features = RandomCNNFeatures(channels=(16, 32)).to(self.device)
        else:
            features = copy.deepcopy(disc.features)
            for p in features.parameters():
                p.requires_grad_(False)
        common = dict(latent_dim=32, batch_size=batch, mode="minibatch", generator_lr=1e-3, seed=0, C=1e-4)
        gen = dcgan_generator(seed=0, device=self.device)
        trainer = (DualLinearGAN(gen, features, **common) if kind == "dual" else
                   StandardLinearGAN(gen, features, discriminator_lr=1e-2, **common))
        self.trainer, self.images = trainer, images

        def warm():
            with torch.no_grad():
                features(gen(torch.randn(batch, 32, device=self.device)))

        self.warm = warm

        def step():
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                hist = trainer.fit(images, trainer.iteration + 1)
            if not trainer.status.ok:
                return f"status {trainer.status}"
            if "inner_gap" in hist:
                return f"max gap {float(hist['inner_gap'].max()):.1e}"
            return ""
        self.step = step

    def run(self) -> tuple[float, str]:
        t0 = time.perf_counter()
        note = self.step()
        self.sync()
        seconds = time.perf_counter() - t0
        if self.name in GAN_ROWS:  # the trainer's own per-iteration time (no fit-call overhead)
            s = self.trainer.history["seconds"]
            seconds = float(s[-1] - s[-2]) if len(s) > 1 else float(s[-1])
        return seconds, note


class _threads:
    """Apply a thread setting: 'default' touches nothing; 'n' sets torch's count and BLAS pools (restored after)."""

    def __init__(self, setting: str):
        self.setting = setting

    def __enter__(self):
        if self.setting != "default":
            from threadpoolctl import threadpool_limits

            self.torch_before = torch.get_num_threads()
            torch.set_num_threads(int(self.setting))
            self.limits = threadpool_limits(int(self.setting))
            # and the library's own variable: a count equal to the one at import (2 on two cores) cannot be
            # told from nobody's choice, and the thread policy would set its default inside the entry points
            self.env_before = os.environ.get("DUALGAN_NUM_THREADS")
            os.environ["DUALGAN_NUM_THREADS"] = self.setting
        return self

    def __exit__(self, *exc):
        if self.setting != "default":
            self.limits.restore_original_limits()
            if self.env_before is None:
                os.environ.pop("DUALGAN_NUM_THREADS", None)
            else:
                os.environ["DUALGAN_NUM_THREADS"] = self.env_before
            torch.set_num_threads(self.torch_before)
        return False


def time_worker(size: str, batch: int, rounds: int, device: str, settings: list[str], rows: list[str]) -> dict:
    ops = {name: Row(name, size, batch, device) for name in rows}
    times = {s: {r: [] for r in rows} for s in settings}
    notes = {r: "" for r in rows}
    for rnd in range(rounds + 1):  # round 0: warm-up, not recorded
        for s in settings:
            with _threads(s):
                for r, op in ops.items():
                    sec, note = op.run()
                    if rnd:
                        times[s][r].append(sec)
                        notes[r] = note or notes[r]
    return {"times": times, "notes": notes, "n_params": next(iter(ops.values())).n_params}


def memory_worker(size: str, batch: int, device: str, row: str) -> dict:
    op = Row(row, size, batch, device)
    op.warm()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        op.run()
        return {"peak_bytes": torch.cuda.max_memory_allocated() - base}
    base = _rss_bytes()
    op.run()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"peak_bytes": max(peak - base, 0)}


def _sub(args, *worker, settings=None) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--device", args.device, "--rounds", str(args.rounds),
           "--settings", settings or args.settings, "--rows", args.rows, "--worker", *map(str, worker)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"worker {worker} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median_ratio(a, b):
    return statistics.median(x / y for x, y in zip(a, b))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="only 138k parameters, batch 128")
    p.add_argument("--configs", default=None,
                   help="comma-separated size:batch pairs (default 30k:128,138k:64,138k:128,138k:256,470k:128)")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds (median; >= 5 for the docs table)")
    p.add_argument("--busy", choices=("no", "yes", "both"), default="both",
                   help="a competing process spinning on one core: without, with, or both (default)")
    p.add_argument("--settings", default=",".join(THREAD_SETTINGS),
                   help="thread settings interleaved with the busy process (default: default,1,2)")
    p.add_argument("--quiet-settings", default="default",
                   help="thread settings interleaved without it (default: the library's defaults only)")
    p.add_argument("--rows", default=",".join(ROWS), help="rows to measure")
    p.add_argument("--no-memory", action="store_true", help="skip the per-row memory processes")
    p.add_argument("--memory-only", action="store_true", help="only the per-row memory processes")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", default=None, help="also write the raw measurements to this file")
    p.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    settings, rows = args.settings.split(","), args.rows.split(",")
    if args.worker:
        kind, size, batch = args.worker[0], args.worker[1], int(args.worker[2])
        if kind == "time":
            out = time_worker(size, batch, args.rounds, args.device, settings, rows)
        else:
            out = memory_worker(size, batch, args.device, args.worker[3])
        print(json.dumps(out))
        return 0
    configs = args.configs or ("138k:128" if args.quick else "30k:128,138k:64,138k:128,138k:256,470k:128")
    configs = [(c.split(":")[0], int(c.split(":")[1])) for c in configs.split(",")]
    loads = {"no": [False], "yes": [True], "both": [False, True]}[args.busy]
    started = time.perf_counter()
    raw, memory_only = {}, {}
    for size, batch in configs:
        mem = {} if args.no_memory else {r: _sub(args, "memory", size, batch, r)["peak_bytes"] for r in rows}
        memory_only[(size, batch)] = mem
        for busy in ([] if args.memory_only else loads):
            spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
            try:
                raw[(size, batch, busy)] = (_sub(args, "time", size, batch,
                                                 settings=args.settings if busy else args.quiet_settings), mem)
            finally:
                if spinner is not None:
                    spinner.kill()
                    spinner.wait()
    if args.memory_only:
        for (size, batch), mem in memory_only.items():
            for r in rows:
                print(f"{size} B={batch} {r}: peak {mem[r] / 2 ** 20:.1f} MiB")
        return 0
    print(_table(raw, rows, args))
    print(f"\nwall time {time.perf_counter() - started:.0f} s; {os.cpu_count()} CPUs; torch {torch.__version__}; "
          f"device {args.device}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({f"{s}:{b}:{'busy' if busy else 'quiet'}": v for (s, b, busy), v in raw.items()}, fh)
    return 0


def _table(raw, rows, args) -> str:
    ref = {"cost": "adam", "score": "adam", "dual:cnn": "standard:cnn", "dual:disc": "standard:disc"}
    explicit = sorted({s for t, _ in raw.values() for s in t["times"] if s != "default"})
    lines = [f"Batch B real + B generated, float32, device {args.device}; time: median of {args.rounds} interleaved "
             f"rounds with the library's default threads; ratio: median of per-round ratios to the row named "
             f"(both with the defaults; then against that row under its fastest thread setting); "
             f"memory: peak RSS rise of one step/iteration in a fresh process; default/best: default threads' time "
             f"over the best of the explicit settings ({', '.join(explicit)} threads).", "",
             "| params | B | load | row | ms | vs | time ratio | vs its best threads | peak MiB | memory ratio | "
             "default/best | note |",
             "|---:|---:|---|---|---:|---|---:|---:|---:|---:|---:|---|"]
    for (size, batch, busy), (t, mem) in raw.items():
        times = t["times"]
        for r in rows:
            d = times["default"][r] if "default" in times else next(iter(times.values()))[r]
            vs = ref.get(r)
            ratio = f"{_median_ratio(d, times['default'][vs]):.2f}" if vs in rows and "default" in times else "-"
            mr = (f"{mem[r] / max(mem[vs], 1):.2f}" if mem and vs in rows else "-")
            # the row with the defaults against the reference row under its fastest setting (a baseline slowed
            # down by torch's default threads on a loaded machine would flatter the ratio)
            vs_best = "-"
            if vs in rows and len(times) > 1:
                vs_best = f"{max(_median_ratio(d, times[s][vs]) for s in times):.2f}"
            best = "-"
            if "default" in times and any(s in times for s in explicit):
                best = f"{max(_median_ratio(d, times[s][r]) for s in explicit if s in times):.2f}"
            mib = f"{mem[r] / 2 ** 20:.1f}" if mem else "-"
            lines.append(f"| {t['n_params']:,} | {batch} | {'+1 busy' if busy else 'none'} | {r} | "
                         f"{1e3 * statistics.median(d):.1f} | {vs or '-'} | {ratio} | {vs_best} | {mib} | {mr} | "
                         f"{best} | {t['notes'][r]} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
