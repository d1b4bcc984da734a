"""Sweep files: grid and random expansion against brute force, distributions against scipy, stable run ids."""
import hashlib
import itertools
import math
import json
import subprocess
import sys

import numpy as np
from scipy import stats

from dualgan.sweep import RunConfig, Sweep, load_sweep


def _spec(**over):
    spec = {"name": "t", "jobs": ["standard_gan"], "dataset": "ring5", "iterations": 3}
    spec.update(over)
    return {k: v for k, v in spec.items() if v is not None}


def test_grid_expansion_is_the_cartesian_product_times_seeds():
    grid = {"generator_lr": [1e-3, 1e-2, 1e-1], "beta1": [0.5, 0.9], "size": ["small", "large"]}
    sweep = Sweep.from_dict(_spec(jobs=["dual_gan", "standard_gan"], dataset=["ring5", "ring8"], seeds=[0, 4],
                                  grid=grid, params={"batch_size": 16}))
    got = {(c.job, c.dataset, c.seed, c.kwargs["generator_lr"], c.kwargs["beta1"], c.kwargs["size"], c.kwargs["batch_size"])
           for c in sweep.configs()}
    want = set(itertools.product(["dual_gan", "standard_gan"], ["ring5", "ring8"], [0, 4], grid["generator_lr"],
                                 grid["beta1"], grid["size"], [16]))
    assert got == want
    assert len(sweep.configs()) == len(want) == 2 * 2 * 2 * 3 * 2 * 2
    assert all(c.iterations == 3 for c in sweep.configs())


def test_random_axes_bounds_determinism_and_pairing():
    spec = _spec(jobs=["dual_gan", "standard_gan"], samples=40, sample_seed=7, iterations=None,
                 random={"beta1": {"uniform": [0.1, 0.9]}, "generator_lr": {"log_uniform": [1e-4, 1e-1]},
                         "iterations": {"int": [2, 4]}, "size": {"choice": ["small", "large"]}},
                 job={"standard_gan": {"random": {"discriminator_lr": {"log_uniform": [1e-3, 1.0]}}}})
    configs = Sweep.from_dict(spec).configs()
    assert [c.run_id for c in configs] == [c.run_id for c in Sweep.from_dict(spec).configs()]  # deterministic
    dual = [c for c in configs if c.job == "dual_gan"]
    std = [c for c in configs if c.job == "standard_gan"]
    assert len(dual) == len(std) == 40
    for d, s in zip(dual, std):  # shared axes: the same setting for both jobs (a paired comparison)
        assert (d.kwargs["beta1"], d.kwargs["generator_lr"], d.iterations, d.kwargs["size"]) == \
               (s.kwargs["beta1"], s.kwargs["generator_lr"], s.iterations, s.kwargs["size"])
        assert "discriminator_lr" in s.kwargs and "discriminator_lr" not in d.kwargs
        assert 0.1 <= d.kwargs["beta1"] <= 0.9 and 1e-4 <= d.kwargs["generator_lr"] <= 1e-1 and 1e-3 <= s.kwargs["discriminator_lr"] <= 1
        assert d.iterations in (2, 3, 4) and d.kwargs["size"] in ("small", "large")
    assert {c.iterations for c in dual} == {2, 3, 4}  # inclusive integer bounds
    assert Sweep.from_dict({**spec, "sample_seed": 8}).configs()[0].run_id != configs[0].run_id


def test_distributions_match_scipy():
    spec = _spec(samples=2000, random={"beta1": {"uniform": [0.1, 0.9]}, "generator_lr": {"log_uniform": [1e-4, 1.0]}})
    configs = Sweep.from_dict(spec).configs()
    beta1 = np.array([c.kwargs["beta1"] for c in configs])
    lr = np.array([c.kwargs["generator_lr"] for c in configs])
    assert stats.kstest(beta1, stats.uniform(0.1, 0.8).cdf).pvalue > 1e-3
    assert stats.kstest(lr, stats.loguniform(1e-4, 1.0).cdf).pvalue > 1e-3


