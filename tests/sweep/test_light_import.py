"""Loading a sweep and reading its results imports no torch (a driver, a notebook summarising results): the sweep's
checks come from torch-free modules (status.check_status, _numbers.check_int)."""
import subprocess
import sys


def test_importing_the_sweep_and_parsing_a_sweep_and_a_record_imports_no_torch():
    code = ("import sys, json\n"
            "from dualgan.sweep import Sweep, RunConfig, RunRecord, summarize\n"
            "from dualgan.status import Status\n"
            "s = Sweep.from_dict({'name': 't', 'jobs': ['standard_gan'], 'dataset': 'ring5', 'iterations': 3,\n"
            "                     'seeds': [0, 1]})\n"
            "c = RunConfig.from_dict(s.configs()[0].to_dict())\n"
            "r = RunRecord(c.run_id, c, {'m': 1.0}, 0.5, Status.ok())\n"
            "print(len(s.configs()), len(summarize([r])), 'torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["2", "1", "False"]
