"""Shared test settings: float64 by default, one torch thread per xdist worker."""
import os

import numpy as np
import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _has(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


HAS_CYIPOPT = _has("cyipopt")
needs_cyipopt = pytest.mark.skipif(not HAS_CYIPOPT, reason="cyipopt is not installed (optional extra 'ipopt'; "
                                   "needs a system Ipopt, e.g. Debian's coinor-libipopt-dev)")
