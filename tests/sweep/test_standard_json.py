"""A sweep's results lines are standard JSON and read back exactly, infinities included (issue 24, section 5)."""
import json
import math

from dualgan.status import Status, StatusCode
from dualgan.sweep import ResultsStore, RunConfig, RunRecord


def test_infinite_and_nan_metrics_are_standard_json_and_read_back_exactly(tmp_path):
    config = RunConfig(job="standard_gan", dataset="ring5", iterations=1, seed=0)
    metrics = {"fid": math.inf, "low": -math.inf, "missing": math.nan, "x": 1.5, "tiny": 5e-324}
    record = RunRecord(config.run_id, config, metrics, math.inf, Status(StatusCode.NON_FINITE, "diverged"))
    line = record.to_json()

    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    raw = json.loads(line, parse_constant=refuse)  # strict: no NaN / Infinity tokens
    assert raw["metrics"] == {"fid": "inf", "low": "-inf", "missing": None, "x": 1.5, "tiny": 5e-324}
    back = RunRecord.from_json(line)
    assert back.metrics["fid"] == math.inf and back.metrics["low"] == -math.inf and math.isnan(back.metrics["missing"])
    assert back.metrics["x"] == 1.5 and back.metrics["tiny"] == 5e-324 and back.seconds == math.inf
    store = ResultsStore(tmp_path / "r.jsonl")
    store.append(record)
    assert store.records()[0].metrics["fid"] == math.inf


def test_run_sweep_refuses_an_out_dir_that_is_a_file_naming_it(tmp_path):
    import pytest

    from dualgan.sweep import Sweep, run_sweep

    sweep = Sweep.from_dict({"name": "k", "jobs": ["standard_gan"], "dataset": "ring5", "iterations": 1,
                             "seeds": [0]})
    taken = tmp_path / "taken"
    taken.write_text("x")
    for out in (taken, taken / "sub"):
        with pytest.raises(ValueError, match=f"out_dir '{out}'"):
            run_sweep(sweep, out)


def test_an_append_on_a_full_disk_is_an_oserror_naming_the_results_file(tmp_path):
    import errno
    import resource
    import signal

    import pytest

    config = RunConfig(job="standard_gan", dataset="ring5", iterations=1, seed=0)
    store = ResultsStore(tmp_path / "r.jsonl")
    store.append(RunRecord(config.run_id, config, {"x": 1.0}))
    size = store.path.stat().st_size
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 5, old[1]))  # room for 5 more bytes, as on a full disk
    try:
        with pytest.raises(OSError) as info:
            store.append(RunRecord(config.run_id, config, {"x": 2.0}))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert info.value.errno == errno.EFBIG and info.value.filename == str(store.path)
    records = store.records()  # the cut line is skipped (with a warning), the first record intact
    assert [r.metrics["x"] for r in records] == [1.0]
