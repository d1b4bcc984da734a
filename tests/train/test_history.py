"""History: column store, monotonicity checks, persistence (no pickle), plotting."""
import json
import math

import numpy as np
import pytest

from dualgan.train import History


def _history(values, **extra):
    h = History(meta={"trainer": "test", "C": 1e-4, "fixed": True})
    for t, v in enumerate(values):
        h.append(iteration=t, objective=v, **{k: col[t] for k, col in extra.items()})
    return h


def test_decreases_match_brute_force(rng):
    values = np.cumsum(rng.normal(0.0, 1.0, 200))
    h = _history(values)
    tol = 0.3
    expected = [t for t in range(1, 200) if values[t - 1] - values[t] > tol]
    found = h.decreases(tol)
    assert [d.iteration for d in found] == expected
    for d in found:
        assert d.drop == pytest.approx(values[d.iteration - 1] - values[d.iteration], abs=0)
    assert h.largest_decrease() == pytest.approx(max(0.0, np.max(values[:-1] - values[1:])))
    assert not h.is_monotone(tol=tol)
    assert h.is_monotone(tol=h.largest_decrease())


def test_monotone_and_tolerance():
    h = _history([0.0, 1.0, 1.0 - 5e-10, 2.0])
    assert h.is_monotone(tol=1e-9)
    assert not h.is_monotone(tol=1e-10)
    assert [d.iteration for d in h.decreases(1e-10)] == [2]


def test_nan_rows_are_skipped_but_all_nan_is_not_monotone():
    h = _history([1.0, math.nan, 0.5])
    assert [d.before for d in h.decreases()] == [1.0]
    assert not _history([math.nan, math.nan]).is_monotone()


def test_new_columns_backfill_with_nan():
    h = History()
    h.append(iteration=0, objective=1.0)
    h.append(iteration=1, objective=2.0, rho=0.8, accepted=1)
    h.append(iteration=2, objective=3.0)
    assert np.isnan(h["rho"][0]) and h["rho"][1] == 0.8 and np.isnan(h["rho"][2])
    assert h.columns == ("iteration", "objective", "rho", "accepted")
    assert len(h) == 3 and h.last("objective") == 3.0


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_save_load_round_trip(tmp_path, rng, suffix):
    h = _history(rng.normal(size=7), inner_gap=rng.uniform(0, 1e-10, 7))
    h.append(iteration=7, objective=math.nan, inner_gap=math.inf)
    h.add_array("lambda_fake@3", rng.uniform(size=(4, 2)))
    path = h.save(tmp_path / f"h{suffix}")
    back = History.load(path)
    assert back == h
    assert back.meta == {"trainer": "test", "C": 1e-4, "fixed": True}
    np.testing.assert_array_equal(back.array("lambda_fake@3"), h.array("lambda_fake@3"))


def test_npz_is_loaded_without_pickle(tmp_path):
    h = _history([1.0, 2.0])
    path = h.save(tmp_path / "h.npz")
    with np.load(path, allow_pickle=False) as data:  # would raise on pickled objects
        assert "col:objective" in data.files


def test_bad_input_names_the_argument(tmp_path):
    h = History()
    with pytest.raises(ValueError, match="objective"):
        h.append(objective="abc")
    with pytest.raises(ValueError, match="meta"):
        h.set_meta("net", object())
    with pytest.raises(ValueError, match=".json or .npz"):
        h.save(tmp_path / "h.pkl")
    with pytest.raises(ValueError, match="no column"):
        h.column("missing")
    with pytest.raises(ValueError, match="tol"):
        h.decreases(-1.0)


def test_plot_objective_writes_png(tmp_path):
    h = _history([0.0, 1.0, 0.5, 2.0], inner_gap=[1e-11, 1e-12, 1e-11, 1e-12])
    fig = h.plot_objective(tmp_path / "obj.png")
    assert (tmp_path / "obj.png").stat().st_size > 1000
    assert len(fig.axes) == 2


# ---------------------------------------------------------------- what users read
def test_plot_accepts_one_column_name_as_a_string():
    """History.plot("objective") iterated over the string's characters ("History has no column 'o'")."""
    import matplotlib

    matplotlib.use("Agg")
    h = History()
    for t in range(4):
        h.append(iteration=t, objective=float(t), inner_gap=1e-12)
    ax = h.plot("objective")
    assert [line.get_label() for line in ax.get_lines()] == ["objective"]
    ax = h.plot(["objective", "inner_gap"], label="run")
    assert [line.get_label() for line in ax.get_lines()] == ["run: objective", "run: inner_gap"]
    with pytest.raises(ValueError, match="no column 'nope'"):
        h.plot("nope")


