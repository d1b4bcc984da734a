"""Logs researchers read: every trainer's History to TensorBoard (read back with tensorboard's own
event reader) and to a pandas DataFrame, with the History's column names and values."""
import math
import os
import sys

import numpy as np
import pytest
import torch
from torch import nn

from dualgan.data import ring
from dualgan.features import RBF
from dualgan.train import DualLinearGAN, History, StandardLinearGAN, TensorBoardCallback, mlp_generator, write_history
from dualgan.trust_region import TrustRegionGAN

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DATA = ring(5, radius=2.0, std=0.1)


def _need(module, extra):
    """An optional extra's module; CI installs the extras, so there a missing one fails instead of skipping."""
    if IN_CI:
        import importlib

        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"{module} is not installed (optional extra: "
                                              f"pip install 'dualgan[{extra}]'); run in CI, where it is")


def _event_accumulator():
    return _need("tensorboard.backend.event_processing.event_accumulator", "tensorboard").EventAccumulator


def _read_scalars(log_dir):
    EventAccumulator = _event_accumulator()
    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})  # 0: keep every event
    acc.Reload()
    return {tag: acc.Scalars(tag) for tag in acc.Tags()["scalars"]}


def _assert_matches_history(scalars, history, prefix=""):
    """Every finite History entry is one scalar event: tag = column, step = iteration, value = float32(value)."""
    steps = history.iterations().astype(int)
    expected_tags = set()
    for name in history.columns:
        if name == "iteration":
            continue
        values = history.column(name)
        finite = np.isfinite(values)
        if not finite.any():
            assert prefix + name not in scalars
            continue
        expected_tags.add(prefix + name)
        events = scalars[prefix + name]
        assert [e.step for e in events] == steps[finite].tolist(), name
        # TensorBoard stores scalars as float32: the History's float64 value rounded once
        np.testing.assert_array_equal(np.array([e.value for e in events], dtype=np.float32),
                                      values[finite].astype(np.float32), err_msg=name)
    assert set(scalars) == expected_tags


def _linear(kind):
    gen = mlp_generator(seed=0, output_gain=25.0, dtype=torch.float64)
    feats = RBF(DATA.sample(30, generator=torch.Generator().manual_seed(1), dtype=torch.float64), sigma=0.2)
    cls = DualLinearGAN if kind == "dual" else StandardLinearGAN
    return cls(gen, feats, C=1e-3, latent_dim=2, batch_size=20, mode="fixed", generator_lr=1e-2, seed=0)


def _trust_region():
    torch.manual_seed(0)
    gen = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2)).to(torch.float64)
    torch.manual_seed(1)
    disc = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1)).to(torch.float64)
    return TrustRegionGAN(gen, disc, latent_dim=4, batch_size=16, model="score", C=1e-3, radius=0.5, seed=0)


@pytest.mark.parametrize("kind", ["dual", "standard", "trust_region"])
def test_callback_writes_every_history_row_of_every_trainer(tmp_path, kind):
    _event_accumulator()  # skip early (outside CI) when tensorboard is missing
    log_dir = tmp_path / kind
    calls = []
    with TensorBoardCallback(log_dir) as tb:
        def callback(trainer, iteration):
            calls.append(iteration)
            tb(trainer, iteration)

        trainer = _trust_region() if kind == "trust_region" else _linear(kind)
        history = trainer.fit(DATA, iterations=5, callbacks=[callback])
    assert calls == [1, 2, 3, 4, 5] and len(history) == 5
    scalars = _read_scalars(log_dir)
    _assert_matches_history(scalars, history)
    # the trainers' own columns arrive under their History names
    own = {"dual": ("objective", "inner_gap", "lambda_mean", "inner_iterations"),
           "standard": ("objective", "discriminator_loss", "w_norm"),
           "trust_region": ("objective", "rho", "radius_after", "predicted_decrease")}[kind]
    assert set(own) <= set(scalars)


def test_write_history_of_a_loaded_history_and_nan_entries(tmp_path):
    _need("tensorboard", "tensorboard")   # write_history needs it: skip (outside CI) before writing anything
    h = History(meta={"trainer": "hand-made", "C": 0.5})
    h.append(iteration=10, objective=1.0)
    h.append(iteration=11, objective=1.25, gap=1e-12)      # gap appears late: NaN in row 0
    h.append(iteration=12, objective=math.nan, gap=3e-13)  # a row without an objective
    h.save(tmp_path / "h.json")
    loaded = History.load(tmp_path / "h.json")
    write_history(loaded, tmp_path / "tb", prefix="run0/")
    scalars = _read_scalars(tmp_path / "tb")
    assert sorted(scalars) == ["run0/gap", "run0/objective"]
    assert [(e.step, e.value) for e in scalars["run0/objective"]] == [(10, 1.0), (11, 1.25)]
    assert [e.step for e in scalars["run0/gap"]] == [11, 12]
    np.testing.assert_array_equal([e.value for e in scalars["run0/gap"]], np.float32([1e-12, 3e-13]))
    _assert_matches_history(scalars, loaded, prefix="run0/")


def test_to_dataframe_has_the_history_columns_and_values():
    pd = _need("pandas", "pandas")
    h = History(meta={"trainer": "hand-made"})
    h.append(iteration=0, objective=1.0)
    h.append(iteration=1, objective=2.5, rho=0.75)
    frame = h.to_dataframe()
    expected = pd.DataFrame({"iteration": [0.0, 1.0], "objective": [1.0, 2.5], "rho": [math.nan, 0.75]})
    pd.testing.assert_frame_equal(frame, expected)
    assert frame.attrs["meta"] == {"trainer": "hand-made"}
    assert list(History().to_dataframe().columns) == []


def test_to_dataframe_of_a_trainer_history():
    _need("pandas", "pandas")
    history = _linear("dual").fit(DATA, iterations=3)
    frame = history.to_dataframe()
    assert list(frame.columns) == list(history.columns) and len(frame) == 3
    for name in history.columns:
        np.testing.assert_array_equal(frame[name].to_numpy(), history.column(name))


def test_missing_packages_name_the_extras(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # `import` raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'dualgan\[tensorboard\]'"):
        TensorBoardCallback(tmp_path)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"pip install 'dualgan\[pandas\]'"):
        History().to_dataframe()


def test_bad_arguments_are_named(tmp_path):
    _event_accumulator()
    with pytest.raises(ValueError, match="flush_every"):
        TensorBoardCallback(tmp_path, flush_every=0)
    with pytest.raises(ValueError, match="prefix"):
        TensorBoardCallback(tmp_path, prefix=3)
    with TensorBoardCallback(tmp_path) as tb, pytest.raises(ValueError, match="History"):
        tb(object(), 1)
    with pytest.raises(ValueError, match="history must be"):
        write_history({"objective": [1.0]}, tmp_path)
    with pytest.raises(TypeError, match="callbacks must be a sequence of callables"):
        _trust_region().fit(DATA, iterations=1, callbacks="tb")
    with pytest.raises(TypeError, match="callbacks=\\[cb\\]"):
        _trust_region().fit(DATA, iterations=1, callbacks=tb)
