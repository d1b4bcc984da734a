"""Smoke test of ``dualgan demo --quick``: runs both trainers, prints the verdict, writes the figures."""
import json

from dualgan.cli import main


def test_demo_quick_writes_figures_and_verdict(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--no-progress", "--out", str(out), "--iterations", "8"]) == 0
    text = capsys.readouterr().out
    assert "monotone-ascent verdict (dual GAN, tol 1e-9): MONOTONE" in text
    assert "modes covered" in text and "ms/iteration" in text
    for name in ("samples.png", "objective.png", "dual_variables.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, name
    hist = json.loads((out / "history_dual.json").read_text())
    assert hist["meta"]["mode"] == "fixed"
