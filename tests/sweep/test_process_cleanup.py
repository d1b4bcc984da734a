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


def _start_sweep(folder: Path, workers=2):
    pid_dir = folder / "pids"
    pid_dir.mkdir(parents=True)
    cfg = folder / "sleep.json"
    cfg.write_text(json.dumps({"name": "sleep", "jobs": ["test_sleep"], "dataset": "ring5", "iterations": 1,
                               "seeds": [0, 1, 2, 3], "params": {"seconds": 120, "pid_dir": str(pid_dir)}}))
    env = dict(os.environ, DUALGAN_JOB_MODULES="tests.sweep.killer_jobs", PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "dualgan", "sweep", str(cfg), "--workers", str(workers),
                             "--out", str(folder / "out"), "--no-progress"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _wait_for_workers(drivers: dict, folders: dict, workers=2, seconds=120.0):
    """Wait until every driver's workers are all inside a run (each wrote its pid); returns their pids."""
    deadline = time.monotonic() + seconds
    while True:
        pids = {how: [int(p.read_text() or 0) for p in (folders[how] / "pids").iterdir()] for how in drivers}
        if all(len(v) >= workers and all(v) for v in pids.values()):
            return pids
        dead = [how for how, d in drivers.items() if d.poll() is not None]
        if dead or time.monotonic() > deadline:
            for d in drivers.values():
                d.kill()
            pytest.fail(f"the sweeps did not start their runs (ended: {dead}): "
                        + " ".join(d.communicate()[1].decode()[-500:] for d in drivers.values()))
        time.sleep(0.2)


def _wait_until_none_left(sid, seconds=10.0):
    deadline = time.monotonic() + seconds
    left = _session_processes(sid)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = _session_processes(sid)
    return left


def test_no_process_of_a_sweep_is_alive_10_s_after_its_driver_is_killed(tmp_path):
    """Three sweeps of two workers each, started together; one driver gets SIGTERM, one SIGKILL, one Ctrl-C."""
    hows = ("SIGTERM", "SIGKILL", "Ctrl-C")
    folders = {how: tmp_path / how for how in hows}
    drivers = {how: _start_sweep(folders[how]) for how in hows}
    workers = _wait_for_workers(drivers, folders)
    for how, driver in drivers.items():
        sid = driver.pid  # start_new_session: the driver leads its own session, which its children join
        alive = set(_session_processes(sid))
        assert set(workers[how]) <= alive and len(alive) >= 3  # driver, two workers (and the resource tracker)
    for how, driver in drivers.items():
        if how == "Ctrl-C":
            os.killpg(driver.pid, signal.SIGINT)  # what a terminal does: SIGINT to the whole foreground group
        else:
            os.kill(driver.pid, getattr(signal, how))
    t0 = time.monotonic()
    errors = {}
    for how, driver in drivers.items():
        try:
            errors[how] = driver.communicate(timeout=max(1.0, 30 - (time.monotonic() - t0)))[1].decode()
        except subprocess.TimeoutExpired:
            os.killpg(driver.pid, signal.SIGKILL)
            pytest.fail(f"the driver did not end after {how}")
    left = {how: _wait_until_none_left(d.pid, max(0.0, 10.0 - (time.monotonic() - t0))) for how, d in drivers.items()}
    for how, pids in left.items():
        if pids:
            os.killpg(drivers[how].pid, signal.SIGKILL)
    assert all(not pids for pids in left.values()), f"alive 10 s after the signal: {left}"
    assert drivers["SIGKILL"].returncode == -signal.SIGKILL
    for how, (code, line) in {"SIGTERM": (143, "terminated (SIGTERM)"), "Ctrl-C": (130, "interrupted (Ctrl-C)")}.items():
        assert drivers[how].returncode == code, errors[how]
        assert "Traceback" not in errors[how] and line in errors[how], errors[how]


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
