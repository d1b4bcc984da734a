"""``dualgan sweep CONFIG``: run a grid/random sweep (JSON or TOML file) and print a summary table.

Results are appended to ``OUT/<name>-<hash>.jsonl`` as runs finish; running
the same command again resumes, skipping the runs already there (docs/sweeps.md).
The exit code is 1 when a run raised an error or lost its worker (the other
runs are still recorded), 2 for a bad sweep file or argument (an ``--out``
that is a file or not writable, an unknown ``--backend``, also with
``--dry-run``; a Ray ``--address`` where nothing listens), 130 after Ctrl-C
and 143 after SIGTERM (the finished runs are recorded and the workers
terminated: the same command resumes), 0 otherwise.
"""
from __future__ import annotations

from ._args import output_folder, positive_int


def register(sub) -> None:
    p = sub.add_parser("sweep", help="run a grid/random search over trainer settings (resumable; local or Ray)")
    p.add_argument("config", help="sweep file (.toml or .json); see docs/sweeps.md")
    p.add_argument("--backend", default="local", help="a name of dualgan.sweep.BACKENDS: local (default) or ray")
    p.add_argument("--workers", type=positive_int, default=1,
                   help="local worker processes, one torch thread each (default 1)")
    p.add_argument("--address", default=None, help="Ray cluster address (with --backend ray; default: start Ray here)")
    p.add_argument("--out", default="sweeps", help="directory of the results files (default ./sweeps)")
    p.add_argument("--retry-errors", action="store_true", help="rerun recorded runs whose job raised")
    p.add_argument("--dry-run", action="store_true", help="list the runs and the results file; run nothing")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys
    from pathlib import Path

    from ..sweep import BACKENDS, ResultsStore, format_summary, load_sweep, run_sweep

    from ..sweep.backends import import_job_modules

    try:
        import_job_modules()  # the jobs of $DUALGAN_JOB_MODULES, which the sweep file may name
        sweep = load_sweep(args.config)
        # checked before anything runs, and the same in a dry run as in a run
        options = {k: v for k, v in (("workers", args.workers), ("address", args.address))
                   if v is not None and not (k == "workers" and v == 1)}
        BACKENDS.check_options(args.backend, options)
        output_folder(args.out, create=not args.dry_run)
    except ValueError as exc:
        print(f"dualgan sweep: error: {exc}", file=sys.stderr)
        return 2
    configs = sweep.configs()
    path = Path(args.out) / sweep.results_name
    if args.dry_run:
        done = ResultsStore(path).latest()
        for c in configs:
            mark = "done" if c.run_id in done else "todo"
            print(f"{c.run_id}  {mark}  {c.job:16s} {c.dataset:8s} it={c.iterations:<6d} seed={c.seed:<4d} "
                  f"{c.kwargs}")
        print(f"{len(configs)} runs, {sum(c.run_id in done for c in configs)} done; results file {path}")
        return 0
    print(f"sweep {sweep.name}: {len(configs)} runs on backend {args.backend}; results in {path}", flush=True)
    try:
        result = run_sweep(sweep, args.out, backend=args.backend, workers=args.workers, address=args.address,
                           progress=not args.no_progress, retry_errors=args.retry_errors)
    except (ValueError, ImportError, ConnectionError) as exc:
        print(f"dualgan sweep: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dualgan sweep: interrupted (Ctrl-C); the finished runs are in {path}: run the same command "
              f"again to resume", file=sys.stderr)
        return 130
    print(f"ran {result.ran}, skipped {result.skipped} already in the results file")
    print(format_summary(result.summary()))
    failed = [r for r in result.records if not r.ok]
    for r in failed[:10]:
        print(f"  {r.run_id} {r.config.job}: {r.status}")
    if len(failed) > 10:
        print(f"  ... and {len(failed) - 10} more runs that did not end ok")
    errored = [r for r in result.records if r.errored]
    if errored:
        # a run that raised (or whose worker died) is a failure of the sweep, not a result
        print(f"dualgan sweep: {len(errored)} run(s) raised an error or lost their worker; rerun with "
              f"--retry-errors after fixing the cause", file=sys.stderr)
        return 1
    return 0
