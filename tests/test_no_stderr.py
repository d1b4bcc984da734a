"""Progress bars where there is no stderr (``sys.stderr`` None: pythonw, a daemon): every bar of the library is
:func:`dualgan._io.progress_bar`, which draws nothing there instead of failing (issue 24, section 6)."""
import re
import sys
from pathlib import Path

import pytest

from dualgan._io import progress_bar

PACKAGE = Path(__file__).resolve().parents[1] / "dualgan"


def test_no_module_builds_a_tqdm_bar_of_its_own():
    offenders = [f"{p.relative_to(PACKAGE.parent)}:{n}" for p in PACKAGE.rglob("*.py") if p.name != "_io.py"
                 for n, line in enumerate(p.read_text().splitlines(), 1) if re.search(r"\btqdm\(", line)]
    assert offenders == [], "use dualgan._io.progress_bar: " + ", ".join(offenders)


def test_progress_bar_without_stderr_is_a_silent_bar(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stderr", None)
    bar = progress_bar(total=3, desc="x")
    bar.update(2)
    bar.set_postfix(a=1)
    bar.close()
    assert list(progress_bar(range(4))) == [0, 1, 2, 3]
    monkeypatch.undo()
    assert capsys.readouterr().err == ""


def test_a_sweep_and_a_game_run_with_progress_and_no_stderr(tmp_path, monkeypatch):
    from dualgan.games import BilinearGame, make_optimizer, random_matrix, run_optimizer
    from dualgan.sweep import Sweep, run_sweep

    import tests.sweep.killer_jobs  # noqa: F401  (registers test_kill_worker)

    sweep = Sweep.from_dict({"name": "k", "jobs": ["test_kill_worker"], "dataset": "ring5", "iterations": 1,
                             "seeds": [0, 1]})
    monkeypatch.setattr(sys, "stderr", None)
    result = run_sweep(sweep, tmp_path, progress=True)
    game = BilinearGame(random_matrix(3, seed=0, singular_values=(0.5, 1.5)), seed=1)
    run = run_optimizer(game, make_optimizer("simultaneous", lr=0.1), 5, progress=True)
    monkeypatch.undo()
    assert result.ran == 2 and all(r.ok for r in result.records)
    assert run.status.success and run.steps == 5
