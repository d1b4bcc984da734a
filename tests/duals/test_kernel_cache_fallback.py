"""Without a writable numba cache folder, ``import dualgan.duals`` works, uncached, with one warning (issue 24, s. 6).

Run in a fresh interpreter where numba's cache locators all refuse (as where neither the package folder,
NUMBA_CACHE_DIR nor the user's cache folder is writable). The kernels then compile on first use as without
a cache; what they compute is tested by the other tests of this folder.
"""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import warnings
import numba.core.caching as caching

class Nowhere(caching._CacheLocator):
    @classmethod
    def from_function(cls, py_func, py_file):
        return None  # refuses every function: "cannot cache function ...: no locator available"

caching.CacheImpl._locator_classes = [Nowhere]
import numba

def probe(x):
    return x + 1

try:  # the condition is real: numba itself refuses to cache here
    numba.njit(cache=True)(probe)
    raise SystemExit("the locators were not disabled")
except RuntimeError as exc:
    assert "no locator available" in str(exc), exc

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import dualgan.duals
    from dualgan.duals import _kernel
mine = [w for w in caught if "no writable cache folder" in str(w.message)]
assert len(mine) == 1, [str(w.message) for w in caught]
assert issubclass(mine[0].category, RuntimeWarning)
assert type(_kernel._syrk._cache).__name__ == "NullCache"  # compiled on use, uncached
assert type(_kernel.logistic_newton._cache).__name__ == "NullCache"
print("ok")
"""


def test_import_without_a_writable_numba_cache_runs_uncached_with_one_warning():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]
