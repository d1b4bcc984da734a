"""``dualgan constraints-demo`` runs end to end (a few steps) and writes its figures."""
from dualgan.cli import main


def test_constraints_demo_cli(tmp_path, capsys):
    assert main(["constraints-demo", "--steps", "3", "--batch-size", "32", "--hidden", "8",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("none", "penalty", "aug. Lagrangian", "projection"):
        assert out.count(name) >= 2                     # one row per data set
    assert "data shares: 0.33/0.67" in out
    assert (tmp_path / "constraints_compare.png").stat().st_size > 0
    assert (tmp_path / "constraints_history.png").stat().st_size > 0
