"""Jobs for the sweep tests, imported by spawned workers through $DUALGAN_JOB_MODULES."""
import os
import signal

from dualgan.sweep.jobs import JOBS, JobResult

if "test_kill_worker" not in JOBS:
    @JOBS.register("test_kill_worker")
    def kill_worker(*, dataset: str, iterations: int, seed: int, victim: int = -1) -> JobResult:
        """Returns at once, except that the run whose seed is ``victim`` SIGKILLs its own worker process
        (what the out-of-memory killer does)."""
        if seed == victim:
            os.kill(os.getpid(), signal.SIGKILL)
        return JobResult(metrics={"seed": float(seed)})
