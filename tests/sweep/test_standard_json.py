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