def test_gap_panel_is_readable_zero_and_negative_gaps_at_machine_epsilon(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    eps = np.finfo(np.float64).eps
    h = History()
    gaps = [3e-11, 0.0, -2e-17, 5e-13, float("nan"), 1e-300]
    for t, g in enumerate(gaps):
        h.append(iteration=t, objective=1.0 + t, inner_gap=g)
    fig = h.plot_objective(tmp_path / "o.png", gap_tol=1e-10)
    ax = fig.axes[1]
    low, high = ax.get_ylim()
    assert low == pytest.approx(eps / 2) and high >= 1e-10  # not 1e-315 .. 1
    drawn = ax.get_lines()[0].get_ydata()
    np.testing.assert_array_equal(drawn[[0, 3]], [3e-11, 5e-13])
    np.testing.assert_array_equal(drawn[[1, 2, 5]], [eps, eps, eps])
    assert np.isnan(drawn[4])  # a NaN gap stays NaN
    assert any("tolerance" in str(line.get_label()) for line in ax.get_lines())
    assert (tmp_path / "o.png").stat().st_size > 0


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_status_round_trips_as_two_json_scalars(tmp_path, suffix):
    """History.status is None until set; a Status is kept as meta status_code/status_message and comes back
    equal through save/load and to_dict/from_dict."""
    from dualgan.status import Status, StatusCode

    h = _history([1.0, 2.0])
    assert h.status is None
    st = Status(StatusCode.NON_FINITE, "non-finite samples at iteration 3")
    h.status = st
    assert h.meta["status_code"] == "non_finite" and h.meta["status_message"] == st.message
    assert "status" not in h.meta
    assert History.load(h.save(tmp_path / f"h{suffix}")).status == st
    # the dict form is plain JSON: the code is the string, not an enum member
    data = json.loads(json.dumps(h.to_dict()))
    assert data["meta"]["status_code"] == "non_finite"
    assert History.from_dict(data).status == st
    with pytest.raises(TypeError, match="Status"):
        h.status = "success: done"


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_unknown_status_code_is_refused_on_load_naming_file_and_key(tmp_path, suffix):
    from dualgan.status import Status, StatusCode

    h = _history([1.0])
    h.status = Status(StatusCode.SUCCESS, "reached iteration 1")
    data = h.to_dict()
    data["meta"]["status_code"] = "converged"
    with pytest.raises(ValueError, match="status_code"):
        History.from_dict(data)
    path = h.save(tmp_path / f"h{suffix}")
    if suffix == ".json":
        path.write_text(json.dumps(data))
    else:
        with np.load(path, allow_pickle=False) as arc:
            payload = {k: arc[k] for k in arc.files}
        header = json.loads(str(payload["__meta__"]))
        header["meta"]["status_code"] = "converged"
        payload["__meta__"] = np.array(json.dumps(header))
        with open(path, "wb") as fh:
            np.savez(fh, **payload)
    with pytest.raises(ValueError, match=r"h\%s.*status_code.*converged" % suffix):
        History.load(path)
    # a message without its code, and the free-text key, are refused too
    del data["meta"]["status_code"]
    with pytest.raises(ValueError, match="status_code"):
        History.from_dict(data)
    with pytest.raises(ValueError, match="History.status"):
        History().set_meta("status", "success: done")


def test_a_fall_to_minus_infinity_is_a_decrease():
    h = History()
    for k, v in enumerate([1.0, -math.inf, 2.0]):
        h.append(iteration=k, objective=v)
    assert not h.is_monotone()
    (d,) = h.decreases()
    assert (d.row, d.before, d.after) == (1, 1.0, -math.inf) and h.largest_decrease() == math.inf
    g = History()
    for k, v in enumerate([math.inf, 1.0, math.nan, 0.5]):  # from +inf down, then NaN skipped, then down again
        g.append(iteration=k, objective=v)
    assert [x.row for x in g.decreases()] == [1, 3]
    m = History()
    for k, v in enumerate([1.0, math.nan, math.inf, math.inf]):  # rises only
        m.append(iteration=k, objective=v)
    assert m.is_monotone() and m.decreases() == ()


def test_a_row_index_or_slice_is_not_a_column_name():
    # history[0] said 'no column 0' but history[0:1] and `slice(0, 1) in history` raised TypeError: unhashable
    from dualgan.train import History

    h = History()
    h.append(iteration=0, objective=1.5)
    for key in (0, slice(0, 1), ["objective"]):
        with pytest.raises(ValueError, match=r"History has no column .*; it has \['iteration', 'objective'\] \(columns "
                                             r"are read by name, e.g. 'iteration'\)"):
            h[key]
        assert key not in h
    assert h["objective"].tolist() == [1.5] and "objective" in h
