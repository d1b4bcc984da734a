"""A job registered by a user (docs/sweeps.md, "Jobs") that returns something else than the documented
JobResult is recorded as an error that says what a job returns, not as an AttributeError or a float() message."""
import numpy as np
import pytest

from dualgan.status import Status, StatusCode
from dualgan.sweep import JOBS, JobResult, RunConfig, execute_run


@pytest.fixture
def user_job(temporary_entries):
    return lambda name, fn: temporary_entries(JOBS, name, fn)


def _run(job):
    return execute_run(RunConfig(job=job, dataset="ring5", iterations=1, seed=0))


def test_a_job_returning_its_metrics_alone_is_an_error_naming_the_job(user_job):
    user_job("returns_dict", lambda *, dataset, iterations, seed: {"score": 1.0})
    record = _run("returns_dict")
    assert record.status.code is StatusCode.ERROR and record.metrics == {}
    assert record.status.message.startswith("TypeError: job 'returns_dict' returned a dict; a job returns "
                                            "dualgan.sweep.JobResult(metrics={name: number}, status=...)")


def test_a_metric_that_is_not_a_number_is_refused_by_the_result_itself(user_job):
    with pytest.raises(TypeError, match=r"JobResult.metrics\['score'\] must be a real number under a str name, "
                                        r"got 'high' \(str\)"):
        JobResult({"score": "high"})
    with pytest.raises(TypeError, match="JobResult.metrics must be a dict of metric names to numbers, got list"):
        JobResult([("score", 1.0)])
    user_job("string_metric", lambda *, dataset, iterations, seed: JobResult({"score": "high"}))
    record = _run("string_metric")
    assert record.status.code is StatusCode.ERROR and "JobResult.metrics['score'] must be a real number" in \
        record.status.message


def test_numbers_of_any_kind_are_metrics_as_floats(user_job):
    import torch

    user_job("mixed", lambda *, dataset, iterations, seed: JobResult(
        {"a": 1, "b": np.float32(0.5), "c": torch.tensor(0.25, dtype=torch.float64), "d": True},
        Status(StatusCode.SUCCESS, "ok")))
    record = _run("mixed")
    assert record.status.success and record.metrics == {"a": 1.0, "b": 0.5, "c": 0.25, "d": 1.0}
    assert all(type(v) is float for v in record.metrics.values())
