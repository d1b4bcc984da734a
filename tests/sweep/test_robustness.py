"""Sweeps survive their workers and their results files: a SIGKILLed worker, corrupt lines, bad values."""
import json
import math
import warnings

import pytest

from dualgan.cli import main
from dualgan.status import Status
from dualgan.sweep import ResultsStore, Sweep, run_sweep
from dualgan.sweep.backends import JOB_MODULES_ENV, WORKER_DIED
from dualgan.sweep.spec import MAX_RUNS

import tests.sweep.killer_jobs  # noqa: F401  (registers test_kill_worker here too)


def _spec(**over):
    spec = {"name": "k", "jobs": ["test_kill_worker"], "dataset": "ring5", "iterations": 1,
            "seeds": [0, 1, 2, 3, 4, 5], "params": {"victim": 3}}
    spec.update(over)
    return spec


def test_sigkilled_worker_is_recorded_and_every_other_run_finishes(tmp_path, monkeypatch):
    monkeypatch.setenv(JOB_MODULES_ENV, "tests.sweep.killer_jobs")
    sweep = Sweep.from_dict(_spec())
    result = run_sweep(sweep, tmp_path, workers=2)
    by_seed = {r.config.seed: r for r in result.records}
    assert sorted(by_seed) == [0, 1, 2, 3, 4, 5] and result.complete
    assert by_seed[3].status == WORKER_DIED and by_seed[3].errored
    assert all(by_seed[s].ok and by_seed[s].metrics == {"seed": float(s)} for s in (0, 1, 2, 4, 5))
    # recorded in the file: a resume runs nothing (the crash does not abort every resume)
    again = run_sweep(sweep, tmp_path, workers=2)
    assert again.ran == 0 and again.skipped == 6
    # and the command line says so with exit code 1
    cfg = tmp_path / "k.json"
    cfg.write_text(json.dumps(_spec()))
    assert main(["sweep", str(cfg), "--out", str(tmp_path), "--no-progress", "--workers", "2"]) == 1


def test_two_victims_in_flight_are_told_apart(tmp_path, monkeypatch):
    """Both runs in flight die with the pool; each is rerun alone and only the real killer is recorded."""
    monkeypatch.setenv(JOB_MODULES_ENV, "tests.sweep.killer_jobs")
    sweep = Sweep.from_dict(_spec(seeds=[0, 1], params={"victim": 0}))
    result = run_sweep(sweep, tmp_path, workers=2)
    status = {r.config.seed: r.status for r in result.records}
    assert status == {0: WORKER_DIED, 1: Status.ok()}


@pytest.mark.parametrize("line", [b"null", b"[1, 2]", b"42", b'"text"', b"\xff\xfe not utf-8 \x80",
                                  b'{"format": "dualgan.RunRecord/1"}'])
def test_corrupt_result_lines_are_skipped_with_a_warning(tmp_path, line, capsys):
    spec = {"name": "c", "jobs": ["standard_gan"], "dataset": "ring5", "iterations": 1, "seeds": [0],
            "params": {"batch_size": 4, "eval_samples": 20}}
    sweep = Sweep.from_dict(spec)
    run_sweep(sweep, tmp_path)
    path = tmp_path / sweep.results_name
    good = path.read_bytes()
    path.write_bytes(line + b"\n" + good)
    with pytest.warns(RuntimeWarning, match="skipping an unreadable line"):
        records = ResultsStore(path).records()
    assert len(records) == 1 and records[0].ok
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert run_sweep(sweep, tmp_path).skipped == 1  # resume works
        cfg = tmp_path / "c.json"
        cfg.write_text(json.dumps(spec))
        assert main(["sweep", str(cfg), "--out", str(tmp_path), "--dry-run"]) == 0  # so does --dry-run
    assert "1 done" in capsys.readouterr().out


@pytest.mark.parametrize("over,fragment", [
    ({"params": {"batch_size": 0}}, "batch_size must be a positive integer, got 0"),
    ({"params": {"generator_lr": "fast"}}, "lr must be a real number"),
    ({"params": {"generator_lr": True}}, "lr must be a real number"),
    ({"params": {"size": "huge"}}, "size must be one of"),
    ({"params": {"beta1": 1.5}}, "beta1"),
    ({"grid": {"generator_lr": [1e-3, -1.0]}}, "lr must be finite and > 0, got -1.0"),
    ({"random": {"batch_size": {"int": [0, 4]}}, "samples": 50}, "batch_size must be a positive integer"),
    ({"samples": MAX_RUNS + 1, "random": {"generator_lr": {"log_uniform": [1e-4, 1e-2]}}}, "more than the limit"),
    ({"iterations": 10 ** 10}, "at most 10**9"),
])
def test_values_that_would_fail_every_run_fail_the_sweep_file(over, fragment):
    spec = {"name": "t", "jobs": ["standard_gan"], "dataset": "ring5", "iterations": 3}
    spec.update(over)
    with pytest.raises(ValueError) as info:
        Sweep.from_dict(spec)
    assert fragment in str(info.value)


def test_run_count_bound_is_checked_before_expanding():
    spec = {"name": "t", "jobs": ["standard_gan"], "dataset": "ring5", "iterations": 3,
            "grid": {"generator_lr": [1e-3 * (1 + k) for k in range(400)], "C": [1e-4 * (1 + k) for k in range(300)]}}
    with pytest.raises(ValueError, match="expands to 120000 runs"):
        Sweep.from_dict(spec)


def test_cli_bad_numbers_are_usage_errors(capsys):
    for argv in (["sweep", "x.toml", "--workers", "0"], ["solve-dual", "--C", "-1"], ["solve-dual", "--n", "0"],
                 ["compare-optimizers", "--game", "bilinear", "--lr", "0"],
                 ["compare-optimizers", "--game", "bilinear", "--steps", "0"],
                 ["compare-optimizers", "--game", "bilinear", "--eval-every", "0"],
                 ["demo", "--generator-lr", "nan"], ["demo", "--iterations", "-3"], ["constraints-demo", "--steps", "x"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2, argv
        err = capsys.readouterr().err
        assert "error: argument" in err and "Traceback" not in err, argv


def test_summary_mean_shows_a_nan_metric_instead_of_dropping_it():
    from dualgan.sweep import RunRecord, summarize
    from dualgan.sweep.spec import RunConfig

    recs = [RunRecord(f"r{i}", RunConfig("standard_gan", "ring5", 1, i, ()), {"m": v}, 1.0, Status.ok())
            for i, v in enumerate([1.0, math.nan, 3.0])]
    (row,) = summarize(recs)
    assert math.isnan(row.means["m"]) and row.ok == 3


def test_cli_explicit_values_are_used_not_replaced_by_defaults(tmp_path, capsys):
    """`args.x or default` swallowed small explicit values; now every given value is the one that runs."""
    out = tmp_path / "c.png"
    code = main(["compare-optimizers", "--game", "bilinear", "--size", "3", "--optimizers", "simultaneous",
                 "--seeds", "0", "--steps", "3", "--lr", "0.005", "--eval-every", "1", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "lr 0.005 for 3 steps;" in printed and out.exists()
