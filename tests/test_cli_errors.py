"""The command line's answers to bad output paths, huge sizes, closed pipes and Ctrl-C (issue 24, section 6):
a usage error naming the option and the path with exit status 2 before any work, never a traceback."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import dualgan.cli.solve_dual as solve_dual
from dualgan.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _sweep_file(tmp_path, seeds=(0,)):
    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps({"name": "s", "jobs": ["standard_gan"], "dataset": "ring5", "iterations": 1,
                               "seeds": list(seeds)}))
    return str(cfg)


# each command that writes to --out, with the other arguments it needs; "folder" or "file" is what --out is
COMMANDS = {
    "demo": (lambda tmp: ["demo", "--quick", "--no-progress"], "folder"),
    "compare-optimizers": (lambda tmp: ["compare-optimizers", "--game", "dirac", "--steps", "2"], "file"),
    "constraints-demo": (lambda tmp: ["constraints-demo", "--steps", "2"], "folder"),
    "stability-map": (lambda tmp: ["stability-map", "--game", "dirac", "--steps", "2", "--lr", "0.1",
                                   "--gamma", "1"], "folder"),
    "sweep": (lambda tmp: ["sweep", _sweep_file(tmp), "--no-progress"], "folder"),
}


def _run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_out_that_is_a_file_is_a_usage_error(tmp_path, capsys, command):
    args, kind = COMMANDS[command]
    target = tmp_path / "taken"
    if kind == "folder":
        target.write_text("a file where a folder should be")
    else:
        target.mkdir()  # a folder where a file should be
    code, out, err = _run(capsys, args(tmp_path) + ["--out", str(target)])
    assert code == 2 and str(target) in err and "--out" in err, err
    assert ("is a file" in err) if kind == "folder" else ("is a folder" in err)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_out_that_cannot_be_created_is_a_usage_error(tmp_path, capsys, command):
    args, kind = COMMANDS[command]
    blocker = tmp_path / "file"
    blocker.write_text("x")
    target = blocker / "sub" / ("out.png" if kind == "file" else "out")  # under a file: missing, uncreatable
    code, out, err = _run(capsys, args(tmp_path) + ["--out", str(target)])
    assert code == 2 and str(target) in err and "--out" in err, err
    assert not target.exists()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_out_that_is_read_only_is_a_usage_error(tmp_path, capsys, monkeypatch, command):
    args, kind = COMMANDS[command]
    folder = tmp_path / "ro"
    folder.mkdir()
    target = folder / "out.png" if kind == "file" else folder
    real_access = os.access

    def read_only(path, mode, *a, **k):  # what access(2) says of a folder on a read-only mount
        if Path(path) == folder and mode & os.W_OK:
            return False
        return real_access(path, mode, *a, **k)

    monkeypatch.setattr(os, "access", read_only)
    code, out, err = _run(capsys, args(tmp_path) + ["--out", str(target)])
    assert code == 2 and "not writable" in err and str(folder) in err, err


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permission bits")
def test_out_in_a_folder_without_write_permission_is_a_usage_error(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        code, out, err = _run(capsys, ["compare-optimizers", "--game", "dirac", "--out", str(folder / "c.png")])
    finally:
        folder.chmod(0o755)
    assert code == 2 and "not writable" in err


def test_solve_dual_with_a_size_beyond_memory_is_a_usage_error(capsys):
    code, out, err = _run(capsys, ["solve-dual", "--n", "99999999999"])
    assert code == 2 and "--n 99999999999" in err and "GiB" in err, err


def test_dry_run_refuses_a_backend_that_a_run_refuses(tmp_path, capsys):
    cfg = _sweep_file(tmp_path)
    for extra in ([], ["--dry-run"]):
        code, out, err = _run(capsys, ["sweep", cfg, "--backend", "dask", "--out", str(tmp_path / "o")] + extra)
        assert code == 2 and "'dask'" in err, err
    code, out, err = _run(capsys, ["sweep", cfg, "--dry-run", "--out", str(tmp_path / "o")])
    assert code == 0 and "1 runs, 0 done" in out
    assert not (tmp_path / "o").exists()  # a dry run creates nothing


def test_ctrl_c_is_one_line_and_exit_130(capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(solve_dual, "run", interrupted)
    code, out, err = _run(capsys, ["solve-dual"])
    assert code == 130 and err.strip() == "dualgan solve-dual: interrupted (Ctrl-C)"


def test_a_closed_stdout_ends_quietly_with_141(capsys, monkeypatch):
    class ClosedPipe:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    code = main(["solve-dual", "--n", "5", "--m", "5", "--d", "3"])
    monkeypatch.undo()
    assert code == 141 and capsys.readouterr().err == ""


def test_piping_into_head_prints_no_traceback(tmp_path):
    cfg = _sweep_file(tmp_path, seeds=range(1000))  # a dry run of 1000 lines: more than a pipe holds
    proc = subprocess.Popen([sys.executable, "-m", "dualgan", "sweep", cfg, "--dry-run", "--out",
                             str(tmp_path / "o")], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()  # what `| head -1` does after its line
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert b"todo" in first
    assert err == "" and proc.returncode == 141, err


def test_a_full_disk_during_a_sweep_is_one_line_naming_the_file_and_exit_1(tmp_path, capsys):
    import resource
    import signal

    import tests.sweep.killer_jobs  # noqa: F401  (registers test_kill_worker)

    cfg = tmp_path / "k.json"
    cfg.write_text(json.dumps({"name": "k", "jobs": ["test_kill_worker"], "dataset": "ring5", "iterations": 1,
                               "seeds": [0]}))
    out = tmp_path / "out"
    main(["sweep", str(cfg), "--out", str(out), "--dry-run"])
    capsys.readouterr()
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (10, old[1]))  # writes past 10 bytes fail with EFBIG, as on a full disk
    try:
        code = main(["sweep", str(cfg), "--out", str(out), "--no-progress"])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)
        signal.signal(signal.SIGXFSZ, old_handler)
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and str(out) in err and "File too large" in err, err
