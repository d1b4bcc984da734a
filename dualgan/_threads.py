"""The one thread policy of dualgan: how many threads torch and the BLAS libraries use inside the library.

dualgan's computations are small (a generator of a few thousand parameters,
Newton systems of a few hundred unknowns) or, at image scale, dominated by
convolutions and Gram products that one thread runs nearly as fast as two on a
small machine. Thread pools cost hand-offs at the small sizes and far more on
a busy machine, where a pool's threads wait for each other while another
process holds the cores: one simultaneous step of the ring GAN in the game
harness took 288 ms with torch's default threads against 6.7 ms with one
thread; with numpy/scipy's BLAS keeping its own pool, ``score_linearization``
took 108 ms against 14 ms, a fixed-batch ``DualLinearGAN`` iteration on
``digits_features()`` 377 ms against 175 ms.

So every entry point runs under :func:`thread_policy`, which sets both
torch's intra-op pool and every loaded BLAS (through threadpoolctl) to the
counts :func:`resolve_threads` gives and restores the previous counts when it
returns, also when it raises. The entry points: :func:`dualgan.duals.solve`,
``dualgan.duals.DualLogisticRegression.fit``,
every trainer's ``fit`` (:meth:`Trainer.fit <dualgan.train.base.Trainer.fit>`),
a trust-region step (:meth:`TrustRegionDiscriminator.step
<dualgan.trust_region.TrustRegionDiscriminator.step>`) and
:func:`~dualgan.trust_region.linearization.score_linearization`, the game harness (:func:`~dualgan.games.harness.run_optimizer`,
:func:`~dualgan.games.batched_run`), stability maps
(:func:`~dualgan.games.stability.stability_map`), the ``dualgan`` command line
and the sweep workers. A policy entered inside another (a solve inside a
trainer's ``fit``) changes nothing.

The counts, for each of the two pools:

1. the environment variable ``DUALGAN_NUM_THREADS``, when set: a positive
   integer is the count of both pools; ``0`` leaves both alone;
2. otherwise a pool is left alone when the user chose its count: for torch,
   ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` is set or ``torch.set_num_threads``
   was called after dualgan was imported (the count differs from the one at
   import); for a BLAS library, ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``,
   ``OPENBLAS_NUM_THREADS``, ``BLIS_NUM_THREADS`` or
   ``VECLIB_MAXIMUM_THREADS`` is set, or its count differs from the one at
   import (an enclosing ``threadpoolctl.threadpool_limits``);
3. otherwise 1 (:data:`DEFAULT_THREADS`).

With one competing busy process on two cores, the defaults were within 1.16x
of the best thread setting for every row of the image-scale benchmark
(``benchmarks/image_scale.py``: discriminators of 34,721 to 468,481 parameters,
batches 64 to 256 real + generated, Adam, cost- and score-linearisation steps,
dual and standard linear GANs at 28x28; two runs). On a quiet two-core machine
two threads are 1.3x to 1.8x faster on most rows; on a quiet machine with many cores, large models
can gain from more threads: set
``DUALGAN_NUM_THREADS`` to the number of cores, or to 0 to keep the libraries'
own settings.
"""
from __future__ import annotations

import functools
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass

import numpy  # noqa: F401  (its BLAS is loaded before the counts at import are read)
import scipy.linalg  # noqa: F401  (the same for scipy's)
import torch

__all__ = ["ENV_VAR", "DEFAULT_THREADS", "ThreadCounts", "resolve_threads", "thread_policy", "with_thread_policy"]

#: the environment variable that sets the count of both pools (0: leave both alone)
ENV_VAR = "DUALGAN_NUM_THREADS"
#: the count used where nobody chose one
DEFAULT_THREADS = 1
#: variables that choose torch's count (torch reads them at start-up)
TORCH_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
#: variables that choose a BLAS library's count
BLAS_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "BLIS_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS")
_AT_IMPORT = torch.get_num_threads()
# policies entered and not yet left in this Python thread (an inner one changes nothing); per thread, so that
# policies entered in two threads at once cannot leave a count behind (the pools' counts are process-wide:
# the second thread then finds the first one's counts, which are nobody's defaults, and keeps them)
_state = threading.local()