def test_run_id_is_sha256_of_canonical_json_and_order_free():
    a = RunConfig("standard_gan", "ring5", 10, 3, (("generator_lr", 0.001), ("beta1", 0.5)))
    b = RunConfig("standard_gan", "ring5", 10, 3, (("beta1", 0.5), ("generator_lr", 0.001)))
    canonical = json.dumps({"job": "standard_gan", "dataset": "ring5", "iterations": 10, "seed": 3,
                            "params": {"beta1": 0.5, "generator_lr": 0.001}}, sort_keys=True, separators=(",", ":"))
    assert a.run_id == b.run_id == hashlib.sha256(canonical.encode()).hexdigest()[:16]
    assert a.run_id != RunConfig("standard_gan", "ring5", 10, 4, a.params).run_id
    assert a.run_id != RunConfig("standard_gan", "ring5", 10, 3, (("generator_lr", 0.0010000000000000002), ("beta1", 0.5))).run_id
    assert RunConfig.from_dict(json.loads(a.canonical_json())) == a


def test_run_ids_stable_across_processes_and_file_formats(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text('name = "t"\njobs = ["standard_gan"]\ndataset = "ring5"\niterations = 3\nseeds = [0, 1]\n'
                    'samples = 3\n[random]\ngenerator_lr = {log_uniform = [1e-4, 1e-1]}\n[grid]\nbeta1 = [0.5, 0.9]\n')
    js = tmp_path / "s.json"
    js.write_text(json.dumps({"name": "t", "jobs": ["standard_gan"], "dataset": "ring5", "iterations": 3,
                              "seeds": [0, 1], "samples": 3, "random": {"generator_lr": {"log_uniform": [1e-4, 1e-1]}},
                              "grid": {"beta1": [0.5, 0.9]}}))
    ids = [c.run_id for c in load_sweep(toml).configs()]
    assert ids == [c.run_id for c in load_sweep(js).configs()]
    assert load_sweep(toml).spec_hash == load_sweep(js).spec_hash
    assert len(set(ids)) == 12
    code = (f"from dualgan.sweep import load_sweep; "
            f"print(' '.join(c.run_id for c in load_sweep({str(toml)!r}).configs()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "12345", "PATH": ""})
    assert out.stdout.split() == ids


def test_results_name_changes_with_the_spec():
    s1 = Sweep.from_dict(_spec(grid={"generator_lr": [1e-3]}))
    s2 = Sweep.from_dict(_spec(grid={"generator_lr": [1e-2]}))
    assert s1.results_name != s2.results_name and s1.results_name.startswith("t-")
    assert s1.results_name == Sweep.from_dict(_spec(grid={"generator_lr": [1e-3]})).results_name


def test_the_sweep_file_of_the_docs_loads(tmp_path):
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "sweeps.md").read_text()
    (block,) = re.findall(r"^```toml\n(.*?)^```", page, re.S | re.M)
    (tmp_path / "table1.toml").write_text(block)
    sweep = load_sweep(tmp_path / "table1.toml")
    configs = sweep.configs()
    assert len(configs) == 200  # 100 draws x 2 jobs x 1 seed
    dual = [c for c in configs if c.job == "dual_gan"]
    std = [c for c in configs if c.job == "standard_gan"]
    assert all(math.exp(-10) * 0.999 <= c.kwargs["generator_lr"] <= 1 for c in configs)
    assert all(math.exp(-6) * 0.999 <= c.kwargs["discriminator_lr"] <= 1 for c in std)
    assert all(400 <= c.iterations <= 2000 and 20 <= c.kwargs["batch_size"] <= 200 for c in configs)
    assert sum(d.kwargs["generator_lr"] == s.kwargs["generator_lr"] for d, s in zip(dual, std)) == 0  # separate learning-rate draws
    assert all(d.kwargs["batch_size"] == s.kwargs["batch_size"] for d, s in zip(dual, std))  # paired settings
    assert all(d.seed == s.seed for d, s in zip(dual, std)) and len({d.seed for d in dual}) > 90  # a seed per draw
    assert all("seed" not in c.kwargs for c in configs)
