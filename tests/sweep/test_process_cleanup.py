"""No process of a sweep outlives its driver (issue 24, section 6): a driver killed by SIGTERM or SIGKILL, or
stopped by Ctrl-C, leaves no worker and no resource tracker alive 10 s later; Ctrl-C and SIGTERM are one line
and exit codes 130 / 143; a Ray address where nothing listens fails at once.

The processes are counted from /proc (every process of the driver's session that is not a zombie), not from
what the library reports.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts processes through /proc")]

ROOT = Path(__file__).resolve().parents[2]


def _session_processes(sid: int) -> list[int]:
    """Pids of the live (not zombie) processes of session ``sid``, from /proc/<pid>/stat."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp session ...
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry))
    return pids


def _start_sweep(tmp_path, workers=2):
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    cfg = tmp_path / "sleep.json"
    cfg.write_text(json.dumps({"name": "sleep", "jobs": ["test_sleep"], "dataset": "ring5", "iterations": 1,
                               "seeds": [0, 1, 2, 3], "params": {"seconds": 120, "pid_dir": str(pid_dir)}}))
    env = dict(os.environ, DUALGAN_JOB_MODULES="tests.sweep.killer_jobs", PYTHONPATH=str(ROOT))
    driver = subprocess.Popen([sys.executable, "-m", "dualgan", "sweep", str(cfg), "--workers", str(workers),
                               "--out", str(tmp_path / "out"), "--no-progress"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 90
    while len(list(pid_dir.iterdir())) < workers:  # every worker is inside a run
        if driver.poll() is not None or time.monotonic() > deadline:
            driver.kill()
            out, err = driver.communicate()
            pytest.fail(f"the sweep did not start its runs: {out.decode()} {err.decode()}")
        time.sleep(0.2)
    workers_pids = {int(p.read_text()) for p in pid_dir.iterdir()}
    assert len(workers_pids) == workers and driver.pid not in workers_pids
    return driver, workers_pids


def _wait_until_none_left(sid, seconds=10.0):
    deadline = time.monotonic() + seconds
    left = _session_processes(sid)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = _session_processes(sid)
    return left


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL", "Ctrl-C"])
def test_no_process_of_a_sweep_is_alive_10_s_after_its_driver_is_killed(tmp_path, how):
    driver, workers = _start_sweep(tmp_path)
    sid = driver.pid  # start_new_session: the driver leads its own session, which its children join
    before = set(_session_processes(sid))
    assert workers <= before and len(before) >= 3  # driver, two workers (and the resource tracker)
    if how == "Ctrl-C":
        os.killpg(sid, signal.SIGINT)  # what a terminal does: SIGINT to the whole foreground group
    else:
        os.kill(driver.pid, getattr(signal, how))
    try:
        out, err = driver.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(sid, signal.SIGKILL)
        pytest.fail(f"the driver did not end after {how}")
    left = _wait_until_none_left(sid, 10.0)
    if left:
        os.killpg(sid, signal.SIGKILL)
    assert left == [], f"alive 10 s after {how}: {left}"
    err = err.decode()
    if how == "SIGKILL":
        assert driver.returncode == -signal.SIGKILL
    else:
        code, line = {"SIGTERM": (143, "terminated (SIGTERM)"), "Ctrl-C": (130, "interrupted (Ctrl-C)")}[how]
        assert driver.returncode == code, err
        assert "Traceback" not in err and line in err, err


def test_a_ray_address_where_nothing_listens_fails_at_once(tmp_path, capsys):
    pytest.importorskip("ray")
    from dualgan.cli import main

    with socket.socket() as s:  # a port nothing listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        cfg = tmp_path / "k.json"
        cfg.write_text(json.dumps({"name": "k", "jobs": ["standard_gan"], "dataset": "ring5", "iterations": 1,
                                   "seeds": [0]}))
        code = main(["sweep", str(cfg), "--backend", "ray", "--address", f"127.0.0.1:{port}", "--out",
                     str(tmp_path / "out"), "--no-progress"])  # returns (the input did not in 300 s)
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"cannot reach a Ray cluster at address '127.0.0.1:{port}'" in err and "Traceback" not in err
