"""The library's sweep jobs train through ``Trainer.fit``, the library's one loop (issue 25): each job builds a
trainer, calls ``fit`` once with the run's iterations and reports what that loop recorded, with no loop of its own."""
import inspect
import math

import pytest

from dualgan.sweep import JOBS
from dualgan.train.base import Trainer

LIBRARY_JOBS = [name for name in JOBS.names() if JOBS.get(name).__module__ == "dualgan.sweep.jobs"]
SMALL = {"batch_size": 16, "anchors": 10, "hidden": 4, "eval_samples": 50}


def test_the_library_registers_its_three_jobs():
    assert set(LIBRARY_JOBS) >= {"dual_gan", "standard_gan", "trust_region_gan"}


@pytest.mark.parametrize("job", LIBRARY_JOBS)
def test_a_job_trains_with_one_call_of_trainer_fit_and_reports_its_history(job, monkeypatch):
    fits = []
    fit = Trainer.fit

    def recording_fit(self, data, iterations, **kwargs):
        history = fit(self, data, iterations, **kwargs)
        fits.append((self, iterations, history))
        return history

    monkeypatch.setattr(Trainer, "fit", recording_fit)
    fn = JOBS.get(job)
    kwargs = {k: v for k, v in SMALL.items() if k in inspect.signature(fn).parameters}
    result = fn(dataset="ring5", iterations=3, seed=0, **kwargs)
    assert len(fits) == 1, f"{job} called Trainer.fit {len(fits)} times"
    trainer, iterations, history = fits[0]
    assert iterations == 3 and trainer.iteration == 3
    # the job's status and final objective are the ones the loop recorded, not its own
    assert result.status is trainer.status and result.status.success, result.status
    expected = float(history["objective"][-1])
    assert math.isfinite(expected) and result.metrics["final_objective"] == expected