@dataclass(frozen=True)
class ThreadCounts:
    """The counts :func:`thread_policy` sets: one per pool, None where the pool is left alone.

    Parameters
    ----------
    torch : int or None
        Threads of torch's intra-op pool (``torch.set_num_threads``); None: unchanged.
    blas : int or None
        Threads of every BLAS library whose count nobody chose (threadpoolctl's
        ``user_api="blas"``); None: all unchanged.
    """

    torch: int | None
    blas: int | None


def resolve_threads() -> ThreadCounts:
    """The counts of the policy for torch and for the BLAS libraries (see the module's rules 1-3).

    A BLAS library whose count differs from its count at import (an enclosing
    ``threadpool_limits``) is left alone by :func:`thread_policy` even when
    ``blas`` is a count.

    Returns
    -------
    ThreadCounts
        ``DUALGAN_NUM_THREADS`` for both when set (None for 0); else, per pool,
        None when the user chose its count through the environment or
        ``torch.set_num_threads``, and :data:`DEFAULT_THREADS` otherwise.

    Raises
    ------
    ValueError
        When ``DUALGAN_NUM_THREADS`` is not a non-negative integer.
    """
    raw = os.environ.get(ENV_VAR, "").strip()
    if raw:
        try:
            n = int(raw)
        except ValueError:
            n = -1
        if n < 0:
            raise ValueError(f"{ENV_VAR} must be a non-negative integer (threads of torch and BLAS inside "
                             f"dualgan; 0 leaves both alone), got {raw!r}; unset it for the default "
                             f"({DEFAULT_THREADS})")
        return ThreadCounts(n or None, n or None)
    chosen = lambda names: any(os.environ.get(v, "").strip() for v in names)  # noqa: E731
    torch_n = None if chosen(TORCH_VARS) or torch.get_num_threads() != _AT_IMPORT else DEFAULT_THREADS
    return ThreadCounts(torch_n, None if chosen(BLAS_VARS) else DEFAULT_THREADS)


@contextmanager
def thread_policy():
    """Run the block with the counts of :func:`resolve_threads`; the previous counts are restored after it.

    The previous counts come back also when the block raises. Inside another
    ``thread_policy`` (a solve inside a trainer's ``fit``) it changes nothing.
    BLAS libraries whose count differs from their count at import (an
    enclosing ``threadpoolctl.threadpool_limits``) keep it.

    Yields
    ------
    None

    Raises
    ------
    ValueError
        When ``DUALGAN_NUM_THREADS`` is not a non-negative integer (nothing is changed).
    """
    depth = getattr(_state, "depth", 0)
    if depth:
        _state.depth = depth + 1
        try:
            yield
        finally:
            _state.depth = depth
        return
    counts = resolve_threads()
    torch_before = torch.get_num_threads()
    blas_before = []
    _state.depth = 1
    try:
        if counts.torch is not None and counts.torch != torch_before:
            torch.set_num_threads(counts.torch)
        if counts.blas is not None:
            for lib, at_import in _blas_libraries():
                n = lib.get_num_threads()
                if n is not None and n == at_import and n != counts.blas:  # a count nobody chose
                    blas_before.append((lib, n))
                    lib.set_num_threads(counts.blas)
        yield
    finally:
        _state.depth = 0
        for lib, n in blas_before:
            lib.set_num_threads(n)
        if torch.get_num_threads() != torch_before:
            torch.set_num_threads(torch_before)


def with_thread_policy(fn):
    """Decorator: call ``fn`` inside :func:`thread_policy`.

    Parameters
    ----------
    fn : callable
        The entry point.

    Returns
    -------
    callable
        ``fn`` wrapped (``functools.wraps``: its name, docstring and signature kept).
    """
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with thread_policy():
            return fn(*args, **kwargs)
    return wrapper


def _read_blas_libraries() -> tuple:
    """threadpoolctl's controllers of the loaded BLAS libraries with their counts now."""
    from threadpoolctl import ThreadpoolController

    return tuple((lib, lib.get_num_threads()) for lib in ThreadpoolController().select(user_api="blas").lib_controllers)


# read once, at import (about 5 ms; threadpoolctl's discovery on every call would cost ~35 us a solve):
# a count that differs from these later was chosen by the user (e.g. an enclosing threadpool_limits)
_BLAS_AT_IMPORT = _read_blas_libraries()


def _blas_libraries() -> tuple:
    """``(controller, count at import)`` of every BLAS library loaded when dualgan was imported."""
    return _BLAS_AT_IMPORT
