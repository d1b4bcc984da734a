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


@pytest.fixture
def temporary_entries():
    """``add(registry, name, obj, **info)`` registers a test's entry; every one is unregistered at teardown."""
    added = []

    def add(registry, name, obj, **info):
        registry.register(name, obj, **info)
        added.append((registry, name))

    try:
        yield add
    finally:  # the registries are global: leave them as the library registers them
        for registry, name in reversed(added):
            registry.unregister(name)


def _has(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


HAS_CYIPOPT = _has("cyipopt")
needs_cyipopt = pytest.mark.skipif(not HAS_CYIPOPT, reason="cyipopt is not installed (optional extra 'ipopt'; "
                                   "needs a system Ipopt, e.g. Debian's coinor-libipopt-dev)")
