"""Bad sweep files fail at load time with a message that names the problem and the fix."""
import json

import numpy as np
import pytest

from dualgan.sweep import Sweep, load_sweep, run_sweep


def _spec(**over):
    spec = {"name": "t", "jobs": ["standard_gan"], "dataset": "ring5", "iterations": 3}
    spec.update(over)
    return {k: v for k, v in spec.items() if v is not None}


@pytest.mark.parametrize("over, fragment", [
    ({"jobs": ["no_such_job"]}, "unknown job 'no_such_job'; available jobs"),
    ({"jobs": None}, "jobs must be a string or a non-empty list"),
    ({"dataset": "mnist9"}, "unknown dataset 'mnist9'"),
    ({"name": "a b"}, "name must be"),
    ({"colour": "red"}, "unknown sweep keys ['colour']"),
    ({"params": {"learning_rate": 1e-3}}, "takes no parameter(s) ['learning_rate']; it accepts"),
    ({"grid": {"generator_lr": 1e-3}}, "grid axis 'generator_lr' must be a non-empty list"),
    ({"grid": {"generator_lr": []}}, "grid axis 'generator_lr' must be a non-empty list"),
    ({"grid": {"generator_lr": [1e-3, 1e-3]}}, "duplicate values"),
    ({"random": {"generator_lr": {"normal": [0, 1]}}, "samples": 2}, "unknown distribution 'normal'"),
    ({"random": {"generator_lr": {"log_uniform": [0.0, 1.0]}}, "samples": 2}, "log_uniform needs positive bounds"),
    ({"random": {"generator_lr": {"uniform": [1.0, 0.1]}}, "samples": 2}, "needs low <= high"),
    ({"random": {"batch_size": {"int": [1.5, 3]}}, "samples": 2}, "int takes integer bounds"),
    ({"random": {"generator_lr": {"uniform": [0.1, 0.2]}}}, "random axes need samples = N"),
    ({"samples": 3}, "no [random] axis"),
    ({"iterations": 0}, "iterations must be a positive integer"),
    ({"iterations": None}, "has no iterations"),
    ({"grid": {"iterations": [1, 2]}}, "iterations is set at the top level and as an axis"),
    ({"seeds": [0, -1]}, "seeds must be a non-negative integer"),
    ({"seeds": [1, 1]}, "seeds has duplicates"),
    ({"grid": {"seed": [1, 2]}}, "seed can only be a shared [random] axis"),
    ({"random": {"seed": {"int": [0, 9]}}, "samples": 2, "seeds": [0]}, "keep one"),
    ({"jobs": ["standard_gan"], "job": {"standard_gan": {"random": {"seed": {"int": [0, 9]}}}}, "samples": 2},
     "seed can only be a shared [random] axis"),
    ({"params": {"generator_lr": 1e-3}, "grid": {"generator_lr": [1e-2]}}, "appear in more than one"),
    ({"params": {"generator_lr": float("nan")}}, "values must be finite"),
    ({"params": {"generator_lr": [1, 2]}}, "values must be strings, numbers"),
    ({"job": {"dual_gan": {"params": {"generator_lr": 1.0}}}}, "configures a job that is not in jobs"),
    ({"job": {"standard_gan": {"params": {"generator_lr": 1.0}}}, "params": {"generator_lr": 1e-3}}, "set both for every job"),
])
def test_bad_spec_raises_value_error(over, fragment):
    with pytest.raises(ValueError) as info:
        Sweep.from_dict(_spec(**over))
    assert fragment in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_sweep(tmp_path / "missing.toml")
    (tmp_path / "s.yaml").write_text("name: t")
    with pytest.raises(ValueError, match=r"must end in \.json or \.toml"):
        load_sweep(tmp_path / "s.yaml")
    (tmp_path / "s.toml").write_text("name = \n")
    with pytest.raises(ValueError, match="cannot parse sweep file"):
        load_sweep(tmp_path / "s.toml")
    (tmp_path / "s.json").write_text(json.dumps(_spec(jobs=["nope"])))
    with pytest.raises(ValueError, match=r"s\.json: unknown job 'nope'"):
        load_sweep(tmp_path / "s.json")


def test_bad_run_arguments(tmp_path):
    sweep = Sweep.from_dict(_spec())
    with pytest.raises(ValueError, match="unknown sweep backend 'dask'"):
        run_sweep(sweep, tmp_path, backend="dask")
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        run_sweep(sweep, tmp_path, workers=0)
    with pytest.raises(ValueError, match=r"sweep backend 'local' takes no option\(s\) \['address'\]"):
        run_sweep(sweep, tmp_path, address="10.0.0.1:6379")
    with pytest.raises(ValueError, match="sweep must be a dualgan.sweep.Sweep"):
        run_sweep({"name": "t"}, tmp_path)


@pytest.mark.parametrize("suffix", [".toml", ".json"])
def test_sweep_file_of_invalid_utf8_is_a_parse_error_naming_the_file(tmp_path, suffix):
    path = tmp_path / f"latin1{suffix}"
    path.write_bytes('{"name": "caf\u00e9"}'.encode("latin-1") if suffix == ".json" else 'name = "caf\u00e9"\n'.encode("latin-1"))
    with pytest.raises(ValueError, match=rf"cannot parse sweep file '.*latin1\{suffix}'.*utf-8"):
        load_sweep(path)


@pytest.mark.parametrize("field, value", [("iterations", 2.5), ("iterations", "5"), ("iterations", True),
                                          ("seed", 1.5), ("seed", None)])
def test_run_config_from_dict_refuses_non_integers_instead_of_truncating(field, value):
    from dualgan.sweep import RunConfig

    data = {"job": "standard_gan", "dataset": "ring5", "iterations": 5, "seed": 1, "params": {}}
    with pytest.raises(ValueError, match=rf"{field} must be an integer, got {value!r}"):
        RunConfig.from_dict({**data, field: value})
    # an integer of any integer type reads as the same configuration
    assert RunConfig.from_dict({**data, field: np.int64(data[field])}) == RunConfig.from_dict(data)


def test_results_line_with_fractional_iterations_is_skipped_not_truncated(tmp_path):
    from dualgan.status import Status, StatusCode
    from dualgan.sweep import ResultsStore, RunConfig, RunRecord

    good = RunRecord("a" * 16, RunConfig("standard_gan", "ring5", 2, 0), {"m": 1.0}, 0.5, Status(StatusCode.SUCCESS))
    bad = json.loads(good.to_json())
    bad["run_id"], bad["config"]["iterations"] = "b" * 16, 2.5
    path = tmp_path / "r.jsonl"
    path.write_text(good.to_json() + "\n" + json.dumps(bad) + "\n")
    with pytest.warns(RuntimeWarning, match=r"r\.jsonl:2: skipping an unreadable line .*iterations must be an integer"):
        records = ResultsStore(path).records()
    assert records == [good]
