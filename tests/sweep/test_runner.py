"""Running sweeps: resume after a kill, no clobbering between sweeps, jobs against direct training, the CLI."""
import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from dualgan.cli import main
from dualgan.data import ring
from dualgan.features import RBF
from dualgan.metrics import mode_coverage
from dualgan.status import StatusCode
from dualgan.sweep import JOBS, JobResult, ResultsStore, Sweep, format_summary, load_sweep, run_sweep, summarize
from dualgan.sweep.jobs import RING_RADIUS, RING_STD
from dualgan.train import StandardLinearGAN, mlp_generator

RESUME_TOML = """\
name = "resume"
jobs = ["standard_gan"]
dataset = "ring5"
iterations = 40
seeds = [0, 1]
samples = 3
sample_seed = 1
[params]
batch_size = 32
eval_samples = 400
[random]
generator_lr = {log_uniform = [1e-3, 1e-1]}
discriminator_lr = {log_uniform = [1e-3, 1e-1]}
"""


def _metrics(records):
    return {r.run_id: (r.status, r.metrics) for r in records}


@pytest.mark.slow
def test_resume_after_kill_matches_an_uninterrupted_sweep(tmp_path):
    cfg = tmp_path / "resume.toml"
    cfg.write_text(RESUME_TOML)
    sweep = load_sweep(cfg)
    n_runs = len(sweep.configs())
    assert n_runs == 6
    out = tmp_path / "killed"
    results = out / sweep.results_name
    code = (f"import sys; from dualgan.cli import main; "
            f"sys.exit(main(['sweep', {str(cfg)!r}, '--out', {str(out)!r}, '--no-progress']))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        # no wall-clock limit: the loop ends when a result is written or when the (finite) sweep exits
        while not (results.exists() and results.read_bytes().count(b"\n") >= 1):
            assert proc.poll() is None, f"the sweep exited before writing a result: {proc.stderr.read()!r}"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    before = ResultsStore(results).records()
    assert 1 <= len(before) < n_runs, "the kill came after the sweep finished: nothing to resume"
    before_bytes = results.read_bytes()

    resumed = run_sweep(sweep, out, workers=2)  # the pool, resuming
    assert resumed.skipped == len(before) and resumed.ran == n_runs - len(before) and resumed.complete
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    ids = [line["run_id"] for line in lines]
    assert len(ids) == len(set(ids)) == n_runs  # no finished run redone
    assert results.read_bytes().startswith(before_bytes)  # earlier lines untouched

    again = run_sweep(sweep, out)
    assert again.ran == 0 and again.skipped == n_runs

    reference = run_sweep(sweep, tmp_path / "uninterrupted")  # in this process, one run after another
    assert _metrics(resumed.records) == _metrics(reference.records)
    assert [r.run_id for r in resumed.records] == [c.run_id for c in sweep.configs()]


def test_two_sweeps_in_one_directory_keep_separate_files(tmp_path):
    base = {"jobs": ["standard_gan"], "dataset": "ring5", "iterations": 2, "params": {"batch_size": 8,
                                                                                       "eval_samples": 50}}
    a = Sweep.from_dict({**base, "name": "a", "grid": {"generator_lr": [1e-3, 1e-2]}})
    b_same_name = Sweep.from_dict({**base, "name": "a", "grid": {"generator_lr": [1e-3, 3e-2]}})  # shares one run with a
    ra = run_sweep(a, tmp_path)
    a_bytes = ra.path.read_bytes()
    rb = run_sweep(b_same_name, tmp_path)
    assert ra.path != rb.path and ra.path.parent == rb.path.parent
    assert rb.ran == 2  # its own file: nothing borrowed from a
    assert ra.path.read_bytes() == a_bytes
    assert {r.run_id for r in ResultsStore(ra.path).records()} == {c.run_id for c in a.configs()}
    assert {r.run_id for r in ResultsStore(rb.path).records()} == {c.run_id for c in b_same_name.configs()}
    shared = set(c.run_id for c in a.configs()) & set(c.run_id for c in b_same_name.configs())
    assert len(shared) == 1
    (sid,) = shared
    assert _metrics(ra.records)[sid] == _metrics(rb.records)[sid]  # the same configuration, the same numbers
    assert sorted(p.name for p in tmp_path.glob("*.sweep.json")) == sorted(
        [ra.path.stem + ".sweep.json", rb.path.stem + ".sweep.json"])


def test_standard_gan_job_matches_direct_training():
    kwargs = dict(batch_size=16, generator_lr=3e-3, beta1=0.6, discriminator_lr=2e-2, eval_samples=300)
    got = JOBS.get("standard_gan")(dataset="ring5", iterations=15, seed=2, **kwargs)
    data = ring(5, radius=RING_RADIUS, std=RING_STD)
    anchors = data.sample(100, generator=torch.Generator().manual_seed(1002), dtype=torch.float64)
    gan = StandardLinearGAN(mlp_generator(seed=2, output_gain=3.0, dtype=torch.float64), RBF(anchors, sigma=0.2),
                            C=1e-4, latent_dim=2, batch_size=16, generator_lr=3e-3, beta1=0.6, discriminator_lr=2e-2,
                            seed=2)
    hist = gan.fit(data, 15)
    cov = mode_coverage(gan.sample(300, seed=9), data.centers, data.std)
    assert got.status == gan.status and got.status.code is StatusCode.SUCCESS
    assert got.metrics == {"modes_covered": cov.modes_covered, "all_covered": float(cov.modes_covered == 5),
                           "high_quality_fraction": cov.high_quality_fraction,
                           "final_objective": float(hist["objective"][-1])}


_FLAKY_CALLS = []


def _flaky(*, dataset, iterations, seed, fail: bool = True):
    _FLAKY_CALLS.append(seed)
    if fail:
        raise RuntimeError("boom")
    return JobResult({"x": float(seed)})


def test_errors_are_recorded_and_retried_on_request(tmp_path):
    if "test_flaky" not in JOBS:
        JOBS.register("test_flaky", _flaky)
    calls = _FLAKY_CALLS
    calls.clear()
    sweep = Sweep.from_dict({"name": "f", "jobs": ["test_flaky"], "dataset": "ring5", "iterations": 1,
                             "seeds": [0, 1]})
    first = run_sweep(sweep, tmp_path)
    assert [r.status.code for r in first.records] == [StatusCode.ERROR] * 2
    assert [r.status.message.split(" (")[0] for r in first.records] == ["RuntimeError: boom"] * 2
    assert all(r.errored and not r.ok for r in first.records)
    back = ResultsStore(first.path).records()  # the status survives the JSONL round trip
    assert [r.status for r in back] == [r.status for r in first.records]
    assert run_sweep(sweep, tmp_path).ran == 0 and len(calls) == 2  # recorded errors are results by default
    assert run_sweep(sweep, tmp_path, retry_errors=True).ran == 2 and len(calls) == 4
    rows = summarize(first.records)
    assert (rows[0].runs, rows[0].ok) == (2, 0) and math.isfinite(rows[0].mean_seconds)


def test_summary_means_against_numpy(tmp_path):
    sweep = Sweep.from_dict({"name": "s", "jobs": ["standard_gan"], "dataset": ["ring5", "ring8"], "iterations": 3,
                             "seeds": [0, 1, 2], "params": {"batch_size": 8, "eval_samples": 80}})
    res = run_sweep(sweep, tmp_path)
    rows = summarize(res.records)
    assert [(r.job, r.dataset, r.runs, r.ok) for r in rows] == [("standard_gan", "ring5", 3, 3),
                                                               ("standard_gan", "ring8", 3, 3)]
    for row in rows:
        mine = [r for r in res.records if r.config.dataset == row.dataset]
        for name in ("modes_covered", "high_quality_fraction", "final_objective"):
            assert row.means[name] == pytest.approx(sum(r.metrics[name] for r in mine) / 3, rel=1e-12)
    table = format_summary(rows)
    assert "ring8" in table and "modes_covered" in table


def test_cli_runs_resumes_and_reports_bad_files(tmp_path, capsys):
    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps({"name": "cli", "jobs": ["standard_gan"], "dataset": "ring5", "iterations": 2,
                               "seeds": [0, 1], "params": {"batch_size": 8, "eval_samples": 50}}))
    assert main(["sweep", str(cfg), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "ran 2, skipped 0" in out and "standard_gan" in out and "modes_covered" in out
    assert main(["sweep", str(cfg), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    assert "ran 0, skipped 2" in capsys.readouterr().out
    assert main(["sweep", str(cfg), "--out", str(tmp_path / "o"), "--dry-run"]) == 0
    assert capsys.readouterr().out.count(" done ") == 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "b", "jobs": ["nope"], "dataset": "ring5", "iterations": 1}))
    assert main(["sweep", str(bad)]) == 2  # a usage error, not a traceback
    assert "unknown job 'nope'" in capsys.readouterr().err
