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

if "test_sleep" not in JOBS:
    @JOBS.register("test_sleep")
    def sleep(*, dataset: str, iterations: int, seed: int, seconds: float = 60.0, pid_dir: str = "") -> JobResult:
        """Writes its worker's pid to ``pid_dir/<seed>``, then sleeps (a long run, for killing its driver)."""
        import time

        if pid_dir:
            with open(os.path.join(pid_dir, str(seed)), "w") as fh:
                fh.write(str(os.getpid()))
        time.sleep(seconds)
        return JobResult(metrics={"seed": float(seed)})
