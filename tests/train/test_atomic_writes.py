"""Fault injection: a writer SIGKILLed at random moments leaves the previous file intact or the new one
complete, never a truncated file (histories as JSON and npz, trainer checkpoints, the raw helper)."""
import os
import random
import signal
import sys
import time

import numpy as np
import pytest
import torch

from dualgan._io import atomic_write_bytes, atomic_write_with
from dualgan.train import History

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "win32",
                                reason="SIGKILL fault injection needs POSIX fork and signals")


def _history(value: float, rows: int = 20000) -> History:
    h = History(meta={"version": value})
    cols = {"iteration": np.arange(rows, dtype=float), "objective": np.full(rows, value),
            "inner_gap": np.linspace(0, value, rows)}
    h._columns = {k: v.tolist() for k, v in cols.items()}
    h._n_rows = rows
    h.add_array("lam", np.full((50, 40), value))
    return h


def _kill_writer_at_random_moments(write_a, write_b, check, rounds=20, seed=0):
    """Fork a child that rewrites the file alternately with A and B until SIGKILLed; check after each kill."""
    rnd = random.Random(seed)
    for _ in range(rounds):
        pid = os.fork()
        if pid == 0:  # child: never returns into pytest
            try:
                while True:
                    write_b()
                    write_a()
            finally:
                os._exit(0)
        time.sleep(rnd.uniform(0.0, 0.25))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        check()


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_history_save_survives_sigkill(tmp_path, suffix):
    path = tmp_path / f"history{suffix}"
    a, b = _history(1.0), _history(2.0)
    a.save(path)
    seen = set()

    def check():
        loaded = History.load(path)  # raises on a truncated or empty file
        assert loaded == a or loaded == b
        seen.add(loaded.meta["version"])

    _kill_writer_at_random_moments(lambda: a.save(path), lambda: b.save(path), check)
    assert seen <= {1.0, 2.0}
    leftovers = [p.name for p in tmp_path.iterdir() if p != path]
    assert all(n.startswith(f".{path.name}.") and ".tmp" in n for n in leftovers), leftovers


def test_checkpoint_write_survives_sigkill(tmp_path):
    path = tmp_path / "ck.pt"
    a = {"w": torch.full((300, 300), 1.0, dtype=torch.float64), "iteration": 1}
    b = {"w": torch.full((300, 300), 2.0, dtype=torch.float64), "iteration": 2}

    def write(payload):
        atomic_write_with(path, lambda tmp: torch.save(payload, tmp))

    write(a)

    def check():
        got = torch.load(path, weights_only=True)
        ref = a if got["iteration"] == 1 else b
        assert torch.equal(got["w"], ref["w"])

    _kill_writer_at_random_moments(lambda: write(a), lambda: write(b), check, seed=1)


def test_failed_writer_leaves_the_previous_file(tmp_path):
    path = tmp_path / "f.bin"
    atomic_write_bytes(path, b"old")

    def broken(tmp):
        with open(tmp, "wb") as fh:
            fh.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write_with(path, broken)
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]
